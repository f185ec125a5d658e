"""The step rows of a mini-batch packed into streams for the training forward: no padding, no
filler rows, and (optionally) every shared prompt prefix computed once.

Each trained row `[prompt; answer]` needs its real prompt tokens and its answer tokens but the
last (whose output predicts nothing): `n_prompt + n_answer - 1` tokens at RoPE positions 0, 1,
...; untrained rows (filtered, finished episodes, the filler of the last mini-batch) need none.
`pack_rows` lays these tokens out in K streams ("pieces") of N tokens, each row starting at a
chunk boundary (C tokens; `models.packed` computes attention per pair of chunks), and gives every
token its `visible_end` (`models.packed`): a row sees its own tokens causally and nothing else.

With `share_prefixes`, rows are sorted lexicographically and each row stores only the tokens
after its longest common prefix with the previous row (a token trie in depth-first order); its
tokens attend to that prefix where it already is, at positions continuing from it. A group's G
samples at one step share their task, instructions and common history; their forward and
backward run once, and the gradient of a shared token sums over its continuations (the gather
that reads the answer positions back is the only thing that differs from separate rows).

Rows are placed greedily, in order, into the current piece while it has room for the row's
chunks and attention pairs, else into the next piece. A piece holds at least N - (c_max - 1) C
tokens' worth of rows before it closes (c_max = the chunks of the longest row; a shared row never
needs more pairs than it would alone), so `num_pieces` pieces always hold a mini-batch; pieces
left empty are skipped by the forward (`training.forward.packed_answer_hidden`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from empg_jax.models.packed import chunk_pairs

#: Segments a row's path through the prefix trie may have (beyond this a row is not shared).
MAX_PATH_SEGMENTS = 8


def auto_pack_len(row_len: int, rows: int, chunk: int = 32) -> int:
    """The default piece length, in whole chunks: max(4096, 8 x row_len), eight rows or more
    per piece keeping the pieces' worst-case count (and so the memory) near the padded
    layout's; but no longer than the `rows` rows of a mini-batch laid out in whole chunks, so
    that a small mini-batch is not computed in a piece mostly empty."""
    whole = rows * max(-(-(row_len - 1) // chunk), 1) * chunk
    return min(-(-max(4096, 8 * row_len) // chunk) * chunk, whole)


def _triangle(c):
    return c * (c + 1) // 2


@struct.dataclass
class PackLayout:
    """Static sizes of the packed forward of M rows of length R = P + L.

    length: tokens per piece (N, a multiple of `chunk`); chunk: C; max_pairs: attention chunk
    pairs per piece (B); num_pieces: K; share_prefixes: build the prefix trie.
    """

    length: int = struct.field(pytree_node=False)
    chunk: int = struct.field(pytree_node=False)
    max_pairs: int = struct.field(pytree_node=False)
    num_pieces: int = struct.field(pytree_node=False)
    share_prefixes: bool = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls, rows: int, row_len: int, length: int, chunk: int = 32, share_prefixes: bool = False
    ) -> PackLayout:
        """The layout for `rows` rows of at most `row_len` (= P + L) positions in pieces of
        `length` tokens. Raises ValueError when a row cannot fit a piece."""
        if chunk < 1 or length % chunk:
            raise ValueError(f"pack length {length} must be a positive multiple of {chunk}")
        c_max = max(math.ceil((row_len - 1) / chunk), 1)
        qc = length // chunk
        if c_max > qc:
            raise ValueError(
                f"pack length {length} is shorter than one step row ({c_max * chunk} tokens "
                f"in chunks of {chunk}: prompt + answer = {row_len} positions)"
            )
        max_pairs = -(-qc * (c_max + 1) // 2)
        pieces = min(-(-rows * c_max // (qc - c_max + 1)) + 1, rows)
        return cls(length, chunk, max_pairs, pieces, share_prefixes)


@struct.dataclass
class PackedRows:
    """M rows packed into K pieces of N tokens (`pack_rows`).

    tokens_KxN, positions_KxN, visible_end_KxN: the streams (`models.packed`; visible_end is
      within the piece); padding is token 0 at position 0, seen by nobody.
    query_chunk_KxP, key_chunk_KxP: each piece's attention chunk pairs (`packed.chunk_pairs`).
    used_K: the piece holds tokens (empty pieces are skipped).
    answer_index_MxL: flat index into the K * N stream positions of the hidden state that
      predicts answer token j of row m (any index where the answer mask is off).
    row_tokens: tokens the rows need without sharing; stream_tokens: tokens stored (shared
      prefixes once); positions: tokens computed (N per used piece); num_pairs_K: chunk pairs.
    fits: every row has its piece and every piece its pairs (always, by the layout's sizes;
      checked, as a guard against a broken invariant).
    """

    tokens_KxN: jax.Array
    positions_KxN: jax.Array
    visible_end_KxN: jax.Array
    query_chunk_KxP: jax.Array
    key_chunk_KxP: jax.Array
    used_K: jax.Array
    answer_index_MxL: jax.Array
    row_tokens: jax.Array
    stream_tokens: jax.Array
    positions: jax.Array
    num_pairs_K: jax.Array
    fits: jax.Array


def _compact(prompt_MxP, prompt_mask_MxP, answer_MxL, answer_mask_MxL):
    """Each row's real tokens first, in order: `[M, R]` tokens (depth d = position d)."""
    tokens = jnp.concatenate([prompt_MxP, answer_MxL], axis=1).astype(jnp.int32)
    real = jnp.concatenate([prompt_mask_MxP, answer_mask_MxL], axis=1).astype(bool)
    order = jnp.argsort(~real, axis=1, stable=True)
    return jnp.take_along_axis(tokens, order, axis=1)


def _sort_rows(seq_MxR, len_M):
    """Lexicographic order of the rows' first `len` tokens (shorter prefixes first, empty rows
    first) and each sorted row's common prefix length with the previous sorted row."""
    m, r = seq_MxR.shape
    depth = jnp.arange(r)
    keys = jnp.where(depth < len_M[:, None], seq_MxR, -1)

    def radix(i, perm):  # least significant column first: stable sorts give lexicographic
        col = jnp.take(keys[:, r - 1 - i], perm)
        return perm[jnp.argsort(col, stable=True)]

    perm = jax.lax.fori_loop(0, r, radix, jnp.arange(m))
    ks, ls = keys[perm], len_M[perm]
    same = (ks[1:] == ks[:-1]) & (depth < jnp.minimum(ls[1:], ls[:-1])[:, None])
    lcp = jnp.sum(jnp.cumprod(same, axis=1), axis=1)
    return perm, jnp.concatenate([jnp.zeros((1,), lcp.dtype), lcp]).astype(jnp.int32)


def _place(len_M, lcp_M, layout: PackLayout):
    """Greedy placement of the (sorted) rows: piece, start offset and path of each row."""
    c, qc, b = layout.chunk, layout.length // layout.chunk, layout.max_pairs
    s_max = MAX_PATH_SEGMENTS
    slots = jnp.arange(s_max)
    ceil = lambda x: (x + c - 1) // c  # noqa: E731

    def step(carry, row):
        piece, fill, pairs, starts, bases, count = carry
        n, lcp = row
        k_sh = jnp.sum((slots < count) & (starts < lcp))
        nxt = jnp.concatenate([starts[1:], jnp.zeros((1,), starts.dtype)])
        ends = jnp.where(slots + 1 < k_sh, nxt, lcp)
        ancestors = jnp.sum(jnp.where(slots < k_sh, ceil(ends - starts), 0))
        own = ceil(n - lcp)
        alone = ceil(n)
        shared_pairs = own * ancestors + _triangle(own)
        share = (lcp > 0) & (k_sh > 0) & ((own == 0) | (k_sh < s_max))
        share = share & (shared_pairs <= _triangle(alone))
        new_chunks = jnp.where(share, own, alone)
        new_pairs = jnp.where(share, shared_pairs, _triangle(alone))
        fits = (fill + new_chunks <= qc) & (pairs + new_pairs <= b)
        fresh = ~fits & (fill > 0)
        piece2 = piece + fresh.astype(piece.dtype)
        fill2, pairs2 = jnp.where(fresh, 0, fill), jnp.where(fresh, 0, pairs)
        share = share & ~fresh
        new_chunks = jnp.where(share, own, alone)
        new_pairs = jnp.where(share, shared_pairs, _triangle(alone))
        eff_lcp = jnp.where(share, lcp, 0)
        keep = jnp.where(share, k_sh, 0)
        push = new_chunks > 0  # a duplicate row keeps the path it shares entirely
        starts2 = jnp.where(slots < keep, starts, jnp.where(push & (slots == keep), eff_lcp, 0))
        bases2 = jnp.where(slots < keep, bases, jnp.where(push & (slots == keep), fill2 * c, 0))
        count2 = keep + push.astype(keep.dtype)
        present = n > 0
        out = (
            jnp.where(present, piece2, -1),
            fill2 * c,
            eff_lcp,
            starts2,
            bases2,
            count2,
        )
        carry2 = (
            piece2,
            fill2 + new_chunks,
            pairs2 + new_pairs,
            starts2,
            bases2,
            count2,
        )
        carry = jax.tree.map(lambda a, b_: jnp.where(present, a, b_), carry2, carry)
        return carry, out

    zeros = jnp.zeros((s_max,), jnp.int32)
    init = (jnp.int32(0), jnp.int32(0), jnp.int32(0), zeros, zeros, jnp.int32(0))
    (_, _, _, _, _, _), out = jax.lax.scan(step, init, (len_M, lcp_M))
    return out


def pack_rows(
    prompt_MxP, prompt_mask_MxP, answer_MxL, answer_mask_MxL, keep_M, layout: PackLayout
) -> PackedRows:
    """Packs the kept rows (`keep_M`; rows with an empty answer are dropped too) of a
    mini-batch (module docstring). Answer masks are prefixes (the tokens up to and including
    the stop token), as the sampler writes them."""
    m, p = prompt_MxP.shape
    r = p + answer_MxL.shape[1]
    n_len, k, c = layout.length, layout.num_pieces, layout.chunk
    seq = _compact(prompt_MxP, prompt_mask_MxP, answer_MxL, answer_mask_MxL)
    n_prompt = jnp.sum(prompt_mask_MxP.astype(jnp.int32), axis=1)
    n_answer = jnp.sum(answer_mask_MxL.astype(jnp.int32), axis=1)
    row_len = jnp.where(keep_M & (n_answer > 0), n_prompt + n_answer - 1, 0).astype(jnp.int32)
    if layout.share_prefixes:
        perm, lcp = _sort_rows(seq, row_len)
    else:
        perm, lcp = jnp.arange(m), jnp.zeros((m,), jnp.int32)
    seq_s, len_s = seq[perm], row_len[perm]
    piece, base, eff_lcp, starts, bases, count = _place(len_s, lcp, layout)
    present = piece >= 0
    start_global = jnp.where(present, piece * n_len + base, k * n_len)
    new_tokens = jnp.where(present, len_s - eff_lcp, 0)
    fill_end = jax.ops.segment_max(
        jnp.where(present, base + ((new_tokens + c - 1) // c) * c, 0),
        jnp.where(present, piece, k),
        k + 1,
    )[:k]
    fill_end = jnp.maximum(fill_end, 0)

    # Token (row, depth d) of a row's own segment, d in [eff_lcp, len): its stream slot, and
    # the end of its subtree: the start of the next row that does not continue through it.
    depth = jnp.arange(r)
    own = present[:, None] & (depth >= eff_lcp[:, None]) & (depth < len_s[:, None])
    slot = jnp.where(own, start_global[:, None] + depth - eff_lcp[:, None], k * n_len)
    stops = present[:, None] & (eff_lcp[:, None] <= depth)  # row r' leaves depth d's subtree
    rows = jnp.arange(m)[:, None]
    first_stop = jax.lax.cummin(jnp.where(stops, rows, m), axis=0, reverse=True)
    next_stop = jnp.concatenate([first_stop[1:], jnp.full((1, r), m, first_stop.dtype)])
    piece_c = jnp.clip(piece, 0, k - 1)
    end = jnp.append(start_global, k * n_len)[next_stop] - piece_c[:, None] * n_len
    end = jnp.minimum(end, fill_end[piece_c][:, None])
    flat = jnp.arange(k * n_len)
    scatter = lambda init, val: init.at[slot.reshape(-1)].set(  # noqa: E731
        val.reshape(-1), mode="drop", unique_indices=True
    )
    tokens = scatter(jnp.zeros((k * n_len,), jnp.int32), seq_s).reshape(k, n_len)
    positions = scatter(jnp.zeros((k * n_len,), jnp.int32), jnp.broadcast_to(depth, (m, r)))
    visible_end = scatter((flat % n_len + 1).astype(jnp.int32), end.astype(jnp.int32))
    visible_end = visible_end.reshape(k, n_len)
    query, key, pairs = jax.vmap(
        lambda e, u: chunk_pairs(e, c, layout.max_pairs, u), in_axes=(0, 0)
    )(visible_end, fill_end)

    # Hidden state predicting answer token j: depth n_prompt - 1 + j along the row's path.
    l_ans = answer_MxL.shape[1]
    d = jnp.clip(
        n_prompt[perm][:, None] - 1 + jnp.arange(l_ans), 0, jnp.maximum(len_s - 1, 0)[:, None]
    )
    valid = jnp.arange(MAX_PATH_SEGMENTS) < count[:, None]
    seg = jnp.sum(valid[:, None, :] & (starts[:, None, :] <= d[..., None]), axis=-1) - 1
    seg = jnp.clip(seg, 0, MAX_PATH_SEGMENTS - 1)
    at = jnp.take_along_axis(bases, seg, 1) + d - jnp.take_along_axis(starts, seg, 1)
    index_s = jnp.where(present[:, None], piece_c[:, None] * n_len + at, 0)
    answer_index = jnp.zeros_like(index_s).at[perm].set(index_s)
    used = fill_end > 0
    return PackedRows(
        tokens_KxN=tokens,
        positions_KxN=positions.reshape(k, n_len),
        visible_end_KxN=visible_end,
        query_chunk_KxP=query,
        key_chunk_KxP=key,
        used_K=used,
        answer_index_MxL=answer_index.astype(jnp.int32),
        row_tokens=jnp.sum(row_len),
        stream_tokens=jnp.sum(new_tokens),
        positions=jnp.sum(used) * n_len,
        num_pairs_K=pairs,
        fits=(jnp.max(piece) < k) & jnp.all(pairs <= layout.max_pairs),
    )
