"""Optimism-then-NoRegret in unknown games (`seed-systems.md` (f)): pieces and reduced check."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.exploration import games as games_config
from empg_jax.exploration import games
from empg_jax.testing import run_variants
from experiments import seed_games


def test_optimistic_rewards_every_estimator():
    mean = jnp.array([0.2, 0.5, 0.7])
    std = jnp.array([0.1, 1.0, 0.5])
    xi = jnp.array([-1.0, 0.5, -2.0])
    true = jnp.array([0.3, 0.4, 0.9])
    probs = jnp.array([0.5, 0.25, 0.25])
    want = {
        "full": [0.3, 0.4, 0.9],
        "iwe": [1.0, 1.0 - (1.0 - 0.8) / 0.25, 1.0],
        "ucb": [0.4, 2.5, 1.7],
        "ots": [0.3, 1.0, 1.7],
        "ts": [0.1, 1.0, -0.3],
        "iwr": [0.0, 0.8 / 0.25, 0.0],
    }
    for name, expected in want.items():
        est = jnp.int32(games.ESTIMATORS.index(name))
        args = (est, mean, std, xi, true, jnp.float32(0.8), jnp.int32(1), probs, jnp.float32(2.0))
        for variant, out in run_variants(games.optimistic_rewards, *args):
            np.testing.assert_allclose(out, expected, rtol=1e-6, err_msg=f"{name} {variant}")


def test_regret_matching_probs():
    for _, out in run_variants(games.regret_matching_probs, jnp.array([2.0, -1.0, 6.0, 0.0])):
        np.testing.assert_allclose(out, [0.25, 0.0, 0.75, 0.0])
    for _, out in run_variants(games.regret_matching_probs, jnp.array([-2.0, -1.0])):
        np.testing.assert_allclose(out, [0.5, 0.5])


def test_opponent_index_and_congestion_payoffs():
    game = games.congestion_game(3)
    n, a, o = game.payoffs.shape
    assert (n, a, o) == (3, 3, 9)
    free, slope = np.asarray(games.BRAESS_FREE), np.asarray(games.BRAESS_SLOPE)
    routes = np.asarray(games.BRAESS_ROUTES, float)
    times = {}
    for joint in itertools.product(range(3), repeat=3):
        load = routes[list(joint)].sum(0)
        latency = free + slope * load / 3
        times[joint] = [routes[r] @ latency for r in joint]
    t_all = np.array(list(times.values()))
    lo, hi = t_all.min(), t_all.max()
    joints = list(times)
    opp_all = np.asarray(
        jax.vmap(games.opponent_index, in_axes=(None, 0))(game, jnp.asarray(joints))
    )
    payoffs = np.asarray(game.payoffs)
    for joint, opp in zip(joints, opp_all, strict=True):
        for i in range(3):
            others = [joint[j] for j in range(3) if j != i]
            assert opp[i] == others[0] * 3 + others[1]
            want = (hi - times[joint][i]) / (hi - lo)
            np.testing.assert_allclose(payoffs[i, joint[i], opp[i]], want, rtol=1e-5, atol=1e-6)
    assert float(game.payoffs.min()) == 0.0 and float(game.payoffs.max()) == pytest.approx(1.0)


def test_make_learner_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown estimator"):
        games.make_learner("egreedy")
    with pytest.raises(ValueError, match="unknown no_regret"):
        games.make_learner("ots", "fictitious")
    for mix in (-0.1, 1.0):
        with pytest.raises(ValueError, match="uniform mixing"):
            games.make_learner("iwe", mix=mix)


def test_uniform_mixing_moves_play_towards_uniform():
    """gamma near 1 plays almost uniformly.

    Full-information Hedge learns the game, so its regret is small; with gamma = 0.9 at least 90% of
    play is uniform, and the average regret approaches that of uniform play, which on U[0, 1]
    games is far above the threshold.
    """
    game = games.stack([games.matrix_game(jax.random.key(3), 10)])
    horizon = 2000
    learners = games.stack(
        [
            games.make_learner("full", horizon=horizon, num_actions=10),
            games.make_learner("full", horizon=horizon, num_actions=10, mix=0.9),
        ]
    )
    out = games.self_play_arms(
        jax.random.key(0), game, learners, num_seeds=1, horizon=horizon, threshold=0.05
    )
    final = np.asarray(out.final_regret)[:, 0]
    assert final[0] < 0.05 and final[1] > 0.1 + final[0]


def test_experiment_arm_specs_expand_exp3_eta_and_ucb_beta():
    """Exp3 runs once per eta multiplier (spec: "best of two eta") and mixing gamma; UCB once
    per beta."""
    config = games_config.get_config()
    config.arms = ("iwe-hedge", "iwr-hedge", "ucb-hedge", "ots-rm")
    config.exp3_eta_scales = (1.0, 0.5)
    config.beta, config.ucb_extra_betas = 2.0, (0.5,)
    config.exp3_mixes = (0.0,)
    eta = math.sqrt(8.0 * math.log(50) / config.horizon)
    specs = seed_games.arm_specs(config, 50)
    assert [(a.label, a.estimator, a.no_regret) for a in specs] == [
        ("iwe-hedge eta x1", "iwe", "hedge"),
        ("iwe-hedge eta x0.5", "iwe", "hedge"),
        ("iwr-hedge eta x1", "iwr", "hedge"),
        ("iwr-hedge eta x0.5", "iwr", "hedge"),
        ("ucb-hedge beta 2", "ucb", "hedge"),
        ("ucb-hedge beta 0.5", "ucb", "hedge"),
        ("ots-rm", "ots", "rm"),
    ]
    np.testing.assert_allclose(
        [a.learning_rate for a in specs], [eta, eta / 2, eta, eta / 2, eta, eta, eta]
    )
    assert [a.beta for a in specs] == [2.0, 2.0, 2.0, 2.0, 2.0, 0.5, 2.0]
    assert [a.mix for a in specs] == [0.0] * 7
    config.arms, config.exp3_eta_scales, config.exp3_mixes = ("iwe-hedge",), (1.0,), (0.0, 0.01)
    specs = seed_games.arm_specs(config, 50)
    assert [(a.label, a.mix) for a in specs] == [
        ("iwe-hedge eta x1", 0.0),
        ("iwe-hedge eta x1 gamma 0.01", 0.01),
    ]
    config.exp3_eta_scales, config.exp3_mixes = (1.0, 1.0), (0.0,)
    with pytest.raises(ValueError, match="duplicate arms"):
        seed_games.arm_specs(config, 50)


@pytest.mark.slow
def test_reduced_check_experiment():
    """Spec (f) at T = 14000 on 50 x 50 random games, 4 seeds, one compiled program.

    Arms as in the experiment (`seed_games.arm_specs`): Exp3 at the Hedge eta and at half of it
    (the spec's "best of two eta"), UCB-Hedge at the spec's beta = 2 and at beta = 0.5, OTS-Hedge,
    plain TS-Hedge. Asserted (robust at this size; the full run, 32 seeds and T = 20000, is in the
    README): OTS-Hedge settles on every seed, at least 1.5x earlier than Exp3 at the Hedge eta and
    1.25x earlier than the best Exp3 (medians); UCB-Hedge (beta 2) settles on 3 of 4 seeds and
    earlier than Exp3 at the Hedge eta; the UCB width matters: beta = 0.5 settles at least 1.4x
    earlier than beta = 2 and 1.5x earlier than the best Exp3; plain TS-Hedge does not settle: its
    seed-mean average regret at T stays above the threshold and far above OTS's. (UCB at beta = 2
    is not asserted to beat the best Exp3: the full run measures only 1.03-1.13x.)
    """
    horizon, seeds, actions = 14_000, 4, 50
    config = games_config.get_config()
    config.arms = ("iwe-hedge", "ucb-hedge", "ots-hedge", "ts-hedge")
    config.exp3_eta_scales, config.beta, config.ucb_extra_betas = (1.0, 0.5), 2.0, (0.5,)
    specs = seed_games.arm_specs(config, actions)  # eta from the experiment's T = 20000
    learners = games.stack(
        [
            games.make_learner(a.estimator, a.no_regret, learning_rate=a.learning_rate, beta=a.beta)
            for a in specs
        ]
    )
    game_list = [games.matrix_game(k, actions) for k in jax.random.split(jax.random.key(0), seeds)]
    out = games.self_play_arms(
        jax.random.key(1), games.stack(game_list), learners, num_seeds=seeds, horizon=horizon
    )
    labels = [a.label for a in specs]
    settle = dict(zip(labels, np.asarray(out.settle_round), strict=True))
    med = {k: np.median(v) for k, v in settle.items()}
    final = dict(zip(labels, np.asarray(out.final_regret).mean(1), strict=True))
    exp3 = med["iwe-hedge eta x1"]
    best_exp3 = min(exp3, med["iwe-hedge eta x0.5"])
    ots, ucb2, ucb05 = med["ots-hedge"], med["ucb-hedge beta 2"], med["ucb-hedge beta 0.5"]
    assert (settle["ots-hedge"] < horizon).all()
    assert (settle["ucb-hedge beta 2"] < horizon).sum() >= 3
    assert 1.5 * ots < exp3 and 1.25 * ots < best_exp3
    assert ucb2 < exp3
    assert 1.4 * ucb05 < ucb2 and 1.5 * ucb05 < best_exp3
    assert final["ts-hedge"] > 0.05 and final["ts-hedge"] > 3.0 * final["ots-hedge"]
