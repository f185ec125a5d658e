"""Loss aggregation and mask handling shared by the loss modules (jax + ops only, static shapes)."""

from __future__ import annotations

import chex
import jax.numpy as jnp

from empg_jax.ops import masked_mean

AGGREGATIONS = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)


def as_mask(where: chex.Array | None, shape: tuple[int, ...]) -> chex.Array:
    """Returns `where` as a boolean mask of `shape` (all True when `where` is None)."""
    if where is None:
        return jnp.ones(shape, dtype=bool)
    chex.assert_shape(where, shape)
    return jnp.asarray(where).astype(bool)


def aggregate_loss(
    loss_BxL: chex.Array,
    mask_BxL: chex.Array,
    aggregation: str = "token-mean",
    norm_length: float | None = None,
) -> chex.Array:
    """Reduces an unreduced per-token loss `[B, L]` (rows x tokens) to a scalar.

    Modes (named as verl's loss-aggregation modes):
      * `token-mean`: sum over all valid tokens / number of valid tokens (DAPO's token-level
        loss). Accepts any rank (e.g. one trajectory `[T]`).
      * `seq-mean-token-mean`: per row, mean over its valid tokens; then mean over rows (GRPO).
      * `seq-mean-token-sum`: per row, sum over its valid tokens; then mean over rows.
      * `seq-mean-token-sum-norm`: per row, sum over its valid tokens divided by a constant
        `norm_length` (default: L, the padded length); then mean over rows (Dr. GRPO,
        "Understanding R1-Zero-Like Training", arXiv 2503.20783).

    Rows without any valid token are left out of the row means (padded step rows must not dilute
    the loss); a batch without any valid token gives 0. Masked entries may hold inf or NaN.
    """
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {aggregation!r}; expected one of {AGGREGATIONS}")
    chex.assert_equal_shape([loss_BxL, mask_BxL])
    mask_BxL = mask_BxL.astype(bool)
    if aggregation == "token-mean":
        return masked_mean(loss_BxL, mask_BxL)
    if loss_BxL.ndim != 2:
        raise ValueError(
            f"aggregation {aggregation!r} needs a [rows, tokens] loss; got shape {loss_BxL.shape}"
        )
    row_valid_B = jnp.any(mask_BxL, axis=-1)
    if aggregation == "seq-mean-token-mean":
        row_loss_B = masked_mean(loss_BxL, mask_BxL, axis=-1)
    else:
        row_loss_B = jnp.sum(jnp.where(mask_BxL, loss_BxL, 0.0), axis=-1)
        if aggregation == "seq-mean-token-sum-norm":
            row_loss_B = row_loss_B / (loss_BxL.shape[-1] if norm_length is None else norm_length)
    return masked_mean(row_loss_B, row_valid_B)
