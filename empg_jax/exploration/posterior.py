"""Incremental Gaussian posteriors with index sampling (one module for HyperAgent, PSRL and OTS).

The posterior shared by HyperAgent and sequential random projection ("Cross-paper
notes: One posterior module". Papers: HyperAgent, Li, Xu, Han, Luo, ICML 2024,
https://arxiv.org/abs/2402.10228; GPT-HyperAgent / Ensemble++, Li, Xu, (Wang), Luo,
https://arxiv.org/abs/2407.13195; sequential random projection, Li, https://arxiv.org/abs/2402.14026.

Three posterior families, all pure functions over NamedTuple states (jit- and vmap-able):

1. `LinearPosterior`: Bayesian linear regression y = <x, theta> + N(0, sigma^2), prior
   N(mu_0, Sigma_0), with a shared factor A [d, M] that turns a random index xi in R^M into an
   approximate posterior sample theta~ = mu + A xi (HyperAgent / Ensemble++ linear closed form):

       Sigma_t^-1 = Sigma_{t-1}^-1 + x_t x_t^T / sigma^2
       mu_t       = Sigma_t (Sigma_{t-1}^-1 mu_{t-1} + x_t y_t / sigma^2)
       A_t        = Sigma_t (Sigma_{t-1}^-1 A_{t-1} + x_t z_t^T / sigma)

   with z_t a per-sample perturbation drawn once when the sample arrives (E||z||^2 = 1,
   E zz^T = I/M), so that E_z[A_t A_t^T] = Sigma_t. With the Kalman gain
   k_t = Sigma_{t-1} x_t / (sigma^2 + x_t^T Sigma_{t-1} x_t) = Sigma_t x_t / sigma^2 the three lines
   become rank-one (Sherman-Morrison) updates of cost O(d^2 + d M):

       Sigma_t = Sigma_{t-1} - k_t x_t^T Sigma_{t-1}
       mu_t    = mu_{t-1} + k_t (y_t - x_t^T mu_{t-1})
       A_t     = A_{t-1} + k_t (sigma z_t^T - x_t^T A_{t-1})

   The precision is tracked too (Sigma_t^-1 += x x^T / sigma^2); PSRL and diagnostics need it.
   Prior factor [reconstructed]: A_0 = L_0 Z_0 with L_0 L_0^T = Sigma_0 and the d rows of Z_0 drawn
   from the buffer-perturbation distribution, so E[A_0 A_0^T] = Sigma_0; this is the same as
   treating the prior as d pseudo-observations, each with its own z.

2. `BayesLinReg`: the same Gaussian linear model without perturbations in natural parameters
   (precision P and precision-weighted mean b), for PSRL with value-targeted regression:

       P += psi psi^T / sigma^2,   b += psi y / sigma^2,   mu = P^-1 b,   Sigma = P^-1

3. `GaussianCells`: independent conjugate Normal-Normal posteriors, one per cell of an array of any
   shape (e.g. per-cell rewards of a matrix game):

       tau' = tau + n / sigma^2,   m' = (tau m + sum(y) / sigma^2) / tau'

Index / perturbation distributions (spec (b) table; all have E[xi xi^T] = I for the action index and
E||z||^2 = 1 for the buffer perturbation):

    key  buffer z                 action xi           update xi set
    sp   uniform on S^{M-1}       sqrt(M) * sphere    N_pS draws of sqrt(M) * sphere [reconstructed]
    gs   N(0, I/M)                N(0, I)             N_pS Gaussian draws
    pm   +-e_i                    +-sqrt(M) e_i       the 2M vectors +-sqrt(M) e_i
    pn   signs / sqrt(M) [recon.] uniform sign vector all 2^M sign vectors
    oh   N(0, I/M) (classic)      sqrt(M) e_m         the M vectors sqrt(M) e_m (ensembles)

`oh` is classic ensemble sampling: member m is theta_m = mu + sqrt(M) A e_m, each member fitted to
its own Gaussian-perturbed targets.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

INDEX_KINDS = ("sp", "gs", "pm", "pn", "oh")


def _check_kind(kind: str) -> None:
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index distribution {kind!r}; expected one of {INDEX_KINDS}")


def _check_num_index(num_index: int) -> None:
    if not isinstance(num_index, int) or num_index < 1:
        raise ValueError(f"num_index must be a positive int, got {num_index!r}")


# ---------------------------------------------------------------------------------------------
# Index and perturbation samplers.
# ---------------------------------------------------------------------------------------------


def _sphere(key: chex.PRNGKey, shape: tuple[int, ...], num_index: int, dtype) -> jax.Array:
    g = jax.random.normal(key, (*shape, num_index), dtype)
    return g / jnp.linalg.norm(g, axis=-1, keepdims=True)


def _signed_basis(key: chex.PRNGKey, shape: tuple[int, ...], num_index: int, dtype) -> jax.Array:
    k_idx, k_sign = jax.random.split(key)
    idx = jax.random.randint(k_idx, shape, 0, num_index)
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, shape), 1.0, -1.0).astype(dtype)
    return jax.nn.one_hot(idx, num_index, dtype=dtype) * sign[..., None]


def _signs(key: chex.PRNGKey, shape: tuple[int, ...], num_index: int, dtype) -> jax.Array:
    bits = jax.random.bernoulli(key, 0.5, (*shape, num_index))
    return jnp.where(bits, 1.0, -1.0).astype(dtype)


def sample_perturbation(
    key: chex.PRNGKey,
    num_index: int,
    kind: str = "sp",
    shape: tuple[int, ...] = (),
    dtype=jnp.float32,
) -> jax.Array:
    """Draws buffer perturbations z in R^M (fixed per sample when it is stored), E||z||^2 = 1.

    Args:
      key: PRNG key.
      num_index: M, the index dimension.
      kind: one of `INDEX_KINDS` (spec (b) table, column "buffer z").
      shape: leading batch shape.
      dtype: float dtype of the result.

    Returns:
      `[*shape, M]` perturbations with E[z z^T] = I / M.
    """
    _check_kind(kind)
    _check_num_index(num_index)
    if kind == "sp":
        return _sphere(key, shape, num_index, dtype)
    if kind in ("gs", "oh"):
        return jax.random.normal(key, (*shape, num_index), dtype) / jnp.sqrt(num_index)
    if kind == "pm":
        return _signed_basis(key, shape, num_index, dtype)
    return _signs(key, shape, num_index, dtype) / jnp.sqrt(num_index)


def sample_index(
    key: chex.PRNGKey,
    num_index: int,
    kind: str = "gs",
    shape: tuple[int, ...] = (),
    dtype=jnp.float32,
) -> jax.Array:
    """Draws action indices xi in R^M with E[xi xi^T] = I (one per decision for Thompson sampling).

    Args:
      key: PRNG key.
      num_index: M, the index dimension.
      kind: one of `INDEX_KINDS` (spec (b) table, column "action xi"); `oh` picks a uniform ensemble
        member sqrt(M) e_m.
      shape: leading batch shape.
      dtype: float dtype of the result.

    Returns:
      `[*shape, M]` indices.
    """
    _check_kind(kind)
    _check_num_index(num_index)
    scale = jnp.sqrt(jnp.asarray(num_index, dtype))
    if kind == "sp":
        return scale * _sphere(key, shape, num_index, dtype)
    if kind == "gs":
        return jax.random.normal(key, (*shape, num_index), dtype)
    if kind == "pm":
        return scale * _signed_basis(key, shape, num_index, dtype)
    if kind == "pn":
        return _signs(key, shape, num_index, dtype)
    idx = jax.random.randint(key, shape, 0, num_index)
    return scale * jax.nn.one_hot(idx, num_index, dtype=dtype)


def update_index_set(
    key: chex.PRNGKey,
    num_index: int,
    kind: str = "gs",
    num_samples: int = 16,
    dtype=jnp.float32,
) -> jax.Array:
    """The set of indices {xi_j} averaged over in one hypermodel update (spec (b) "update xi set").

    `pm` returns the 2M vectors +-sqrt(M) e_i, `pn` all 2^M sign vectors and `oh` the M members
    sqrt(M) e_m, each deterministic (the key is unused); `gs` and `sp` return `num_samples` draws.
    Every set has (1/J) sum_j xi_j xi_j^T = I exactly (`pm`, `pn`, `oh`) or in expectation.

    Returns:
      `[J, M]` indices.
    """
    _check_kind(kind)
    _check_num_index(num_index)
    if kind in ("gs", "sp"):
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        return sample_index(key, num_index, kind, (num_samples,), dtype)
    scale = jnp.sqrt(jnp.asarray(num_index, dtype))
    eye = jnp.eye(num_index, dtype=dtype)
    if kind == "pm":
        return scale * jnp.concatenate([eye, -eye], axis=0)
    if kind == "oh":
        return scale * eye
    if num_index > 16:
        raise ValueError(f"kind 'pn' enumerates 2^M sign vectors; M={num_index} is too large")
    return jnp.asarray(list(itertools.product((1.0, -1.0), repeat=num_index)), dtype)


# ---------------------------------------------------------------------------------------------
# Linear posterior with a shared index factor (HyperAgent / Ensemble++ closed form).
# ---------------------------------------------------------------------------------------------


class LinearPosterior(NamedTuple):
    """Gaussian posterior N(mean, cov) of a linear model plus the index factor A (mu + A xi).

    Attributes:
      mean: mu_t, `[d]`.
      cov: Sigma_t, `[d, d]`.
      precision: Sigma_t^-1, `[d, d]`.
      factor: A_t, `[d, M]`; E_z[A_t A_t^T] = Sigma_t.
      noise_std: sigma, scalar observation-noise standard deviation.
    """

    mean: jax.Array
    cov: jax.Array
    precision: jax.Array
    factor: jax.Array
    noise_std: jax.Array


def init(
    key: chex.PRNGKey,
    prior_mean: jax.Array,
    prior_cov: jax.Array,
    noise_std: float,
    num_index: int,
    perturbation: str = "sp",
) -> LinearPosterior:
    """Initialises the linear posterior at the prior, A_0 = chol(Sigma_0) Z_0 (module docstring).

    Args:
      key: PRNG key for the prior perturbations Z_0 (`[d, M]`, rows from `perturbation`).
      prior_mean: mu_0, `[d]`.
      prior_cov: Sigma_0, `[d, d]` symmetric positive definite.
      noise_std: sigma > 0.
      num_index: M.
      perturbation: buffer-perturbation kind for the d prior rows (see `sample_perturbation`).

    Returns:
      The `LinearPosterior` at t = 0.
    """
    chex.assert_rank(prior_mean, 1)
    chex.assert_rank(prior_cov, 2)
    d = prior_mean.shape[0]
    chex.assert_shape(prior_cov, (d, d))
    if isinstance(noise_std, (int, float)) and noise_std <= 0:
        raise ValueError(f"noise_std must be > 0, got {noise_std}")
    dtype = prior_mean.dtype
    z0_dxm = sample_perturbation(key, num_index, perturbation, (d,), dtype)
    chol_dxd = jnp.linalg.cholesky(prior_cov)
    return LinearPosterior(
        mean=prior_mean,
        cov=prior_cov,
        precision=jnp.linalg.inv(prior_cov),
        factor=chol_dxd @ z0_dxm,
        noise_std=jnp.asarray(noise_std, dtype),
    )


def update(state: LinearPosterior, x: jax.Array, y: jax.Array, z: jax.Array) -> LinearPosterior:
    """One Sherman-Morrison step of the linear posterior and its index factor (module docstring).

    Args:
      state: posterior at t-1.
      x: feature x_t, `[d]`.
      y: scalar target y_t.
      z: perturbation z_t of this sample, `[M]` (drawn with `sample_perturbation`).

    Returns:
      The posterior at t: Kalman gain k = Sigma x / (sigma^2 + x^T Sigma x);
      Sigma -= k x^T Sigma, mu += k (y - x^T mu), A += k (sigma z^T - x^T A), P += x x^T / sigma^2.
    """
    d, m = state.factor.shape
    chex.assert_shape(x, (d,))
    chex.assert_shape(z, (m,))
    chex.assert_rank(y, 0)
    sigma = state.noise_std
    sx_d = state.cov @ x
    gain_d = sx_d / (sigma**2 + x @ sx_d)
    cov = state.cov - jnp.outer(gain_d, sx_d)
    # Symmetrise so round-off does not accumulate an antisymmetric part over thousands of steps.
    cov = 0.5 * (cov + cov.T)
    return LinearPosterior(
        mean=state.mean + gain_d * (y - x @ state.mean),
        cov=cov,
        precision=state.precision + jnp.outer(x, x) / sigma**2,
        factor=state.factor + jnp.outer(gain_d, sigma * z - x @ state.factor),
        noise_std=sigma,
    )


def update_sequence(
    state: LinearPosterior, x_Nxd: jax.Array, y_N: jax.Array, z_NxM: jax.Array
) -> LinearPosterior:
    """Applies `update` to N samples in order (a `lax.scan`); equals the batch ridge solution."""
    chex.assert_rank([x_Nxd, y_N, z_NxM], [2, 1, 2])
    chex.assert_equal_shape_prefix([x_Nxd, y_N, z_NxM], 1)

    def step(s, xyz):
        return update(s, *xyz), None

    state, _ = jax.lax.scan(step, state, (x_Nxd, y_N, z_NxM))
    return state


def batch_posterior(
    prior: LinearPosterior, x_Nxd: jax.Array, y_N: jax.Array, z_NxM: jax.Array
) -> LinearPosterior:
    """Batch (ridge) form of the same posterior, for testing the incremental path:

    P_N = P_0 + X^T X / sigma^2, mu_N = P_N^-1 (P_0 mu_0 + X^T y / sigma^2),
    A_N = P_N^-1 (P_0 A_0 + X^T Z / sigma).
    """
    chex.assert_rank([x_Nxd, y_N, z_NxM], [2, 1, 2])
    sigma = prior.noise_std
    precision = prior.precision + x_Nxd.T @ x_Nxd / sigma**2
    cov = jnp.linalg.inv(precision)
    mean = cov @ (prior.precision @ prior.mean + x_Nxd.T @ y_N / sigma**2)
    factor = cov @ (prior.precision @ prior.factor + x_Nxd.T @ z_NxM / sigma)
    return LinearPosterior(mean, cov, precision, factor, sigma)


def sample(key: chex.PRNGKey, state: LinearPosterior, kind: str = "gs") -> jax.Array:
    """Index sample theta~ = mu + A xi, xi from the action distribution `kind` (`sample_index`)."""
    xi_m = sample_index(key, state.factor.shape[1], kind, (), state.mean.dtype)
    return state.mean + state.factor @ xi_m


def sample_with_index(state: LinearPosterior, xi: jax.Array) -> jax.Array:
    """theta~ = mu + A xi for a given index xi `[M]` (xi = 0 gives the posterior-mean arm)."""
    chex.assert_shape(xi, (state.factor.shape[1],))
    return state.mean + state.factor @ xi


def sample_exact(key: chex.PRNGKey, state: LinearPosterior) -> jax.Array:
    """Exact Thompson sample theta ~ N(mu_t, Sigma_t) through a Cholesky factor (O(d^3))."""
    return _gaussian_sample(key, state.mean, state.cov)


def _gaussian_sample(key: chex.PRNGKey, mean: jax.Array, cov: jax.Array) -> jax.Array:
    d = mean.shape[0]
    # A tiny jitter keeps Cholesky finite when Sherman-Morrison round-off leaves Sigma barely PSD.
    jitter = 1e-6 * jnp.trace(cov) / d if mean.dtype == jnp.float32 else 0.0
    chol = jnp.linalg.cholesky(cov + jitter * jnp.eye(d, dtype=cov.dtype))
    return mean + chol @ jax.random.normal(key, (d,), mean.dtype)


def factor_deviation(state: LinearPosterior) -> jax.Array:
    """max |eig(Sigma^-1/2 A A^T Sigma^-1/2) - 1| over the non-trivial eigen-directions.

    Matrix form (e): (1 - eps) Sigma <= A A^T <= (1 + eps) Sigma. When M < d, A A^T has rank M
    and the deviation is at least 1; the check is meaningful for M >= d.
    """
    precision = 0.5 * (state.precision + state.precision.T)
    evals, evecs = jnp.linalg.eigh(precision)
    # Sigma^-1/2 = P^1/2 for the symmetric precision P.
    p_half = (evecs * jnp.sqrt(jnp.clip(evals, 0.0))) @ evecs.T
    w = p_half @ state.factor
    eig = jnp.linalg.eigvalsh(w @ w.T)
    return jnp.max(jnp.abs(eig - 1.0))


# ---------------------------------------------------------------------------------------------
# Plain Bayesian linear regression in natural parameters (PSRL with value-targeted regression).
# ---------------------------------------------------------------------------------------------


class BayesLinReg(NamedTuple):
    """Gaussian linear-regression posterior in natural parameters.

    Attributes:
      precision: P = Sigma^-1, `[d, d]`.
      precision_mean: b = Sigma^-1 mu, `[d]`.
    """

    precision: jax.Array
    precision_mean: jax.Array


def blr_init(prior_mean: jax.Array, prior_cov: jax.Array) -> BayesLinReg:
    """Prior N(mu_0, Sigma_0) as natural parameters (P_0 = Sigma_0^-1, b_0 = P_0 mu_0)."""
    chex.assert_rank([prior_mean, prior_cov], [1, 2])
    d = prior_mean.shape[0]
    chex.assert_shape(prior_cov, (d, d))
    precision = jnp.linalg.inv(prior_cov)
    return BayesLinReg(precision, precision @ prior_mean)


def blr_update(
    state: BayesLinReg,
    psi_Nxd: jax.Array,
    y_N: jax.Array,
    noise_std: float | jax.Array = 1.0,
    where: jax.Array | None = None,
) -> BayesLinReg:
    """Adds N observations y = <psi, theta> + N(0, sigma^2) to the natural parameters.

    P += Psi^T Psi / sigma^2 and b += Psi^T y / sigma^2.

    Args:
      state: current natural parameters.
      psi_Nxd: features, `[N, d]` (a single `[d]` feature is accepted and treated as N = 1).
      y_N: targets, `[N]` (or a scalar with a `[d]` feature).
      noise_std: sigma.
      where: optional boolean mask `[N]`; masked-out rows are ignored (fixed shapes under jit).

    Returns:
      Updated natural parameters.
    """
    if psi_Nxd.ndim == 1:
        psi_Nxd, y_N = psi_Nxd[None], jnp.reshape(y_N, (1,))
        where = None if where is None else jnp.reshape(where, (1,))
    chex.assert_rank([psi_Nxd, y_N], [2, 1])
    chex.assert_equal_shape_prefix([psi_Nxd, y_N], 1)
    chex.assert_shape(psi_Nxd, (None, state.precision_mean.shape[0]))
    w_N = jnp.ones_like(y_N) if where is None else where.astype(y_N.dtype)
    inv_var = 1.0 / jnp.asarray(noise_std, psi_Nxd.dtype) ** 2
    weighted = psi_Nxd * w_N[:, None]
    return BayesLinReg(
        precision=state.precision + inv_var * weighted.T @ psi_Nxd,
        precision_mean=state.precision_mean + inv_var * weighted.T @ y_N,
    )


def blr_mean_cov(state: BayesLinReg) -> tuple[jax.Array, jax.Array]:
    """Posterior mean mu = P^-1 b and covariance Sigma = P^-1."""
    cov = jnp.linalg.inv(state.precision)
    cov = 0.5 * (cov + cov.T)
    return cov @ state.precision_mean, cov


def blr_sample(key: chex.PRNGKey, state: BayesLinReg, scale: float = 1.0) -> jax.Array:
    """theta ~ N(mu, scale^2 Sigma) (scale > 1 inflates the posterior, as some PSRL variants do)."""
    mean, cov = blr_mean_cov(state)
    return _gaussian_sample(key, mean, (scale**2) * cov)


# ---------------------------------------------------------------------------------------------
# Independent conjugate Gaussian cells (per-cell reward posteriors in games).
# ---------------------------------------------------------------------------------------------


class GaussianCells(NamedTuple):
    """Independent Normal posteriors N(mean, 1 / precision), one per cell (arrays of any shape)."""

    mean: jax.Array
    precision: jax.Array


def cells_init(
    prior_mean: float | jax.Array, prior_std: float | jax.Array, shape: tuple[int, ...]
) -> GaussianCells:
    """Every cell starts at N(prior_mean, prior_std^2) (scalars or arrays broadcast to `shape`)."""
    mean = jnp.broadcast_to(jnp.asarray(prior_mean, jnp.float32), shape)
    std = jnp.broadcast_to(jnp.asarray(prior_std, jnp.float32), shape)
    return GaussianCells(mean=mean, precision=1.0 / std**2)


def cells_update(
    state: GaussianCells,
    y: jax.Array,
    noise_std: float | jax.Array = 1.0,
    where: jax.Array | None = None,
) -> GaussianCells:
    """Conjugate update with one observation per cell where `where` is true.

    tau' = tau + w / sigma^2 and m' = (tau m + w y / sigma^2) / tau' with w = where (0 or 1), so
    unobserved cells are unchanged. `y`, `where` broadcast to the cell shape; use `where =
    one_hot(cell)` to observe a single cell.
    """
    w = jnp.ones_like(state.mean) if where is None else jnp.broadcast_to(where, state.mean.shape)
    w = w.astype(state.mean.dtype)
    inv_var = w / jnp.asarray(noise_std, state.mean.dtype) ** 2
    precision = state.precision + inv_var
    mean = (state.precision * state.mean + inv_var * y) / precision
    return GaussianCells(mean=mean, precision=precision)


def cells_std(state: GaussianCells) -> jax.Array:
    """Posterior standard deviation per cell."""
    return jax.lax.rsqrt(state.precision)


def cells_sample(key: chex.PRNGKey, state: GaussianCells) -> jax.Array:
    """One joint draw of all cells, each from its own N(mean, 1 / precision)."""
    eps = jax.random.normal(key, state.mean.shape, state.mean.dtype)
    return state.mean + eps * cells_std(state)
