"""Attention over a packed token stream: many sequences, or a tree of shared prefixes, in one row.

A packed stream of N tokens is described by one integer per token, `visible_end_N`: key k is
visible to query q iff `k <= q < visible_end[k]`. In a stream whose tokens are laid out in
depth-first order of a token tree (each sequence's new tokens right after the prefix it shares
with earlier ones), `visible_end[k]` is the end of k's subtree, so every query sees exactly its
ancestors and itself: causal attention within each sequence, across packed sequences nothing,
and a shared prefix is seen by all of its continuations. Plain packing is the case where every
sequence is its own path (`visible_end[k]` = the end of k's sequence); padding tokens have
`visible_end[k] = k + 1` (they see only themselves and nobody sees them).

`block_sparse_attention` computes that attention without the N x N score matrix: the stream is
cut into chunks of C tokens and only the (query chunk, key chunk) pairs in which some query sees
some key are computed, C x C scores each, with the softmax over a query's keys spread across
its pairs joined by segment reductions (the running-max trick of FlashAttention, Dao et al.
2022, arXiv:2205.14135, done as one max and one sum per query). Key chunk j is seen by exactly
the query chunks `j .. (max(visible_end over chunk j) - 1) // C` (a subtree is contiguous in
depth-first order), which `chunk_pairs` enumerates within a static budget of pairs.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


class PackedPlan(NamedTuple):
    """The attention of one packed stream, shared by every layer of a forward.

    query_chunk_P, key_chunk_P: the chunk pairs, sorted by query chunk; unused budget entries
      have query chunk Qc (= N / C, one past the last) and see nothing.
    allowed_PxCxC: key c' of the pair's key chunk is visible to query c of its query chunk.
    """

    query_chunk_P: Array
    key_chunk_P: Array
    allowed_PxCxC: Array

    @property
    def chunk(self) -> int:
        return self.allowed_PxCxC.shape[-1]


def visible_mask(visible_end_N: Array) -> Array:
    """The dense [N, N] mask (query, key) of a packed stream: `k <= q < visible_end[k]`."""
    n = visible_end_N.shape[-1]
    q = jnp.arange(n)[:, None]
    k = jnp.arange(n)[None, :]
    return (k <= q) & (q < visible_end_N[None, :])


def chunk_pairs(visible_end_N: Array, chunk: int, max_pairs: int, num_used: Array | None = None):
    """The (query chunk, key chunk) pairs of a stream in which some query sees some key.

    `num_used`: tokens in use (the rest is padding, whose chunks are skipped); default all.
    Returns `(query_chunk_P, key_chunk_P, num_pairs)`, sorted by query chunk, padded to
    `max_pairs` with query chunk Qc; pairs beyond the budget are dropped, so the caller checks
    `num_pairs <= max_pairs`.
    """
    n = visible_end_N.shape[0]
    if n % chunk:
        raise ValueError(f"stream length {n} is not a multiple of the chunk {chunk}")
    qc = n // chunk
    j = jnp.arange(qc)
    used_chunks = qc if num_used is None else (num_used + chunk - 1) // chunk
    reach = (jnp.max(visible_end_N.reshape(qc, chunk), axis=1) - 1) // chunk
    last = jnp.clip(reach, j, jnp.minimum(used_chunks, qc) - 1)
    count = jnp.where(j < used_chunks, last - j + 1, 0)
    start = jnp.cumsum(count) - count
    total = jnp.sum(count)
    p = jnp.arange(max_pairs)
    key = jnp.clip(jnp.searchsorted(start, p, side="right") - 1, 0, qc - 1)
    query = jnp.where(p < total, key + p - start[key], qc)
    order = jnp.argsort(query, stable=True)
    return query[order].astype(jnp.int32), key[order].astype(jnp.int32), total


def make_plan(visible_end_N: Array, query_chunk_P: Array, key_chunk_P: Array, chunk: int):
    """`PackedPlan` of the pairs: the token-level visibility inside each pair."""
    n = visible_end_N.shape[0]
    qc = n // chunk
    offs = jnp.arange(chunk)
    q_pos = jnp.minimum(query_chunk_P, qc - 1)[:, None] * chunk + offs
    k_pos = key_chunk_P[:, None] * chunk + offs
    k_end = visible_end_N.reshape(qc, chunk)[key_chunk_P]
    allowed = (k_pos[:, None, :] <= q_pos[:, :, None]) & (q_pos[:, :, None] < k_end[:, None, :])
    allowed = allowed & (query_chunk_P < qc)[:, None, None]
    return PackedPlan(query_chunk_P, key_chunk_P, allowed)


def block_sparse_attention(
    q_NxHxDh: Array, k_NxKxDh: Array, v_NxKxDh: Array, plan: PackedPlan, scale: float
) -> Array:
    """softmax(q k^T * scale + mask) v over the visible keys of each query (`PackedPlan`),
    grouped-query heads (H = K * G). Scores and the softmax in float32; output [N, H, Dh] in
    the dtype of v. A query that sees no key (only possible for a broken plan) outputs zeros.
    """
    n, h, dh = q_NxHxDh.shape
    kh = k_NxKxDh.shape[1]
    chex.assert_shape([k_NxKxDh, v_NxKxDh], (n, kh, dh))
    c = plan.chunk
    g, qc = h // kh, n // c
    # Chunk-major, head-major layouts so that each pair's dots are [G*C, Dh] x [Dh, C] blocks.
    qb = q_NxHxDh.reshape(qc, c, kh, g, dh).transpose(0, 2, 3, 1, 4)  # [Qc, K, G, C, Dh]
    kb = k_NxKxDh.reshape(qc, c, kh, dh).transpose(0, 2, 1, 3)  # [Qc, K, C, Dh]
    vb = v_NxKxDh.reshape(qc, c, kh, dh).transpose(0, 2, 1, 3)
    qi = jnp.minimum(plan.query_chunk_P, qc - 1)
    q_p = qb[qi].reshape(-1, kh, g * c, dh)
    k_p, v_p = kb[plan.key_chunk_P], vb[plan.key_chunk_P]
    scores = jnp.einsum("pkqh,pksh->pkqs", q_p, k_p).astype(jnp.float32) * scale
    scores = scores.reshape(-1, kh, g, c, c)
    allowed = plan.allowed_PxCxC[:, None, None]
    scores = jnp.where(allowed, scores, -jnp.inf)
    seg = plan.query_chunk_P  # sorted; Qc collects the unused budget
    row_max = jax.ops.segment_max(
        jnp.max(scores, axis=-1), seg, qc + 1, indices_are_sorted=True
    )  # [Qc + 1, K, G, C]
    # The shift cancels in the softmax; no gradient flows through it.
    row_max = jax.lax.stop_gradient(jnp.where(jnp.isfinite(row_max), row_max, 0.0))
    e = jnp.where(allowed, jnp.exp(scores - row_max[seg][..., None]), 0.0)
    denom = jax.ops.segment_sum(jnp.sum(e, axis=-1), seg, qc + 1, indices_are_sorted=True)
    e = e.reshape(-1, kh, g * c, c).astype(v_NxKxDh.dtype)
    out_p = jnp.einsum("pkqs,pksh->pkqh", e, v_p).astype(jnp.float32)
    out = jax.ops.segment_sum(out_p, seg, qc + 1, indices_are_sorted=True)[:qc]
    out = out.reshape(qc, kh, g, c, dh) / jnp.maximum(denom[:qc], 1e-30)[..., None]
    return out.transpose(0, 3, 1, 2, 4).reshape(n, h, dh).astype(v_NxKxDh.dtype)
