"""An environment-level episode loop for the environment tests: what the policy saw and the
outcome of every step, which the agent's `Rollout` record does not keep (observations, the
admissible table, per-step termination). A test utility: the library's one episode loop for JAX
environments is `empg_jax.agents.rollout`."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Transition(NamedTuple):
    """One step of one episode as seen by the policy (all fields stacked `[T, ...]` by `rollout`).

    `obs`, `task`, `admissible` and `num_admissible` are what the policy saw BEFORE acting;
    `response` is what it answered; the rest is the outcome. `valid` is False for the padding
    steps after the episode ended (those rows are frozen no-ops).
    """

    step_index: jax.Array  # int32 []
    obs: jax.Array  # int32 [O]
    task: jax.Array  # int32 [K]
    admissible: jax.Array  # int32 [A, L]
    num_admissible: jax.Array  # int32 []
    response: jax.Array  # int32 [R]
    reward: jax.Array  # float32 []
    terminated: jax.Array  # bool []
    truncated: jax.Array  # bool []
    invalid: jax.Array  # bool []
    won: jax.Array  # bool []
    score: jax.Array  # float32 []
    valid: jax.Array  # bool []


def rollout(
    env: Any,
    policy,
    key: jax.Array,
    state: Any,
    obs: jax.Array,
    params: Any,
    num_steps: int,
) -> tuple[Any, Transition]:
    """Runs one episode for `num_steps` steps with `lax.scan` (vmap it for a batch).

    Args:
      policy: `policy(key, state, obs, info) -> response tokens` (any fixed length).
      state, obs: from `env.reset`.

    Returns:
      `(final_state, transitions)` with every `Transition` field stacked on a leading `[T]` axis.
    """

    def body(carry, key_t):
        state, obs = carry
        k_pol, k_env = jax.random.split(key_t)
        info = env.info(state, params)
        valid = ~(state.terminated | state.truncated)
        response = policy(k_pol, state, obs, info).astype(jnp.int32)
        new_state, new_obs, reward, term, trunc, new_info = env.step(k_env, state, response, params)
        tr = Transition(
            step_index=state.t,
            obs=obs,
            task=info["task"],
            admissible=info["admissible"],
            num_admissible=info["num_admissible"],
            response=response,
            reward=reward,
            terminated=term,
            truncated=trunc,
            invalid=new_info["invalid"],
            won=new_info["won"],
            score=new_info["score"],
            valid=valid,
        )
        new_obs = jnp.where(valid, new_obs, obs)
        return (new_state, new_obs), tr

    (state, _), transitions = jax.lax.scan(body, (state, obs), jax.random.split(key, num_steps))
    return state, transitions
