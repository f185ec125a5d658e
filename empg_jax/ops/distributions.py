"""Entropies of categorical distributions given by logits, and log-probabilities of chosen tokens.

All functions take logits in any float dtype (bf16, f16, f32), compute in float32, and are safe for
`-inf` logits (a masked vocabulary): an entry with probability zero contributes exactly zero, never
`0 * -inf = NaN`. A row with no finite logit is not a distribution; its outputs are 0, not NaN.

Row masks: `where` is a boolean array with the shape of the output (the logits' shape without the
reduced axis). Rows where it is False get 0. Masking vocabulary entries is done by setting their
logits to `-inf`.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


def temperature_scaled_logits(logits: Array, temperature: Array | float) -> Array:
    r"""The logits of the tempered policy :math:`\pi_T = \mathrm{softmax}(z / T)`, in float32.

    The one place where a sampling temperature meets logits: the sampler draws from these
    logits and records log-probs and entropies of them; the training forward recomputes the
    same log-probs with the same function, so PPO's ratio compares like with like. `T <= 0`
    means greedy decoding: the logits are returned at `T = 1`. `temperature` may be traced.
    """
    chex.assert_type(logits, float)
    t = jnp.asarray(temperature, jnp.float32)
    return jnp.asarray(logits, jnp.float32) / jnp.where(t > 0.0, t, 1.0)


def _as_f32_last(logits: Array, axis: int) -> Array:
    chex.assert_type(logits, float)
    if logits.ndim == 0:
        raise ValueError("logits must have at least one axis (the categories); got a scalar")
    return jnp.moveaxis(jnp.asarray(logits, jnp.float32), axis, -1)


def _apply_row_mask(values: Array, where: Array | None) -> Array:
    if where is None:
        return values
    chex.assert_shape(where, values.shape)
    return jnp.where(where, values, 0.0)


def log_softmax(logits: Array, axis: int = -1) -> tuple[Array, Array]:
    """Returns `(log_p, p)` of softmax(logits) in float32, with `log_p = 0` where `p = 0`.

    Setting `log_p` to 0 on zero-probability entries keeps `p * log_p` and its gradient finite for
    `-inf` logits. Rows without any finite logit give `p = 0` everywhere.
    """
    z = _as_f32_last(logits, axis)
    z_max = jnp.max(z, axis=-1, keepdims=True)
    z_max = jax.lax.stop_gradient(jnp.where(jnp.isfinite(z_max), z_max, 0.0))
    shifted = z - z_max
    sum_exp = jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True)
    log_norm = jnp.log(jnp.where(sum_exp > 0, sum_exp, 1.0))
    log_p_raw = shifted - log_norm
    p = jnp.where(sum_exp > 0, jnp.exp(log_p_raw), 0.0)
    log_p = jnp.where(p > 0, log_p_raw, 0.0)
    return jnp.moveaxis(log_p, -1, axis), jnp.moveaxis(p, -1, axis)


def _entropy_rows(z_NxV: Array) -> Array:
    """H = log S + sum_i e_i (-s_i) / S with s = z - max z, e = exp(s), S = sum_i e_i.

    Both terms are non-negative, so nothing cancels for near one-hot rows. The expression is kept
    to one chain of elementwise maps and two row reductions because XLA then fuses it without any
    [N, V] temporary; each guard below is chosen to keep that fusion (a `where` on S breaks it).
    """
    z = jnp.asarray(z_NxV, jnp.float32)
    z_max = jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
    z_max = jnp.where(jnp.isfinite(z_max), z_max, 0.0)
    s = z - z_max
    e = jnp.exp(s)
    # exp underflows to exactly 0 below -104, so clamping s at -200 changes no value, and it keeps
    # 0 * -inf (masked logits) out of both the value and the gradient.
    weighted = jnp.sum(e * -jnp.maximum(s, -200.0), axis=-1)
    # S >= 1 for any row with a finite logit, so the 1e-15 is exact there; it makes a row with no
    # finite logit give log(1e-15) + 0 < 0, clamped to 0, with a finite (zero) gradient.
    total = jnp.sum(e, axis=-1) + 1e-15
    return jnp.maximum(jnp.log(total) + weighted / total, 0.0)


def _chunked_entropy_rows(z_NxV: Array, chunk_size: int) -> Array:
    """Entropy of each row, `chunk_size` rows at a time.

    Chunks are read with `dynamic_slice` from the original array, never a padded copy, so peak
    temporary memory is O(chunk_size x V). The last chunk starts at `N - chunk_size` and overlaps
    its predecessor; the overlapping rows are recomputed to the same values.
    """
    num_rows = z_NxV.shape[0]
    num_chunks = -(-num_rows // chunk_size)

    def body(i: Array, out_N: Array) -> Array:
        start = jnp.minimum(i * chunk_size, num_rows - chunk_size)
        chunk = jax.lax.dynamic_slice_in_dim(z_NxV, start, chunk_size, axis=0)
        return jax.lax.dynamic_update_slice_in_dim(out_N, _entropy_rows(chunk), start, axis=0)

    return jax.lax.fori_loop(0, num_chunks, body, jnp.zeros((num_rows,), jnp.float32))


def entropy_from_logits(
    logits: Array,
    axis: int = -1,
    where: Array | None = None,
    chunk_size: int | None = None,
) -> Array:
    r"""Shannon entropy (nats) of softmax(logits) along `axis`, one value per row.

    .. math:: H(P) = -\sum_i P_i \log P_i, \qquad \log P = \mathrm{log\_softmax}(z).

    This is the per-token entropy that EMPG averages into a step-level uncertainty (Wang et al.,
    "Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM Agents",
    arXiv:2509.09265, Eq. 12 and its step entropy).

    Args:
      logits: `[..., V, ...]` logits, any float dtype; `-inf` entries are masked categories.
      axis: the category axis.
      where: optional boolean row mask with the output's shape; rows where False give 0.
      chunk_size: if given, rows are processed `chunk_size` at a time (a `fori_loop` over chunks) so
        that temporaries are O(chunk_size x V) instead of O(N x V); the result is the same.

    Returns:
      float32 entropies with the logits' shape minus `axis`.
    """
    chex.assert_type(logits, float)
    if jnp.ndim(logits) == 0:
        raise ValueError("logits must have at least one axis (the categories); got a scalar")
    # No up-front float32 copy: each chunk is cast on its own, so bf16 inputs stay bf16 in memory.
    z = jnp.moveaxis(logits, axis, -1)
    row_shape = z.shape[:-1]
    if chunk_size is None:
        return _apply_row_mask(_entropy_rows(z), where)
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    z_NxV = z.reshape((-1, z.shape[-1]))
    if chunk_size >= z_NxV.shape[0]:
        return _apply_row_mask(_entropy_rows(z), where)
    entropy_N = _chunked_entropy_rows(z_NxV, chunk_size)
    return _apply_row_mask(entropy_N.reshape(row_shape), where)


def collision_probability(logits: Array, axis: int = -1, where: Array | None = None) -> Array:
    r"""Collision probability of softmax(logits): the chance two independent draws agree.

    .. math:: C(P) = \sum_i P_i^2 = e^{-H_2(P)}.

    It sets the size of a softmax policy-gradient step: E_c ||Δz||² = (ηA)² (1 − C(P))
    (Y. Li, "Logit Dynamics in Softmax Policy Gradient Methods", arXiv:2506.12912).

    Args:
      logits: `[..., V, ...]` logits, any float dtype.
      axis: the category axis.
      where: optional boolean row mask; rows where False give 0.

    Returns:
      float32 values in [1/V, 1], the logits' shape minus `axis`.
    """
    _, p = log_softmax(logits, axis)
    return _apply_row_mask(jnp.sum(p * p, axis=axis), where)


def renyi2_entropy(logits: Array, axis: int = -1, where: Array | None = None) -> Array:
    r"""Rényi entropy of order 2 (collision entropy) of softmax(logits), in nats.

    .. math:: H_2(P) = -\log \sum_i P_i^2 \le H(P).

    Accurate both for tiny C (large flat vocabularies, via log C) and for C within float32 epsilon
    of 1 (near one-hot rows, via log1p of a cancellation-free 1 − C).

    Args:
      logits: `[..., V, ...]` logits, any float dtype.
      axis: the category axis.
      where: optional boolean row mask; rows where False give 0.

    Returns:
      float32 values in [0, log V], the logits' shape minus `axis`.
    """
    _, p = log_softmax(logits, axis)
    p = jnp.moveaxis(p, axis, -1)
    collision = jnp.sum(p * p, axis=-1)
    # Near a one-hot row, C rounds to 1 in float32 while H_2 ~ 1 - C is still positive: form
    # 1 - C = p_m (1 - p_m) + sum_{i != m} p_i (1 - p_i), with 1 - p_m as the sum of the others,
    # so every term is positive and nothing cancels; use log1p of it there, log C elsewhere.
    is_max = jax.nn.one_hot(jnp.argmax(p, axis=-1), p.shape[-1], dtype=jnp.bool_)
    others = jnp.sum(jnp.where(is_max, 0.0, p), axis=-1, keepdims=True)
    one_minus_c = jnp.sum(p * jnp.where(is_max, others, 1.0 - p), axis=-1)
    h2 = jnp.where(
        collision > 0.5,
        -jnp.log1p(-jnp.minimum(one_minus_c, 0.5)),
        -jnp.log(jnp.where(collision > 0, jnp.minimum(collision, 0.5), 1.0)),
    )
    return _apply_row_mask(h2, where)


def token_log_probs(logits: Array, tokens: Array, where: Array | None = None) -> Array:
    r"""Log-probability of each chosen token under softmax(logits) over the last axis.

    .. math:: \log \pi(y_t) = z_{t, y_t} - \mathrm{logsumexp}_v z_{t, v}.

    Args:
      logits: `[..., T, V]` logits, any float dtype.
      tokens: `[..., T]` integer token ids in `[0, V)`.
      where: optional boolean mask `[..., T]`; positions where False give 0.

    Returns:
      float32 `[..., T]`; `-inf` for a token whose logit is `-inf`.
    """
    chex.assert_type(logits, float)
    chex.assert_type(tokens, int)
    chex.assert_equal_shape_prefix((logits, tokens), tokens.ndim)
    chex.assert_rank(logits, tokens.ndim + 1)
    z = jnp.asarray(logits, jnp.float32)
    chosen = jnp.take_along_axis(z, tokens[..., None].astype(jnp.int32), axis=-1)[..., 0]
    z_max = jax.lax.stop_gradient(jnp.max(z, axis=-1))
    z_max = jnp.where(jnp.isfinite(z_max), z_max, 0.0)
    lse = z_max + jnp.log(jnp.sum(jnp.exp(z - z_max[..., None]), axis=-1))
    return _apply_row_mask(chosen - lse, where)
