"""Divergence-augmented policy optimisation: the propagated divergence and the `pgis` loss.

Q. Wang*, Y. Li*, J. Xiong, T. Zhang, "Divergence-Augmented Policy Optimization", NeurIPS 2019,
https://arxiv.org/abs/2501.15034.

Mirror descent on the state-action occupancy with the conditional-entropy Bregman divergence
penalises D(mu_pi, mu_beta) = sum_s d_pi(s) KL(pi(.|s) || beta(.|s)). Because d_pi depends on the
policy, the gradient of J - lambda * D is

    E_{d_pi pi}[ (Q^pi_r - lambda * Q^pi_c)(s, a) grad log pi(a|s) ],   c = log pi - log beta,

i.e. the per-sample divergence c acts as a cost accumulated along the trajectory. From an
off-policy rollout of beta, Q^pi_c is estimated by a V-trace-like backward recursion
(`divergence_returns`), and the advantage is augmented to A - lambda * stop_gradient(D).

Single stream, time-major `[T]` inputs; vmap over trajectories at the call site (rlax style).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from empg_jax.losses._masked import aggregate_loss, as_mask
from empg_jax.ops import masked_mean


def divergence_returns(
    log_probs_t: chex.Array,
    behaviour_log_probs_t: chex.Array,
    discounts_t: chex.Array,
    *,
    c_bar: float,
    rho_bar: float = 1.0,
) -> chex.Array:
    """The propagated divergence D_t of one trajectory (an estimate of Q^pi_c(s_t, a_t)).

    Implements the corrected recursion (the released `lns/dapo` code
    indexes the cost one step off relative to its own comment; we follow the comment):

        c_t    = log pi(a_t|s_t) - log beta(a_t|s_t)
        rho_t  = min(rho_bar, pi/beta),    cbar_t = min(c_bar, pi/beta)
        V_t    = rho_t c_t + gamma_t cbar_t V_{t+1}
        D_t    = c_t + gamma_t V_{t+1},    V_T = 0 (no bootstrap past the window)

    `c_bar` = 0 propagates the divergence one step ahead only (D_t = c_t + gamma_t rho_{t+1}
    c_{t+1}); `c_bar` = 1 propagates it along the whole trajectory (truncated importance
    weights, as in V-trace). With `rho_bar = c_bar = inf` the recursion is the per-decision
    importance-sampling estimator and E_beta[D_t | s_t, a_t] = Q^pi_c(s_t, a_t) exactly.
    `rho_bar` is an addition of ours (our design fixes it to 1).

    No gradient flows through the result (it is a target).

    Args:
      log_probs_t: log pi(a_t|s_t) of the learner policy, `[T]`.
      behaviour_log_probs_t: log beta(a_t|s_t) of the policy that generated the actions, `[T]`.
      discounts_t: gamma * (1 - done_t): the discount between step t and t+1, 0 where the
        episode ends at t, `[T]`.
      c_bar: truncation level of the trace coefficients (c-bar_D of the paper), >= 0.
      rho_bar: truncation level of the importance weight on each step's own divergence.

    Returns:
      D_t, `[T]`.
    """
    chex.assert_rank([log_probs_t, behaviour_log_probs_t, discounts_t], 1)
    chex.assert_type([log_probs_t, behaviour_log_probs_t, discounts_t], float)
    chex.assert_equal_shape([log_probs_t, behaviour_log_probs_t, discounts_t])
    if not isinstance(c_bar, jax.Array) and c_bar < 0:
        raise ValueError(f"c_bar must be >= 0, got {c_bar}")
    if not isinstance(rho_bar, jax.Array) and rho_bar < 0:
        raise ValueError(f"rho_bar must be >= 0, got {rho_bar}")

    log_probs_t = jax.lax.stop_gradient(log_probs_t)
    behaviour_log_probs_t = jax.lax.stop_gradient(behaviour_log_probs_t)
    discounts_t = jax.lax.stop_gradient(discounts_t)
    c_t = log_probs_t - behaviour_log_probs_t
    # exp(c) may overflow to inf for a huge log-ratio; min() with a finite bar keeps it finite.
    ratio_t = jnp.exp(c_t)
    rho_t = jnp.minimum(rho_bar, ratio_t)
    trace_t = jnp.minimum(c_bar, ratio_t)

    def backward(v_next, inputs):
        c, rho, trace, discount = inputs
        d = c + discount * v_next
        v = rho * c + discount * trace * v_next
        return v, d

    v_init = jnp.zeros((), dtype=c_t.dtype)
    _, d_t = jax.lax.scan(backward, v_init, (c_t, rho_t, trace_t, discounts_t), reverse=True)
    return d_t


def divergence_augmented_advantages(
    advantages: chex.Array,
    log_probs: chex.Array,
    behaviour_log_probs: chex.Array,
    discounts: chex.Array,
    *,
    coefficient: float,
    c_bar: float,
    rho_bar: float = 1.0,
) -> chex.Array:
    """Advantages of one trajectory augmented with the propagated divergence: A_t - lambda * D_t.

    D_t is `divergence_returns` (the corrected truncated-IS recursion),
    with its gradient stopped, so the policy gradient becomes E_beta[rho (A - lambda D) grad log
    pi] when fed to `pgis_loss` (or the PPO-clip variant: `ppo_policy_loss` with these
    advantages).

    Example (batch of trajectories, time-major per trajectory):

        aug_BxT = jax.vmap(
            functools.partial(divergence_augmented_advantages, coefficient=0.5, c_bar=1.0)
        )(adv_BxT, logp_BxT, behaviour_logp_BxT, discounts_BxT)

    Args:
      advantages: the reward advantage A_t of the base estimator (e.g. V-trace), `[T]`.
      log_probs: log pi(a_t|s_t) under the learner, `[T]`.
      behaviour_log_probs: log beta(a_t|s_t) under the behaviour policy, `[T]`.
      discounts: gamma * (1 - done_t), `[T]`.
      coefficient: lambda, the weight of the divergence (paper sweeps {0.1, 0.5, 1.0}).
      c_bar: trace truncation c-bar_D (paper sweeps {0, 0.5, 0.9, 1.0}; 0 = one step ahead).
      rho_bar: truncation of the weight on each step's own divergence (our design: 1).

    Returns:
      The augmented advantages, `[T]`, without gradient through D.
    """
    chex.assert_rank(advantages, 1)
    chex.assert_type(advantages, float)
    chex.assert_equal_shape([advantages, log_probs])
    d_t = divergence_returns(
        log_probs, behaviour_log_probs, discounts, c_bar=c_bar, rho_bar=rho_bar
    )
    return advantages - coefficient * d_t


def pgis_loss(
    log_probs: chex.Array,
    behaviour_log_probs: chex.Array,
    advantages: chex.Array,
    where: chex.Array | None = None,
    *,
    max_log_ratio: float = 10.0,
    aggregation: str = "token-mean",
) -> tuple[chex.Array, dict[str, chex.Array]]:
    """The importance-weighted policy-gradient loss `pgis` of divergence-augmented PO.

        L = mean_t( -rho_t * sg(A_t) ),   rho_t = exp(clip(log pi - sg(log beta), +-max_log_ratio))

    With the augmented advantages A - lambda sg(D) this is the paper's
    mean(-A rho + lambda rho sg(D)) and its gradient is E_beta[rho (A - lambda D) grad log pi]
    (the loss as the released code implements it). The log-ratio clip (10 in `lns/dapo`) only
    guards against overflow; gradients through clipped entries are zero.

    Args:
      log_probs: log pi of the taken actions under the learner (differentiated), any shape.
      behaviour_log_probs: log beta of the same actions, same shape.
      advantages: (augmented) advantages, same shape; no gradient flows through them.
      where: validity mask of the same shape (None: all valid).
      max_log_ratio: clip of the log importance ratio.
      aggregation: see `aggregate_loss` (`seq-*` modes need `[rows, tokens]` inputs).

    Returns:
      `(loss, aux)`; aux holds `ratio_mean`, `ratio_max` and `approx_kl`
      (the k3 estimate of KL(beta || pi) over valid entries).
    """
    chex.assert_type([log_probs, behaviour_log_probs, advantages], float)
    chex.assert_equal_shape([log_probs, behaviour_log_probs, advantages])
    mask = as_mask(where, log_probs.shape)
    # Zero masked (padding) entries before exp so NaN/-inf cannot reach the loss or its gradient.
    log_ratio = jnp.where(mask, log_probs - jax.lax.stop_gradient(behaviour_log_probs), 0.0)
    log_ratio = jnp.clip(log_ratio, -max_log_ratio, max_log_ratio)
    ratio = jnp.exp(log_ratio)
    per_entry = -jnp.where(mask, jax.lax.stop_gradient(advantages), 0.0) * ratio
    loss = aggregate_loss(per_entry, mask, aggregation)
    ratio_sg = jax.lax.stop_gradient(ratio)
    log_ratio_sg = jax.lax.stop_gradient(log_ratio)
    aux = {
        "ratio_mean": masked_mean(ratio_sg, mask),
        "ratio_max": jnp.max(jnp.where(mask, ratio_sg, -jnp.inf), initial=0.0),
        "approx_kl": masked_mean(ratio_sg - 1.0 - log_ratio_sg, mask),
    }
    return loss, aux
