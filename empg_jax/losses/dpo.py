"""Direct Preference Optimization: per-pair losses from sequence log-probabilities, and the
(success, failure) pairs of a group of sampled episodes.

Inputs are sequence log-probabilities (a sum over the sequence's generated tokens) of the
chosen and the rejected sequence of each pair, under the policy and under the frozen reference
policy. Outputs are unreduced per-pair losses and per-pair diagnostics; reduce them with a mask.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from empg_jax.losses._masked import as_mask

#: How label smoothing eps treats the preference labels (`dpo_loss`).
DPO_SMOOTHING = ("conservative", "robust")


def dpo_loss(
    chosen_log_probs: chex.Array,
    rejected_log_probs: chex.Array,
    ref_chosen_log_probs: chex.Array,
    ref_rejected_log_probs: chex.Array,
    where: chex.Array | None = None,
    *,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    smoothing: str = "conservative",
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """Per-pair DPO loss.

        h    = (log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))
        DPO:  l = -log sigmoid(beta h)
        conservative (cDPO), label smoothing eps:
              l = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)
        robust (rDPO):
              l = ((1 - eps) (-log sigmoid(beta h)) - eps (-log sigmoid(-beta h))) / (1 - 2 eps)

    Rafailov et al., "Direct Preference Optimization: Your Language Model is Secretly a Reward
    Model", https://arxiv.org/abs/2305.18290. cDPO: Mitchell, "A note on DPO with noisy
    preferences and relationship to IPO" (2023), the expected DPO loss when each label is
    flipped with probability eps. rDPO: Chowdhury et al., "Provably Robust DPO: Aligning Language
    Models with Noisy Feedback", https://arxiv.org/abs/2403.00409, the unbiased loss under label
    flips with probability eps. With eps = 0 all three are DPO.

    No gradient flows through the reference log-probabilities.

    Args:
      chosen_log_probs, rejected_log_probs: log pi(y) of the preferred (y_w) and the
        dispreferred (y_l) sequence of each pair, any shape `[...]`.
      ref_chosen_log_probs, ref_rejected_log_probs: the same under the reference policy.
      where: validity mask of the pairs (None: all valid); invalid pairs give loss 0 and
        diagnostics 0, whatever (NaN, -inf) their inputs hold.
      beta: the inverse temperature of the implicit reward (> 0).
      label_smoothing: eps in [0, 0.5), the assumed probability of a flipped label.
      smoothing: "conservative" (cDPO) or "robust" (rDPO).

    Returns:
      `(losses, aux)`: per-pair losses of the inputs' shape; aux holds per-pair
      `chosen_rewards` = beta (log pi(y_w) - log pi_ref(y_w)), `rejected_rewards`, `margins`
      = beta h and `accuracy` = (h > 0) as a float.
    """
    chex.assert_equal_shape(
        [chosen_log_probs, rejected_log_probs, ref_chosen_log_probs, ref_rejected_log_probs]
    )
    chex.assert_type([chosen_log_probs, rejected_log_probs], float)
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    if smoothing not in DPO_SMOOTHING:
        raise ValueError(f"smoothing must be one of {DPO_SMOOTHING}, got {smoothing!r}")
    mask = as_mask(where, chosen_log_probs.shape)

    def safe(x):  # padded pairs may hold NaN / -inf: keep them out of the loss and its gradient
        return jnp.where(mask, x, 0.0)

    ref_chosen = jax.lax.stop_gradient(safe(ref_chosen_log_probs))
    ref_rejected = jax.lax.stop_gradient(safe(ref_rejected_log_probs))
    chosen_rewards = beta * (safe(chosen_log_probs) - ref_chosen)
    rejected_rewards = beta * (safe(rejected_log_probs) - ref_rejected)
    margins = chosen_rewards - rejected_rewards
    eps = label_smoothing
    agree, disagree = -jax.nn.log_sigmoid(margins), -jax.nn.log_sigmoid(-margins)
    if smoothing == "conservative":
        losses = (1.0 - eps) * agree + eps * disagree
    else:
        losses = ((1.0 - eps) * agree - eps * disagree) / (1.0 - 2.0 * eps)
    aux = {
        "chosen_rewards": jnp.where(mask, chosen_rewards, 0.0),
        "rejected_rewards": jnp.where(mask, rejected_rewards, 0.0),
        "margins": jnp.where(mask, margins, 0.0),
        "accuracy": jnp.where(mask, (margins > 0).astype(margins.dtype), 0.0),
    }
    return jnp.where(mask, losses, 0.0), aux


def success_failure_pairs(
    success_BxG: chex.Array, where_BxG: chex.Array | None = None
) -> chex.Array:
    """Every (success, failure) pair within each group of G samples of the same task.

    Outcome-based preference pairs, as OWL builds them from its own rollouts (Hu et al.,
    arXiv 2505.23885: DPO on pairs of successful and failed trajectories): pair (i, j) of
    group b is valid when sample i succeeded and sample j failed (both valid). A group whose
    samples all succeeded or all failed has no pair.

    Args:
      success_BxG: bool `[B, G]`, whether each sample succeeded.
      where_BxG: validity of each sample (None: all valid).

    Returns:
      bool `[B, G, G]`: `pairs[b, i, j]` is True when (i chosen, j rejected) is a pair.
    """
    chex.assert_rank(success_BxG, 2)
    success = jnp.asarray(success_BxG).astype(bool)
    valid = as_mask(where_BxG, success.shape)
    chosen = success & valid
    rejected = ~success & valid
    return chosen[:, :, None] & rejected[:, None, :]
