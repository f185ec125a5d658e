"""Tests for the shared incremental Gaussian posterior module)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax import exploration as ex
from empg_jax.testing import run_variants


def _problem(key, n=40, d=5, m=3, dtype=jnp.float32):
    kx, ky, kz, kp = jax.random.split(key, 4)
    x = jax.random.normal(kx, (n, d), dtype)
    y = jax.random.normal(ky, (n,), dtype)
    z = ex.sample_perturbation(kz, m, "sp", (n,), dtype)
    a = jax.random.normal(kp, (d, d), dtype)
    prior_cov = a @ a.T / d + jnp.eye(d, dtype=dtype)
    prior_mean = jnp.linspace(-1.0, 1.0, d, dtype=dtype)
    return x, y, z, prior_mean, prior_cov


def test_incremental_equals_batch_ridge_float64():
    """Exact test of the issue: after T Sherman-Morrison steps (mu_T, A_T) = batch ridge, f64."""
    with jax.enable_x64(True):
        x, y, z, mu0, cov0 = _problem(jax.random.key(0), n=200, d=6, m=4, dtype=jnp.float64)
        prior = ex.init(jax.random.key(1), mu0, cov0, noise_std=0.7, num_index=4)
        assert prior.mean.dtype == jnp.float64
        inc = jax.jit(ex.update_sequence)(prior, x, y, z)
        bat = ex.batch_posterior(prior, x, y, z)
        np.testing.assert_allclose(inc.mean, bat.mean, atol=1e-6, rtol=0)
        np.testing.assert_allclose(inc.factor, bat.factor, atol=1e-6, rtol=0)
        np.testing.assert_allclose(inc.cov, bat.cov, atol=1e-6, rtol=0)
        np.testing.assert_allclose(inc.precision, bat.precision, atol=1e-6, rtol=1e-12)
        # Closed-form ridge: with mu_0 = 0 the mean is (X^T X / s^2 + P_0)^-1 X^T y / s^2.
        ridge = np.linalg.solve(
            np.asarray(bat.precision), np.asarray(prior.precision @ mu0 + x.T @ y / 0.49)
        )
        np.testing.assert_allclose(inc.mean, ridge, atol=1e-6, rtol=0)


def test_update_variants_match_batch():
    x, y, z, mu0, cov0 = _problem(jax.random.key(2))
    prior = ex.init(jax.random.key(3), mu0, cov0, noise_std=1.0, num_index=3)
    want = ex.batch_posterior(prior, x[:1], y[:1], z[:1])
    for name, out in run_variants(ex.update, prior, x[0], y[0], z[0]):
        np.testing.assert_allclose(out.mean, want.mean, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(out.factor, want.factor, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(out.cov, want.cov, atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_factor_covariance_is_unbiased():
    """E_z[A_t A_t^T] = Sigma_t: averaging A A^T over many perturbation draws recovers Sigma."""
    x, y, _, mu0, cov0 = _problem(jax.random.key(4), n=30, d=4, m=2)

    def one(key):
        k0, kz = jax.random.split(key)
        prior = ex.init(k0, mu0, cov0, noise_std=0.5, num_index=2)
        z = ex.sample_perturbation(kz, 2, "sp", (x.shape[0],))
        post = ex.update_sequence(prior, x, y, z)
        return post.factor @ post.factor.T, post.cov

    aat, cov = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(5), 4000))
    np.testing.assert_allclose(aat.mean(0), cov[0], atol=0.05 * float(jnp.max(cov[0])))


@pytest.mark.parametrize("kind", ex.INDEX_KINDS)
def test_index_and_perturbation_moments(kind):
    m, n = 4, 20000
    xi = ex.sample_index(jax.random.key(6), m, kind, (n,))
    z = ex.sample_perturbation(jax.random.key(7), m, kind, (n,))
    assert xi.shape == (n, m) and z.shape == (n, m)
    np.testing.assert_allclose(xi.T @ xi / n, np.eye(m), atol=0.06)
    np.testing.assert_allclose(jnp.mean(jnp.sum(z**2, -1)), 1.0, atol=0.02)
    xs = ex.update_index_set(jax.random.key(8), m, kind, num_samples=4096)
    np.testing.assert_allclose(xs.T @ xs / xs.shape[0], np.eye(m), atol=0.1)


def test_index_set_sizes_and_support():
    assert ex.update_index_set(jax.random.key(0), 3, "pm").shape == (6, 3)
    pn = ex.update_index_set(jax.random.key(0), 3, "pn")
    assert pn.shape == (8, 3) and len({tuple(r) for r in np.asarray(pn)}) == 8
    xi = ex.sample_index(jax.random.key(1), 5, "pm", (100,))
    np.testing.assert_allclose(jnp.sort(jnp.abs(xi), -1)[:, -1], np.sqrt(5.0), rtol=1e-6)
    sp = ex.sample_perturbation(jax.random.key(2), 5, "sp", (100,))
    np.testing.assert_allclose(jnp.linalg.norm(sp, axis=-1), 1.0, rtol=1e-5)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="unknown index distribution 'xx'"):
        ex.sample_index(jax.random.key(0), 3, "xx")
    with pytest.raises(ValueError, match="num_index"):
        ex.sample_perturbation(jax.random.key(0), 0, "gs")
    with pytest.raises(ValueError, match="noise_std"):
        ex.init(jax.random.key(0), jnp.zeros(2), jnp.eye(2), noise_std=0.0, num_index=2)
    with pytest.raises(ValueError, match="too large"):
        ex.update_index_set(jax.random.key(0), 20, "pn")


@pytest.mark.slow
def test_samples_have_posterior_moments():
    x, y, z, mu0, cov0 = _problem(jax.random.key(9), n=10, d=3, m=64)
    post = ex.update_sequence(ex.init(jax.random.key(10), mu0, cov0, 1.0, 64), x, y, z)
    keys = jax.random.split(jax.random.key(11), 20000)
    exact = jax.jit(jax.vmap(ex.sample_exact, (0, None)))(keys, post)
    np.testing.assert_allclose(exact.mean(0), post.mean, atol=0.03)
    np.testing.assert_allclose(np.cov(np.asarray(exact).T), post.cov, atol=0.03)
    idx = jax.jit(jax.vmap(ex.sample, (0, None)))(keys, post)
    np.testing.assert_allclose(idx.mean(0), post.mean, atol=0.03)
    # With M = 64 >> d the index samples' covariance A A^T is close to Sigma (spec (e)).
    np.testing.assert_allclose(np.cov(np.asarray(idx).T), post.factor @ post.factor.T, atol=0.03)
    assert float(ex.factor_deviation(post)) < 0.8
    np.testing.assert_allclose(ex.sample_with_index(post, jnp.zeros(64)), post.mean)
    for name, out in run_variants(ex.sample_exact, jax.random.key(3), post):
        want = ex.sample_exact(jax.random.key(3), post)
        np.testing.assert_allclose(out, want, atol=1e-5, err_msg=name)


def test_bayes_linreg_matches_linear_posterior():
    x, y, z, mu0, cov0 = _problem(jax.random.key(12), n=25, d=4, m=2)
    blr = ex.blr_init(mu0, cov0)
    ref = ex.batch_posterior(ex.init(jax.random.key(0), mu0, cov0, 0.5, 2), x, y, z)
    for name, out in run_variants(ex.blr_update, blr, x, y, 0.5):
        mean, cov = ex.blr_mean_cov(out)
        np.testing.assert_allclose(mean, ref.mean, atol=1e-4, err_msg=name)
        np.testing.assert_allclose(cov, ref.cov, atol=1e-4, err_msg=name)
    # Masked rows are ignored, and one-row updates accumulate to the batch update.
    half = ex.blr_update(blr, x, y, 0.5, where=jnp.arange(25) < 10)
    first10 = ex.blr_update(blr, x[:10], y[:10], 0.5)
    np.testing.assert_allclose(half.precision, first10.precision, rtol=1e-5)
    seq = blr
    for i in range(3):
        seq = ex.blr_update(seq, x[i], y[i], 0.5)
    first3 = ex.blr_update(blr, x[:3], y[:3], 0.5)
    np.testing.assert_allclose(seq.precision_mean, first3.precision_mean, rtol=1e-5)
    draws = jax.jit(jax.vmap(ex.blr_sample, (0, None)))(
        jax.random.split(jax.random.key(1), 20000), half
    )
    mean, cov = ex.blr_mean_cov(half)
    np.testing.assert_allclose(draws.mean(0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(np.asarray(draws).T), cov, atol=0.03)


def test_gaussian_cells_conjugate_update():
    cells = ex.cells_init(0.0, 2.0, (2, 3))
    where = jnp.zeros((2, 3), bool).at[1, 2].set(True)
    for name, out in run_variants(ex.cells_update, cells, jnp.full((2, 3), 3.0), 1.0, where):
        # tau' = 1/4 + 1 = 1.25; m' = (0 + 3) / 1.25 = 2.4; other cells unchanged.
        np.testing.assert_allclose(out.mean[1, 2], 2.4, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(out.precision[1, 2], 1.25, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(out.mean.sum() - out.mean[1, 2], 0.0, err_msg=name)
        np.testing.assert_allclose(ex.cells_std(out)[0, 0], 2.0, rtol=1e-6, err_msg=name)
    draws = jax.jit(jax.vmap(ex.cells_sample, (0, None)))(
        jax.random.split(jax.random.key(0), 20000), cells
    )
    np.testing.assert_allclose(draws.std(0), 2.0, rtol=0.05)
