"""Masked reductions: the one place where padded tokens and steps are kept out of averages."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


def segment_mean(
    values: Array, segment_ids: Array, num_segments: int, where: Array | None = None
) -> tuple[Array, Array]:
    r"""Mean of `values` per segment id, e.g. EMPG's step entropy from its tokens' entropies.

    .. math:: \bar v_s = \frac{\sum_i [id_i = s]\, w_i v_i}{\max(1, \sum_i [id_i = s]\, w_i)}

    (Wang et al., arXiv:2509.09265, step-level entropy H_{i,t}: the mean token entropy of a turn.)

    Args:
      values: `[N]` values.
      segment_ids: `[N]` integer ids; ids outside `[0, num_segments)` are dropped.
      num_segments: static number of segments.
      where: optional boolean `[N]` mask of the entries to include.

    Returns:
      `(means, counts)`: float32 `[num_segments]` means (0 for an empty segment, never NaN) and
      int32 `[num_segments]` counts of included entries.
    """
    chex.assert_rank([values, segment_ids], 1)
    chex.assert_equal_shape([values, segment_ids])
    chex.assert_type(segment_ids, int)
    if not isinstance(num_segments, int) or num_segments <= 0:
        raise ValueError(f"num_segments must be a positive int, got {num_segments!r}")
    weight = jnp.ones(values.shape, jnp.float32)
    if where is not None:
        chex.assert_equal_shape([values, where])
        weight = jnp.where(where, weight, 0.0)
    v = jnp.asarray(values, jnp.float32) * weight
    # Masked entries may hold inf/NaN padding; zero them explicitly rather than multiply.
    v = jnp.where(weight > 0, v, 0.0)
    sums = jax.ops.segment_sum(v, segment_ids, num_segments=num_segments)
    counts = jax.ops.segment_sum(weight, segment_ids, num_segments=num_segments)
    means = sums / jnp.maximum(counts, 1.0)
    return means, counts.astype(jnp.int32)


def masked_mean(
    values: Array, where: Array | None = None, axis: int | tuple[int, ...] | None = None
):
    r"""Mean of `values` over `axis` counting only entries where `where` is True.

    .. math:: \frac{\sum_i w_i v_i}{\max(1, \sum_i w_i)}

    An all-masked slice gives 0, never NaN. Masked entries may hold any value, inf and NaN included.
    """
    v = jnp.asarray(values, jnp.float32)
    if where is None:
        return jnp.mean(v, axis=axis)
    chex.assert_is_broadcastable(jnp.shape(where), v.shape)
    w = jnp.broadcast_to(where, v.shape)
    total = jnp.sum(jnp.where(w, v, 0.0), axis=axis)
    count = jnp.sum(w, axis=axis, dtype=jnp.float32)
    return total / jnp.maximum(count, 1.0)
