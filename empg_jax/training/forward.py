"""The training forward over step rows `prompt ++ answer`.

Each row is the left-padded prompt followed by the answer. RoPE positions count real tokens only
and padding is its own segment, as in the sampler (`models.sample`), so answer token j is
predicted from position P - 1 + j exactly as it was sampled. The prompt's real tokens come from
its mask (never from comparing ids with a literal pad id: with a Hugging Face vocabulary id 0 is
a real token). Log-probs are those of the tempered policy `ops.temperature_scaled_logits`, the
function the sampler draws with, so PPO's ratio compares like with like.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from empg_jax.models.packed import make_plan
from empg_jax.ops import temperature_scaled_logits, token_log_probs
from empg_jax.training.packing import PackedRows


def sequence_logits(
    graphdef, params, prompt_SxP, prompt_mask_SxP, answer_SxL, answer_mask_SxL, start: int
):
    """Logits (float32) of the rows `[prompt; answer]` from position `start` on, the tokens,
    the real-token mask and the model's aux dict (MoE expert load; empty for dense models)."""
    tokens = jnp.concatenate([prompt_SxP, answer_SxL], axis=1).astype(jnp.int32)
    real = jnp.concatenate([prompt_mask_SxP.astype(bool), answer_mask_SxL.astype(bool)], axis=1)
    positions = jnp.maximum(jnp.cumsum(real, axis=1, dtype=jnp.int32) - 1, 0)
    model = nnx.merge(graphdef, params)
    hidden, aux = model.hidden_states(tokens, positions, real.astype(jnp.int32), return_aux=True)
    logits = model.logits_from_hidden(hidden[:, start:-1]).astype(jnp.float32)
    return logits, tokens, real, aux


def answer_log_probs(
    graphdef,
    params,
    prompt_SxP: jax.Array,
    prompt_mask_SxP: jax.Array,
    answer_SxL: jax.Array,
    answer_mask_SxL: jax.Array,
    temperature: jax.Array | float,
):
    """log pi_T(answer token) `[S, L]`, the tempered logits `[S, L, V]` behind them and the
    model's aux dict."""
    p = prompt_SxP.shape[1]
    logits, _, _, aux = sequence_logits(
        graphdef, params, prompt_SxP, prompt_mask_SxP, answer_SxL, answer_mask_SxL, p - 1
    )
    logits = temperature_scaled_logits(logits, temperature)
    mask = answer_mask_SxL.astype(bool)
    return token_log_probs(logits, answer_SxL, where=mask), logits, aux


REMAT = False


def packed_answer_hidden(graphdef, params, packed: PackedRows, chunk: int):
    """Final hidden states `[M, L, D]` at the positions predicting each row's answer tokens,
    from the packed streams of `training.packing.pack_rows` (one piece at a time; empty pieces
    are skipped, in the backward pass too)."""

    def piece(args):
        tokens, positions, visible_end, query, key = args
        plan = make_plan(visible_end, query, key, chunk)
        return nnx.merge(graphdef, params).hidden_states_packed(tokens, positions, plan)

    if REMAT:
        piece = jax.checkpoint(piece)
    shape = jax.eval_shape(piece, jax.tree.map(lambda x: x[0], _piece_args(packed)))

    def body(_, xs):
        used, args = xs
        hidden = jax.lax.cond(used, piece, lambda _: jnp.zeros(shape.shape, shape.dtype), args)
        return None, hidden

    _, hidden_KxNxD = jax.lax.scan(body, None, (packed.used_K, _piece_args(packed)))
    hidden = hidden_KxNxD.reshape(-1, hidden_KxNxD.shape[-1])
    return jnp.take(hidden, packed.answer_index_MxL, axis=0)


def _piece_args(packed: PackedRows):
    return (
        packed.tokens_KxN,
        packed.positions_KxN,
        packed.visible_end_KxN,
        packed.query_chunk_KxP,
        packed.key_chunk_KxP,
    )


def packed_answer_log_probs(
    graphdef, params, packed: PackedRows, chunk: int, answer_MxL, answer_mask_MxL, temperature
):
    """`answer_log_probs` of the rows packed in `packed`: the same log-probs `[M, L]` and
    tempered logits `[M, L, V]` at every position of the answer mask, without computing any
    padding, filler row or (with shared prefixes) repeated prefix."""
    hidden = packed_answer_hidden(graphdef, params, packed, chunk)
    model = nnx.merge(graphdef, params)
    logits = model.logits_from_hidden(hidden).astype(jnp.float32)
    logits = temperature_scaled_logits(logits, temperature)
    mask = answer_mask_MxL.astype(bool)
    return token_log_probs(logits, answer_MxL, where=mask), logits, {}
