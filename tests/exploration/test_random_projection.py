"""Tests for the sequential random projection check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.exploration import random_projection as rp
from empg_jax.testing import run_variants


def test_normalised_recursion_matches_direct_sums():
    key, t, m = jax.random.key(0), 12, 6
    z = rp._masked_sphere(key, (t + 1,), m, m)
    ones = jnp.ones((t + 1,))
    for name, out in run_variants(rp.projection_ratios, ones, z):
        np.testing.assert_allclose(
            out, rp.sequence_ratios(key, t, m, "const"), rtol=1e-4, err_msg=name
        )
    # geom: x_0 = 1 and x_t^2 = V_{t-1} = 2^(t-1), so V_t = 2^t.
    x_geom = jnp.sqrt(jnp.concatenate([jnp.ones(1), 2.0 ** jnp.arange(t)]))
    np.testing.assert_allclose(
        rp.projection_ratios(x_geom, z), rp.sequence_ratios(key, t, m, "geom"), rtol=1e-4
    )
    # Padding to a wider max_index leaves the distribution (here: the unit norm of z) unchanged.
    wide = rp.sequence_ratios(key, t, jnp.int32(m), "adaptive", max_index=16)
    assert wide.shape == (t + 1,) and float(wide[0]) == pytest.approx(1.0, abs=1e-5)


def test_fit_and_required_index_helpers():
    ms = np.array([8, 16, 32, 64])
    probs = 0.9 * np.exp(-0.2 * ms * 0.25)
    assert rp.fit_exponential_decay(ms, probs, 0.5) == pytest.approx(0.2, rel=1e-6)
    assert rp.required_index(ms, np.array([0.5, 0.2, 0.05, 0.0]), 0.05) == pytest.approx(32.0)
    assert 16 < rp.required_index(ms, np.array([0.5, 0.2, 0.02, 0.0]), 0.05) < 32
    assert rp.required_index(ms, np.array([0.5, 0.4, 0.3, 0.2]), 0.05) == float("inf")
    with pytest.raises(ValueError, match="grid points"):
        rp.fit_exponential_decay(ms, np.zeros(4), 0.5)
    with pytest.raises(ValueError, match="unknown sequence"):
        rp.sequence_ratios(jax.random.key(0), 5, 4, "linear")


@pytest.mark.slow
def test_any_time_failure_reduced_pass_criteria():
    """Reduced seed system (e): decay in M, sup-over-time > fixed-time, required M ~ log T."""
    eps, trials = 0.5, 600
    grid = np.array([8, 16, 24, 32, 48, 64, 96])
    key = jax.random.key(0)
    jl = np.asarray(rp.jl_failure_probabilities(key, jnp.asarray(grid), trials, 96, eps))
    req = {}
    for t in (10, 80):
        sup, final = map(
            np.asarray,
            rp.failure_probabilities(key, jnp.asarray(grid), trials, t, "const", 96, eps),
        )
        assert np.all(np.diff(sup) <= 0.03), sup
        assert np.all(sup[:4] > jl[:4]) and np.all(sup >= final), (sup, final, jl)
        assert rp.fit_exponential_decay(grid, sup, eps) > 0.05
        req[t] = rp.required_index(grid, sup, 0.05)
    # T grows 8x; required M grows far less than linearly (spec: logarithmically).
    assert req[10] < req[80] < 1.6 * req[10], req


@pytest.mark.slow
def test_hyperagent_factor_deviation_shrinks_with_m():
    grid = jnp.asarray([3, 12, 48])
    dev = np.asarray(
        rp.factor_deviation_sweep(jax.random.split(jax.random.key(0), 3), grid, 60, 48, 3, 10)
    )
    assert dev.shape == (3, 3, 60)
    sup = dev.max(-1).mean(-1)
    assert sup[0] > sup[1] > sup[2], sup
    assert sup[2] < 1.0, sup
