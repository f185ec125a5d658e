"""Property tests of the logit-dynamics formula.

Random categorical sizes n in [2, 1000] share one compiled shape: every row has V = 1000 logits and
the entries past n are -inf, which the ops treat as absent categories.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empg_jax import ops
from empg_jax.testing import run_variants

V = 1000
ROWS = 64


def _random_rows(seed: int, n_min: int, n_max: int, scale: float, rows: int = ROWS):
    rng = np.random.default_rng(seed)
    n = rng.integers(n_min, n_max + 1, size=rows)
    z = (rng.standard_normal((rows, V)) * scale).astype(np.float32)
    z[np.arange(V)[None, :] >= n[:, None]] = -np.inf
    c = rng.integers(0, n)
    eta_a = rng.uniform(-3.0, 3.0, size=rows).astype(np.float32)
    return jnp.asarray(z), jnp.asarray(c, jnp.int32), jnp.asarray(eta_a), n


@jax.jit
def _norm_and_update(z, c, eta_a):
    return ops.logit_update_norm(z, c, eta_a), ops.logit_update(z, c, eta_a)


@jax.jit
def _grad_norm_f64(z, c, eta_a):
    """|eta A| * ||grad_z log_softmax(z)[c]||, by autodiff, in float64."""

    def one(z_v, c_):
        g = jax.grad(lambda x: jax.nn.log_softmax(x)[c_])(z_v)
        return jnp.sqrt(jnp.sum(jnp.where(jnp.isfinite(z_v), g, 0.0) ** 2))

    return jnp.abs(eta_a) * jax.vmap(one)(z, c)


def _reference_norm(z, c, eta_a):
    with jax.enable_x64(True):
        return np.asarray(
            _grad_norm_f64(jnp.asarray(z, jnp.float64), c, jnp.asarray(eta_a, jnp.float64))
        )


def _p64(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _one_minus_pc64(z, c):
    p = _p64(z)
    chosen = np.arange(p.shape[-1])[None, :] == np.asarray(c)[:, None]
    return np.where(chosen, 0.0, p).sum(-1)


def _exact_norm64(z, c, eta_a):
    """|eta A| sqrt((1 - P_c)^2 + sum_{j != c} P_j^2) in float64 without cancellation."""
    p = _p64(z)
    chosen = np.arange(p.shape[-1])[None, :] == np.asarray(c)[:, None]
    others = np.where(chosen, 0.0, p)
    return np.abs(np.asarray(eta_a, np.float64)) * np.sqrt(
        others.sum(-1) ** 2 + (others**2).sum(-1)
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_max=st.sampled_from([2, 3, 10, 100, 1000]),
    scale=st.sampled_from([0.1, 1.0, 4.0, 10.0]),
)
def test_norm_equals_autodiff_gradient_norm(seed, n_max, scale):
    z, c, eta_a, _ = _random_rows(seed, 2, n_max, scale)
    got, update = _norm_and_update(z, c, eta_a)
    want = _reference_norm(z, c, eta_a)
    # Autodiff forms 1 - P_c by subtraction, so even in float64 it loses relative accuracy once
    # 1 - P_c < ~1e-9; there the cancellation-free float64 evaluation is the reference.
    well_conditioned = _one_minus_pc64(z, c) > 1e-9
    np.testing.assert_allclose(
        np.asarray(got)[well_conditioned], want[well_conditioned], rtol=1e-5, atol=0
    )
    np.testing.assert_allclose(np.asarray(got), _exact_norm64(z, c, eta_a), rtol=1e-5, atol=0)
    # The update's components sum to zero and its norm is the formula.
    row_sum = np.asarray(update, np.float64).sum(-1)
    np.testing.assert_allclose(row_sum, 0.0, atol=1e-6 * (1 + np.abs(np.asarray(eta_a))).max())
    np.testing.assert_allclose(
        np.linalg.norm(np.asarray(update, np.float64), axis=-1),
        _exact_norm64(z, c, eta_a),
        rtol=1e-4,
    )


def test_many_random_cases_in_one_sweep():
    """10^4 cases with n in [2, 1000] in one call."""
    z, c, eta_a, _ = _random_rows(0, 2, V, 3.0, rows=10_000)
    got, _ = _norm_and_update(z, c, eta_a)
    well_conditioned = _one_minus_pc64(z, c) > 1e-9
    want = _reference_norm(z, c, eta_a)
    np.testing.assert_allclose(np.asarray(got)[well_conditioned], want[well_conditioned], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(got), _exact_norm64(z, c, eta_a), rtol=1e-5)


def test_update_is_eta_a_times_autodiff_gradient():
    z, c, eta_a, _ = _random_rows(1, 2, 50, 2.0)
    _, update = _norm_and_update(z, c, eta_a)
    grads = jax.vmap(jax.grad(lambda x, k: jax.nn.log_softmax(x)[k]))(z, c)
    grads = jnp.where(jnp.isfinite(z), grads, 0.0)
    np.testing.assert_allclose(update, eta_a[:, None] * grads, atol=2e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.3, 1.0, 5.0, 15.0]))
def test_sandwich_bounds(seed, scale):
    z, c, _, n = _random_rows(seed, 2, V, scale)
    unit, _ = _norm_and_update(z, c, jnp.ones_like(c, jnp.float32))
    p = _p64(z)
    one_minus_pc = 1.0 - p[np.arange(len(c)), np.asarray(c)]
    lower = one_minus_pc * np.sqrt(n / (n - 1))
    upper = np.sqrt(2.0) * one_minus_pc
    unit = np.asarray(unit, np.float64)
    assert np.all(unit >= lower * (1 - 1e-5) - 1e-12)
    assert np.all(unit <= upper * (1 + 1e-5) + 1e-12)


@jax.jit
def _on_policy(z):
    """sum_c P_c ||e_c - P||^2 for every row, with the norm taken from the op."""
    actions = jnp.arange(z.shape[-1])

    def for_row(z_v):
        norms = jax.vmap(lambda a: ops.logit_update_norm(z_v, a))(actions)
        p = jax.nn.softmax(z_v)
        return jnp.sum(p * norms**2)

    return jax.vmap(for_row)(z), ops.collision_probability(z), ops.entropy_from_logits(z)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.1, 1.0, 3.0, 10.0]))
def test_on_policy_identity_and_entropy_chain(seed, scale):
    rng = np.random.default_rng(seed)
    n = 64
    z = jnp.asarray(rng.standard_normal((16, n)) * scale, jnp.float32)
    expected_sq, collision, entropy = map(np.asarray, _on_policy(z))
    np.testing.assert_allclose(expected_sq, 1.0 - collision, atol=2e-6)
    # 1 - C <= 1 - exp(-H) <= H  (Rényi-2 <= Shannon, then 1 - e^{-x} <= x).
    assert np.all(1.0 - collision <= 1.0 - np.exp(-entropy) + 1e-6)
    assert np.all(1.0 - np.exp(-entropy) <= entropy + 1e-6)


def test_confident_action_keeps_relative_accuracy():
    """P_c -> 1: the naive 1 - 2P_c + C cancels to 0 in float32; the op does not."""
    z = jnp.zeros((4, 10), jnp.float32).at[:, 3].set(jnp.array([8.0, 12.0, 20.0, 40.0]))
    c = jnp.full((4,), 3, jnp.int32)
    got = np.asarray(ops.logit_update_norm(z, c))
    want = _exact_norm64(z, c, np.ones(4))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.all(got > 0)
    p = jax.nn.softmax(z)
    naive = jnp.sqrt(jnp.maximum(1 - 2 * p[:, 3] + jnp.sum(p * p, -1), 0.0))
    assert float(naive[-1]) == 0.0  # why the careful form is needed


def test_masked_logits_and_one_hot_are_finite():
    z = jnp.array([[0.0, -jnp.inf, 1.0], [-jnp.inf, 5.0, -jnp.inf]])
    c = jnp.array([1, 1])
    update = ops.logit_update(z, c)
    norm = ops.logit_update_norm(z, c)
    assert np.all(np.isfinite(update)) and np.all(np.isfinite(norm))
    # Choosing a zero-probability action moves its logit by the full eta*A.
    np.testing.assert_allclose(norm[0], np.sqrt(1 + np.sum(_p64(z[0]) ** 2)), rtol=1e-6)
    # One-hot policy choosing its certain action: no update at all.
    assert float(norm[1]) == 0.0
    grads = jax.grad(lambda x: ops.logit_update_norm(x, c).sum())(z)
    assert np.all(np.isfinite(grads))


@pytest.mark.parametrize("fn", [ops.logit_update, ops.logit_update_norm])
def test_variants(fn):
    z, c, eta_a, _ = _random_rows(3, 2, 20, 1.0, rows=8)
    z = z[:, :32]
    want = fn(z, c, eta_a, 0.5)
    for name, got in run_variants(fn, z, c, eta_a, learning_rate=0.5):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


def test_bad_inputs_fail_loudly():
    z = jnp.zeros((3, 5))
    with pytest.raises(AssertionError):
        ops.logit_update_norm(z, jnp.zeros((4,), jnp.int32))
    with pytest.raises(AssertionError):
        ops.logit_update(z, jnp.zeros((3,), jnp.float32))


def test_actions_may_be_python_or_numpy_integers():
    """The first thing a notebook user types: a plain int (or a NumPy integer) as the action."""
    z = jnp.asarray([1.0, 2.0, 0.5, -1.0])
    want = ops.logit_update(z, jnp.asarray(1), 0.5, 0.1)
    for action in (1, np.int64(1), np.asarray(1)):
        np.testing.assert_allclose(ops.logit_update(z, action, 0.5, 0.1), want)
        np.testing.assert_allclose(
            ops.logit_update_norm(z, action, 0.5, 0.1), jnp.linalg.norm(want), rtol=1e-6
        )
    rows = np.asarray([0, 3])
    np.testing.assert_allclose(
        ops.logit_update(jnp.stack([z, z]), rows),
        ops.logit_update(jnp.stack([z, z]), jnp.asarray(rows)),
    )
