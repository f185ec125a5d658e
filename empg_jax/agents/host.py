"""The multi-turn rollout for host (Python) environments: external text games, or a JAX
environment stepped one episode at a time (`HostEnv`, a slow reference for tests).

The loop renders prompts and samples answers with the same jitted functions as the jitted
rollout (`agents.rollout`) and records each step with the same `_step_record`, so a host rollout
gives the same `Rollout` record (tested equal for equal keys).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.agents.batch import Rollout
from empg_jax.agents.codec import ChatCodec, WordCodec
from empg_jax.agents.prompts import PromptBuilder, answer_format_ok
from empg_jax.agents.rollout import (
    _STEP_FIELDS,
    _TOKEN_FIELDS,
    _assemble,
    _empty_history,
    _step_record,
)


@functools.lru_cache(maxsize=16)
def _host_jits(builder: PromptBuilder, thinking: bool):
    """The jitted renderer and format check of `host_rollout`, compiled once per builder (not
    once per rollout: a training run calls `host_rollout` every iteration)."""
    check = functools.partial(answer_format_ok, tokenizer=builder.tokenizer, thinking=thinking)
    return jax.jit(jax.vmap(builder.render)), jax.jit(jax.vmap(check))


@functools.lru_cache(maxsize=16)
def _codec_jits(codec):
    """The codec's prompt encoder and answer reader, vmapped and jitted once per codec."""
    return jax.jit(jax.vmap(codec.prompt)), jax.jit(jax.vmap(codec.words))


def host_rollout(
    env: Any,
    builder: PromptBuilder,
    sampler: Callable[..., Any],
    params: Any,
    key: jax.Array,
    task_id_N: np.ndarray,
    *,
    horizon: int,
    answer_len: int,
    thinking: bool,
    temperature: float = 1.0,
    group_size: int = 1,
    codec: WordCodec | ChatCodec | None = None,
) -> Rollout:
    """The rollout of `rollout` for a host (Python) environment, around the jitted sampler.

    `env` is a batched host environment with numpy in/out: `reset(task_id_N) -> (obs_NxO,
    info)`, `step(answer_NxL) -> (obs_NxO, reward_N, terminated_N, truncated_N, info)`, where
    `info` holds the `envs.core` info keys batched over N; plus `tokenizer`, `action_len` and
    `parse_action(answer) -> (action_L, ok)` (e.g. the external adapters, or
    `HostEnv` around a JAX environment). Finished episodes must ignore further actions.

    `sampler` is `models.make_sampler(graphdef, max_new_tokens=codec.answer_len,
    pad_id=codec.pad_id)`; `codec` (default: the word ids) is what the policy reads and writes,
    as in `rollout`. With the same keys the records equal those of the jitted `rollout`
    (tested), so everything downstream is shared.
    """
    tok = builder.tokenizer
    n = len(task_id_N)
    codec = codec or WordCodec(tok, builder.prompt_len, answer_len)
    render, fmt_ok = _host_jits(builder, thinking)
    encode, read = _codec_jits(codec)
    stops = jnp.asarray(codec.stop_ids, jnp.int32)
    obs, info = env.reset(np.asarray(task_id_N))
    hist_obs, hist_act, hist_valid = (np.asarray(x) for x in _empty_history(n, builder))
    done = np.zeros((n,), bool)
    truncated = np.zeros((n,), bool)
    num_steps = np.zeros((n,), np.int32)
    recs: list[dict] = []
    for t in range(horizon):
        if done.all():
            break
        alive = ~done
        words_prompt, words_pmask = render(
            jnp.asarray(info["task"]),
            jnp.asarray(num_steps),
            jnp.asarray(hist_obs),
            jnp.asarray(hist_act),
            jnp.asarray(hist_valid),
            jnp.asarray(obs),
            jnp.asarray(info["admissible"]),
            jnp.asarray(info["num_admissible"]),
        )
        prompt, pmask, overflow = encode(words_prompt, words_pmask)
        k_sample, _ = jax.random.split(jax.random.fold_in(key, t))
        out = sampler(params, prompt, pmask, k_sample, stops, temperature=temperature)
        words, wmask, unread = read(out.tokens, out.mask)
        new_obs, reward, term, trunc, new_info = env.step(np.asarray(words))
        invalid = jnp.asarray(np.asarray(new_info["invalid"], bool))
        ok = fmt_ok(words, wmask) & ~unread
        reward = jnp.asarray(np.asarray(reward, np.float32))
        rec = _step_record(prompt, pmask, out, jnp.asarray(alive), ok, invalid, reward)
        recs.append({**rec, "overflow": jnp.asarray(alive) & overflow})
        acts = []
        for row in np.asarray(words):
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
    widths = {"prompt": codec.prompt_len, "prompt_mask": codec.prompt_len}
    rec = {}
    for k in _STEP_FIELDS:
        width = (widths.get(k, codec.answer_len),) if k in widths or k in _TOKEN_FIELDS else ()
        steps = [np.asarray(r[k]) for r in recs]
        arr = np.stack(steps, axis=1) if steps else np.zeros((n, 0) + width, np.float32)
        pad_width = [(0, 0), (0, horizon - len(recs))] + [(0, 0)] * len(width)
        rec[k] = np.pad(arr, pad_width, constant_values=codec.pad_id if k == "answer" else 0)
    return _assemble(rec, info, truncated, task_id_N, temperature, group_size)


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
