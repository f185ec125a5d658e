"""The Qwen2-style decoder (Qwen2 / Qwen2.5 / Qwen3 dense, GLM-4.5 MoE) in Flax NNX.

`Transformer(cfg, rngs=nnx.Rngs(0))(tokens_BxT)` gives logits [B, T, V] with default positions
and a causal mask. `segment_ids` (0 = padding, equal non-zero ids = one packed sequence) restricts
attention to the same segment and, when `positions` is omitted, restarts positions per segment.
The sampler uses `forward_cached`, which reads and writes a static-size KV cache.
`hidden_states_packed` runs one packed stream (`models.packed`): many sequences, or a tree of
shared prefixes, in one row with block-sparse attention.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from empg_jax.models.config import ModelConfig
from empg_jax.models.layers import MLP, Attention, make_param, rms_norm, rope_tables
from empg_jax.models.moe import MoE
from empg_jax.models.packed import PackedPlan
from empg_jax.models.sharding import constrain

Array = jax.Array


class KVCache(NamedTuple):
    """Per-layer keys [B, K, S, Dh] and values [B, K, Dh, S]; S is the static cache length (the
    layouts the decode step's attention reads without a transpose)."""

    k: tuple[Array, ...]
    v: tuple[Array, ...]


def default_positions(segment_ids_BxT: Array | None, batch: int, length: int) -> Array:
    """Positions 0, 1, ... restarting at every segment boundary (plain arange without segments)."""
    idx = jnp.arange(length, dtype=jnp.int32)
    if segment_ids_BxT is None:
        return jnp.broadcast_to(idx, (batch, length))
    seg = segment_ids_BxT
    starts = jnp.concatenate([jnp.ones((batch, 1), bool), seg[:, 1:] != seg[:, :-1]], axis=1)
    start_idx = jax.lax.cummax(jnp.where(starts, idx, 0), axis=1)
    return idx - start_idx


def attention_mask(segment_ids_BxT: Array | None, batch: int, length: int) -> Array:
    """[B, T, T] boolean: causal, same segment, and key not padding (segment id 0)."""
    causal = jnp.tril(jnp.ones((length, length), bool))[None]
    if segment_ids_BxT is None:
        return jnp.broadcast_to(causal, (batch, length, length))
    seg = segment_ids_BxT
    same = (seg[:, :, None] == seg[:, None, :]) & (seg[:, None, :] != 0)
    return causal & same


class Block(nnx.Module):
    """Pre-norm decoder layer: x + attn(norm(x)), then + mlp(norm(x)) (MLP or MoE)."""

    def __init__(self, cfg: ModelConfig, layer: int, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.is_moe = cfg.is_moe_layer(layer)
        self.attn_norm = make_param(rngs, (cfg.hidden_size,), ("embed",), cfg, "ones")
        self.attn = Attention(cfg, rngs=rngs)
        self.mlp_norm = make_param(rngs, (cfg.hidden_size,), ("embed",), cfg, "ones")
        if self.is_moe:
            self.mlp = MoE(cfg, rngs=rngs)
        else:
            self.mlp = MLP(cfg, cfg.intermediate_size, rngs=rngs)

    def __call__(self, x, sin, cos, mask, where=None, kv_cache=None, cache_index=0):
        eps = self.cfg.rms_norm_eps
        h, new_cache = self.attn(
            rms_norm(x, self.attn_norm[...], eps), sin, cos, mask, kv_cache, cache_index
        )
        x = constrain(x + h, ("batch", "length", "embed"))
        normed = rms_norm(x, self.mlp_norm[...], eps)
        aux = None
        if self.is_moe:
            h, aux = self.mlp(normed, where)
        else:
            h = self.mlp(normed)
        x = constrain(x + h, ("batch", "length", "embed"))
        return x, new_cache, aux


class Transformer(nnx.Module):
    """Decoder-only language model (see module docstring)."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed = make_param(rngs, (cfg.vocab_size, cfg.hidden_size), ("vocab", "embed"), cfg)
        self.layers = nnx.List([Block(cfg, i, rngs=rngs) for i in range(cfg.num_layers)])
        self.final_norm = make_param(rngs, (cfg.hidden_size,), ("embed",), cfg, "ones")
        if not cfg.tie_embeddings:
            self.lm_head = make_param(
                rngs, (cfg.hidden_size, cfg.vocab_size), ("embed", "vocab"), cfg
            )

    # -- shared trunk -------------------------------------------------------------------------
    def _embed(self, tokens_BxT: Array) -> Array:
        x = jnp.take(self.embed[...], tokens_BxT, axis=0).astype(self.cfg.compute_dtype)
        return constrain(x, ("batch", "length", "embed"))

    def _trunk(self, tokens_BxT, positions_BxT, mask_BxTxS, where_BxT, cache, cache_index):
        cfg = self.cfg
        x = self._embed(tokens_BxT)
        sin, cos = rope_tables(positions_BxT, cfg.rotary_dim, cfg.rope_theta)
        ks, vs, loads, balances = [], [], [], []
        for i, layer in enumerate(self.layers):
            kv = None if cache is None else (cache.k[i], cache.v[i])
            x, new_kv, aux = layer(x, sin, cos, mask_BxTxS, where_BxT, kv, cache_index)
            if new_kv is not None:
                ks.append(new_kv[0])
                vs.append(new_kv[1])
            if aux is not None:
                loads.append(aux["load"])
                balances.append(aux["balance_loss"])
        x = rms_norm(x, self.final_norm[...], cfg.rms_norm_eps)
        new_cache = KVCache(tuple(ks), tuple(vs)) if cache is not None else None
        aux = {}
        if loads:
            aux["expert_load"] = jnp.stack(loads)
            aux["balance_loss"] = jnp.stack(balances)
            aux["moe_aux_loss"] = cfg.moe_aux_loss_coef * jnp.sum(aux["balance_loss"])
        return x, new_cache, aux

    def _prepare(self, tokens_BxT, positions, segment_ids):
        chex.assert_rank(tokens_BxT, 2)
        b, t = tokens_BxT.shape
        if segment_ids is not None:
            chex.assert_shape(segment_ids, (b, t))
        if positions is None:
            positions = default_positions(segment_ids, b, t)
        chex.assert_shape(positions, (b, t))
        mask = attention_mask(segment_ids, b, t)
        where = None if segment_ids is None else segment_ids != 0
        return positions, mask, where

    # -- public API ---------------------------------------------------------------------------
    def logits_from_hidden(self, hidden_BxTxD: Array) -> Array:
        """LM head (tied embedding or separate matrix) on final normed hidden states."""
        dt = self.cfg.compute_dtype
        if self.cfg.tie_embeddings:
            logits = jnp.einsum("btd,vd->btv", hidden_BxTxD, self.embed[...].astype(dt))
        else:
            logits = jnp.einsum("btd,dv->btv", hidden_BxTxD, self.lm_head[...].astype(dt))
        return constrain(logits, ("batch", "length", "vocab"))

    def hidden_states(
        self,
        tokens_BxT: Array,
        positions: Array | None = None,
        segment_ids: Array | None = None,
        *,
        return_aux: bool = False,
    ) -> Array | tuple[Array, dict]:
        """Final normed hidden states [B, T, D] (the LM head's input), e.g. as text features;
        with `return_aux=True` also the aux dict of `__call__` (MoE expert load, balance loss)."""
        positions, mask, where = self._prepare(tokens_BxT, positions, segment_ids)
        x, _, aux = self._trunk(tokens_BxT, positions, mask, where, None, 0)
        return (x, aux) if return_aux else x

    def hidden_states_packed(self, tokens_N: Array, positions_N: Array, plan: PackedPlan) -> Array:
        """Final normed hidden states [N, D] of a packed stream: token k attends to the keys
        the plan makes visible (`packed.make_plan`), at RoPE position `positions_N[k]`. Dense
        models only (an MoE layer's expert load would count the stream's padding)."""
        if any(layer.is_moe for layer in self.layers):
            raise ValueError("packed streams are supported for dense models only")
        chex.assert_rank([tokens_N, positions_N], 1)
        chex.assert_equal_shape([tokens_N, positions_N])
        x, _, _ = self._trunk(tokens_N[None], positions_N[None], plan, None, None, 0)
        return x[0]

    def __call__(
        self,
        tokens_BxT: Array,
        positions: Array | None = None,
        segment_ids: Array | None = None,
        *,
        return_aux: bool = False,
    ) -> Array | tuple[Array, dict]:
        """Logits [B, T, V]; with `return_aux=True` also a dict that, for MoE models, holds
        `expert_load` [L_moe, E] (share of routed slots per expert, over non-padding tokens),
        `balance_loss` [L_moe] (unscaled sequence balance loss) and `moe_aux_loss` (scalar,
        scaled by `cfg.moe_aux_loss_coef`, to add to the training loss)."""
        positions, mask, where = self._prepare(tokens_BxT, positions, segment_ids)
        x, _, aux = self._trunk(tokens_BxT, positions, mask, where, None, 0)
        logits = self.logits_from_hidden(x)
        return (logits, aux) if return_aux else logits

    def init_cache(self, batch: int, length: int, dtype=None) -> KVCache:
        """A zeroed KV cache with room for `length` tokens."""
        cfg = self.cfg
        k_shape = (batch, cfg.num_kv_heads, length, cfg.resolved_head_dim)
        v_shape = (batch, cfg.num_kv_heads, cfg.resolved_head_dim, length)
        dtype = cfg.compute_dtype if dtype is None else dtype
        k = tuple(jnp.zeros(k_shape, dtype) for _ in range(cfg.num_layers))
        return KVCache(k, tuple(jnp.zeros(v_shape, dtype) for _ in range(cfg.num_layers)))

    def forward_cached(
        self,
        tokens_BxT: Array,
        positions_BxT: Array,
        cache: KVCache,
        cache_index: Array | int,
        kv_valid_BxS: Array,
    ) -> tuple[Array, KVCache]:
        """Runs T tokens written at cache slots [cache_index, cache_index + T).

        `cache_index` is one slot for every row, or a [B] vector of per-row slots (the chunked
        prefill of `models.sampler` starts each row after its group's shared prefix). Keep
        cache_index + T <= S: a write past the end is shifted back into the cache (XLA's
        dynamic_update_slice). Query t sees slot s
        when `kv_valid_BxS[b, s]` and s <= cache_index + t; the caller marks valid slots (prompt
        padding stays False). Returns final hidden states [B, T, D] (apply
        `logits_from_hidden` to the rows needed) and the updated cache.
        """
        chex.assert_rank([tokens_BxT, positions_BxT, kv_valid_BxS], 2)
        b, t = tokens_BxT.shape
        s = kv_valid_BxS.shape[1]
        slot = jnp.arange(s)[None, None, :]
        start = jnp.reshape(jnp.asarray(cache_index), (-1, 1, 1))  # [1 or B, 1, 1]
        query = start + jnp.arange(t)[None, :, None]
        mask = kv_valid_BxS[:, None, :] & (slot <= query)
        x, new_cache, _ = self._trunk(tokens_BxT, positions_BxT, mask, None, cache, cache_index)
        return x, new_cache
