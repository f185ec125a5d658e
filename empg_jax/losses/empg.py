"""Entropy-Modulated Policy Gradients: step-level advantage modulation.

J. Wang et al., "Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM
Agents", https://arxiv.org/abs/2509.09265.

All inputs are flat over the S step rows of the whole (post-filter) training batch: one row per
ReAct step, with the row index of the same trajectory's next step (or -1) linking the steps. The
normalisation scope is the whole batch of valid rows, never a group or a PPO mini-batch.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from empg_jax.losses._masked import as_mask
from empg_jax.ops import masked_mean


def empg_advantages(
    step_entropy: chex.Array,
    trajectory_advantage: chex.Array,
    next_step: chex.Array,
    where: chex.Array | None = None,
    *,
    k: float = 1.0,
    k_future: float = 1.0,
    zeta: float = 0.1,
    eps: float = 1e-8,
    use_scaling: bool = True,
    use_bonus: bool = True,
    zero_mean: bool = True,
    divide_by_std: bool = False,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """EMPG step advantages from step entropies and trajectory advantages.

        H~_s     = (H_s - min_B H) / (max_B H - min_B H + eps)                     (Eq. 12)
        g_s      = exp(-k H~_s) / (mean_B exp(-k H~) + eps)                        (Eq. 10)
        f_s      = exp(-k_future H~_{next(s)}), 0 if s has no next step            (Eq. 11)
        A_mod_s  = g_s A_s + zeta f_s                                              (Eq. 8)
        A_s'     = A_mod_s - mean_B A_mod                                          (Eq. 7)

    min, max and both means run over the valid rows only. The bonus zeta * f is not scaled by g
    and is added whatever the sign of A; the last step of a trajectory (and the last step of a
    truncated one, which also has `next_step == -1`) gets none. The final normalisation
    subtracts the mean only (no std division). Scaling is per step (the published pseudo-code
    scales the whole batch once per segment; we implement the intent).
    A `next_step` that points at an invalid row is treated as "no next step".

    Degenerate batches stay finite: equal entropies give H~ = 0 and g = 1; a batch with no valid
    row gives zeros. Invalid rows get advantage 0 and zero aux values.

    Dtypes: the computation runs in at least float32 (`eps` = 1e-8 underflows to 0 in float16,
    where equal entropies would give 0/0), so bfloat16, float16 and float32 inputs all give
    float32 outputs; float64 inputs (with x64 enabled) give float64.

    Args:
      step_entropy: H_s, the mean old-policy token entropy of each step's generated tokens, `[S]`.
      trajectory_advantage: A^(i) of the step's trajectory (e.g. the GRPO z-score), `[S]`.
      next_step: int `[S]`, row index of the same trajectory's step t+1, or -1.
      where: bool `[S]`, valid (real) step rows; None: all valid.
      k: steepness of the scaling g (paper: 1).
      k_future: steepness of the future-clarity bonus f (paper: 1).
      zeta: weight of the bonus (paper's pseudo-code: 0.1; ARLArena: 0.05).
      eps: added to the min-max range and to g's normaliser (1e-8 in the pseudo-code).
      use_scaling: apply g (False: the paper's "future bonus only" ablation, g := 1).
      use_bonus: add the bonus (False: the paper's "gradient scaling only" ablation).
      zero_mean: subtract the batch mean at the end.
      divide_by_std: also divide by the batch std over valid rows (+ eps). Not part of EMPG
        (the paper normalises to zero mean only); a variant for comparison, off by default.

    Returns:
      `(advantages [S], aux)` with aux entries `[S]`: `g` (the applied scale; 1 when
      `use_scaling=False`), `f` (f of the next step, 0 where there is none), `normalized_entropy`
      (H~), and `bonus` (the added zeta * f; 0 when `use_bonus=False`).
    """
    chex.assert_rank([step_entropy, trajectory_advantage, next_step], 1)
    chex.assert_type([step_entropy, trajectory_advantage], float)
    chex.assert_type(next_step, int)
    chex.assert_equal_shape([step_entropy, trajectory_advantage, next_step])
    num_steps = step_entropy.shape[0]
    valid = as_mask(where, step_entropy.shape)
    dtype = jnp.promote_types(
        jnp.result_type(step_entropy.dtype, trajectory_advantage.dtype), jnp.float32
    )
    entropy = step_entropy.astype(dtype)

    any_valid = jnp.any(valid)
    h_min = jnp.where(any_valid, jnp.min(entropy, where=valid, initial=jnp.inf), 0.0)
    h_max = jnp.where(any_valid, jnp.max(entropy, where=valid, initial=-jnp.inf), 0.0)
    h_norm = jnp.where(valid, (entropy - h_min) / (h_max - h_min + eps), 0.0)

    if use_scaling:
        scale = jnp.exp(-k * h_norm)
        g = jnp.where(valid, scale / (masked_mean(scale, valid) + eps), 0.0)
    else:
        g = valid.astype(dtype)

    # Gather with a clamped index; rows without a valid next step are masked afterwards.
    safe_next = jnp.clip(next_step, 0, num_steps - 1)
    has_next = valid & (next_step >= 0) & (next_step < num_steps) & valid[safe_next]
    f_next = jnp.where(has_next, jnp.exp(-k_future * h_norm[safe_next]), 0.0)
    bonus = zeta * f_next if use_bonus else jnp.zeros_like(f_next)

    modulated = g * trajectory_advantage.astype(dtype) + bonus
    if zero_mean:
        modulated = modulated - masked_mean(modulated, valid)
    if divide_by_std:
        centred = modulated - masked_mean(modulated, valid)
        modulated = modulated / (jnp.sqrt(masked_mean(jnp.square(centred), valid)) + eps)
    advantages = jnp.where(valid, modulated, 0.0)
    aux = {"g": g, "f": f_next, "normalized_entropy": h_norm, "bonus": bonus}
    return advantages, aux


def step_entropy_from_tokens(token_entropy: chex.Array, token_mask: chex.Array) -> chex.Array:
    """Mean token entropy over each step's generated tokens: `[S, L]` -> `[S]`.

    A row without generated tokens gets 0.
    """
    chex.assert_rank([token_entropy, token_mask], 2)
    chex.assert_equal_shape([token_entropy, token_mask])
    return masked_mean(token_entropy, token_mask.astype(bool), axis=-1)


def empg_token_advantages(
    token_entropy: chex.Array,
    token_mask: chex.Array,
    trajectory_advantage: chex.Array,
    next_step: chex.Array,
    where: chex.Array | None = None,
    **empg_kwargs,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """EMPG from token-level inputs, broadcast back to the step's tokens.

    H_s is the mean old-policy entropy over the step's generated tokens (thinking, action tags and
    the end-of-turn token: `token_mask`); `empg_advantages` modulates the step advantages, which
    are then broadcast to the step's generated tokens (zero elsewhere: the published pseudo-code
    also shifts masked positions).

    Args:
      token_entropy: per-token full-vocabulary entropy of the old policy, `[S, L]`.
      token_mask: 1/True on each step's generated tokens, `[S, L]`.
      trajectory_advantage: A^(i) of each step's trajectory, `[S]`.
      next_step: int `[S]`, row of the next step of the same trajectory, or -1.
      where: bool `[S]` valid rows; None: rows with at least one generated token.
      **empg_kwargs: keyword arguments of `empg_advantages` (k, k_future, zeta, eps,
        use_scaling, use_bonus, zero_mean, divide_by_std).

    Returns:
      `(advantages [S, L], aux)`; aux is `empg_advantages`' aux plus `step_entropy` and
      `step_advantages` (both `[S]`).
    """
    chex.assert_rank([token_entropy, token_mask], 2)
    chex.assert_equal_shape([token_entropy, token_mask])
    chex.assert_type(token_entropy, float)
    token_entropy = jax.lax.stop_gradient(token_entropy)
    if where is None:
        where = jnp.any(token_mask.astype(bool), axis=-1)
    step_entropy = step_entropy_from_tokens(token_entropy, token_mask)
    step_adv, aux = empg_advantages(
        step_entropy, trajectory_advantage, next_step, where, **empg_kwargs
    )
    token_adv = step_adv[:, None] * token_mask.astype(step_adv.dtype)
    aux = {**aux, "step_entropy": step_entropy, "step_advantages": step_adv}
    return token_adv, aux
