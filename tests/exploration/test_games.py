"""Optimism-then-NoRegret in unknown games: estimators, bookkeeping, routing and radar games, and
the orderings of the reduced check that held on every game set we ran."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.exploration import games, games_radar, games_routing
from empg_jax.testing import run_variants
from experiments import _games_stats as games_stats


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
    # Exp3-IX: the played action's loss is divided by x(a) + gamma, not x(a).
    iwe = jnp.int32(games.ESTIMATORS.index("iwe"))
    args = (iwe, mean, std, xi, true, jnp.float32(0.8), jnp.int32(1), probs, 2.0, 0.05)
    for _, out in run_variants(games.optimistic_rewards, *args):
        np.testing.assert_allclose(out, [1.0, 1.0 - 0.2 / 0.3, 1.0], rtol=1e-6)


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


def test_opponent_distribution_is_the_product_of_the_others_strategies():
    game = games.congestion_game(3)  # 3 players, 3 actions, O = 9
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3], [0.25, 0.25, 0.5]], np.float32)
    got = np.asarray(games.opponent_distribution(game, jnp.asarray(probs)))
    weights = np.asarray(game.opponent_weights)
    want = np.zeros((3, 9))
    for joint in itertools.product(range(3), repeat=3):
        for i in range(3):
            o = int(weights[i] @ np.asarray(joint))
            # each (i, o) is visited once per own action of player i: average the three visits
            want[i, o] += np.prod([probs[j, joint[j]] for j in range(3) if j != i]) / 3
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _hedge_regret_numpy(values_NxA: np.ndarray, horizon: int, eta_1: float, anytime: bool):
    """Full-information Hedge against an opponent-independent game, in numpy: x_t ∝
    exp(eta_t * t_prev * v); returns max_i Reg_i(t)/t for t = 1..T."""
    a = values_NxA.shape[1]
    del a
    out = []
    best = np.zeros(values_NxA.shape[0])
    earned = np.zeros(values_NxA.shape[0])
    for t in range(horizon):
        eta = eta_1 / math.sqrt(t + 1) if anytime else eta_1
        logits = eta * t * values_NxA
        x = np.exp(logits - logits.max(1, keepdims=True))
        x /= x.sum(1, keepdims=True)
        best += values_NxA.max(1)
        earned += (x * values_NxA).sum(1)
        out.append(np.max(best - earned) / (t + 1))
    return np.asarray(out)


@pytest.mark.parametrize("anytime", [False, True])
def test_self_play_regret_bookkeeping_matches_numpy(anytime):
    """In a game whose payoffs ignore the opponent, full-information Hedge is deterministic; the
    expected and pseudo regret traces (max over players) must equal a numpy re-computation, for the
    fixed and the anytime step."""
    values = np.array([[0.1, 0.9, 0.5, 0.3], [0.7, 0.2, 0.65, 0.0]], np.float32)
    payoffs = np.repeat(values[:, :, None], 4, axis=2)  # r_i(a, o) = v_i(a)
    game = games.Game(jnp.asarray(payoffs), games._opponent_weights(2, 4))
    horizon, stride, eta = 200, 10, 0.05 if not anytime else 0.7
    learner = games.make_learner("full", learning_rate=eta, anytime=anytime)
    out = games.self_play(jax.random.key(0), game, learner, horizon=horizon, trace_every=stride)
    want = _hedge_regret_numpy(values, horizon, eta, anytime)[stride - 1 :: stride]
    trace = np.asarray(out.regret_trace)
    for regret in ("expected", "pseudo"):
        got = trace[games.REGRETS.index(regret), games.AGGREGATES.index("max")]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6, err_msg=regret)
    np.testing.assert_allclose(out.final_regret, want[-1], rtol=1e-4)


def test_settle_and_reach_rounds():
    trace = np.array(
        [[0.5, 0.05, 0.2, 0.08, 0.06], [0.01, 0.02, 0.03, 0.04, 0.05], [0.5, 0.4, 0.3, 0.2, 0.15]]
    )
    # stride 10: points at rounds 10..50; settle = first round after the last excursion above.
    np.testing.assert_array_equal(games.settle_round(trace, 0.1, 10), [40, 10, 60])
    np.testing.assert_array_equal(games.reach_round(trace, 0.1, 10), [20, 10, 60])


def test_make_learner_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown estimator"):
        games.make_learner("egreedy")
    with pytest.raises(ValueError, match="unknown no_regret"):
        games.make_learner("ots", "fictitious")
    for mix in (-0.1, 1.0):
        with pytest.raises(ValueError, match="uniform mixing"):
            games.make_learner("iwe", mix=mix)
    with pytest.raises(ValueError, match="ix"):
        games.make_learner("iwe", ix=-1.0)


def test_standard_step_sizes():
    a, t = 50, 20_000
    assert games.hedge_learning_rate(a, t) == pytest.approx(math.sqrt(8 * math.log(50) / t))
    assert games.hedge_learning_rate(a, t, anytime=True) == pytest.approx(
        math.sqrt(8 * math.log(50))
    )
    assert games.exp3_learning_rate(a, t) == pytest.approx(math.sqrt(2 * math.log(50) / (50 * t)))
    assert games.exp3_learning_rate(a, t, anytime=True) == pytest.approx(
        math.sqrt(math.log(50) / 50)
    )
    # Auer et al. (2002) Cor. 3.2 with g = T.
    assert games.auer_exp3_gamma(a, t) == pytest.approx(
        math.sqrt(50 * math.log(50) / ((math.e - 1) * t))
    )
    learner = games.make_learner("ucb", beta_theory=True)
    width = games.ucb_width_at(learner, jnp.float32(9.0), 100)
    assert float(width) == pytest.approx(math.sqrt(2 * math.log(100 * 100 * math.pi**2 / 0.6)))


def test_uniform_mixing_moves_play_towards_uniform():
    """gamma near 1 plays almost uniformly: its regret approaches that of uniform play, far above
    the full-information learner's."""
    game = games.stack([games.matrix_game(jax.random.key(3), 10)])
    horizon = 2000
    learners = games.stack(
        [
            games.make_learner("full", horizon=horizon, num_actions=10),
            games.make_learner("full", horizon=horizon, num_actions=10, mix=0.9),
        ]
    )
    out = games.self_play_arms(jax.random.key(0), game, learners, num_seeds=1, horizon=horizon)
    final = np.asarray(out.final_regret)[:, 0]
    assert final[0] < 0.05 and final[1] > 0.1 + final[0]


def test_parse_arm_standard_tunings_and_families():
    a, t = 50, 20_000
    arm = games_stats.parse_arm("iwe-hedge@eta=exp3,ix=0.5", a, t, anytime=False)
    assert arm.family == "exp3-standard"
    assert float(arm.learner.learning_rate) == pytest.approx(games.exp3_learning_rate(a, t))
    assert float(arm.learner.ix) == 0.5
    auer = games_stats.parse_arm("iwr-hedge@eta=auer", a, t, anytime=True)
    gamma = games.auer_exp3_gamma(a, t)
    assert float(auer.learner.mix) == pytest.approx(gamma)
    assert float(auer.learner.learning_rate) == pytest.approx(gamma / a)
    assert float(auer.learner.anytime) == 0.0  # Auer's tuning is fixed-horizon only
    tuned = games_stats.parse_arm("iwe-hedge@eta=hedge*0.5,mix=0.01", a, t, anytime=True)
    assert tuned.family == "exp3-tuned" and float(tuned.learner.anytime) == 1.0
    assert float(tuned.learner.learning_rate) == pytest.approx(0.5 * math.sqrt(8 * math.log(a)))
    doubled = games_stats.parse_arm("iwe-hedge@eta=exp3*2", a, t, anytime=False)
    assert doubled.family == "exp3-tuned"  # a multiple of the textbook step is not "standard"
    assert float(doubled.learner.learning_rate) == pytest.approx(2 * games.exp3_learning_rate(a, t))
    assert games_stats.parse_arm("ots-rm", a, t, False).family == "bandit"
    assert games_stats.parse_arm("full-hedge", a, t, False).family == "full"
    assert float(games_stats.parse_arm("ucb-hedge@beta=theory", a, t, False).learner.beta_theory)
    for bad, match in (
        ("ots", "estimator"),
        ("ots-hedge@eta=foo", "eta"),
        ("ots-hedge@gamma=1", "unknown option"),
        ("ots-hedge@mix", "key=value"),
    ):
        with pytest.raises(ValueError, match=match):
            games_stats.parse_arm(bad, a, t, False)


def test_median_ci_order_statistics():
    # Distribution-free 95% intervals: ranks 10 and 23 of 32, 4 and 13 of 16 (binomial tables).
    x = np.arange(1, 33, dtype=float)[::-1]
    assert games_stats.median_ci(x) == (16.5, 10.0, 23.0)
    assert games_stats.median_ci(np.arange(1, 17, dtype=float)) == (8.5, 4.0, 13.0)
    r, lo, hi = games_stats.ratio_ci(np.full(16, 30.0) + np.arange(16), np.full(16, 10.0))
    assert r == pytest.approx(3.75) and lo <= r <= hi


def test_routing_game_features_match_travel_times():
    """Rewards from the linear features equal 1 - (sum of edge latencies) / (2 stages) computed
    edge by edge, for every joint action of a 3-player, 4-route game."""
    game = games_routing.routing_game(0, 3, width=2, stages=2)
    inc = games_routing.layered_incidence(2, 2)
    assert inc.shape == (4, 4) and (inc.reshape(4, 2, 2).sum(-1) == 1).all()
    theta = np.asarray(game.theta)
    c, s = theta[:4], theta[4:]
    matrix = np.asarray(games_routing.to_matrix_game(game, 3).payoffs)
    weights = np.asarray(games._opponent_weights(3, 4))
    for joint in itertools.product(range(4), repeat=3):
        load = inc[list(joint)].sum(0)
        phi = np.asarray(games_routing.route_features(game, jnp.asarray(joint), 3))
        for i in range(3):
            time = inc[joint[i]] @ (c + s * load / 3)
            want = 1.0 - time / 4.0
            np.testing.assert_allclose(1.0 - phi[i, joint[i]] @ theta / 4.0, want, rtol=1e-5)
            np.testing.assert_allclose(matrix[i, joint[i], weights[i] @ joint], want, rtol=1e-5)


def test_radar_link_learners_beat_a_fixed_band():
    """Against the replay jammer a radar that sticks to few bands is jammed often (its
    regret against the best band in hindsight is large); full-information Hedge and OTS-Hedge hop
    and keep the average regret small."""
    learners = games.stack(
        [
            games.make_learner("full", learning_rate=0.05),
            games.make_learner("ots", learning_rate=0.05),
            # eta huge on the loss estimator and no mixing: locks onto the first band it likes.
            games.make_learner("iwe", learning_rate=50.0),
        ]
    )
    trace = games_radar.radar_play_arms(
        jax.random.key(0), learners, num_seeds=2, num_bands=5, horizon=2000, trace_every=100
    )
    trace = np.asarray(trace)
    assert trace.shape == (3, 2, 20) and np.all(np.isfinite(trace))
    assert np.all(trace[:2, :, -1] < 0.05)
    assert np.all(trace[2, :, -1] > 0.15)


@pytest.mark.slow
def test_reduced_fig1_orderings():
    """The Fig. 1 setting (50 x 50 games, anytime schedules, threshold 0.05) reduced to 8 games and
    T = 12000. Asserted are the orderings whose 95% intervals were far apart in the full run (32
    games, docs/results/seed_games.md): full-information Hedge settles first (130 rounds); OTS-Hedge
    settles on every game (5125 [4480, 5790]); UCB-Hedge at the GP-UCB theory width settles later
    (14210 [11660, 18520]); neither textbook Exp3 nor Exp3-IX settles within 12000 rounds (50575
    [44700, 56150] and > 60000), i.e. OTS-Hedge is at least 1.5x faster than the best standard
    Exp3. Not asserted: the 0.1 threshold (uniform play already sits at ~0.10 there, so the Exp3
    settling rounds are erratic) and anything against a tuned Exp3 (within 2x)."""
    seeds, horizon = 8, 12_000
    labels = (
        "full-hedge",
        "ots-hedge",
        "ucb-hedge@beta=theory",
        "iwe-hedge@eta=exp3",
        "iwe-hedge@eta=exp3,ix=0.5",
    )
    specs = [games_stats.parse_arm(s, 50, horizon, anytime=True) for s in labels]
    game_list = [games.matrix_game(k, 50) for k in jax.random.split(jax.random.key(0), seeds)]
    out = games.self_play_arms(
        jax.random.key(1),
        games.stack(game_list),
        games.stack([a.learner for a in specs]),
        num_seeds=seeds,
        horizon=horizon,
        trace_every=10,
    )
    trace = np.asarray(out.regret_trace)[:, :, 0, 0]  # expected regret, max over players
    settle = {a.label: games.settle_round(trace[i], 0.05, 10) for i, a in enumerate(specs)}
    med = {k: float(np.median(v)) for k, v in settle.items()}
    assert (settle["ots-hedge"] <= horizon).all(), med
    assert med["full-hedge"] < med["ots-hedge"] < med["ucb-hedge@beta=theory"], med
    assert 1.5 * med["ots-hedge"] < horizon, med
    assert med["iwe-hedge@eta=exp3"] > horizon and med["iwe-hedge@eta=exp3,ix=0.5"] > horizon, med


@pytest.mark.slow
def test_structured_ots_beats_exp3_in_the_routing_game():
    """3 players, 8 routes (joint space 512), threshold 0.02, anytime schedules, 4 instances: OTS
    with the linear posterior on the 12 latency parameters settles within 1000 rounds (445 [310,
    580] in the full run), Exp3 at half the Hedge step does not settle within 4000 (8230 [5150,
    12760]); full-information Hedge is faster than OTS (170)."""
    seeds, horizon = 4, 4000
    labels = ("full-hedge", "ots-hedge", "iwe-hedge@eta=hedge*0.5")
    learners = games.stack(
        [games_stats.parse_arm(s, 8, horizon, anytime=True).learner for s in labels]
    )
    instances = games.stack([games_routing.routing_game(s, 3, 2, 3) for s in range(seeds)])
    trace = games_routing.self_play_arms(
        jax.random.key(1),
        instances,
        learners,
        num_players=3,
        num_seeds=seeds,
        horizon=horizon,
        trace_every=10,
        with_ucb=False,
    )
    med = np.median(games.settle_round(np.asarray(trace), 0.02, 10), axis=-1)
    assert med[0] < med[1] <= 1000 < horizon < med[2], med
