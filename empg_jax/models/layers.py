"""Building blocks of the Qwen2-style decoder: parameters with logical axes, RMSNorm, (partial)
RoPE, grouped-query attention with an optional static KV cache, and the SwiGLU MLP.

Shapes: B batch, T query length, S key length (the cache), D model width, H query heads, K KV
heads, G = H / K query heads per KV head, Dh head width, F MLP width.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from empg_jax.models.config import ModelConfig
from empg_jax.models.packed import PackedPlan, block_sparse_attention
from empg_jax.models.sharding import constrain

Array = jax.Array


def _normal(key: Array, shape: tuple[int, ...], dtype) -> Array:
    """N(0, 1) draws. Eagerly, from a NumPy generator seeded by `key`: XLA:CPU would otherwise
    compile one sampler per parameter shape, which dominated model construction time on a busy
    2-core machine. Under tracing (`nnx.jit`/`nnx.eval_shape`, e.g. sharded init on
    accelerators), from `jax.random`. Each path is deterministic per key; they differ from each
    other."""
    if isinstance(key, jax.core.Tracer):
        return jax.random.normal(key, shape, dtype)
    seed = np.asarray(jax.random.key_data(key)).astype(np.uint64).tolist()
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal(shape, dtype=np.float32), dtype)


def make_param(
    rngs: nnx.Rngs | None,
    shape: Sequence[int],
    logical_axes: Sequence[str | None],
    cfg: ModelConfig,
    init: str = "normal",
) -> nnx.Param:
    """A parameter tagged with its logical axes (read by `sharding.state_shardings`)."""
    shape = tuple(shape)
    if init == "normal":
        value = _normal(rngs.params(), shape, cfg.weight_dtype) * cfg.init_std
    elif init == "ones":
        value = jnp.ones(shape, cfg.weight_dtype)
    elif init == "zeros":
        value = jnp.zeros(shape, cfg.weight_dtype)
    else:
        raise ValueError(f"unknown init {init!r}")
    return nnx.Param(value, logical_axes=tuple(logical_axes))


def rms_norm(x: Array, weight: Array, eps: float) -> Array:
    """RMSNorm (Zhang & Sennrich 2019): w * x / sqrt(mean(x^2) + eps), statistics in float32."""
    x32 = x.astype(jnp.float32)
    normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + eps)
    return weight.astype(x.dtype) * normed.astype(x.dtype)


def rope_tables(positions_BxT: Array, rotary_dim: int, theta: float) -> tuple[Array, Array]:
    """sin, cos of RoPE angles (Su et al. 2021, arXiv:2104.09864), each [B, T, rotary_dim / 2].

    angle_{t,i} = position_t * theta^(-2i / rotary_dim); computed in float32.
    """
    exponent = jnp.arange(0, rotary_dim, 2, dtype=jnp.float32) / rotary_dim
    inv_freq = 1.0 / (theta**exponent)
    angles = positions_BxT.astype(jnp.float32)[..., None] * inv_freq
    return jnp.sin(angles), jnp.cos(angles)


def apply_rope(x_BxTxNxDh: Array, sin_BxTxR: Array, cos_BxTxR: Array) -> Array:
    """Rotates the first 2R features of every head in half-split ("rotate_half") layout, the
    Qwen2 / GLM-4.5 convention; features beyond 2R (partial rotary) pass through unchanged."""
    half = sin_BxTxR.shape[-1]
    x_rot, x_pass = x_BxTxNxDh[..., : 2 * half], x_BxTxNxDh[..., 2 * half :]
    x1 = x_rot[..., :half].astype(jnp.float32)
    x2 = x_rot[..., half:].astype(jnp.float32)
    sin, cos = sin_BxTxR[:, :, None, :], cos_BxTxR[:, :, None, :]
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return jnp.concatenate([rotated.astype(x_BxTxNxDh.dtype), x_pass], axis=-1)


def _write_slots(cache: Array, new: Array, index: Array | int, axis: int) -> Array:
    """Writes `new` into `cache` at slots [index, index + T) along `axis` (batch is axis 0);
    `index` is one slot for every row, or a [B] vector of per-row slots (chunked prefill)."""
    new = new.astype(cache.dtype)
    if jnp.ndim(index) == 0:
        start = [0] * cache.ndim
        start[axis] = index
        return jax.lax.dynamic_update_slice(cache, new, tuple(start))

    def one(c, n, i):
        start = [0] * c.ndim
        start[axis - 1] = i
        return jax.lax.dynamic_update_slice(c, n, tuple(start))

    return jax.vmap(one)(cache, new, index)


class MLP(nnx.Module):
    """SwiGLU feed-forward (Shazeer 2020, arXiv:2002.05202): down(silu(x W_g) * (x W_u))."""

    def __init__(self, cfg: ModelConfig, width: int, *, rngs: nnx.Rngs):
        d = cfg.hidden_size
        self.dtype = cfg.compute_dtype
        self.gate = make_param(rngs, (d, width), ("embed", "mlp"), cfg)
        self.up = make_param(rngs, (d, width), ("embed", "mlp"), cfg)
        self.down = make_param(rngs, (width, d), ("mlp", "embed"), cfg)

    def __call__(self, x_BxTxD: Array) -> Array:
        dt = self.dtype
        g = jnp.einsum("btd,df->btf", x_BxTxD, self.gate[...].astype(dt))
        u = jnp.einsum("btd,df->btf", x_BxTxD, self.up[...].astype(dt))
        h = constrain(jax.nn.silu(g) * u, ("batch", "length", "mlp"))
        return jnp.einsum("btf,fd->btd", h, self.down[...].astype(dt))


class Attention(nnx.Module):
    """Grouped-query attention (Ainslie et al. 2023, arXiv:2305.13245) with optional QKV bias
    (Qwen2), optional QK-norm (RMSNorm per head before RoPE; GLM-4.5, Qwen3) and partial RoPE."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, h, k, dh = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.resolved_head_dim
        self.cfg = cfg
        self.q = make_param(rngs, (d, h, dh), ("embed", "heads", "head_dim"), cfg)
        self.k = make_param(rngs, (d, k, dh), ("embed", "kv_heads", "head_dim"), cfg)
        self.v = make_param(rngs, (d, k, dh), ("embed", "kv_heads", "head_dim"), cfg)
        self.o = make_param(rngs, (h, dh, d), ("heads", "head_dim", "embed"), cfg)
        if cfg.qkv_bias:
            self.q_bias = make_param(rngs, (h, dh), ("heads", "head_dim"), cfg, "zeros")
            self.k_bias = make_param(rngs, (k, dh), ("kv_heads", "head_dim"), cfg, "zeros")
            self.v_bias = make_param(rngs, (k, dh), ("kv_heads", "head_dim"), cfg, "zeros")
        if cfg.qk_norm:
            self.q_norm = make_param(rngs, (dh,), ("head_dim",), cfg, "ones")
            self.k_norm = make_param(rngs, (dh,), ("head_dim",), cfg, "ones")

    def __call__(
        self,
        x_BxTxD: Array,
        sin_BxTxR: Array,
        cos_BxTxR: Array,
        mask_BxTxS: Array | PackedPlan,
        kv_cache: tuple[Array, Array] | None = None,
        cache_index: Array | int = 0,
    ) -> tuple[Array, tuple[Array, Array] | None]:
        """Returns (output [B, T, D], updated (k, v) cache or None).

        Without a cache, keys are this call's T tokens (S = T). With a cache (keys [B, K, S, Dh],
        values [B, K, Dh, S]), this call's keys and values are written at slots
        [cache_index, cache_index + T) and the queries attend over all S slots; `mask_BxTxS`
        says which slots each query may see. A `packed.PackedPlan` instead of the mask (B = 1,
        no cache) runs block-sparse attention over a packed stream.
        """
        cfg, dt = self.cfg, self.cfg.compute_dtype
        b, t, _ = x_BxTxD.shape
        q = jnp.einsum("btd,dhk->bthk", x_BxTxD, self.q[...].astype(dt))
        k = jnp.einsum("btd,dhk->bthk", x_BxTxD, self.k[...].astype(dt))
        v = jnp.einsum("btd,dhk->bthk", x_BxTxD, self.v[...].astype(dt))
        if cfg.qkv_bias:
            q = q + self.q_bias[...].astype(dt)
            k = k + self.k_bias[...].astype(dt)
            v = v + self.v_bias[...].astype(dt)
        if cfg.qk_norm:
            q = rms_norm(q, self.q_norm[...], cfg.rms_norm_eps)
            k = rms_norm(k, self.k_norm[...], cfg.rms_norm_eps)
        q = constrain(apply_rope(q, sin_BxTxR, cos_BxTxR), ("batch", "length", "heads", None))
        k = constrain(apply_rope(k, sin_BxTxR, cos_BxTxR), ("batch", "length", "kv_heads", None))
        v = constrain(v, ("batch", "length", "kv_heads", None))
        scale = cfg.resolved_head_dim**-0.5
        if isinstance(mask_BxTxS, PackedPlan):
            out = block_sparse_attention(q[0], k[0], v[0], mask_BxTxS, scale)[None]
            return jnp.einsum("bthk,hkd->btd", out, self.o[...].astype(dt)), None
        new_cache = None
        k_axes, v_axes = "bskh", "bskh"
        if kv_cache is not None:
            # Cache layouts chosen for the attention dots of a decode step on XLA:CPU: keys
            # [B, K, S, Dh] and values [B, K, Dh, S] are read in place, where a [B, S, K, Dh]
            # cache was transposed (copied whole) per layer and step, ~3x slower attention.
            k_cache, v_cache = kv_cache
            k = _write_slots(k_cache, k.transpose(0, 2, 1, 3), cache_index, axis=2)
            v = _write_slots(v_cache, v.transpose(0, 2, 3, 1), cache_index, axis=3)
            new_cache = (k, v)
            k, v = k.astype(dt), v.astype(dt)
            k_axes, v_axes = "bksh", "bkhs"
        groups = cfg.num_heads // cfg.num_kv_heads
        q_grouped = q.reshape(b, t, cfg.num_kv_heads, groups, cfg.resolved_head_dim)
        scores = jnp.einsum(f"btkgh,{k_axes}->bkgts", q_grouped, k).astype(jnp.float32) * scale
        # A finite floor (not -inf) keeps fully-masked rows (padding queries) NaN-free.
        scores = jnp.where(mask_BxTxS[:, None, None], scores, jnp.finfo(jnp.float32).min)
        probs = jax.nn.softmax(scores, axis=-1).astype(dt)
        out = jnp.einsum(f"bkgts,{v_axes}->btkgh", probs, v).reshape(b, t, cfg.num_heads, -1)
        y = jnp.einsum("bthk,hkd->btd", out, self.o[...].astype(dt))
        return y, new_cache
