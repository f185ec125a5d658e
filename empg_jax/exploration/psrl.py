"""Posterior sampling RL (PSRL) with value-targeted regression on linear mixture MDPs.

Paper: Li, Luo, "Prior-dependent analysis of posterior sampling
reinforcement learning with function approximation", AISTATS 2024, https://arxiv.org/abs/2403.11175.
No code was released; the algorithm below is a [reconstructed] PSRL + VTR:

Linear mixture MDP: P(s'|s, a) = <phi(s'|s, a), theta*> with d known basis kernels
phi_i = P_i (each a valid kernel) and theta* on the simplex, so P is a valid kernel. Rewards r(s, a)
are known, horizon H, fixed start state s_0.

    P <- Sigma_0^-1;  b <- Sigma_0^-1 mu_0                      # Gaussian prior N(mu_0, Sigma_0)
    every episode k:
        theta_k ~ N(P^-1 b, P^-1)                               # `posterior.blr_sample`
        P_k = proj(sum_i theta_k,i P_i)                         # clip at 0, renormalise rows
        (Q_k, V_k, pi_k) = backward induction on (P_k, r)
        run pi_k for H steps on the true MDP; for each (s_h, a_h, s_h+1):
            psi = sum_s' phi(s'|s_h, a_h) V_k,h+1(s');  y = V_k,h+1(s_h+1)
            P += psi psi^T / sigma^2;  b += psi y / sigma^2     # `posterior.blr_update`
        regret_k = V*_1(s_0) - V^{pi_k}_1(s_0)                  # exact, by policy evaluation

The prior on theta* ~ Dirichlet(alpha 1) is moment matched: mu_0 = 1/d, Sigma_0 = (diag(mu_0) -
mu_0 mu_0^T) / (d alpha + 1), which is singular along the all-ones direction (theta sums to 1); a
relative jitter `prior_jitter` * Var(theta_i) * I keeps it invertible [reconstructed].

Variants (traced switches of `run_psrl`, used to find what sets the regret slope):
  * `features`: 0 = value-targeted regression (above); 1 = full-model regression: every observed
    transition gives S rows, psi = phi(s'' | s_h, a_h) and y = 1{s_h+1 = s''} for every s'', each
    with noise `model_noise_std` (the least-squares estimator of the mixture weights from the
    next-state indicators, Ayoub et al.'s "model-targeted" alternative to VTR).
  * `projection`: how the sampled theta is turned into a kernel for planning: 0 = clip each row
    of sum_i theta_i P_i at 0 and renormalise (above); 1 = Euclidean projection of theta onto the
    simplex, then the mixture (always a valid kernel); 2 = no projection (plan on the signed
    mixture as sampled).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.exploration import posterior


class LinearMixtureMDP(NamedTuple):
    """A finite-horizon linear mixture MDP.

    Attributes:
      basis: phi as d basis kernels P_i(s'|s, a), `[d, S, A, S]`.
      rewards: r(s, a) in [0, 1], `[S, A]`.
      theta: the true mixture weights theta*, `[d]`.
    """

    basis: jax.Array
    rewards: jax.Array
    theta: jax.Array


def make_mdp(
    seed: int | np.random.Generator,
    *,
    num_states: int = 6,
    num_actions: int = 3,
    num_features: int = 4,
    basis_concentration: float = 0.3,
    prior_alpha: float = 1.0,
) -> LinearMixtureMDP:
    """Samples one random instance on the host: rows of every P_i ~ Dirichlet(0.3),
    r ~ U[0, 1], theta* ~ Dirichlet(alpha 1).

    Host-side numpy on purpose: `jax.random.dirichlet` (a rejection-sampled gamma) takes tens of
    seconds to compile on CPU, while instances are data that the jitted learner only reads.
    """
    if min(num_states, num_actions, num_features) < 1:
        raise ValueError("num_states, num_actions and num_features must be >= 1")
    if basis_concentration <= 0 or prior_alpha <= 0:
        raise ValueError(f"concentrations must be > 0, got {basis_concentration}, {prior_alpha}")
    rng = np.random.default_rng(seed)
    s, a, d = num_states, num_actions, num_features
    basis = rng.dirichlet(np.full(s, basis_concentration), (d, s, a))
    rewards = rng.uniform(size=(s, a))
    theta = rng.dirichlet(np.full(d, prior_alpha))
    return LinearMixtureMDP(
        jnp.asarray(basis, jnp.float32),
        jnp.asarray(rewards, jnp.float32),
        jnp.asarray(theta, jnp.float32),
    )


def make_mdp_grid(
    seed: int, prior_alphas: tuple[float, ...], num_seeds: int, **kwargs
) -> LinearMixtureMDP:
    """`make_mdp` for every (alpha, seed) pair, stacked to `[G, num_seeds, ...]`.

    The basis kernels and rewards of seed j are shared across alphas (common random numbers);
    only theta* is redrawn from Dirichlet(alpha).
    """
    rows = []
    for alpha in prior_alphas:
        row = []
        for j in range(num_seeds):
            base = make_mdp(np.random.default_rng([seed, j]), prior_alpha=alpha, **kwargs)
            theta_rng = np.random.default_rng([seed, j, int(round(alpha * 1000))])
            theta = theta_rng.dirichlet(np.full(base.theta.shape[0], alpha))
            row.append(base._replace(theta=np.asarray(theta, np.float32)))
        rows.append(jax.tree.map(lambda *xs: np.stack(xs), *row))
    return jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *rows)


def dirichlet_prior(
    num_features: int, alpha: float | jax.Array, prior_jitter: float = 1e-2
) -> tuple[jax.Array, jax.Array]:
    """Moment-matched Gaussian (mu_0, Sigma_0) of Dirichlet(alpha 1) plus a relative jitter."""
    if num_features < 1:
        raise ValueError(f"num_features must be >= 1, got {num_features}")
    d = num_features
    mean_d = jnp.full((d,), 1.0 / d, jnp.float32)
    scale = 1.0 / (d * jnp.asarray(alpha, jnp.float32) + 1.0)
    cov_dxd = (jnp.diag(mean_d) - jnp.outer(mean_d, mean_d)) * scale
    var = (1.0 / d) * (1.0 - 1.0 / d) * scale
    return mean_d, cov_dxd + prior_jitter * var * jnp.eye(d, dtype=jnp.float32)


def mixture_kernel(basis_DxSxAxS: jax.Array, theta_D: jax.Array) -> jax.Array:
    """P_theta(s'|s, a) = sum_i theta_i P_i(s'|s, a), `[S, A, S]` (not projected)."""
    chex.assert_rank([basis_DxSxAxS, theta_D], [4, 1])
    return jnp.einsum("d,dsat->sat", theta_D, basis_DxSxAxS)


def project_kernel(kernel_SxAxS: jax.Array) -> jax.Array:
    """Projects a signed kernel onto valid rows: clip at 0 and renormalise (uniform if all <= 0)."""
    chex.assert_rank(kernel_SxAxS, 3)
    clipped = jnp.maximum(kernel_SxAxS, 0.0)
    total = clipped.sum(-1, keepdims=True)
    uniform = jnp.full_like(clipped, 1.0 / clipped.shape[-1])
    return jnp.where(total > 0, clipped / jnp.where(total > 0, total, 1.0), uniform)


def backward_induction(
    kernel_SxAxS: jax.Array, rewards_SxA: jax.Array, horizon: int
) -> tuple[jax.Array, jax.Array]:
    """Optimal finite-horizon values: Q_h = r + P V_{h+1}, V_h = max_a Q_h, V_{H+1} = 0.

    Returns:
      (Q `[H, S, A]`, V `[H + 1, S]`), step h = 0..H-1 (V[H] = 0).
    """
    chex.assert_rank([kernel_SxAxS, rewards_SxA], [3, 2])

    def back(v_next_S, _):
        q_SxA = rewards_SxA + kernel_SxAxS @ v_next_S
        return q_SxA.max(-1), (q_SxA, q_SxA.max(-1))

    zeros_S = jnp.zeros(rewards_SxA.shape[0], rewards_SxA.dtype)
    _, (q_HxSxA, v_HxS) = jax.lax.scan(back, zeros_S, None, length=horizon, reverse=True)
    return q_HxSxA, jnp.concatenate([v_HxS, zeros_S[None]], axis=0)


def policy_value(
    kernel_SxAxS: jax.Array, rewards_SxA: jax.Array, policy_HxS: jax.Array
) -> jax.Array:
    """Exact value of a deterministic non-stationary policy, V^pi `[H + 1, S]` (V[H] = 0)."""
    chex.assert_rank([kernel_SxAxS, rewards_SxA, policy_HxS], [3, 2, 2])
    states = jnp.arange(rewards_SxA.shape[0])

    def back(v_next_S, action_S):
        q_SxA = rewards_SxA + kernel_SxAxS @ v_next_S
        v_S = q_SxA[states, action_S]
        return v_S, v_S

    zeros_S = jnp.zeros(rewards_SxA.shape[0], rewards_SxA.dtype)
    _, v_HxS = jax.lax.scan(back, zeros_S, policy_HxS, reverse=True)
    return jnp.concatenate([v_HxS, zeros_S[None]], axis=0)


def project_simplex(theta_D: jax.Array) -> jax.Array:
    """Euclidean projection onto the probability simplex (sort-based; Held et al. 1974,
    Duchi et al. 2008): argmin_{p in simplex} ||p - theta||."""
    chex.assert_rank(theta_D, 1)
    d = theta_D.shape[0]
    sorted_D = jnp.sort(theta_D)[::-1]
    cumsum_D = jnp.cumsum(sorted_D)
    ranks_D = jnp.arange(1, d + 1, dtype=theta_D.dtype)
    active_D = sorted_D - (cumsum_D - 1.0) / ranks_D > 0
    rho = jnp.max(jnp.where(active_D, jnp.arange(d), 0))
    tau = (cumsum_D[rho] - 1.0) / (rho + 1.0)
    return jnp.maximum(theta_D - tau, 0.0)


def vtr_features(
    basis_DxSxAxS: jax.Array, state: jax.Array, action: jax.Array, value_next_S: jax.Array
) -> jax.Array:
    """Value-targeted regression feature psi_i = sum_s' P_i(s'|s, a) V(s'), `[d]`."""
    chex.assert_rank([basis_DxSxAxS, state, action, value_next_S], [4, 0, 0, 1])
    return basis_DxSxAxS[:, state, action, :] @ value_next_S


def regression_rows(
    psi_HxD: jax.Array,
    y_H: jax.Array,
    model_HxSxD: jax.Array,
    indicator_HxS: jax.Array,
    noise_std: float | jax.Array,
    model_noise_std: float | jax.Array,
    features: int | jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One episode's regression rows for a unit-noise `posterior.blr_update`.

    Value-targeted rows (psi_h, y_h) / sigma and full-model rows (phi(s''|s_h, a_h),
    1{s_h+1 = s''}) / model_noise_std, stacked to `[H + H S, d]`; the mask keeps the VTR rows when
    `features` = 0 and the model rows when `features` = 1 (traced switch, fixed shapes).

    Returns:
      (rows `[H + H S, d]`, targets `[H + H S]`, mask `[H + H S]` bool).
    """
    chex.assert_rank([psi_HxD, y_H, model_HxSxD, indicator_HxS], [2, 1, 3, 2])
    horizon, num_states, num_features = model_HxSxD.shape
    use_model = jnp.asarray(features) == 1
    rows = jnp.concatenate(
        [psi_HxD / noise_std, model_HxSxD.reshape(-1, num_features) / model_noise_std]
    )
    targets = jnp.concatenate([y_H / noise_std, indicator_HxS.reshape(-1) / model_noise_std])
    mask = jnp.concatenate(
        [jnp.full((horizon,), ~use_model), jnp.full((horizon * num_states,), use_model)]
    )
    return rows, targets, mask


class PSRLResult(NamedTuple):
    """Per-run outcome (leading axes when vmapped).

    Attributes:
      regret: exact per-episode regret V*(s_0) - V^{pi_k}(s_0), `[K]`.
      theta_error: ||posterior mean - theta*||_2 after the last episode.
    """

    regret: jax.Array
    theta_error: jax.Array


def run_psrl(
    key: chex.PRNGKey,
    mdp: LinearMixtureMDP,
    prior_alpha: jax.Array,
    noise_std: jax.Array,
    prior_jitter: float | jax.Array = 1e-2,
    features: int | jax.Array = 0,
    projection: int | jax.Array = 0,
    model_noise_std: float | jax.Array = 0.5,
    *,
    num_episodes: int = 3000,
    horizon: int = 5,
) -> PSRLResult:
    """PSRL-VTR on one instance (module docstring).

    Bayesian regret = the mean of `regret.sum()` over instances whose theta* is drawn from the
    same Dirichlet(alpha) whose moment-matched Gaussian is the agent's prior (`make_mdp_grid`).

    Args:
      key: PRNG key of the agent (posterior samples and transitions).
      mdp: the instance (`make_mdp`).
      prior_alpha: Dirichlet concentration alpha of the agent's prior (traced; smaller = larger
        prior variance).
      noise_std: sigma of the VTR likelihood (traced; sigma^2 = 1 or H^2 / 4 in the experiments).
      prior_jitter: relative jitter of the moment-matched prior covariance (traced).
      features: 0 = value-targeted regression, 1 = full-model regression (module docstring).
      projection: 0 = clip-and-renormalise the kernel, 1 = project theta onto the simplex, 2 = none.
      model_noise_std: noise of the full-model regression rows (indicator targets; 0.5 = the
        largest Bernoulli standard deviation).
      num_episodes: K.
      horizon: H.

    Returns:
      `PSRLResult`.
    """
    if num_episodes < 1 or horizon < 1:
        raise ValueError(f"num_episodes and horizon must be >= 1, got {num_episodes}, {horizon}")
    chex.assert_rank([mdp.basis, mdp.rewards, mdp.theta], [4, 2, 1])
    num_features, num_states = mdp.basis.shape[:2]
    true_kernel = mixture_kernel(mdp.basis, mdp.theta)
    _, v_star = backward_induction(true_kernel, mdp.rewards, horizon)
    post = posterior.blr_init(*dirichlet_prior(num_features, prior_alpha, prior_jitter))

    def episode(post, k):
        k_theta, k_roll = jax.random.split(k)
        theta = posterior.blr_sample(k_theta, post)
        kernel = jnp.stack(
            [
                project_kernel(mixture_kernel(mdp.basis, theta)),
                mixture_kernel(mdp.basis, project_simplex(theta)),
                mixture_kernel(mdp.basis, theta),
            ]
        )[projection]
        q_HxSxA, v_Hp1xS = backward_induction(kernel, mdp.rewards, horizon)
        policy_HxS = q_HxSxA.argmax(-1)
        regret = v_star[0, 0] - policy_value(true_kernel, mdp.rewards, policy_HxS)[0, 0]
        u_H = jax.random.uniform(k_roll, (horizon,))

        def act(s, inputs):
            h, u = inputs
            a = policy_HxS[h, s]
            s_next = jnp.minimum(jnp.sum(jnp.cumsum(true_kernel[s, a]) <= u), num_states - 1)
            psi = vtr_features(mdp.basis, s, a, v_Hp1xS[h + 1])
            model_SxD = mdp.basis[:, s, a, :].T  # row s'': phi(s''|s, a)
            indicator_S = jax.nn.one_hot(s_next, num_states, dtype=psi.dtype)
            return s_next, (psi, v_Hp1xS[h + 1, s_next], model_SxD, indicator_S)

        _, (psi_HxD, y_H, model_HxSxD, ind_HxS) = jax.lax.scan(
            act, jnp.int32(0), (jnp.arange(horizon), u_H)
        )
        rows = regression_rows(
            psi_HxD, y_H, model_HxSxD, ind_HxS, noise_std, model_noise_std, features
        )
        post = posterior.blr_update(post, *rows[:2], 1.0, where=rows[2])
        return post, regret

    post, regret_K = jax.lax.scan(episode, post, jax.random.split(key, num_episodes))
    mean, _ = posterior.blr_mean_cov(post)
    return PSRLResult(regret=regret_K, theta_error=jnp.linalg.norm(mean - mdp.theta))


@functools.partial(jax.jit, static_argnames=("num_episodes", "horizon"))
def run_psrl_grid(
    key: chex.PRNGKey,
    mdps: LinearMixtureMDP,
    prior_alpha_G: jax.Array,
    noise_std_G: jax.Array,
    prior_jitter_G: jax.Array | None = None,
    features_G: jax.Array | None = None,
    projection_G: jax.Array | None = None,
    model_noise_std_G: jax.Array | None = None,
    *,
    num_episodes: int = 3000,
    horizon: int = 5,
) -> PSRLResult:
    """`run_psrl` over G settings x S instances (`mdps` is `[G, S, ...]`, e.g. `make_mdp_grid`);
    agent keys are shared across settings. Every per-setting array is `[G]`; `None` uses the
    `run_psrl` default (jitter 1e-2, VTR, clip-and-renormalise, model noise 0.5). Results are
    `[G, S, ...]`."""
    g = prior_alpha_G.shape[0]
    chex.assert_rank([prior_alpha_G, noise_std_G], 1)
    chex.assert_equal_shape([prior_alpha_G, noise_std_G])
    chex.assert_shape(mdps.theta, (g, None, None))

    def fill(x, value, dtype):
        return jnp.full((g,), value, dtype) if x is None else jnp.asarray(x, dtype)

    settings = (
        prior_alpha_G,
        noise_std_G,
        fill(prior_jitter_G, 1e-2, jnp.float32),
        fill(features_G, 0, jnp.int32),
        fill(projection_G, 0, jnp.int32),
        fill(model_noise_std_G, 0.5, jnp.float32),
    )
    keys_S = jax.random.split(key, mdps.theta.shape[1])
    run = functools.partial(run_psrl, num_episodes=num_episodes, horizon=horizon)
    over_seeds = jax.vmap(run, in_axes=(0, 0) + (None,) * 6)
    return jax.vmap(over_seeds, in_axes=(None, 0) + (0,) * 6)(keys_S, mdps, *settings)


def loglog_slope(cumulative_K, start: int = 250) -> float:
    """Least-squares slope of log(cumulative regret) on log(k) for k in [start, K] (k 1-based),
    on up to 50 log-spaced episodes so that late episodes do not dominate the fit (host-side)."""
    cumulative_K = np.asarray(cumulative_K)
    if cumulative_K.ndim != 1:
        raise ValueError(f"cumulative_K must be 1-D, got shape {cumulative_K.shape}")
    n = cumulative_K.shape[0]
    if not 1 <= start < n:
        raise ValueError(f"start must be in [1, {n}), got {start}")
    ks = np.unique(np.round(np.geomspace(start, n, 50)).astype(np.int64))
    x = np.log(ks)
    y = np.log(np.maximum(cumulative_K[ks - 1], 1e-12))
    return float(np.polyfit(x, y, 1)[0])
