"""Multi-turn agent rollout: B tasks x G samples x up to T steps, one record per (episode, step).

For the built-in JAX environments the whole rollout is ONE jitted program: a `lax.while_loop` over
steps (it stops early once every episode has ended) around the prompt renderer, the KV-cache
sampler (`models.sample`) and the vmapped `env.step` (PureJaxRL style, style.md §3). Finished
episodes are masked, not removed (`architecture.md`, "The data that flows"). For external games
`host_rollout` runs the same step on the host around the jitted renderer and sampler and returns the
same record.

Each step is the verl-agent single-turn format of the EMPG paper (Wang et al., arXiv 2509.09265;
`environments.md` §1.4): a fresh prompt (`prompts.PromptBuilder`), an answer
`[<think> ... </think>] <action> ... </action> <eot>`, and the action text sent to the environment.
An answer that breaks the format is flagged `invalid_format` (penalty 0.1 per step, `empg.md` §3).

Record layout (`Rollout`): step fields are `[N, T, ...]` with N = B * G episodes (episode e is
sample e % G of task e // G, so the G samples of a group are adjacent) and T the horizon; episode
fields are `[N]`. `rows(rollout)` flattens to S = N * T rows with the fields
`losses.empg_advantages` and the PPO step need (`episode_id`, `group_id`, `step_index`,
`next_step`, `valid`, ...).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from empg_jax.agents.prompts import PromptBuilder, answer_format_ok
from empg_jax.models import sample

INVALID_FORMAT_PENALTY = 0.1


@struct.dataclass
class Rollout:
    """Records of N episodes x T steps (see the module docstring)."""

    prompt: jax.Array  # int32 [N, T, P] left-padded prompts
    answer: jax.Array  # int32 [N, T, L] generated tokens (pad after the stop token)
    answer_mask: jax.Array  # bool [N, T, L] generated tokens of valid steps
    old_log_probs: jax.Array  # float32 [N, T, L] log pi_T(token) of the rollout policy
    token_entropy: jax.Array  # float32 [N, T, L] entropy of pi_T at each generated token
    valid: jax.Array  # bool [N, T] a real step (the episode had not ended before it)
    invalid_format: jax.Array  # bool [N, T] the answer broke the step format
    invalid_action: jax.Array  # bool [N, T] the environment rejected the action (a no-op)
    step_reward: jax.Array  # float32 [N, T] environment reward of the step
    reward: jax.Array  # float32 [N] episode return (sum of step rewards)
    won: jax.Array  # bool [N]
    score: jax.Array  # float32 [N] task score in [0, 1]
    length: jax.Array  # int32 [N] steps taken
    truncated: jax.Array  # bool [N] hit the horizon without terminating
    task_type: jax.Array  # int32 [N]
    task_id: jax.Array  # int32 [N]
    group_id: jax.Array  # int32 [N]

    @property
    def num_episodes(self) -> int:
        return self.valid.shape[0]

    @property
    def horizon(self) -> int:
        return self.valid.shape[1]


def rows(ro: Rollout) -> dict[str, jax.Array]:
    """Flattens a rollout to S = N * T step rows (`architecture.md`, "The data that flows").

    Row r = e * T + t. `next_step[r]` is r + 1 when step t + 1 of the same episode is valid, else
    -1 (the last step, and the last step of a truncated episode, have no next step). Episode
    fields (`reward`, `won`, `score`, `length`, `task_type`, `group_id`) are broadcast to rows.
    """
    n, t = ro.valid.shape
    s = n * t
    flat = lambda x: x.reshape((s,) + x.shape[2:])  # noqa: E731
    per_ep = lambda x: jnp.repeat(x, t)  # noqa: E731
    step_index = jnp.tile(jnp.arange(t, dtype=jnp.int32), n)
    nxt_valid = jnp.concatenate([ro.valid[:, 1:], jnp.zeros((n, 1), bool)], axis=1)
    row = jnp.arange(s, dtype=jnp.int32)
    next_step = jnp.where(flat(nxt_valid) & flat(ro.valid), row + 1, -1).astype(jnp.int32)
    return {
        "prompt_tokens": flat(ro.prompt),
        "answer_tokens": flat(ro.answer),
        "answer_mask": flat(ro.answer_mask),
        "old_log_probs": flat(ro.old_log_probs),
        "token_entropy": flat(ro.token_entropy),
        "valid": flat(ro.valid),
        "invalid_format": flat(ro.invalid_format),
        "invalid_action": flat(ro.invalid_action),
        "episode_id": jnp.repeat(jnp.arange(n, dtype=jnp.int32), t),
        "group_id": per_ep(ro.group_id),
        "step_index": step_index,
        "next_step": next_step,
        "reward": per_ep(ro.reward),
        "won": per_ep(ro.won),
        "score": per_ep(ro.score),
        "length": per_ep(ro.length),
        "task_type": per_ep(ro.task_type),
    }


def stop_tokens(tokenizer) -> jax.Array:
    """The sampler's stop set: end of turn and end of sequence."""
    return jnp.asarray([tokenizer.eot_id, tokenizer.eos_id], jnp.int32)


def _shift_in(hist: jax.Array, new: jax.Array) -> jax.Array:
    """Drops the oldest history entry (axis 1) and appends `new`."""
    if hist.shape[1] == 0:
        return hist
    return jnp.concatenate([hist[:, 1:], new[:, None].astype(hist.dtype)], axis=1)


def _empty_history(n: int, builder: PromptBuilder):
    h, pad = builder.sizes.history, builder.tokenizer.pad_id
    return (
        jnp.full((n, h, builder.sizes.history_obs_tokens), pad, jnp.int32),
        jnp.full((n, h, builder.action_len), pad, jnp.int32),
        jnp.zeros((n, h), bool),
    )


def _history_action(env: Any, answer_NxL: jax.Array) -> jax.Array:
    """The action text of each answer for the history (`<pad>` when it does not parse)."""
    action, ok = jax.vmap(env.parse_action)(answer_NxL)
    return jnp.where(ok[:, None], action, env.tokenizer.pad_id).astype(jnp.int32)


def rollout(
    env: Any,
    builder: PromptBuilder,
    graphdef: nnx.GraphDef,
    params: Any,
    key: jax.Array,
    env_state: Any,
    obs_NxO: jax.Array,
    env_params: Any,
    task_id_N: jax.Array,
    group_id_N: jax.Array,
    *,
    horizon: int,
    answer_len: int,
    thinking: bool,
    temperature: jax.Array | float = 1.0,
    top_k: int = 0,
    act: Callable[..., Any] | None = None,
) -> Rollout:
    """Plays N episodes for up to `horizon` steps with the policy `nnx.merge(graphdef, params)`.

    Pure and jittable (`make_rollout` binds the static parts). Step t uses
    `fold_in(key, t)`, split into the sampler key and one environment key per episode.

    Args:
      env: a built-in environment (`envs.core` contract).
      builder: the prompt renderer (its mode should match `thinking`).
      graphdef, params: the policy, as from `nnx.split(model, nnx.Param)` (params may also be
        the full state).
      key: PRNG key of this rollout.
      env_state, obs_NxO: N reset episodes (vmapped `env.reset_to_task`).
      env_params: params for `env.step` (only `horizon` matters while stepping).
      task_id_N, group_id_N: recorded with the episodes.
      horizon: T, static number of steps (episodes also truncate at `env_params.horizon`).
      answer_len: L, static maximum answer length.
      thinking: flag answers without the think tags as invalid format.
      temperature: sampling temperature (traced; <= 0 is greedy).
      top_k: static top-k filter of the sampler (0 = off).
      act: optional replacement of the sampler, `act(key, env_state_N, obs_NxO, info_N) ->
        SampleOutput`-like (tokens, mask, log_probs, entropies); `demonstrations` uses it to
        record the oracle's answers in exactly the agent's prompts.
    """
    n = obs_NxO.shape[0]
    chex.assert_shape([task_id_N, group_id_N], [(n,), (n,)])
    tok = builder.tokenizer
    p_len, pad = builder.prompt_len, tok.pad_id
    stops = stop_tokens(tok)
    info = jax.vmap(env.info, in_axes=(0, None))(env_state, env_params)
    hist_obs, hist_act, hist_valid = _empty_history(n, builder)

    def zeros(shape, dtype):
        return jnp.zeros((horizon, n) + shape, dtype)

    rec = {
        "prompt": zeros((p_len,), jnp.int32),
        "answer": jnp.full((horizon, n, answer_len), pad, jnp.int32),
        "answer_mask": zeros((answer_len,), bool),
        "old_log_probs": zeros((answer_len,), jnp.float32),
        "token_entropy": zeros((answer_len,), jnp.float32),
        "valid": zeros((), bool),
        "invalid_format": zeros((), bool),
        "invalid_action": zeros((), bool),
        "step_reward": zeros((), jnp.float32),
    }
    render = jax.vmap(builder.render)
    step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    fmt_ok = jax.vmap(functools.partial(answer_format_ok, tokenizer=tok, thinking=thinking))

    def body(carry):
        t, state, obs, info, hist_obs, hist_act, hist_valid, rec = carry
        alive = ~(state.terminated | state.truncated)
        prompt, pmask = render(
            info["task"],
            state.t,
            hist_obs,
            hist_act,
            hist_valid,
            obs,
            info["admissible"],
            info["num_admissible"],
        )
        k_sample, k_env = jax.random.split(jax.random.fold_in(key, t))
        if act is None:
            out = sample(
                graphdef,
                params,
                prompt,
                pmask,
                k_sample,
                stops,
                max_new_tokens=answer_len,
                temperature=temperature,
                top_k=top_k,
                pad_id=pad,
            )
        else:
            out = act(k_sample, state, obs, info)
        ok = fmt_ok(out.tokens, out.mask)
        new_state, new_obs, reward, _, _, new_info = step_env(
            jax.random.split(k_env, n), state, out.tokens, env_params
        )
        upd = {
            "prompt": prompt,
            "answer": out.tokens,
            "answer_mask": out.mask & alive[:, None],
            "old_log_probs": out.log_probs,
            "token_entropy": out.entropies,
            "valid": alive,
            "invalid_format": alive & ~ok,
            "invalid_action": alive & new_info["invalid"],
            "step_reward": jnp.where(alive, reward, 0.0),
        }
        rec = {k: rec[k].at[t].set(upd[k].astype(rec[k].dtype)) for k in rec}
        hist_obs = _shift_in(hist_obs, obs[:, : builder.sizes.history_obs_tokens])
        hist_act = _shift_in(hist_act, _history_action(env, out.tokens))
        hist_valid = _shift_in(hist_valid, alive)
        obs = jnp.where(alive[:, None], new_obs, obs)
        return t + 1, new_state, obs, new_info, hist_obs, hist_act, hist_valid, rec

    def cond(carry):
        t, state = carry[0], carry[1]
        return (t < horizon) & jnp.any(~(state.terminated | state.truncated))

    carry = (jnp.int32(0), env_state, obs_NxO, info, hist_obs, hist_act, hist_valid, rec)
    _, state, _, info, _, _, _, rec = jax.lax.while_loop(cond, body, carry)
    rec = {k: jnp.swapaxes(v, 0, 1) for k, v in rec.items()}
    return Rollout(
        **rec,
        reward=jnp.sum(rec["step_reward"], axis=1),
        won=info["won"].astype(bool),
        score=info["score"].astype(jnp.float32),
        length=jnp.sum(rec["valid"], axis=1).astype(jnp.int32),
        truncated=state.truncated.astype(bool),
        task_type=info["task_type"].astype(jnp.int32),
        task_id=task_id_N.astype(jnp.int32),
        group_id=group_id_N.astype(jnp.int32),
    )


def reset_episodes(env: Any, env_params: Any, task_id_N: jax.Array) -> tuple[Any, jax.Array]:
    """Resets N episodes to given task indices (vmapped `env.reset_to_task`)."""
    return jax.vmap(env.reset_to_task, in_axes=(0, None))(task_id_N, env_params)


def make_rollout(
    env: Any,
    builder: PromptBuilder,
    graphdef: nnx.GraphDef,
    *,
    horizon: int,
    answer_len: int,
    thinking: bool,
    top_k: int = 0,
) -> Callable[..., Rollout]:
    """`jax.jit`-compiled `rollout` with the static parts bound.

    Call it as `fn(params, key, env_state, obs, env_params, task_id_N, group_id_N, temperature)`.
    The environment params are an argument (their static `split` is part of the cache key), so
    pass the same step params for every split and reset with each split's own params
    (`reset_episodes`): stepping only reads `horizon` (true of the built-in environments).
    """
    bound = functools.partial(
        rollout,
        env,
        builder,
        graphdef,
        horizon=horizon,
        answer_len=answer_len,
        thinking=thinking,
        top_k=top_k,
    )

    @jax.jit
    def run(params, key, env_state, obs, env_params, task_id_N, group_id_N, temperature):
        return bound(
            params,
            key,
            env_state,
            obs,
            env_params,
            task_id_N,
            group_id_N,
            temperature=temperature,
        )

    return run


# ----- host loop for external environments ---------------------------------------------------
@functools.lru_cache(maxsize=16)
def _host_jits(builder: PromptBuilder, thinking: bool):
    """The jitted renderer and format check of `host_rollout`, compiled once per builder (not
    once per rollout: a training run calls `host_rollout` every iteration)."""
    check = functools.partial(answer_format_ok, tokenizer=builder.tokenizer, thinking=thinking)
    return jax.jit(jax.vmap(builder.render)), jax.jit(jax.vmap(check))


def host_rollout(
    env: Any,
    builder: PromptBuilder,
    sampler: Callable[..., Any],
    params: Any,
    key: jax.Array,
    task_id_N: np.ndarray,
    group_id_N: np.ndarray,
    *,
    horizon: int,
    answer_len: int,
    thinking: bool,
    temperature: float = 1.0,
) -> Rollout:
    """The rollout of `rollout` for a host (Python) environment, around the jitted sampler.

    `env` is a batched host environment with numpy in/out: `reset(task_id_N) -> (obs_NxO,
    info)`, `step(answer_NxL) -> (obs_NxO, reward_N, terminated_N, truncated_N, info)`, where
    `info` holds the `envs.core` info keys batched over N; plus `tokenizer`, `action_len` and
    `parse_action(answer) -> (action_L, ok)` (e.g. the external adapters, or
    `HostEnv` around a JAX environment). Finished episodes must ignore further actions.

    `sampler` is `models.make_sampler(graphdef, max_new_tokens=answer_len)`. With the same keys
    the records equal those of the jitted `rollout` (tested), so everything downstream is shared.
    """
    tok = builder.tokenizer
    n = len(task_id_N)
    render, fmt_ok = _host_jits(builder, thinking)
    stops = stop_tokens(tok)
    obs, info = env.reset(np.asarray(task_id_N))
    hist_obs, hist_act, hist_valid = (np.asarray(x) for x in _empty_history(n, builder))
    done = np.zeros((n,), bool)
    truncated = np.zeros((n,), bool)
    num_steps = np.zeros((n,), np.int32)
    recs: dict[str, list[np.ndarray]] = {}
    for t in range(horizon):
        if done.all():
            break
        alive = ~done
        prompt, pmask = render(
            jnp.asarray(info["task"]),
            jnp.asarray(num_steps),
            jnp.asarray(hist_obs),
            jnp.asarray(hist_act),
            jnp.asarray(hist_valid),
            jnp.asarray(obs),
            jnp.asarray(info["admissible"]),
            jnp.asarray(info["num_admissible"]),
        )
        k_sample, _ = jax.random.split(jax.random.fold_in(key, t))
        out = sampler(params, prompt, pmask, k_sample, stops, temperature=temperature)
        tokens = np.asarray(out.tokens)
        ok = np.asarray(fmt_ok(out.tokens, out.mask))
        new_obs, reward, term, trunc, new_info = env.step(tokens)
        upd = {
            "prompt": np.asarray(prompt),
            "answer": tokens,
            "answer_mask": np.asarray(out.mask) & alive[:, None],
            "old_log_probs": np.asarray(out.log_probs),
            "token_entropy": np.asarray(out.entropies),
            "valid": alive,
            "invalid_format": alive & ~ok,
            "invalid_action": alive & np.asarray(new_info["invalid"], bool),
            "step_reward": np.where(alive, np.asarray(reward, np.float32), 0.0),
        }
        for k, v in upd.items():
            recs.setdefault(k, []).append(v)
        acts = []
        for row in tokens:
            a, a_ok = env.parse_action(row)
            acts.append(np.where(np.asarray(a_ok), np.asarray(a), tok.pad_id))
        if builder.sizes.history:
            hist_obs = np.concatenate(
                [hist_obs[:, 1:], obs[:, None, : builder.sizes.history_obs_tokens]], axis=1
            )
            hist_act = np.concatenate([hist_act[:, 1:], np.stack(acts)[:, None]], axis=1)
            hist_valid = np.concatenate([hist_valid[:, 1:], alive[:, None]], axis=1)
        num_steps = num_steps + alive
        obs = np.where(alive[:, None], np.asarray(new_obs), obs)
        truncated = truncated | (alive & np.asarray(trunc, bool))
        done = done | np.asarray(term, bool) | np.asarray(trunc, bool)
        info = new_info
    steps_done = len(recs.get("valid", []))
    ex = {
        "prompt": (builder.prompt_len,),
        "answer": (answer_len,),
        "answer_mask": (answer_len,),
        "old_log_probs": (answer_len,),
        "token_entropy": (answer_len,),
    }
    out_rec = {}
    for k in (
        "prompt",
        "answer",
        "answer_mask",
        "old_log_probs",
        "token_entropy",
        "valid",
        "invalid_format",
        "invalid_action",
        "step_reward",
    ):
        arr = np.stack(recs[k], axis=1) if steps_done else np.zeros((n, 0) + ex.get(k, ()))
        padw = [(0, 0), (0, horizon - steps_done)] + [(0, 0)] * (arr.ndim - 2)
        arr = np.pad(arr, padw, constant_values=tok.pad_id if k == "answer" else 0)
        out_rec[k] = jnp.asarray(arr)
    return Rollout(
        **out_rec,
        reward=jnp.sum(out_rec["step_reward"], axis=1).astype(jnp.float32),
        won=jnp.asarray(np.asarray(info["won"], bool)),
        score=jnp.asarray(np.asarray(info["score"], np.float32)),
        length=jnp.sum(out_rec["valid"], axis=1).astype(jnp.int32),
        truncated=jnp.asarray(truncated),
        task_type=jnp.asarray(np.asarray(info["task_type"], np.int32)),
        task_id=jnp.asarray(np.asarray(task_id_N, np.int32)),
        group_id=jnp.asarray(np.asarray(group_id_N, np.int32)),
    )


class HostEnv:
    """A built-in JAX environment behind the host-environment interface of `host_rollout`.

    Steps episodes one at a time in Python with the un-vmapped `env.step` (a slow reference
    for tests, and a template for external adapters). Environment keys follow `rollout`:
    step t uses `split(split(fold_in(key, t))[1], N)[i]` for episode i.
    """

    def __init__(self, env: Any, env_params: Any, reset_params: Any, key: jax.Array):
        self.env, self.params, self.reset_params, self.key = env, env_params, reset_params, key
        self.tokenizer = env.tokenizer
        self.action_len = env.action_len
        self._step = jax.jit(env.step)
        self._reset = jax.jit(env.reset_to_task)
        self._info = jax.jit(env.info)
        self.t = 0

    def parse_action(self, answer):
        return self.env.parse_action(answer)

    def _stack_info(self, infos):
        return {k: np.stack([np.asarray(i[k]) for i in infos]) for k in infos[0]}

    def reset(self, task_id_N):
        out = [self._reset(int(i), self.reset_params) for i in task_id_N]
        self.states = [s for s, _ in out]
        self.t = 0
        infos = [self._info(s, self.params) for s in self.states]
        return np.stack([np.asarray(o) for _, o in out]), self._stack_info(infos)

    def step(self, answer_NxL):
        n = len(self.states)
        keys = jax.random.split(jax.random.split(jax.random.fold_in(self.key, self.t))[1], n)
        results = [
            self._step(keys[i], self.states[i], jnp.asarray(answer_NxL[i]), self.params)
            for i in range(n)
        ]
        self.t += 1
        self.states = [r[0] for r in results]
        obs = np.stack([np.asarray(r[1]) for r in results])
        reward = np.asarray([float(r[2]) for r in results], np.float32)
        term = np.asarray([bool(r[3]) for r in results])
        trunc = np.asarray([bool(r[4]) for r in results])
        return obs, reward, term, trunc, self._stack_info([r[5] for r in results])


class _Answer(NamedTuple):
    tokens: jax.Array
    mask: jax.Array
    log_probs: jax.Array
    entropies: jax.Array


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
) -> Rollout:
    """Oracle demonstrations in the agent's own step prompts, for SFT (issue #6 "Trainers").

    The oracle (`envs.core.oracle_policy`) answers `[<think> ... </think>] <action> ... </action>
    <eot>`; with probability `noise` per step it plays a random admissible action instead
    (imperfect demonstrations, so SFT leaves headroom for RL). Log-probs and entropies are 0.
    """
    from empg_jax.envs.core import oracle_policy

    policy = jax.vmap(oracle_policy(env, env_params, thinking=thinking, noise=noise))
    n = obs_NxO.shape[0]

    def act(k, state, obs, info):
        resp = policy(jax.random.split(k, n), state, obs, info).astype(jnp.int32)
        width = resp.shape[1]
        if width < answer_len:
            resp = jnp.pad(resp, ((0, 0), (0, answer_len - width)))
        resp = resp[:, :answer_len]
        stop = (resp == env.tokenizer.eot_id) | (resp == env.tokenizer.eos_id)
        length = jnp.where(jnp.any(stop, 1), jnp.argmax(stop, 1) + 1, answer_len)
        mask = jnp.arange(answer_len)[None] < length[:, None]
        resp = jnp.where(mask, resp, env.tokenizer.pad_id)
        zeros = jnp.zeros(resp.shape, jnp.float32)
        return _Answer(resp, mask, zeros, zeros)

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
        jnp.arange(n, dtype=jnp.int32),
        horizon=horizon,
        answer_len=answer_len,
        thinking=thinking,
        act=act,
    )
