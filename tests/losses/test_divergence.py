"""Divergence-augmented policy optimisation: recursion and pgis."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.losses import (
    divergence_augmented_advantages,
    divergence_returns,
    pgis_loss,
)
from empg_jax.testing import run_variants

# One trajectory of 3 steps; the episode ends at the last step (discount 0 there).
LOGP = np.array([0.0, 0.1, -0.2], np.float32)
BEHAVIOUR_LOGP = np.array([0.0, -0.1, 0.0], np.float32)
DISCOUNTS = np.array([0.9, 0.9, 0.0], np.float32)


def _hand_divergence(c_bar):
    # c = [0, 0.2, -0.2]; ratio = exp(c); rho = min(1, ratio); trace = min(c_bar, ratio).
    c = np.array([0.0, 0.2, -0.2])
    ratio = np.exp(c)
    rho, trace = np.minimum(1.0, ratio), np.minimum(c_bar, ratio)
    v2 = rho[2] * c[2]
    d2 = c[2]
    d1 = c[1] + 0.9 * v2
    v1 = rho[1] * c[1] + 0.9 * trace[1] * v2
    d0 = c[0] + 0.9 * v1
    return np.array([d0, d1, d2])


def test_divergence_returns_hand_computed_full_trace():
    # c_bar = 1: V_2 = exp(-0.2) * -0.2 = -0.163746; D_1 = 0.2 + 0.9 V_2; D_0 = 0.9 V_1.
    want = np.array([0.0473656, 0.0526285, -0.2])
    np.testing.assert_allclose(_hand_divergence(1.0), want, atol=1e-6)
    for name, out in run_variants(divergence_returns, LOGP, BEHAVIOUR_LOGP, DISCOUNTS, c_bar=1.0):
        np.testing.assert_allclose(out, want, atol=1e-6, err_msg=name)


def test_divergence_returns_one_step_ahead():
    # c_bar = 0 cuts the trace: D_t = c_t + gamma_t rho_{t+1} c_{t+1}.
    want = np.array([0.9 * 0.2, 0.2 + 0.9 * np.exp(-0.2) * -0.2, -0.2])
    np.testing.assert_allclose(_hand_divergence(0.0), want, atol=1e-7)
    for name, out in run_variants(divergence_returns, LOGP, BEHAVIOUR_LOGP, DISCOUNTS, c_bar=0.0):
        np.testing.assert_allclose(out, want, atol=1e-6, err_msg=name)


def test_divergence_returns_episode_boundary_stops_propagation():
    # A done in the middle (discount 0 at t = 1) must stop step 2's divergence from reaching 1.
    discounts = np.array([0.9, 0.0, 0.9], np.float32)
    out = divergence_returns(LOGP, BEHAVIOUR_LOGP, discounts, c_bar=1.0)
    np.testing.assert_allclose(out, [0.9 * 0.2, 0.2, -0.2], atol=1e-6)


def test_on_policy_divergence_is_zero():
    out = divergence_returns(LOGP, LOGP, DISCOUNTS, c_bar=1.0)
    np.testing.assert_allclose(out, np.zeros(3), atol=0)


def test_augmented_advantages_subtract_scaled_divergence():
    adv = np.array([1.0, -0.5, 0.25], np.float32)
    want = adv - 0.5 * _hand_divergence(1.0)
    for name, out in run_variants(
        divergence_augmented_advantages,
        adv,
        LOGP,
        BEHAVIOUR_LOGP,
        DISCOUNTS,
        coefficient=0.5,
        c_bar=1.0,
    ):
        np.testing.assert_allclose(out, want, atol=1e-6, err_msg=name)


def test_augmented_advantages_have_no_gradient_through_divergence():
    def total(logp):
        return jnp.sum(
            divergence_augmented_advantages(
                jnp.zeros(3), logp, BEHAVIOUR_LOGP, DISCOUNTS, coefficient=1.0, c_bar=1.0
            )
        )

    np.testing.assert_array_equal(jax.jit(jax.grad(total))(LOGP), np.zeros(3))


def test_bad_truncation_levels_raise():
    with pytest.raises(ValueError, match="c_bar"):
        divergence_returns(LOGP, BEHAVIOUR_LOGP, DISCOUNTS, c_bar=-1.0)
    with pytest.raises(ValueError, match="rho_bar"):
        divergence_returns(LOGP, BEHAVIOUR_LOGP, DISCOUNTS, c_bar=1.0, rho_bar=-0.5)


def test_pgis_loss_value_and_gradient():
    adv = np.array([1.0, -0.5, 0.25], np.float32)
    where = np.array([True, True, False])
    ratio = np.exp(LOGP - BEHAVIOUR_LOGP)
    want_loss = -(adv[0] * ratio[0] + adv[1] * ratio[1]) / 2
    for name, (loss, aux) in run_variants(pgis_loss, LOGP, BEHAVIOUR_LOGP, adv, where):
        np.testing.assert_allclose(loss, want_loss, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["ratio_mean"], ratio[:2].mean(), rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["ratio_max"], ratio[1], rtol=1e-6, err_msg=name)
        kl = np.mean(ratio[:2] - 1 - np.log(ratio[:2]))
        np.testing.assert_allclose(aux["approx_kl"], kl, rtol=1e-5, err_msg=name)
    # d loss / d log pi_t = -A_t rho_t / N on valid entries, 0 elsewhere; none into A or beta.
    grads = jax.jit(
        jax.grad(lambda lp, blp, a: pgis_loss(lp, blp, a, where)[0], argnums=(0, 1, 2))
    )(LOGP, BEHAVIOUR_LOGP, adv)
    np.testing.assert_allclose(grads[0], [-adv[0] * ratio[0] / 2, -adv[1] * ratio[1] / 2, 0.0])
    np.testing.assert_array_equal(grads[1], np.zeros(3))
    np.testing.assert_array_equal(grads[2], np.zeros(3))


def test_pgis_with_augmented_advantages_is_the_papers_loss():
    # mean(-A rho + lambda rho sg(D)) of `lns/dapo` equals pgis on A - lambda sg(D).
    adv = np.array([1.0, -0.5, 0.25], np.float32)
    lam = 0.5
    aug = divergence_augmented_advantages(
        adv, LOGP, BEHAVIOUR_LOGP, DISCOUNTS, coefficient=lam, c_bar=1.0
    )
    loss, _ = pgis_loss(LOGP, BEHAVIOUR_LOGP, aug)
    ratio = np.exp(LOGP - BEHAVIOUR_LOGP)
    want = np.mean(-adv * ratio + lam * ratio * _hand_divergence(1.0))
    np.testing.assert_allclose(loss, want, rtol=1e-6)


# --- exact occupancy-gradient checks on a 3-state, 2-action MDP (float64) ---------------------

NUM_S, NUM_A, GAMMA = 3, 2, 0.9


def _mdp():
    rng = np.random.default_rng(0)
    transitions = rng.dirichlet(np.ones(NUM_S), size=(NUM_S, NUM_A))  # P[s, a, s']
    start = np.array([0.5, 0.3, 0.2])
    behaviour = rng.dirichlet(np.ones(NUM_A), size=NUM_S)
    theta = rng.normal(size=(NUM_S, NUM_A))
    return transitions, start, behaviour, theta


def _policy_term(d_s, pi_sxa, q_sxa):
    # sum_a pi(a|s) Q(s,a) grad_theta[s] log pi(a|s) with grad = e_a - pi(s), weighted by d(s).
    baseline = np.sum(pi_sxa * q_sxa, axis=-1, keepdims=True)
    return d_s[:, None] * pi_sxa * (q_sxa - baseline)


def _softmax(theta):
    e = np.exp(theta - theta.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_occupancy_divergence_gradient_equals_q_of_divergence_cost():
    """grad_theta sum_s d_pi(s) KL(pi||beta) = E_{d_pi pi}[Q^pi_c grad log pi], c = log pi/beta."""
    transitions, start, behaviour, theta = _mdp()
    eye = np.eye(NUM_S)
    with jax.enable_x64(True):

        def divergence(theta_sxa):
            pi_ = jax.nn.softmax(theta_sxa, axis=-1)
            p_pi = jnp.einsum("sa,sat->st", pi_, transitions)
            d_s = jnp.linalg.solve((jnp.eye(NUM_S) - GAMMA * p_pi).T, start)
            kl_s = jnp.sum(pi_ * (jnp.log(pi_) - jnp.log(behaviour)), axis=-1)
            return jnp.dot(d_s, kl_s)

        grad = np.asarray(jax.jit(jax.grad(divergence))(jnp.asarray(theta)))

    # Exact policy evaluation of the cost c = log pi - log beta (held fixed), in NumPy.
    pi = _softmax(theta)
    cost = np.log(pi) - np.log(behaviour)
    p_pi = np.einsum("sa,sat->st", pi, transitions)
    occupancy = np.linalg.solve((eye - GAMMA * p_pi).T, start)
    v_c = np.linalg.solve(eye - GAMMA * p_pi, np.sum(pi * cost, axis=-1))
    q_c = cost + GAMMA * np.einsum("sat,t->sa", transitions, v_c)
    want = _policy_term(occupancy, pi, q_c)
    np.testing.assert_allclose(grad, want, atol=1e-6)
    assert np.max(np.abs(want)) > 1e-2  # the check is not vacuous


@functools.cache
def _trajectories(horizon):
    steps = list(itertools.product(range(NUM_S), range(NUM_A)))
    return np.array(list(itertools.product(steps, repeat=horizon)))  # [N, H, 2]


def test_divergence_returns_estimate_the_divergence_q_behind_the_gradient():
    """With untruncated IS (rho_bar = c_bar = inf), E_beta[D_t | s_t, a_t] is Q^pi_c of the
    remaining horizon, so the exact finite-horizon gradient of
    sum_t gamma^t E_{d_t}[KL(pi||beta)] is rebuilt from `divergence_returns` on all
    trajectories of a 3-step episode sampled from beta."""
    horizon = 3
    transitions, start, behaviour, theta = _mdp()
    pi = _softmax(theta)
    p_pi = np.einsum("sa,sat->st", pi, transitions)
    traj = _trajectories(horizon)
    s_nt, a_nt = traj[..., 0], traj[..., 1]
    with jax.enable_x64(True):

        def divergence(theta_sxa):
            pi_ = jax.nn.softmax(theta_sxa, axis=-1)
            kl_s = jnp.sum(pi_ * (jnp.log(pi_) - jnp.log(behaviour)), axis=-1)
            p_pi_ = jnp.einsum("sa,sat->st", pi_, transitions)
            total, d_s = 0.0, jnp.asarray(start)
            for t in range(horizon):
                total = total + GAMMA**t * jnp.dot(d_s, kl_s)
                d_s = d_s @ p_pi_
            return total

        grad = np.asarray(jax.jit(jax.grad(divergence))(jnp.asarray(theta)))
        discounts = jnp.array([GAMMA] * (horizon - 1) + [0.0])
        returns_nt = jax.jit(
            jax.vmap(
                functools.partial(divergence_returns, c_bar=jnp.inf, rho_bar=jnp.inf),
                in_axes=(0, 0, None),
            )
        )(jnp.log(pi[s_nt, a_nt]), jnp.log(behaviour[s_nt, a_nt]), discounts)
        returns_nt = np.asarray(returns_nt)

    prob_n = start[s_nt[:, 0]] * np.prod(behaviour[s_nt, a_nt], axis=1)
    prob_n = prob_n * np.prod(transitions[s_nt[:, :-1], a_nt[:, :-1], s_nt[:, 1:]], axis=1)
    np.testing.assert_allclose(np.sum(prob_n), 1.0, atol=1e-12)
    want, d_s = np.zeros_like(theta), start
    for t in range(horizon):
        mass, weighted = np.zeros((NUM_S, NUM_A)), np.zeros((NUM_S, NUM_A))
        np.add.at(mass, (s_nt[:, t], a_nt[:, t]), prob_n)
        np.add.at(weighted, (s_nt[:, t], a_nt[:, t]), prob_n * returns_nt[:, t])
        want = want + GAMMA**t * _policy_term(d_s, pi, weighted / mass)
        d_s = d_s @ p_pi
    np.testing.assert_allclose(grad, want, atol=1e-6)
    assert np.max(np.abs(want)) > 1e-2
