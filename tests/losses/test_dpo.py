"""DPO losses and (success, failure) pairs against NumPy references and hand-computed values."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.losses import DPO_SMOOTHING, dpo_loss, success_failure_pairs


def np_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def np_dpo(c, r, rc, rr, beta, eps, smoothing):
    """The loss and its derivative d loss / d chosen_log_prob, per pair (float64 NumPy)."""
    m = beta * ((c - rc) - (r - rr))
    agree, disagree = -np_log_sigmoid(m), -np_log_sigmoid(-m)
    sig = 1.0 / (1.0 + np.exp(-m))
    if smoothing == "conservative":
        loss = (1 - eps) * agree + eps * disagree
        dloss_dm = -(1 - eps) * (1 - sig) + eps * sig
    else:
        loss = ((1 - eps) * agree - eps * disagree) / (1 - 2 * eps)
        dloss_dm = (-(1 - eps) * (1 - sig) - eps * sig) / (1 - 2 * eps)
    return loss, beta * dloss_dm, m


def _inputs(seed, shape=(5, 3)):
    rng = np.random.default_rng(seed)
    return [(-rng.uniform(1, 30, shape)).astype(np.float32) for _ in range(4)]


@pytest.mark.parametrize("smoothing", DPO_SMOOTHING)
@pytest.mark.parametrize("beta, eps", [(0.1, 0.0), (0.5, 0.1), (2.0, 0.3)])
def test_dpo_loss_and_gradient_match_numpy(smoothing, beta, eps):
    c, r, rc, rr = _inputs(int(beta * 10 + eps * 100))
    loss, aux = dpo_loss(c, r, rc, rr, beta=beta, label_smoothing=eps, smoothing=smoothing)
    want, dwant, m = np_dpo(*(x.astype(np.float64) for x in (c, r, rc, rr)), beta, eps, smoothing)
    np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(aux["margins"], m, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(aux["chosen_rewards"], beta * (c - rc), rtol=1e-6)
    np.testing.assert_allclose(aux["rejected_rewards"], beta * (r - rr), rtol=1e-6)
    np.testing.assert_array_equal(aux["accuracy"], (m > 0).astype(np.float32))

    def total(c, r, rc, rr):
        return dpo_loss(c, r, rc, rr, beta=beta, label_smoothing=eps, smoothing=smoothing)[0].sum()

    gc, gr, grc, grr = jax.grad(total, argnums=(0, 1, 2, 3))(c, r, rc, rr)
    np.testing.assert_allclose(gc, dwant, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gr, -dwant, rtol=1e-4, atol=1e-6)
    # The reference is frozen.
    np.testing.assert_array_equal(grc, 0.0)
    np.testing.assert_array_equal(grr, 0.0)


def test_hand_computed_values():
    zero = jnp.zeros((1,))
    # Equal policy and reference: h = 0, the loss is log 2 for every variant and eps.
    for smoothing, eps in itertools.product(DPO_SMOOTHING, (0.0, 0.2)):
        loss, aux = dpo_loss(zero, zero, zero, zero, label_smoothing=eps, smoothing=smoothing)
        np.testing.assert_allclose(loss, [np.log(2.0)], rtol=1e-6)
        assert float(aux["accuracy"][0]) == 0.0
    # beta h = 2 (chosen up by 10 nats, beta 0.2): -log sigmoid(2) = log(1 + e^-2).
    loss, aux = dpo_loss(
        jnp.array([-5.0]), jnp.array([-20.0]), jnp.array([-15.0]), jnp.array([-20.0]), beta=0.2
    )
    np.testing.assert_allclose(loss, [np.log1p(np.exp(-2.0))], rtol=1e-6)
    np.testing.assert_allclose(aux["margins"], [2.0], rtol=1e-6)
    assert float(aux["accuracy"][0]) == 1.0
    # cDPO at eps = 0.5 would be symmetric in h; rDPO's correction makes a wrong-way pair cost
    # more than plain DPO.
    args = (jnp.array([-20.0]), jnp.array([-5.0]), jnp.array([-20.0]), jnp.array([-15.0]))
    plain = float(dpo_loss(*args, beta=0.2)[0][0])
    robust = float(dpo_loss(*args, beta=0.2, label_smoothing=0.2, smoothing="robust")[0][0])
    np.testing.assert_allclose(plain, np.log1p(np.exp(2.0)), rtol=1e-6)
    np.testing.assert_allclose(
        robust, (0.8 * np.log1p(np.exp(2.0)) - 0.2 * np.log1p(np.exp(-2.0))) / 0.6, rtol=1e-6
    )


def test_padded_pairs_are_ignored_even_when_nan():
    c, r, rc, rr = _inputs(3, (4,))
    mask = np.array([True, False, True, False])
    c_bad = np.where(mask, c, np.nan).astype(np.float32)
    rr_bad = np.where(mask, rr, -np.inf).astype(np.float32)

    def total(c):
        return dpo_loss(c, r, rc, rr_bad, mask, beta=0.3)[0].sum()

    loss, aux = dpo_loss(c_bad, r, rc, rr_bad, mask, beta=0.3)
    want = dpo_loss(c, r, rc, rr, beta=0.3)[0]
    np.testing.assert_allclose(loss, np.where(mask, want, 0.0), rtol=1e-6)
    assert all(np.isfinite(v).all() for v in aux.values())
    grad = jax.grad(total)(c_bad)
    assert np.isfinite(grad).all() and (grad[~mask] == 0).all() and (grad[mask] != 0).all()


def test_bad_arguments_raise():
    x = jnp.zeros((2,))
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(x, x, x, x, beta=0.0)
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(x, x, x, x, label_smoothing=0.5)
    with pytest.raises(ValueError, match="smoothing"):
        dpo_loss(x, x, x, x, smoothing="ipo")
    with pytest.raises(AssertionError):
        dpo_loss(x, x, x, jnp.zeros((3,)))


def test_success_failure_pairs_match_a_loop():
    rng = np.random.default_rng(0)
    won = rng.random((6, 4)) < 0.5
    won[0], won[1] = True, False  # all-success and all-failure groups have no pair
    valid = rng.random((6, 4)) < 0.85
    pairs = np.asarray(success_failure_pairs(won, valid))
    want = np.zeros((6, 4, 4), bool)
    for b, i, j in itertools.product(range(6), range(4), range(4)):
        want[b, i, j] = valid[b, i] and valid[b, j] and won[b, i] and not won[b, j]
    np.testing.assert_array_equal(pairs, want)
    assert not pairs[0].any() and not pairs[1].any()
    np.testing.assert_array_equal(
        np.asarray(success_failure_pairs(won)).sum((1, 2)), won.sum(1) * (4 - won.sum(1))
    )


def test_jit_and_vmap():
    c, r, rc, rr = _inputs(7, (3, 5))
    direct = dpo_loss(c, r, rc, rr, beta=0.4, label_smoothing=0.1)[0]
    mapped = jax.jit(jax.vmap(lambda *a: dpo_loss(*a, beta=0.4, label_smoothing=0.1)[0]))(
        c, r, rc, rr
    )
    np.testing.assert_allclose(mapped, direct, rtol=1e-6)
