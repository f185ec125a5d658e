"""The PPO family of policy losses for LLM RL: clipped surrogate, KL penalty, entropy bonus.

Inputs are per-token arrays `[B, L]` (rows x tokens) of log-probabilities of the sampled tokens
(from `empg_jax.ops.token_log_probs`), a validity mask and advantages. EMPG changes only the
advantages and leaves these losses untouched.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from empg_jax.losses._masked import aggregate_loss, as_mask
from empg_jax.ops import entropy_from_logits, masked_mean

KL_KINDS = ("k1", "k2", "k3")


def ppo_policy_loss(
    log_probs: chex.Array,
    old_log_probs: chex.Array,
    advantages: chex.Array,
    where: chex.Array | None,
    *,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    dual_clip: float | None = None,
    aggregation: str = "token-mean",
    norm_length: float | None = None,
    max_log_ratio: float = 20.0,
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """PPO clipped surrogate with asymmetric (clip-higher) and optional dual clipping.

        r_t   = exp(log pi(y_t) - log pi_old(y_t))
        l_t   = max(-A_t r_t, -A_t clip(r_t, 1 - clip_low, 1 + clip_high))
        l_t   = min(l_t, -c A_t)            for A_t < 0, if dual_clip = c > 1
        loss  = aggregate(l, where)

    Schulman et al., "Proximal Policy Optimization Algorithms", https://arxiv.org/abs/1707.06347;
    clip-higher (clip_high > clip_low, 0.28 vs 0.2) from Yu et al., "DAPO",
    https://arxiv.org/abs/2503.14476; dual clip (c = 3 in verl) from Ye et al., "Mastering Complex
    Control in MOBA Games with Deep RL", https://arxiv.org/abs/1912.09729.

    At r = 1 and token-mean aggregation over N valid tokens, the gradient with respect to the
    logits z_t of token t is -A_t (e_{y_t} - softmax(z_t)) / N = -`ops.logit_update` / N.

    No gradient flows through `old_log_probs` or `advantages`.

    Args:
      log_probs: log pi(y_t) under the current policy, `[B, L]` (any rank for `token-mean`).
      old_log_probs: log pi_old(y_t) under the rollout policy, same shape.
      advantages: per-token advantages of the same shape, or per-row `[B]` (broadcast to tokens).
      where: validity mask of `log_probs`' shape (the generated tokens); None: all valid.
      clip_low: epsilon_low, the ratio is clipped below at 1 - clip_low.
      clip_high: epsilon_high, the ratio is clipped above at 1 + clip_high.
      dual_clip: c > 1 bounds the loss of negative-advantage tokens by -c A; None disables it.
      aggregation: `token-mean`, `seq-mean-token-mean`, `seq-mean-token-sum` or
        `seq-mean-token-sum-norm` (see `aggregate_loss`).
      norm_length: the constant of `seq-mean-token-sum-norm` (default: L).
      max_log_ratio: the log-ratio is clamped to +-this before exp (overflow guard, as verl's 20).

    Returns:
      `(loss, aux)`; aux holds `clip_fraction` (tokens where the clipped term is active),
      `clip_fraction_low`, `clip_fraction_high`, `dual_clip_fraction`, `approx_kl` (k3 estimate
      of KL(pi_old || pi)), `ratio_mean`, `ratio_min` and `ratio_max`, over valid tokens.
    """
    chex.assert_type([log_probs, old_log_probs, advantages], float)
    chex.assert_equal_shape([log_probs, old_log_probs])
    if advantages.shape != log_probs.shape:
        chex.assert_shape(advantages, log_probs.shape[:-1])
        advantages = jnp.broadcast_to(advantages[..., None], log_probs.shape)
    if not 0.0 <= clip_low < 1.0:
        raise ValueError(f"clip_low must be in [0, 1), got {clip_low}")
    if clip_high < 0.0:
        raise ValueError(f"clip_high must be >= 0, got {clip_high}")
    if dual_clip is not None and dual_clip <= 1.0:
        raise ValueError(f"dual_clip must be > 1 (or None), got {dual_clip}")
    mask = as_mask(where, log_probs.shape)

    # Masked entries may hold -inf/NaN padding: zero them before any arithmetic so that neither the
    # loss nor its gradient (a where() after exp(NaN) still back-propagates NaN) sees them.
    advantages = jnp.where(mask, jax.lax.stop_gradient(advantages), 0.0)
    log_ratio = jnp.where(mask, log_probs - jax.lax.stop_gradient(old_log_probs), 0.0)
    log_ratio = jnp.clip(log_ratio, -max_log_ratio, max_log_ratio)
    ratio = jnp.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * jnp.clip(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = jnp.maximum(unclipped, clipped)
    if dual_clip is not None:
        bound = -advantages * dual_clip
        dual_active = (advantages < 0) & (per_token > bound)
        per_token = jnp.where(advantages < 0, jnp.minimum(per_token, bound), per_token)
    else:
        dual_active = jnp.zeros(log_probs.shape, dtype=bool)
    loss = aggregate_loss(per_token, mask, aggregation, norm_length)

    ratio_sg = jax.lax.stop_gradient(ratio)
    log_ratio_sg = jax.lax.stop_gradient(log_ratio)
    aux = {
        "clip_fraction": masked_mean(clipped > unclipped, mask),
        "clip_fraction_low": masked_mean((advantages < 0) & (ratio_sg < 1.0 - clip_low), mask),
        "clip_fraction_high": masked_mean((advantages > 0) & (ratio_sg > 1.0 + clip_high), mask),
        "dual_clip_fraction": masked_mean(dual_active, mask),
        "approx_kl": masked_mean(ratio_sg - 1.0 - log_ratio_sg, mask),
        "ratio_mean": masked_mean(ratio_sg, mask),
        "ratio_min": jnp.min(jnp.where(mask, ratio_sg, jnp.inf), initial=jnp.inf),
        "ratio_max": jnp.max(jnp.where(mask, ratio_sg, -jnp.inf), initial=-jnp.inf),
    }
    # An empty batch reports ratio 1 rather than +-inf.
    any_valid = jnp.any(mask)
    aux["ratio_min"] = jnp.where(any_valid, aux["ratio_min"], 1.0)
    aux["ratio_max"] = jnp.where(any_valid, aux["ratio_max"], 1.0)
    return loss, aux


def kl_penalty(
    log_probs: chex.Array,
    ref_log_probs: chex.Array,
    kind: str = "k3",
    where: chex.Array | None = None,
    *,
    clamp: float = 10.0,
) -> chex.Array:
    """Per-token estimate of KL(pi || pi_ref) from tokens sampled from pi (unreduced).

    With delta = log pi_ref(y) - log pi(y) (Schulman, "Approximating KL Divergence", 2020,
    http://joschu.net/blog/kl-approx.html):

      * `k1`: -delta = log pi - log pi_ref (unbiased, high variance, can be negative).
      * `k2`: delta^2 / 2 (biased, low variance).
      * `k3`: exp(delta) - delta - 1 (unbiased, >= 0, low variance; verl's `low_var_kl`), with
        delta clamped to +-20 before exp and the result clamped to [-clamp, clamp].

    Reduce the result with `aggregate_loss`; add `beta * loss` (beta = 0.01 in verl-agent).

    Args:
      log_probs: log pi(y_t) of the sampled tokens (differentiated), any shape.
      ref_log_probs: log pi_ref(y_t) under the frozen reference policy, same shape.
      kind: `k1`, `k2` or `k3`.
      where: optional mask of the same shape; masked entries give 0.
      clamp: bound of the `k3` value.

    Returns:
      Per-token KL estimates, same shape as `log_probs`.
    """
    if kind not in KL_KINDS:
        raise ValueError(f"unknown KL kind {kind!r}; expected one of {KL_KINDS}")
    chex.assert_type([log_probs, ref_log_probs], float)
    chex.assert_equal_shape([log_probs, ref_log_probs])
    delta = jax.lax.stop_gradient(ref_log_probs) - log_probs
    if where is not None:
        # Zero masked entries first so padding (-inf, NaN) cannot reach the value or the gradient.
        delta = jnp.where(as_mask(where, log_probs.shape), delta, 0.0)
    if kind == "k1":
        kl = -delta
    elif kind == "k2":
        kl = 0.5 * jnp.square(delta)
    else:
        delta = jnp.clip(delta, -20.0, 20.0)
        kl = jnp.clip(jnp.exp(delta) - delta - 1.0, -clamp, clamp)
    return kl


def entropy_bonus(
    logits: chex.Array,
    where: chex.Array | None = None,
    *,
    aggregation: str = "token-mean",
    chunk_size: int | None = None,
) -> chex.Array:
    """Aggregated Shannon entropy of the policy over valid tokens (`ops.entropy_from_logits`).

        bonus = aggregate_t( -sum_v pi(v|ctx_t) log pi(v|ctx_t), where )

    Subtract `entropy_coeff * bonus` from the loss (verl's default coefficient is 0.001); the
    gradient flows into the logits.

    Args:
      logits: `[B, L, V]` logits of the current policy (any rank >= 2 for `token-mean`).
      where: validity mask `[B, L]`; None: all valid.
      aggregation: see `aggregate_loss`.
      chunk_size: rows per chunk for the entropy (memory bound O(chunk_size x V)).

    Returns:
      The scalar float32 bonus.
    """
    chex.assert_type(logits, float)
    mask = as_mask(where, logits.shape[:-1])
    entropy = entropy_from_logits(logits, axis=-1, where=mask, chunk_size=chunk_size)
    return aggregate_loss(entropy, mask, aggregation)
