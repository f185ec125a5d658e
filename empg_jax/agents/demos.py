"""Oracle demonstrations in the agent's own step prompts: the SFT data of every environment.

The oracle's answers are recorded by the jitted rollout itself (`rollout(..., act=...)`), so a
demonstration row has exactly the prompt the agent will see at that step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from empg_jax.agents.batch import Rollout
from empg_jax.agents.codec import ChatCodec, WordCodec
from empg_jax.agents.prompts import PromptBuilder
from empg_jax.agents.rollout import _Answer, rollout
from empg_jax.envs.core import oracle_policy


def policy_act(env: Any, policy: Callable[..., jax.Array], answer_len: int):
    """The `act` of `rollout` for a per-episode scripted policy `policy(key, state, obs, info)
    -> response tokens`: vmapped over the N episodes, cut or padded to `answer_len`, masked up
    to the first stop token; log-probs and entropies are 0."""
    policy_N = jax.vmap(policy)
    tok = env.tokenizer

    def act(k, state, obs, info):
        n = obs.shape[0]
        resp = policy_N(jax.random.split(k, n), state, obs, info).astype(jnp.int32)
        width = resp.shape[1]
        if width < answer_len:
            resp = jnp.pad(resp, ((0, 0), (0, answer_len - width)))
        resp = resp[:, :answer_len]
        stop = (resp == tok.eot_id) | (resp == tok.eos_id)
        length = jnp.where(jnp.any(stop, 1), jnp.argmax(stop, 1) + 1, answer_len)
        mask = jnp.arange(answer_len)[None] < length[:, None]
        resp = jnp.where(mask, resp, tok.pad_id)
        zeros = jnp.zeros(resp.shape, jnp.float32)
        return _Answer(resp, mask, zeros, zeros)

    return act


def demonstrations(
    env: Any,
    builder: PromptBuilder,
    key: jax.Array,
    env_state: Any,
    obs_NxO: jax.Array,
    env_params: Any,
    task_id_N: jax.Array,
    *,
    horizon: int,
    answer_len: int,
    thinking: bool,
    noise: float = 0.0,
    codec: WordCodec | ChatCodec | None = None,
) -> Rollout:
    """Oracle demonstrations of N episodes in the agent's own step prompts, for SFT.

    The oracle (`envs.core.oracle_policy`) answers `[<think> ... </think>] <action> ... </action>
    <eot>`; with probability `noise` per step it plays a random admissible action instead
    (imperfect demonstrations, so SFT leaves headroom for RL). Log-probs and entropies are 0.
    With a `codec` the prompts and answers are recorded in its ids (`codec.target`).
    """
    policy = oracle_policy(env, env_params, thinking=thinking, noise=noise)
    words_len = answer_len if codec is None else codec.word_answer_len
    return rollout(
        env,
        builder,
        None,
        None,
        key,
        env_state,
        obs_NxO,
        env_params,
        task_id_N,
        horizon=horizon,
        answer_len=answer_len,
        thinking=thinking,
        codec=codec,
        act=policy_act(env, policy, words_len),
    )
