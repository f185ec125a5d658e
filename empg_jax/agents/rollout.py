"""Multi-turn agent rollout: B tasks x G samples x up to T steps, one record per (episode, step).

For the built-in JAX environments the whole rollout is ONE jitted program: a `lax.while_loop` over
steps (it stops early once every episode has ended) around the prompt renderer, the KV-cache
sampler (`models.sample`) and the vmapped `env.step` (PureJaxRL style). Finished
episodes are masked, not removed. For external games
`host_rollout` runs the same step on the host around the jitted renderer and sampler and returns the
same record.

Each step is the verl-agent single-turn format of the EMPG paper (Wang et al., arXiv 2509.09265;
see docs/environments.md): a fresh prompt (`prompts.PromptBuilder`), an answer
`[<think> ... </think>] <action> ... </action> <eot>`, and the action text sent to the environment.
An answer that breaks the format is flagged `invalid_format` (penalty 0.1 per step, as in the
paper's training setup).

The record is `agents.batch.Rollout` (episode-major, typed). Both loops build each step's record
with the same `_step_record` and the episode record with the same `_assemble`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from empg_jax.agents.batch import Rollout
from empg_jax.agents.codec import ChatCodec, WordCodec
from empg_jax.agents.prompts import PromptBuilder, answer_format_ok
from empg_jax.models import sample

INVALID_FORMAT_PENALTY = 0.1


def stop_tokens(tokenizer) -> jax.Array:
    """The sampler's stop set: end of turn and end of sequence."""
    return jnp.asarray([tokenizer.eot_id, tokenizer.eos_id], jnp.int32)


def _shift_in(hist: jax.Array, new: jax.Array) -> jax.Array:
    """Drops the oldest history entry (axis 1) and appends `new`."""
    if hist.shape[1] == 0:
        return hist
    return jnp.concatenate([hist[:, 1:], new[:, None].astype(hist.dtype)], axis=1)


def _empty_history(n: int, builder: PromptBuilder | None):
    if builder is None:
        return (
            jnp.zeros((n, 0, 0), jnp.int32),
            jnp.zeros((n, 0, 0), jnp.int32),
            jnp.zeros((n, 0), bool),
        )
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


#: Step fields of the record and their dtypes (`Rollout` names them with shape suffixes).
_STEP_FIELDS = {
    "prompt": jnp.int32,
    "prompt_mask": bool,
    "answer": jnp.int32,
    "answer_mask": bool,
    "old_log_probs": jnp.float32,
    "token_entropy": jnp.float32,
    "valid": bool,
    "invalid_format": bool,
    "invalid_action": bool,
    "step_reward": jnp.float32,
    "overflow": bool,
}


def _step_record(prompt, prompt_mask, out, alive, format_ok, env_invalid, reward) -> dict:
    """One step's record of N episodes (`alive`: the episode had not ended before the step)."""
    return {
        "prompt": prompt,
        "prompt_mask": prompt_mask,
        "answer": out.tokens,
        "answer_mask": out.mask & alive[:, None],
        "old_log_probs": out.log_probs,
        "token_entropy": out.entropies,
        "valid": alive,
        "invalid_format": alive & ~format_ok,
        "invalid_action": alive & env_invalid,
        "step_reward": jnp.where(alive, reward, 0.0),
    }


def _assemble(rec_NxT, info, truncated_N, task_id_N, temperature, group_size) -> Rollout:
    """The episode record from the stacked step records and the final `info` of N episodes."""
    rec = {k: jnp.asarray(v).astype(_STEP_FIELDS[k]) for k, v in rec_NxT.items()}
    suffix = {"prompt": "_NxTxP", "prompt_mask": "_NxTxP"}
    fields = {k + suffix.get(k, "_NxTxL" if v.ndim == 3 else "_NxT"): v for k, v in rec.items()}
    return Rollout(
        **fields,
        reward_N=jnp.sum(rec["step_reward"], axis=1),
        won_N=jnp.asarray(info["won"]).astype(bool),
        score_N=jnp.asarray(info["score"]).astype(jnp.float32),
        length_N=jnp.sum(rec["valid"], axis=1).astype(jnp.int32),
        truncated_N=jnp.asarray(truncated_N).astype(bool),
        task_type_N=jnp.asarray(info["task_type"]).astype(jnp.int32),
        task_id_N=jnp.asarray(task_id_N).astype(jnp.int32),
        temperature=jnp.asarray(temperature, jnp.float32),
        group_size=group_size,
    )


def rollout(
    env: Any,
    builder: PromptBuilder | None,
    graphdef: nnx.GraphDef,
    params: Any,
    key: jax.Array,
    env_state: Any,
    obs_NxO: jax.Array,
    env_params: Any,
    task_id_N: jax.Array,
    *,
    horizon: int,
    answer_len: int,
    thinking: bool,
    temperature: jax.Array | float = 1.0,
    top_k: int = 0,
    group_size: int = 1,
    codec: WordCodec | ChatCodec | None = None,
    act: Callable[..., Any] | None = None,
    prefill_chunk: int = 0,
    share_prefill: bool = False,
) -> Rollout:
    """Plays N episodes for up to `horizon` steps with the policy `nnx.merge(graphdef, params)`.

    Pure and jittable (`make_rollout` binds the static parts). Step t uses
    `fold_in(key, t)`, split into the sampler key and one environment key per episode.

    Args:
      env: a built-in environment (`envs.core` contract).
      builder: the prompt renderer (its mode should match `thinking`); None plays `act` without
        rendering prompts (the record's prompt fields are then empty), e.g. to measure an
        environment's oracle or random policy.
      graphdef, params: the policy, as from `nnx.split(model, nnx.Param)` (params may also be
        the full state).
      key: PRNG key of this rollout.
      env_state, obs_NxO: N reset episodes (vmapped `env.reset_to_task`).
      env_params: params for `env.step` (only `horizon` matters while stepping).
      task_id_N: recorded with the episodes.
      horizon: T, static number of steps (episodes also truncate at `env_params.horizon`).
      answer_len: L, static maximum answer length (of the word codec; a given codec has its own).
      thinking: flag answers without the think tags as invalid format.
      temperature: sampling temperature (traced; <= 0 is greedy).
      top_k: static top-k filter of the sampler (0 = off).
      group_size: G, recorded (static): episodes e // G share a task.
      codec: what the policy reads and writes (`agents.codec`; default the word ids).
      prefill_chunk, share_prefill: the sampler's chunked prefill (static; `models.sample`):
        chunks of this many real tokens (0: one prefill over all P slots), and the prompt
        prefix shared by a group's G rollouts computed once.
      act: optional replacement of the sampler, `act(key, env_state_N, obs_NxO, info_N) ->
        SampleOutput`-like of WORD answers (tokens, mask); `demonstrations` uses it to record
        the oracle's answers (in the codec's ids) in exactly the agent's prompts.
    """
    n = obs_NxO.shape[0]
    chex.assert_shape(task_id_N, (n,))
    if builder is None and act is None:
        raise ValueError("rollout without a prompt builder needs an `act` policy")
    tok = env.tokenizer if builder is None else builder.tokenizer
    if codec is None:
        codec = WordCodec(tok, 0 if builder is None else builder.prompt_len, answer_len)
    p_len = 0 if builder is None else codec.prompt_len
    stops = jnp.asarray(codec.stop_ids, jnp.int32)
    info = jax.vmap(env.info, in_axes=(0, None))(env_state, env_params)
    hist_obs, hist_act, hist_valid = _empty_history(n, builder)
    widths = {"prompt": (p_len,), "prompt_mask": (p_len,)}
    rec = {
        k: jnp.full(
            (horizon, n) + widths.get(k, (codec.answer_len,) if k in _TOKEN_FIELDS else ()),
            codec.pad_id if k == "answer" else 0,
            dtype,
        )
        for k, dtype in _STEP_FIELDS.items()
    }
    render = None if builder is None else jax.vmap(builder.render)
    step_env = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    fmt_ok = jax.vmap(functools.partial(answer_format_ok, tokenizer=tok, thinking=thinking))
    encode_prompt, read_words = jax.vmap(codec.prompt), jax.vmap(codec.words)
    encode_target = jax.vmap(codec.target)

    def body(carry):
        t, state, obs, info, hist_obs, hist_act, hist_valid, rec = carry
        alive = ~(state.terminated | state.truncated)
        overflow = jnp.zeros((n,), bool)
        if render is None:
            prompt, pmask = jnp.zeros((n, 0), jnp.int32), jnp.zeros((n, 0), bool)
        else:
            words_prompt, words_pmask = render(
                info["task"],
                state.t,
                hist_obs,
                hist_act,
                hist_valid,
                obs,
                info["admissible"],
                info["num_admissible"],
            )
            prompt, pmask, overflow = encode_prompt(words_prompt, words_pmask)
        k_sample, k_env = jax.random.split(jax.random.fold_in(key, t))
        if act is None:
            out = sample(
                graphdef,
                params,
                prompt,
                pmask,
                k_sample,
                stops,
                max_new_tokens=codec.answer_len,
                temperature=temperature,
                top_k=top_k,
                pad_id=codec.pad_id,
                prefill_chunk=prefill_chunk,
                group_size=group_size if share_prefill else 1,
            )
            words, wmask, unread = read_words(out.tokens, out.mask)
        else:
            said = act(k_sample, state, obs, info)
            words, wmask, unread = said.tokens, said.mask, jnp.zeros((n,), bool)
            ids, imask, cut = encode_target(words, wmask)
            zeros = jnp.zeros(ids.shape, jnp.float32)
            out = _Answer(ids, imask, zeros, zeros)
            overflow = overflow | cut
        new_state, new_obs, reward, _, _, new_info = step_env(
            jax.random.split(k_env, n), state, words, env_params
        )
        ok = fmt_ok(words, wmask) & ~unread
        upd = _step_record(prompt, pmask, out, alive, ok, new_info["invalid"], reward)
        upd["overflow"] = alive & overflow
        rec = {k: rec[k].at[t].set(upd[k].astype(rec[k].dtype)) for k in rec}
        hist_obs = _shift_in(hist_obs, obs[:, : hist_obs.shape[2]])
        hist_act = _shift_in(hist_act, _history_action(env, words))
        hist_valid = _shift_in(hist_valid, alive)
        obs = jnp.where(alive[:, None], new_obs, obs)
        return t + 1, new_state, obs, new_info, hist_obs, hist_act, hist_valid, rec

    def cond(carry):
        t, state = carry[0], carry[1]
        return (t < horizon) & jnp.any(~(state.terminated | state.truncated))

    carry = (jnp.int32(0), env_state, obs_NxO, info, hist_obs, hist_act, hist_valid, rec)
    _, state, _, info, _, _, _, rec = jax.lax.while_loop(cond, body, carry)
    rec = {k: jnp.swapaxes(v, 0, 1) for k, v in rec.items()}
    return _assemble(rec, info, state.truncated, task_id_N, temperature, group_size)


class _Answer(NamedTuple):
    tokens: jax.Array
    mask: jax.Array
    log_probs: jax.Array
    entropies: jax.Array


#: Step fields with an answer-length axis.
_TOKEN_FIELDS = ("answer", "answer_mask", "old_log_probs", "token_entropy")


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
    group_size: int = 1,
    codec: WordCodec | ChatCodec | None = None,
    prefill_chunk: int = 0,
    share_prefill: bool = False,
) -> Callable[..., Rollout]:
    """`jax.jit`-compiled `rollout` with the static parts bound.

    Call it as `fn(params, key, env_state, obs, env_params, task_id_N, temperature)`.
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
        group_size=group_size,
        codec=codec,
        prefill_chunk=prefill_chunk,
        share_prefill=share_prefill,
    )

    @jax.jit
    def run(params, key, env_state, obs, env_params, task_id_N, temperature):
        return bound(params, key, env_state, obs, env_params, task_id_N, temperature=temperature)

    return run
