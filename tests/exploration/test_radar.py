"""Radar versus DRFM jammer OCO: estimators, Hedge, reduced check."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.exploration import radar
from empg_jax.testing import run_variants


def _fast_compile(jitted, *static_argnames):
    """The same jitted experiment compiled at XLA backend optimisation level 0: on XLA:CPU this
    cuts compile time ~4x for ~3x slower execution, the right trade for a short reduced check."""
    return jax.jit(
        jitted.__wrapped__,
        static_argnames=static_argnames,
        compiler_options={"xla_backend_optimization_level": 0},
    )


def test_reactive_jammer_replays_previous_band():
    for _, out in run_variants(
        radar.reactive_jammer, jnp.array([0.1, 0.95]), jnp.int32(3), num_bands=5
    ):
        np.testing.assert_array_equal(out, [0, 0, 0, 1, 0])
    # Not replaying (coin 0.9 >= 0.8): the uniform draw 0.95 picks band floor(0.95 * 5) = 4.
    for _, out in run_variants(
        radar.reactive_jammer, jnp.array([0.9, 0.95]), jnp.int32(3), num_bands=5
    ):
        np.testing.assert_array_equal(out, [0, 0, 0, 0, 1])


def test_switching_jammer_cycles_profiles():
    profiles = radar.default_profiles(10)
    np.testing.assert_allclose(profiles[:, [1, 4, 7]], np.diag([0.1] * 3) + 0.6 * (1 - np.eye(3)))
    u = jnp.full((10,), 0.3)  # jammed exactly where the profile probability exceeds 0.3
    for t, spared in ((0, 1), (4000, 4), (8000, 7), (12000, 1)):
        for _, out in run_variants(
            radar.switching_jammer, u, jnp.int32(t), profiles, switch_period=4000
        ):
            want = np.ones(10)
            want[spared] = 0.0
            np.testing.assert_array_equal(out, want)


def test_estimators_values_and_unbiasedness():
    loss = jnp.array([0.0, 1.0, 1.0, 0.0])
    probs = jnp.array([0.1, 0.2, 0.3, 0.4])
    for _, out in run_variants(radar.bandit_estimate, loss, jnp.int32(2), probs):
        np.testing.assert_allclose(out, [0.0, 0.0, 1.0 / 0.3, 0.0], rtol=1e-6)
    u = jnp.array([0.1, 0.7, 0.2, 0.3])  # sensed where u < 0.5: bands 0, 2, 3
    for _, out in run_variants(radar.domain_estimate, u, loss, jnp.int32(1), sense_prob=0.5):
        np.testing.assert_allclose(out, [0.0, 1.0, 2.0, 0.0])

    # Unbiased: average over many draws (the action from x for Exp3, the sensing for domain).
    rng = np.random.default_rng(0)
    n = 40_000
    actions = jnp.asarray(rng.choice(4, n, p=np.asarray(probs)), jnp.int32)
    uniforms = jnp.asarray(rng.random((n, 4)), jnp.float32)

    @jax.jit
    def estimates(u, a):
        bandit = jax.vmap(radar.bandit_estimate, in_axes=(None, 0, None))(loss, a, probs)
        domain = jax.vmap(radar.domain_estimate, in_axes=(0, None, 0))(u, loss, a)
        return bandit, domain

    bandit, domain = estimates(uniforms, actions)
    np.testing.assert_allclose(bandit.mean(0), loss, atol=0.05)
    np.testing.assert_allclose(domain.mean(0), loss, atol=0.02)
    # Far lower second moment than the bandit estimator: the point of domain knowledge.
    assert (domain**2).sum(-1).mean() < 0.5 * (bandit**2).sum(-1).mean()


def test_hedge_step_matches_exponential_weights_and_fixed_share():
    log_x = jnp.log(jnp.array([0.5, 0.25, 0.25]))
    g = jnp.array([1.0, 0.0, 2.0])
    want = np.array([0.5, 0.25, 0.25]) * np.exp(-0.3 * np.array([1.0, 0.0, 2.0]))
    want /= want.sum()
    for _, out in run_variants(radar.hedge_step, log_x, g, jnp.float32(0.3), jnp.float32(0.0)):
        np.testing.assert_allclose(np.exp(out), want, rtol=1e-5)
    for _, out in run_variants(radar.hedge_step, log_x, g, jnp.float32(0.3), jnp.float32(0.1)):
        np.testing.assert_allclose(np.exp(out), 0.9 * want + 0.1 / 3, rtol=1e-5)


def test_make_arm_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown arm"):
        radar.make_arm("exp4")
    with pytest.raises(ValueError, match="sense_prob"):
        radar.make_arm("dk_hedge", sense_prob=0.0)
    with pytest.raises(ValueError, match="trace_every"):
        radar.run_radar(jax.random.key(0), radar.make_arm(), horizon=150, trace_every=100)


@pytest.mark.slow
def test_reduced_check_experiment():
    """System (d) pass criteria at T = 4000 (segments of 800), 6 seeds, one compiled program."""
    horizon, period = 4000, 800
    names = [(j, a) for j in radar.JAMMERS for a in radar.ARMS]
    arms = radar.stack_arms([radar.make_arm(a, j, horizon=horizon) for j, a in names])
    run = _fast_compile(radar.run_radar_arms, "num_seeds", "horizon", "switch_period")
    out = run(jax.random.key(0), arms, num_seeds=6, horizon=horizon, switch_period=period)
    static = dict(zip(names, np.asarray(out.static_regret).mean(1), strict=True))
    dynamic = dict(zip(names, np.asarray(out.dynamic_regret).mean(1), strict=True))
    # Reactive DRFM: domain-knowledge Hedge several times below Exp3 and close to full information.
    assert static[("reactive", "exp3")] > 2.0 * static[("reactive", "dk_hedge")]
    assert static[("reactive", "dk_hedge")] < 3.0 * static[("reactive", "full_hedge")]
    # Switching jammer: fixed share (universal) clearly below plain Hedge in dynamic regret.
    assert dynamic[("switching", "dk_fixed_share")] < 0.5 * dynamic[("switching", "dk_hedge")]
    # Against the reactive jammer every learner stays near uniform hopping: jam rate ~ 1/K.
    jam = np.asarray(out.jam_rate).mean(1)
    np.testing.assert_allclose(jam[:4], 0.1, atol=0.02)
