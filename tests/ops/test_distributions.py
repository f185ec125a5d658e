"""Entropy, collision probability, token log-probs and masked reductions against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax import ops
from empg_jax.testing import run_variants


def _np_log_softmax(z):
    z = np.asarray(z, np.float64)
    m = np.max(np.where(np.isfinite(z), z, -np.inf), axis=-1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))
    return z - lse


def _np_entropy(z):
    lp = _np_log_softmax(z)
    p = np.exp(lp)
    return -np.sum(np.where(p > 0, p * np.where(p > 0, lp, 0.0), 0.0), axis=-1)


def _logits(seed, shape, scale=2.0, mask_frac=0.0):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * scale).astype(np.float32)
    if mask_frac:
        mask = rng.random(shape) < mask_frac
        mask[..., 0] = False  # keep every row a distribution
        z[mask] = -np.inf
    return z


def test_entropy_matches_numpy_with_masked_vocabulary():
    z = _logits(0, (6, 5, 40), mask_frac=0.4)
    np.testing.assert_allclose(ops.entropy_from_logits(z), _np_entropy(z), rtol=1e-5, atol=1e-6)
    # Masking by -inf is the same as dropping the category.
    row = z[0, 0]
    np.testing.assert_allclose(
        ops.entropy_from_logits(row), _np_entropy(row[np.isfinite(row)]), rtol=1e-5
    )


def test_entropy_axis_and_row_mask():
    z = _logits(1, (7, 30, 4))
    got = ops.entropy_from_logits(z, axis=1)
    np.testing.assert_allclose(got, _np_entropy(np.moveaxis(z, 1, -1)), rtol=1e-5, atol=1e-6)
    where = np.random.default_rng(0).random((7, 4)) < 0.5
    masked = ops.entropy_from_logits(z, axis=1, where=where)
    np.testing.assert_allclose(masked, np.where(where, got, 0.0), rtol=0, atol=0)


def test_one_hot_and_degenerate_rows_are_finite_with_finite_gradients():
    z = jnp.array([[0.0, -jnp.inf, -jnp.inf], [100.0, 0.0, 0.0], [-jnp.inf] * 3])
    for fn in (ops.entropy_from_logits, ops.collision_probability, ops.renyi2_entropy):
        out = fn(z)
        assert np.all(np.isfinite(out)), fn.__name__
        grads = jax.grad(lambda x, f=fn: f(x).sum())(z)
        assert np.all(np.isfinite(grads)), fn.__name__
    np.testing.assert_array_equal(ops.entropy_from_logits(z), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(ops.collision_probability(z)[:2], [1.0, 1.0])


@pytest.mark.parametrize("chunk_size", [1, 7, 16, 64, 1000])
def test_chunked_entropy_equals_unchunked(chunk_size):
    z = jnp.asarray(_logits(2, (5, 13, 257), mask_frac=0.1))
    where = jnp.asarray(np.random.default_rng(3).random((5, 13)) < 0.8)
    full = ops.entropy_from_logits(z, where=where)
    chunked = jax.jit(lambda x, w: ops.entropy_from_logits(x, where=w, chunk_size=chunk_size))(
        z, where
    )
    # Same per-row arithmetic; only the summation order inside a row may differ (a few ulp).
    np.testing.assert_array_max_ulp(np.asarray(chunked), np.asarray(full), maxulp=4)


def test_chunk_size_validation():
    with pytest.raises(ValueError, match="chunk_size"):
        ops.entropy_from_logits(jnp.zeros((4, 3)), chunk_size=0)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_low_precision_inputs(dtype):
    """Low-precision logits are computed in f32: the only error is the inputs' own rounding.

    Stated tolerance: for logits in [-5, 5] (bf16 rounding error <= 5 * 2^-9 ~ 0.01), the entropy
    differs from the f32 entropy of the unrounded logits by at most 0.02 nats.
    """
    z32 = np.clip(_logits(4, (64, 100)), -5, 5)
    zlow = jnp.asarray(z32, dtype)
    got = ops.entropy_from_logits(zlow)
    assert got.dtype == jnp.float32
    np.testing.assert_array_equal(got, ops.entropy_from_logits(zlow.astype(jnp.float32)))
    np.testing.assert_allclose(got, ops.entropy_from_logits(z32), atol=0.02)
    np.testing.assert_allclose(
        ops.collision_probability(zlow), ops.collision_probability(z32), atol=0.01
    )


def test_collision_and_renyi_match_numpy():
    z = _logits(5, (20, 33), mask_frac=0.3)
    p = np.exp(_np_log_softmax(z))
    c = np.sum(p * p, axis=-1)
    np.testing.assert_allclose(ops.collision_probability(z), c, rtol=1e-5)
    np.testing.assert_allclose(ops.renyi2_entropy(z), -np.log(c), rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(ops.renyi2_entropy(z)) <= _np_entropy(z) + 1e-5)
    # Rényi-2 stays accurate where C is within float32 epsilon of 1.
    sharp = jnp.array([[30.0, 0.0, 0.0]])
    np.testing.assert_allclose(ops.renyi2_entropy(sharp), 4 * np.exp(-30.0), rtol=1e-4)


def test_token_log_probs():
    z = _logits(6, (3, 9, 21), mask_frac=0.2)
    tokens = np.random.default_rng(7).integers(0, 21, size=(3, 9))
    want = np.take_along_axis(_np_log_softmax(z), tokens[..., None], -1)[..., 0]
    got = ops.token_log_probs(jnp.asarray(z), jnp.asarray(tokens))
    finite = np.isfinite(want)
    np.testing.assert_allclose(np.asarray(got)[finite], want[finite], rtol=1e-5, atol=1e-5)
    assert np.all(np.isneginf(np.asarray(got)[~finite]))
    where = tokens % 2 == 0
    masked = ops.token_log_probs(jnp.asarray(z), jnp.asarray(tokens), where=jnp.asarray(where))
    assert np.all(np.asarray(masked)[~where] == 0.0)


_segment_mean_16 = jax.jit(ops.segment_mean, static_argnames="num_segments")


def test_segment_mean_against_loop():
    rng = np.random.default_rng(8)
    n_max, k = 64, 16  # one compiled shape; sizes vary through the mask and the ids used
    for trial in range(40):
        n, used = int(rng.integers(1, n_max + 1)), int(rng.integers(1, k + 1))
        values = rng.standard_normal(n_max).astype(np.float32)
        ids = rng.integers(0, used, size=n_max)
        where = (rng.random(n_max) < 0.7) & (np.arange(n_max) < n)
        if trial % 3 == 0:
            values[~where] = np.nan  # padding garbage must not leak
        means, counts = _segment_mean_16(
            jnp.asarray(values), jnp.asarray(ids), num_segments=k, where=jnp.asarray(where)
        )
        for s in range(k):
            sel = (ids == s) & where
            assert int(counts[s]) == sel.sum()
            want = values[sel].mean() if sel.any() else 0.0
            np.testing.assert_allclose(float(means[s]), want, rtol=1e-5, atol=1e-6)


def test_segment_mean_validation():
    with pytest.raises(ValueError, match="num_segments"):
        ops.segment_mean(jnp.zeros(3), jnp.zeros(3, jnp.int32), 0)
    with pytest.raises(AssertionError):
        ops.segment_mean(jnp.zeros(3), jnp.zeros(4, jnp.int32), 2)


def test_masked_mean():
    x = jnp.array([[1.0, 2.0, jnp.nan], [4.0, 5.0, 6.0]])
    w = jnp.array([[True, True, False], [False, False, False]])
    np.testing.assert_allclose(ops.masked_mean(x, w, axis=-1), [1.5, 0.0])
    np.testing.assert_allclose(ops.masked_mean(x, w), 1.5)


@pytest.mark.parametrize(
    "fn,kwargs",
    [
        (ops.entropy_from_logits, {}),
        (ops.entropy_from_logits, {"chunk_size": 3}),
        (ops.collision_probability, {}),
        (ops.renyi2_entropy, {}),
    ],
)
def test_variants_of_row_functions(fn, kwargs):
    z = jnp.asarray(_logits(9, (10, 17), mask_frac=0.2))
    want = fn(z, **kwargs)
    for name, got in run_variants(fn, z, **kwargs):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=name)


def test_variants_of_token_log_probs_and_segment_mean():
    z = jnp.asarray(_logits(10, (6, 11)))
    tokens = jnp.arange(6, dtype=jnp.int32)
    want = ops.token_log_probs(z, tokens)
    for name, got in run_variants(ops.token_log_probs, z, tokens):
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)
    values, ids = jnp.arange(8.0), jnp.array([0, 0, 1, 3, 3, 3, 1, 0])
    want = ops.segment_mean(values, ids, 5)
    for name, got in run_variants(ops.segment_mean, values, ids, num_segments=5):
        np.testing.assert_allclose(got[0], want[0], err_msg=name)
        np.testing.assert_array_equal(got[1], want[1], err_msg=name)


@pytest.mark.parametrize("chunk_size", [None, 1])
def test_masked_rows_holding_nan_reach_neither_value_nor_gradient(chunk_size):
    """A padded row may hold NaN or inf logits: every op that takes `where=` gives a finite
    value and a zero gradient there, and the unmasked rows' values are unchanged."""
    z = jnp.asarray([[1.0, 2.0, 3.0], [jnp.nan, jnp.inf, 1.0], [0.5, -1.0, 0.0]])
    mask = jnp.asarray([True, False, True])
    tokens = jnp.asarray([2, 1, 0])
    fns = {
        "entropy": lambda x: ops.entropy_from_logits(x, where=mask, chunk_size=chunk_size),
        "collision": lambda x: ops.collision_probability(x, where=mask),
        "renyi2": lambda x: ops.renyi2_entropy(x, where=mask),
        "token_log_probs": lambda x: ops.token_log_probs(x, tokens, where=mask),
    }
    clean = z.at[1].set(0.0)
    for name, fn in fns.items():
        value, grad = jax.value_and_grad(lambda x, fn=fn: fn(x).sum())(z)
        assert np.isfinite(float(value)), name
        g = np.asarray(grad)
        assert np.isfinite(g).all() and not g[1].any(), name
        np.testing.assert_allclose(np.asarray(fn(z))[[0, 2]], np.asarray(fn(clean))[[0, 2]])


def test_temperature_scaled_logits():
    z = _logits(11, (3, 7), mask_frac=0.3)
    for t in (0.3, 1.0, 2.0):
        for name, got in run_variants(ops.temperature_scaled_logits, z, t):
            assert got.dtype == jnp.float32, name
            # XLA may multiply by 1 / T instead of dividing: within one float32 rounding.
            np.testing.assert_allclose(got, z / np.float32(t), rtol=2.5e-7, err_msg=name)
    # Not > 0 (greedy decoding, including NaN) gives the logits at T = 1, never NaN.
    for t in (0.0, -1.0, float("nan")):
        np.testing.assert_array_equal(ops.temperature_scaled_logits(z, t), z)
    # Per-row temperatures broadcast; bf16 logits are scaled in float32.
    t_rows = np.array([[0.5], [0.0], [4.0]], np.float32)
    want = z / np.where(t_rows > 0, t_rows, 1.0)
    np.testing.assert_allclose(ops.temperature_scaled_logits(z, t_rows), want, rtol=2.5e-7)
    low = jnp.asarray(z, jnp.bfloat16)
    got = ops.temperature_scaled_logits(low, 3.0)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, np.asarray(low, np.float32) / np.float32(3.0), rtol=2.5e-7)
