"""Autoregressive sampling with a static-size KV cache: one prefill, then a `lax.while_loop` of
single-token decode steps.

`sample(graphdef, state, prompt_tokens_BxP, prompt_mask_BxP, key, stop_tokens_BxZ, ...)` is a
pure function of arrays plus the static nnx `GraphDef` and static sizes, so it can be jitted on
its own (`make_sampler`) or called inside a larger jitted program such as a `lax.scan` over
environment steps (pass `graphdef` through a closure or as a static argument, `state` as an
array pytree from `nnx.split(model)`).

Layout: the cache holds S = P + N slots; the padded prompt fills slots [0, P) and the n-th new
token goes to slot P + n for every row. Padding slots are masked out, and each row's RoPE
positions count only its real tokens, so left-padded, right-padded and even gappy prompts all
give the same result as an unpadded prompt.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from empg_jax.models.sharding import constrain
from empg_jax.ops import entropy_from_logits, token_log_probs

Array = jax.Array


class SampleOutput(NamedTuple):
    tokens: Array  # [B, N] int32 generated tokens, `pad_id` after a row stops
    log_probs: Array  # [B, N] float32 log pi_T(token) at the sampling temperature, 0 after stop
    entropies: Array  # [B, N] float32 entropy of pi_T, 0 after stop
    lengths: Array  # [B] int32 number of generated tokens, the stop token included
    mask: Array  # [B, N] bool, position < length
    stopped: Array  # [B] bool, the row emitted one of its stop tokens


def filter_logits(logits_BxV: Array, top_k: int = 0, top_p: Array | float = 1.0) -> Array:
    """Top-k (static k; 0 = off) then nucleus top-p (Holtzman et al. 2019, arXiv:1904.09751)
    filtering: removed entries become -inf. The most likely token always survives."""
    chex.assert_rank(logits_BxV, 2)
    neg_inf = jnp.array(-jnp.inf, logits_BxV.dtype)
    if top_k:
        if not 0 < top_k <= logits_BxV.shape[-1]:
            raise ValueError(f"top_k={top_k} must be in [0, vocab_size={logits_BxV.shape[-1]}]")
        kth = jax.lax.top_k(logits_BxV, top_k)[0][:, -1:]
        logits_BxV = jnp.where(logits_BxV < kth, neg_inf, logits_BxV)
    sorted_desc = -jnp.sort(-logits_BxV, axis=-1)
    probs = jax.nn.softmax(sorted_desc.astype(jnp.float32), axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    # The smallest logit still inside the nucleus; a token is kept when its logit is >= it.
    keep_sorted = mass_before < top_p
    cutoff = jnp.min(jnp.where(keep_sorted, sorted_desc, jnp.inf), axis=-1, keepdims=True)
    filtered = jnp.where(logits_BxV < cutoff.astype(logits_BxV.dtype), neg_inf, logits_BxV)
    return jnp.where(jnp.asarray(top_p) >= 1.0, logits_BxV, filtered)


def _choose(key, logits_BxV, temperature, top_k, top_p):
    """Sampled (or, at temperature 0, greedy) tokens plus the temperature-scaled logits."""
    temperature = jnp.asarray(temperature, jnp.float32)
    greedy = temperature <= 0.0
    scaled = logits_BxV.astype(jnp.float32) / jnp.where(greedy, 1.0, temperature)
    sampled = jax.random.categorical(key, filter_logits(scaled, top_k, top_p), axis=-1)
    tokens = jnp.where(greedy, jnp.argmax(scaled, axis=-1), sampled).astype(jnp.int32)
    return tokens, scaled


def sample(
    graphdef: nnx.GraphDef,
    state: Any,
    prompt_tokens_BxP: Array,
    prompt_mask_BxP: Array,
    key: Array,
    stop_tokens_BxZ: Array,
    *,
    max_new_tokens: int,
    temperature: Array | float = 1.0,
    top_k: int = 0,
    top_p: Array | float = 1.0,
    pad_id: int = 0,
    cache_dtype: Any = None,
) -> SampleOutput:
    """Samples up to `max_new_tokens` tokens per row from the model `nnx.merge(graphdef, state)`.

    Args:
      graphdef, state: from `nnx.split(model)` (`state` may be a tuple of States, as returned by
        a filtered split). `graphdef` and the keyword-only sizes are static; the rest is traced.
      prompt_tokens_BxP, prompt_mask_BxP: padded prompts and their validity mask (any padding
        side). Every row needs at least one valid token.
      key: PRNG key; the same key, prompts and state give the same tokens.
      stop_tokens_BxZ: per-row stop-token sets padded with -1 (e.g. end-of-action and
        end-of-turn); a [Z] array is shared by all rows. A row stops after emitting one.
      temperature: sampling temperature (traced, so a dynamic-temperature schedule does not
        recompile); <= 0 means greedy decoding, with log-probs and entropies then at T = 1.
      top_k (static), top_p (traced): filters applied before sampling only.

    Returns a `SampleOutput`. Log-probs and entropies are those of the full temperature-scaled
    distribution softmax(z / T), before top-k/top-p, i.e. exactly what a training forward pass
    recomputes with `ops.token_log_probs(logits / T, tokens)` (PPO's old log-probs) and
    `ops.entropy_from_logits(logits / T)` (EMPG's step entropy).
    """
    chex.assert_rank([prompt_tokens_BxP, prompt_mask_BxP], 2)
    chex.assert_equal_shape([prompt_tokens_BxP, prompt_mask_BxP])
    if max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be positive; got {max_new_tokens}")
    b, p = prompt_tokens_BxP.shape
    n = max_new_tokens
    stop = jnp.asarray(stop_tokens_BxZ, jnp.int32)
    if stop.ndim == 1:
        stop = jnp.broadcast_to(stop[None], (b, stop.shape[0]))
    chex.assert_shape(stop, (b, None))
    states = state if isinstance(state, tuple) else (state,)
    model = nnx.merge(graphdef, *states)

    mask = prompt_mask_BxP.astype(bool)
    prompt_len = mask.sum(axis=1).astype(jnp.int32)
    positions = jnp.maximum(jnp.cumsum(mask, axis=1, dtype=jnp.int32) - 1, 0)
    last_idx = (p - 1 - jnp.argmax(mask[:, ::-1], axis=1)).astype(jnp.int32)
    kv_valid = jnp.concatenate([mask, jnp.zeros((b, n), bool)], axis=1)
    cache = model.init_cache(b, p + n, cache_dtype)
    hidden, cache = model.forward_cached(prompt_tokens_BxP, positions, cache, 0, kv_valid)
    last_hidden = jnp.take_along_axis(hidden, last_idx[:, None, None], axis=1)
    logits = model.logits_from_hidden(last_hidden)[:, 0]

    def body(carry):
        i, cache, kv_valid, logits, done, out = carry
        tokens, scaled = _choose(jax.random.fold_in(key, i), logits, temperature, top_k, top_p)
        tokens = jnp.where(done, pad_id, tokens)
        live = ~done
        lp = jnp.where(live, token_log_probs(scaled, tokens), 0.0)
        ent = jnp.where(live, entropy_from_logits(scaled), 0.0)
        is_stop = jnp.any(tokens[:, None] == stop, axis=1) & live
        out = (
            out[0].at[:, i].set(tokens),
            out[1].at[:, i].set(lp),
            out[2].at[:, i].set(ent),
            out[3] + live.astype(jnp.int32),
        )
        slot = p + i
        kv_valid = kv_valid.at[:, slot].set(True)
        hidden, cache = model.forward_cached(
            tokens[:, None], (prompt_len + i)[:, None], cache, slot, kv_valid
        )
        logits = model.logits_from_hidden(hidden)[:, 0]
        logits = constrain(logits, ("batch", "vocab"))
        return i + 1, cache, kv_valid, logits, done | is_stop, out

    def cond(carry):
        i, *_, done, _ = carry
        return (i < n) & ~jnp.all(done)

    out0 = (
        jnp.full((b, n), pad_id, jnp.int32),
        jnp.zeros((b, n), jnp.float32),
        jnp.zeros((b, n), jnp.float32),
        jnp.zeros((b,), jnp.int32),
    )
    carry = (jnp.int32(0), cache, kv_valid, logits, jnp.zeros((b,), bool), out0)
    _, _, _, _, done, (tokens, log_probs, entropies, lengths) = jax.lax.while_loop(
        cond, body, carry
    )
    out_mask = jnp.arange(n)[None, :] < lengths[:, None]
    return SampleOutput(tokens, log_probs, entropies, lengths, out_mask, done)


def make_sampler(
    graphdef: nnx.GraphDef,
    *,
    max_new_tokens: int,
    top_k: int = 0,
    pad_id: int = 0,
    cache_dtype: Any = None,
):
    """`jax.jit`-compiled `sample` with the static parts bound: call it as
    `fn(state, prompt_tokens, prompt_mask, key, stop_tokens, temperature=1.0, top_p=1.0)`."""
    bound = functools.partial(
        sample,
        graphdef,
        max_new_tokens=max_new_tokens,
        top_k=top_k,
        pad_id=pad_id,
        cache_dtype=cache_dtype,
    )

    @jax.jit
    def run(state, prompt_tokens, prompt_mask, key, stop_tokens, temperature=1.0, top_p=1.0):
        return bound(
            state,
            prompt_tokens,
            prompt_mask,
            key,
            stop_tokens,
            temperature=temperature,
            top_p=top_p,
        )

    return run
