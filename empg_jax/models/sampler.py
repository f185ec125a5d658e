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

Chunked prefill (`prefill_chunk` = C > 0) computes real tokens only, C at a time: each row's
real tokens move to slots [0, len) (S = P + C + N, new tokens from slot P + C), and a
`lax.while_loop` runs as many chunks as the longest row needs, so prompt padding is not
computed. With `group_size` G > 1 it also computes the prompt prefix shared by the G rows of a
group (rows b // G; an agent's G rollouts of one task share the task and the instructions, and
early in an episode much of the history) once: the longest common prefix of the group's rows,
found at run time from the tokens, is run for the group's first row only and its keys and
values are copied into the other rows' caches; each row then runs its own remaining tokens from
the end of that prefix, attending to it (a tree of one shared trunk and G branches). Both give
the one-shot prefill's result up to float round-off (summation order).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from empg_jax.models.sharding import constrain
from empg_jax.ops import temperature_scaled_logits

Array = jax.Array


class SampleOutput(NamedTuple):
    tokens: Array  # [B, N] int32 generated tokens, `pad_id` after a row stops
    log_probs: Array  # [B, N] float32 log pi_T(token) at the sampling temperature, 0 after stop
    entropies: Array  # [B, N] float32 entropy of pi_T, 0 after stop
    lengths: Array  # [B] int32 number of generated tokens, the stop token included
    mask: Array  # [B, N] bool, position < length
    stopped: Array  # [B] bool, the row emitted one of its stop tokens
    prefill_positions: Array | int = 0  # [] int32 token positions the prefill ran (all rows)


# Without top-k, the nucleus is first looked for among the NUCLEUS_CANDIDATES largest logits
# (`lax.top_k`, a partial sort); only when it is not complete there, in some row, is the whole
# vocabulary sorted. XLA:CPU sorts a [32, 4096] array in ~50 ms but takes its top 64 in ~2 ms.
NUCLEUS_CANDIDATES = 64


def _static_float(x: Any) -> float | None:
    """`x` as a Python float when it is known at trace time, else None (a jax array/tracer)."""
    if isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
        return None
    return float(x)


def _check_top_k(top_k: int, vocab: int) -> None:
    if not isinstance(top_k, int) or not 0 <= top_k <= vocab:
        raise ValueError(f"top_k={top_k!r} must be an int in [0, vocab_size={vocab}]")


def _nucleus_from_sorted(logits_BxV, sorted_BxK, total_Bx1, top_p):
    """Nucleus filter given the K largest logits in descending order (K <= V) and
    `total = sum_v exp(z_v - z_max)` over the whole row. Keeps every logit >= the smallest
    sorted logit whose preceding probability mass is < top_p, and at least the largest.
    Returns the filtered logits and whether the nucleus may extend past the K candidates."""
    probs = jnp.exp(sorted_BxK - sorted_BxK[:, :1]) / total_Bx1
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    kept = mass_before < top_p  # NaN top_p keeps nothing here, hence the floor of one below
    rank = jnp.arange(1, sorted_BxK.shape[-1] + 1, dtype=jnp.int32)
    n_keep = jnp.maximum(jnp.max(jnp.where(kept, rank, 0), axis=-1, keepdims=True), 1)
    cutoff = jnp.take_along_axis(sorted_BxK, n_keep - 1, axis=-1)
    neg_inf = jnp.array(-jnp.inf, logits_BxV.dtype)
    filtered = jnp.where(logits_BxV < cutoff, neg_inf, logits_BxV)
    return filtered, kept[:, -1]


def _nucleus(logits_BxV: Array, top_p: Array | float, candidates_BxK: Array | None) -> Array:
    """Top-p filter. `candidates_BxK` are the top-k logits when a top-k filter already removed
    the rest (then they hold the whole nucleus); None means no top-k filter."""
    z = logits_BxV.astype(jnp.float32)
    complete = candidates_BxK is not None or z.shape[-1] <= NUCLEUS_CANDIDATES
    if candidates_BxK is None:
        candidates_BxK = jax.lax.top_k(z, min(z.shape[-1], NUCLEUS_CANDIDATES))[0]
    cand = candidates_BxK.astype(jnp.float32)
    total = jnp.sum(jnp.exp(z - cand[:, :1]), axis=-1, keepdims=True)
    filtered, may_continue = _nucleus_from_sorted(logits_BxV, cand, total, top_p)
    if complete:
        return filtered

    def full_sort(_):
        return _nucleus_from_sorted(logits_BxV, -jnp.sort(-z, axis=-1), total, top_p)[0]

    return jax.lax.cond(jnp.any(may_continue), full_sort, lambda _: filtered, None)


def filter_logits(logits_BxV: Array, top_k: int = 0, top_p: Array | float = 1.0) -> Array:
    """Top-k (static k; 0 = off) then nucleus top-p (Holtzman et al. 2019, arXiv:1904.09751)
    filtering: removed entries become -inf. The most likely token always survives, so a top_p
    <= 0 (or NaN) keeps only it (greedy). Top-p renormalises over the top-k survivors.

    A `top_p` known at trace time (a Python number) decides statically: >= 1 adds no work at
    all. A traced `top_p` runs the filter under a `lax.cond` that skips it when top_p >= 1.
    Top-k is one `lax.top_k`; top-p takes the top `NUCLEUS_CANDIDATES` logits (or the top-k
    ones) and sorts the whole vocabulary only when the nucleus is larger than that."""
    chex.assert_rank(logits_BxV, 2)
    _check_top_k(top_k, logits_BxV.shape[-1])
    candidates = None
    if top_k:
        candidates = jax.lax.top_k(logits_BxV, top_k)[0]
        kth = candidates[:, -1:]
        logits_BxV = jnp.where(logits_BxV < kth, jnp.array(-jnp.inf, logits_BxV.dtype), logits_BxV)
    p = _static_float(top_p)
    if p is not None:
        return logits_BxV if p >= 1.0 else _nucleus(logits_BxV, p, candidates)
    top_p = jnp.asarray(top_p, jnp.float32)
    return jax.lax.cond(
        top_p >= 1.0,
        lambda z: z,
        lambda z: _nucleus(z, top_p, candidates),
        logits_BxV,
    )


def _first_argmax(z_BxV: Array, z_max_Bx1: Array) -> Array:
    """`jnp.argmax` for rows without NaN, given their max: the first index holding it. A min
    over int32 is much cheaper on XLA:CPU than argmax's (value, index) reduction."""
    vocab = z_BxV.shape[-1]
    iota = jnp.arange(vocab, dtype=jnp.int32)
    first = jnp.min(jnp.where(z_BxV == z_max_Bx1, iota, vocab), axis=-1)
    return jnp.minimum(first, vocab - 1)  # a NaN row still gives a valid token id


def _gumbel_max(key: Array, logits_BxV: Array) -> Array:
    """`jax.random.categorical(key, logits_BxV)`, the same draw (the same Gumbel noise and
    its first maximiser), with `_first_argmax` for the (value, index) reduction."""
    noisy = jax.random.gumbel(key, logits_BxV.shape, logits_BxV.dtype) + logits_BxV
    return _first_argmax(noisy, jnp.max(noisy, axis=-1, keepdims=True))


def _next_tokens(key, logits_BxV, temperature, top_k: int, top_p):
    """Chooses one token per row and returns (tokens, log pi_T(token), entropy of pi_T).

    pi_T = softmax(z / T) is the full tempered distribution (before any filter), the one a
    training forward pass recomputes; a temperature that is not > 0 means greedy decoding with
    pi at T = 1. One max and one fused exp-sum pass over V give both statistics.
    """
    z = logits_BxV.astype(jnp.float32)
    z_max = jnp.max(z, axis=-1, keepdims=True)
    temperature = jnp.asarray(temperature, jnp.float32)
    static_p = _static_float(top_p)
    # Static greedy: top_k = 1 keeps one token, a top_p <= 0 or NaN keeps one token.
    static_greedy = top_k == 1 or (static_p is not None and not static_p > 0.0)
    if static_greedy:
        tokens = _first_argmax(z, z_max)
    else:

        def draw(_):
            scaled = temperature_scaled_logits(z, temperature)
            return _gumbel_max(key, filter_logits(scaled, top_k, top_p))

        tokens = jax.lax.cond(
            temperature > 0.0, draw, lambda _: _first_argmax(z, z_max), None
        ).astype(jnp.int32)
    # Shift, then divide: (z - max z) / T has its largest entry exactly 0, and a tiny T sends the
    # others towards -inf (probability 0). Dividing first loses every digit of the shift once
    # |z / T| >> 2^24 (XLA fuses z / T - max into one rounding), which gave NaN as T -> 0.
    shifted = temperature_scaled_logits(z - z_max, temperature)
    e = jnp.exp(shifted)
    total = jnp.sum(e, axis=-1)
    # exp underflows to 0 below -104, so the clamp changes no term and keeps 0 * -inf out.
    weighted = jnp.sum(e * jnp.maximum(shifted, -200.0), axis=-1)
    log_total = jnp.log(total)
    entropy = jnp.maximum(log_total - weighted / total, 0.0)
    chosen = jnp.take_along_axis(shifted, tokens[:, None], axis=-1)[:, 0]
    return tokens, chosen - log_total, entropy


def _left_align(tokens_BxP: Array, mask_BxP: Array, pad_id: int) -> Array:
    """Each row's real tokens, in order, at slots [0, len); `pad_id` after them."""
    b, p = tokens_BxP.shape
    dest = jnp.where(mask_BxP, jnp.cumsum(mask_BxP, axis=1) - 1, p)  # padding: dropped
    rows = jnp.arange(b)[:, None]
    return jnp.full((b, p), pad_id, tokens_BxP.dtype).at[rows, dest].set(tokens_BxP, mode="drop")


def shared_prefix_lengths(aligned_BxP: Array, lens_B: Array, group_size: int) -> Array:
    """[B] the number of leading tokens each row shares with every row of its group (rows
    b // group_size, real tokens left-aligned), capped at the group's shortest row minus one
    so every row keeps at least its last token to compute itself."""
    b, p = aligned_BxP.shape
    g = group_size
    first = jnp.repeat(aligned_BxP[::g], g, axis=0)
    # Past the first row's end the cap below applies (the first row is in the group's minimum).
    same = (aligned_BxP == first) & (jnp.arange(p)[None] < lens_B[:, None])
    common = jnp.sum(jnp.cumprod(same.astype(jnp.int32), axis=1), axis=1)
    shared = jnp.minimum(common.reshape(-1, g).min(1), lens_B.reshape(-1, g).min(1) - 1)
    return jnp.repeat(jnp.maximum(shared, 0), g).astype(jnp.int32)


def _chunked_prefill(
    model, tokens_BxP, mask_BxP, n: int, chunk: int, group_size: int, pad_id, cache_dtype
):
    """The chunked (and, for group_size > 1, prefix-sharing) prefill of the module docstring.

    Returns (cache of S = P + C + n slots, kv_valid [B, S], logits of the last prompt token
    [B, V], first decode slot P + C, token positions computed)."""
    b, p = tokens_BxP.shape
    c = chunk
    mask = mask_BxP.astype(bool)
    lens = mask.sum(axis=1).astype(jnp.int32)
    aligned = _left_align(tokens_BxP, mask, pad_id)
    # C scratch slots after the prompt region: a chunk starting at a slot < P ends inside them.
    aligned = jnp.concatenate([aligned, jnp.full((b, c), pad_id, aligned.dtype)], axis=1)
    s = p + c + n
    slot_S = jnp.arange(s)[None]
    offsets_C = jnp.arange(c, dtype=jnp.int32)[None]
    cache = model.init_cache(b, s, cache_dtype)
    share = group_size > 1 and b % group_size == 0
    start = jnp.zeros((b,), jnp.int32)
    n_trunk = jnp.int32(0)
    if share:
        start = shared_prefix_lengths(aligned[:, :p], lens, group_size)
        first = aligned[::group_size]
        trunk_len = start[::group_size]
        trunk_valid = slot_S < trunk_len[:, None]

        def trunk_chunk(carry):
            k, trunk_cache = carry
            at = k * c
            toks = jax.lax.dynamic_slice_in_dim(first, at, c, axis=1)
            pos = jnp.broadcast_to(at + offsets_C, toks.shape)
            _, trunk_cache = model.forward_cached(toks, pos, trunk_cache, at, trunk_valid)
            return k + 1, trunk_cache

        n_trunk = (jnp.max(trunk_len) + c - 1) // c
        _, trunk_cache = jax.lax.while_loop(
            lambda carry: carry[0] < n_trunk,
            trunk_chunk,
            (jnp.int32(0), model.init_cache(b // group_size, s, cache_dtype)),
        )
        cache = jax.tree.map(lambda x: jnp.repeat(x, group_size, axis=0), trunk_cache)
    kv_valid = slot_S < lens[:, None]  # prompt slots; decode slots become valid as written

    def branch_chunk(carry):
        k, cache, last = carry
        # A row past its end runs at slot P: its reads and writes stay in the scratch slots
        # (unclamped, they would be shifted into the decode slots, harmless but harder to see).
        at = jnp.minimum(start + k * c, p)
        idx = at[:, None] + offsets_C
        toks = jnp.take_along_axis(aligned, idx, axis=1)
        hidden, cache = model.forward_cached(toks, idx, cache, at, kv_valid)
        j = lens - 1 - at
        here = (j >= 0) & (j < c)
        h_last = jnp.take_along_axis(hidden, jnp.clip(j, 0, c - 1)[:, None, None], axis=1)
        return k + 1, cache, jnp.where(here[:, None, None], h_last, last)

    n_branch = (jnp.max(lens - start) + c - 1) // c
    last0 = jnp.zeros((b, 1, model.cfg.hidden_size), model.cfg.compute_dtype)
    _, cache, last = jax.lax.while_loop(
        lambda carry: carry[0] < n_branch, branch_chunk, (jnp.int32(0), cache, last0)
    )
    positions = c * (n_trunk * (b // group_size) + n_branch * b)
    return cache, kv_valid, model.logits_from_hidden(last)[:, 0], p + c, positions


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
    prefill_chunk: int = 0,
    group_size: int = 1,
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
      temperature: scalar sampling temperature (traced, so a dynamic-temperature schedule does
        not recompile); not > 0 (0, negative, NaN) means greedy decoding, with log-probs and
        entropies then at T = 1 (`ops.temperature_scaled_logits`).
      top_k: static top-k filter (0 = off; 1 = greedy decoding).
      top_p: nucleus filter. A Python number is static: >= 1 compiles no filter at all, <= 0 or
        NaN compiles greedy decoding. A jax array is traced: one program for all values, the
        filter skipped at run time by a `lax.cond` when top_p >= 1, and greedy when <= 0.
      Filters shape the sampling only, never the reported log-probs and entropies.
      prefill_chunk: static C; > 0 runs the chunked prefill (real tokens only, C at a time;
        module docstring), 0 one prefill over all P slots.
      group_size: static G; with prefill_chunk > 0 and G > 1, the prompt prefix shared by the
        rows of each group (b // G) is computed once. B must be a multiple of G, else no rows
        share.

    Returns a `SampleOutput`. Log-probs and entropies are those of the full temperature-scaled
    distribution softmax(z / T), before top-k/top-p, i.e. what a training forward pass
    recomputes with `ops.token_log_probs(ops.temperature_scaled_logits(logits, T), tokens)`
    (PPO's old log-probs) and `ops.entropy_from_logits(...)` of the same (EMPG's step entropy).
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
    temperature = jnp.asarray(temperature, jnp.float32)
    chex.assert_rank(temperature, 0)
    states = state if isinstance(state, tuple) else (state,)
    model = nnx.merge(graphdef, *states)

    if prefill_chunk < 0 or group_size < 1:
        raise ValueError(
            f"prefill_chunk must be >= 0 and group_size >= 1; got {prefill_chunk}, {group_size}"
        )
    mask = prompt_mask_BxP.astype(bool)
    prompt_len = mask.sum(axis=1).astype(jnp.int32)
    if prefill_chunk:
        cache, kv_valid, logits, first_slot, computed = _chunked_prefill(
            model, prompt_tokens_BxP, mask, n, prefill_chunk, group_size, pad_id, cache_dtype
        )
    else:
        positions = jnp.maximum(jnp.cumsum(mask, axis=1, dtype=jnp.int32) - 1, 0)
        last_idx = (p - 1 - jnp.argmax(mask[:, ::-1], axis=1)).astype(jnp.int32)
        kv_valid = jnp.concatenate([mask, jnp.zeros((b, n), bool)], axis=1)
        cache = model.init_cache(b, p + n, cache_dtype)
        hidden, cache = model.forward_cached(prompt_tokens_BxP, positions, cache, 0, kv_valid)
        last_hidden = jnp.take_along_axis(hidden, last_idx[:, None, None], axis=1)
        logits = model.logits_from_hidden(last_hidden)[:, 0]
        first_slot, computed = p, jnp.int32(b * p)
    _check_top_k(top_k, logits.shape[-1])

    def body(carry):
        i, cache, kv_valid, logits, done, out = carry
        tokens, lp, ent = _next_tokens(
            jax.random.fold_in(key, i), logits, temperature, top_k, top_p
        )
        tokens = jnp.where(done, pad_id, tokens)
        live = ~done
        lp = jnp.where(live, lp, 0.0)
        ent = jnp.where(live, ent, 0.0)
        is_stop = jnp.any(tokens[:, None] == stop, axis=1) & live
        out = (
            out[0].at[:, i].set(tokens),
            out[1].at[:, i].set(lp),
            out[2].at[:, i].set(ent),
            out[3] + live.astype(jnp.int32),
        )
        slot = first_slot + i
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
    return SampleOutput(tokens, log_probs, entropies, lengths, out_mask, done, computed)


def make_sampler(
    graphdef: nnx.GraphDef,
    *,
    max_new_tokens: int,
    top_k: int = 0,
    top_p: float = 1.0,
    pad_id: int = 0,
    cache_dtype: Any = None,
    prefill_chunk: int = 0,
    group_size: int = 1,
):
    """`jax.jit`-compiled `sample` with the static parts bound: call it as
    `fn(state, prompt_tokens, prompt_mask, key, stop_tokens, temperature=1.0, top_p=None)`.

    `top_p` given here is static (the default 1.0 compiles no filter); a `top_p` passed at call
    time overrides it as a traced value (one compiled program for all values, see `sample`).
    """
    bound = functools.partial(
        sample,
        graphdef,
        max_new_tokens=max_new_tokens,
        top_k=top_k,
        pad_id=pad_id,
        cache_dtype=cache_dtype,
        prefill_chunk=prefill_chunk,
        group_size=group_size,
    )
    static_top_p = float(top_p)

    @jax.jit
    def run_static(state, prompt_tokens, prompt_mask, key, stop_tokens, temperature):
        return bound(
            state,
            prompt_tokens,
            prompt_mask,
            key,
            stop_tokens,
            temperature=temperature,
            top_p=static_top_p,
        )

    @jax.jit
    def run_traced(state, prompt_tokens, prompt_mask, key, stop_tokens, temperature, top_p):
        return bound(
            state,
            prompt_tokens,
            prompt_mask,
            key,
            stop_tokens,
            temperature=temperature,
            top_p=top_p,
        )

    def run(state, prompt_tokens, prompt_mask, key, stop_tokens, temperature=1.0, top_p=None):
        args = (state, prompt_tokens, prompt_mask, key, stop_tokens, temperature)
        if top_p is None:
            return run_static(*args)
        return run_traced(*args, jnp.asarray(top_p, jnp.float32))

    return run
