"""Optimism-then-NoRegret learning in unknown games: OTS / UCB / IWE with Hedge or regret matching.

Paper: Li, Liu, Pu, Liang, Luo, "Optimistic Thompson Sampling for No-Regret Learning in Unknown
Games", https://arxiv.org/abs/2402.09456. No code was released: the structure (posterior, then an
optimistic reward vector, then a full-information no-regret step) is from the abstract; the per-cell
Gaussian posterior, the optimistic vectors and all constants are [reconstructed] and configurable.

Every player i sees the opponents' joint action o_t = a_{-i,t} and a noisy reward of its own action,
y_t = r_i(a_{i,t}, o_t) + N(0, noise_std^2). Per round and player:

  1. play a_t ~ x_t; observe o_t and y_t; update the per-cell posterior N(mu, s^2) of r_i(a, o)
     (`posterior.cells_update`, prior N(prior_mean, prior_std^2) per cell);
  2. build a reward vector over own actions a (the "optimism" step):
       full  r~(a) = r_i(a, o_t)                                   (full-information reference)
       iwe   r~(a) = 1 - (1 - y_t) 1{a = a_t} / (x_t(a) + g_t)     (importance-weighted loss; Exp3,
                                                                     g_t = 0; Exp3-IX, g_t > 0)
       iwr   r~(a) = y_t 1{a = a_t} / x_t(a)                         (importance-weighted reward;
                                                                     Exp3 of Auer et al. 2002)
       ucb   r~(a) = mu(a, o_t) + beta s(a, o_t)                   (UCB; GP-MW of Sessa et al.)
       ots   r~(a) = mu(a, o_t) + s(a, o_t) |xi_a|, xi_a ~ N(0, 1)  (optimistic Thompson sampling)
       ts    r~(a) = mu(a, o_t) + s(a, o_t) xi_a                     (plain Thompson sampling)
  3. full-information no-regret step with r~:
       hedge x(a) ∝ exp(eta_t S_t(a)),  S_t = sum_{s<=t} r~_s  (FTRL form of Hedge: with a fixed eta
             it is the multiplicative update w(a) <- w(a) exp(eta r~(a)); with the anytime schedule
             eta_t = eta_1 / sqrt(t) it is the standard anytime Hedge)
       rm    R(a) += r~(a) - <x_t, r~>,  x ∝ [R]_+ (uniform when R <= 0; Hart & Mas-Colell 2000)
     and play x_{t+1} = (1 - gamma) w_{t+1} + gamma / A: Auer et al.'s (2002) uniform mixing
     (`Learner.mix`; gamma = 0 plays w itself). The implicit-exploration term of Exp3-IX (Kocak et
     al. 2014; Neu 2015) is g_t = `Learner.ix` * eta_t (the textbook choice is ix = 1/2).

Regret of player i after t rounds, four definitions (all tracked in one run, `REGRETS`):
  expected  max_a sum_s r_i(a, o_s) - sum_s <x_s, r_i(., o_s)>   (realised opponents, own mixing)
  realised  max_a sum_s r_i(a, o_s) - sum_s r_i(a_s, o_s)         (played actions, mean rewards)
  noisy     max_a sum_s r_i(a, o_s) - sum_s y_s                   (played actions, observed)
  pseudo    max_a sum_s r_i(a, x_{-i,s}) - sum_s r_i(x_s, x_{-i,s})  (opponents' mixed strategies)
each aggregated over players by the max and by the mean (`AGGREGATES`). Traces of Reg(t)/t are
stored every `trace_every` rounds; `settle_round` (the first traced round after which a trace stays
at or below a threshold) and `reach_round` (the first traced round at or below it) are host-side.

Games are given as mean-reward tensors `payoffs_NxAxO` (player, own action, opponents' joint index);
`matrix_game` and `congestion_game` build the two games of the check experiment.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.exploration import posterior

ESTIMATORS = ("full", "iwe", "ucb", "ots", "ts", "iwr")
NO_REGRET = ("hedge", "rm")
REGRETS = ("expected", "realised", "noisy", "pseudo")
AGGREGATES = ("max", "mean")


class Game(NamedTuple):
    """A finite N-player game with A actions per player, in per-player own/opponents form.

    Attributes:
      payoffs: mean rewards r_i(a, o) in [0, 1], `[N, A, O]` with O = A^(N-1).
      opponent_weights: `[N, N]` integer weights; o_i = sum_j W[i, j] a_j (W[i, i] = 0) is the
        mixed-radix index of a_{-i} in the order of the other players.
    """

    payoffs: jax.Array
    opponent_weights: jax.Array


def _opponent_weights(num_players: int, num_actions: int) -> jax.Array:
    rows = []
    for i in range(num_players):
        others = [j for j in range(num_players) if j != i]
        row = [0] * num_players
        for pos, j in enumerate(reversed(others)):
            row[j] = num_actions**pos
        rows.append(row)
    return jnp.asarray(rows, jnp.int32)


def opponent_index(game: Game, actions_N: jax.Array) -> jax.Array:
    """Opponents' joint-action index o_i for every player, `[N]` int32."""
    chex.assert_rank(actions_N, 1)
    return game.opponent_weights @ actions_N.astype(jnp.int32)


def opponent_distribution(game: Game, probs_NxA: jax.Array) -> jax.Array:
    """P(o_i = o) under the others' independent mixed strategies, `[N, O]` (sums to 1 per row)."""
    n, a, o = game.payoffs.shape
    chex.assert_shape(probs_NxA, (n, a))
    # digit_NxOxN[i, o, j] = action of player j inside opponents' index o of player i.
    weights_NxN = game.opponent_weights
    digit_NxOxN = (jnp.arange(o)[None, :, None] // jnp.maximum(weights_NxN[:, None, :], 1)) % a
    p_NxOxN = jnp.take_along_axis(probs_NxA[None, None, :, :], digit_NxOxN[..., None], -1)[..., 0]
    is_other_N1N = (jnp.arange(n)[:, None] != jnp.arange(n)[None, :])[:, None, :]
    return jnp.prod(jnp.where(is_other_N1N, p_NxOxN, 1.0), axis=-1)


def matrix_game(key: chex.PRNGKey, num_actions: int = 50) -> Game:
    """Random two-player general-sum game with independent U[0, 1] mean payoffs."""
    if num_actions < 2:
        raise ValueError(f"num_actions must be >= 2, got {num_actions}")
    k0, k1 = jax.random.split(key)
    row_AxA = jax.random.uniform(k0, (num_actions, num_actions))  # r_0(a_0, a_1)
    col_AxA = jax.random.uniform(k1, (num_actions, num_actions))  # r_1(a_1, a_0)
    return Game(jnp.stack([row_AxA, col_AxA]), _opponent_weights(2, num_actions))


# Braess-style routing network [reconstructed; the paper's traffic setup is unknown]:
# edges (s->u, u->t, s->v, v->t, u->v) with latency free + slope * load / N.
BRAESS_FREE = (0.0, 1.0, 1.0, 0.0, 0.0)
BRAESS_SLOPE = (1.0, 0.0, 0.0, 1.0, 0.0)
BRAESS_ROUTES = ((1, 1, 0, 0, 0), (0, 0, 1, 1, 0), (1, 0, 0, 1, 1))  # s-u-t, s-v-t, s-u-v-t


def congestion_game(
    num_players: int = 4,
    routes: tuple[tuple[int, ...], ...] = BRAESS_ROUTES,
    free: tuple[float, ...] = BRAESS_FREE,
    slope: tuple[float, ...] = BRAESS_SLOPE,
) -> Game:
    """Atomic traffic-routing (congestion) game: each player picks a route through a network.

    Edge e has latency free_e + slope_e * load_e / N; a route's travel time is the sum over its
    edges; reward = (max_time - time) / (max_time - min_time) over all routes and joint actions, so
    rewards span [0, 1]. Default: the Braess network (3 routes).

    Returns:
      `Game` with A = number of routes and O = A^(N-1).
    """
    if num_players < 2:
        raise ValueError(f"num_players must be >= 2, got {num_players}")
    incidence_RxE = jnp.asarray(routes, jnp.float32)
    num_routes, num_edges = incidence_RxE.shape
    if len(free) != num_edges or len(slope) != num_edges:
        raise ValueError(f"free/slope need {num_edges} entries, got {len(free)}/{len(slope)}")
    joint_JxN = jnp.asarray(list(itertools.product(range(num_routes), repeat=num_players)))
    load_JxE = jax.nn.one_hot(joint_JxN, num_routes).sum(1) @ incidence_RxE
    latency_JxE = jnp.asarray(free) + jnp.asarray(slope) * load_JxE / num_players
    time_JxN = (incidence_RxE[joint_JxN] * latency_JxE[:, None, :]).sum(-1)
    reward_JxN = (time_JxN.max() - time_JxN) / (time_JxN.max() - time_JxN.min())
    weights_NxN = _opponent_weights(num_players, num_routes)
    opp_JxN = joint_JxN @ weights_NxN.T
    payoffs = jnp.zeros((num_players, num_routes, num_routes ** (num_players - 1)))
    players_N = jnp.arange(num_players)
    payoffs = payoffs.at[players_N[None, :], joint_JxN, opp_JxN].set(reward_JxN)
    return Game(payoffs, weights_NxN)


def optimistic_rewards(
    estimator: jax.Array,
    mean_A: jax.Array,
    std_A: jax.Array,
    normal_A: jax.Array,
    true_A: jax.Array,
    reward: jax.Array,
    action: jax.Array,
    probs_A: jax.Array,
    beta: float | jax.Array = 2.0,
    ix_gamma: float | jax.Array = 0.0,
) -> jax.Array:
    """The reward vector r~ over own actions for one player (module docstring, step 2).

    Args:
      estimator: index into `ESTIMATORS` (traced int, so all variants share one program).
      mean_A: posterior mean mu(., o_t).
      std_A: posterior standard deviation s(., o_t).
      normal_A: standard normal draws xi (used by `ots` and `ts`).
      true_A: true mean rewards r_i(., o_t) (used only by `full`).
      reward: observed noisy reward y_t of the played action.
      action: played action a_t.
      probs_A: x_t.
      beta: UCB width.
      ix_gamma: implicit-exploration term g_t of Exp3-IX (used by `iwe`; 0 = plain Exp3).

    Returns:
      r~, `[A]`.
    """
    chex.assert_rank([mean_A, std_A, normal_A, true_A, probs_A], 1)
    chex.assert_equal_shape([mean_A, std_A, normal_A, true_A, probs_A])
    chex.assert_rank([estimator, reward, action], 0)
    onehot_A = jax.nn.one_hot(action, mean_A.shape[0], dtype=mean_A.dtype)
    choices = jnp.stack(
        [
            true_A,
            1.0 - onehot_A * (1.0 - reward) / (probs_A[action] + ix_gamma),
            mean_A + beta * std_A,
            mean_A + std_A * jnp.abs(normal_A),
            mean_A + std_A * normal_A,
            onehot_A * reward / probs_A[action],
        ]
    )
    return choices[estimator]


def regret_matching_probs(regret_A: jax.Array) -> jax.Array:
    """x ∝ [R]_+, uniform when every cumulative regret is <= 0 (Hart & Mas-Colell 2000)."""
    chex.assert_rank(regret_A, 1)
    pos_A = jnp.maximum(regret_A, 0.0)
    total = pos_A.sum()
    uniform_A = jnp.full_like(regret_A, 1.0 / regret_A.shape[0])
    return jnp.where(total > 0, pos_A / jnp.where(total > 0, total, 1.0), uniform_A)


def learning_rate_at(learner: Learner, t: jax.Array) -> jax.Array:
    """eta_t for round t = 0, 1, ...: `learning_rate` (fixed) or `learning_rate / sqrt(t + 1)`."""
    return learner.learning_rate * (t + 1.0) ** (-0.5 * learner.anytime)


def ucb_width_at(learner: Learner, t: jax.Array, num_cells: int, delta: float = 0.1) -> jax.Array:
    """UCB width for round t = 0, 1, ...: `beta`, or the GP-UCB theory width (`Learner`)."""
    theory = jnp.sqrt(2.0 * jnp.log(num_cells * (t + 1.0) ** 2 * math.pi**2 / (6.0 * delta)))
    return jnp.where(learner.beta_theory > 0, theory, learner.beta)


class Learner(NamedTuple):
    """Traced learner description (one compiled program for every arm).

    Attributes:
      estimator: index into `ESTIMATORS`.
      no_regret: index into `NO_REGRET`.
      learning_rate: Hedge eta (fixed schedule) or eta_1 (anytime: eta_t = eta_1 / sqrt(t)).
      beta: UCB width.
      mix: uniform mixing gamma in [0, 1): play (1 - gamma) w + gamma / A (module docstring).
      anytime: 0.0 = fixed eta, 1.0 = eta_t = eta_1 / sqrt(t) (unused by regret matching).
      ix: Exp3-IX implicit exploration as a multiple of eta_t (g_t = ix eta_t; 0 = none).
      beta_theory: 0.0 = constant `beta`; 1.0 = the GP-UCB width for a finite domain of C cells,
        beta_t = sqrt(2 ln(C t^2 pi^2 / (6 delta))) with delta = 0.1 (Srinivas et al. 2010, Thm 1;
        C = A * O cells per player).
    """

    estimator: jax.Array
    no_regret: jax.Array
    learning_rate: jax.Array
    beta: jax.Array
    mix: jax.Array
    anytime: jax.Array
    ix: jax.Array
    beta_theory: jax.Array


def hedge_learning_rate(num_actions: int, horizon: int, anytime: bool = False) -> float:
    """Full-information Hedge step for rewards in [0, 1]: sqrt(8 ln A / T), or eta_1 = sqrt(8 ln A)
    for the anytime schedule (so eta_t = sqrt(8 ln A / t) equals the fixed eta at t = T)."""
    return math.sqrt(8.0 * math.log(num_actions) / (1 if anytime else horizon))


def exp3_learning_rate(num_actions: int, horizon: int, anytime: bool = False) -> float:
    """Textbook Exp3 / Exp3-IX step: sqrt(2 ln A / (A T)) (Lattimore & Szepesvari 2020, Thm 11.1 and
    ch. 12), or eta_t = sqrt(ln A / (A t)) for the anytime schedule (Bubeck & Cesa-Bianchi 2012,
    Thm 3.1)."""
    if anytime:
        return math.sqrt(math.log(num_actions) / num_actions)
    return math.sqrt(2.0 * math.log(num_actions) / (num_actions * horizon))


def auer_exp3_gamma(num_actions: int, horizon: int) -> float:
    """Auer et al. (2002), Cor. 3.2: gamma = min(1, sqrt(A ln A / ((e - 1) T))); their Exp3 then
    uses eta = gamma / A on the importance-weighted reward vector."""
    return min(1.0, math.sqrt(num_actions * math.log(num_actions) / ((math.e - 1.0) * horizon)))


def make_learner(
    estimator: str = "ots",
    no_regret: str = "hedge",
    *,
    learning_rate: float | None = None,
    num_actions: int = 50,
    horizon: int = 20_000,
    beta: float = 2.0,
    mix: float = 0.0,
    anytime: bool = False,
    ix: float = 0.0,
    beta_theory: bool = False,
) -> Learner:
    """Builds a `Learner`; `learning_rate=None` is `hedge_learning_rate(num_actions, horizon,
    anytime)`. Standard Exp3 tunings: `exp3_learning_rate`, `auer_exp3_gamma`."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    if no_regret not in NO_REGRET:
        raise ValueError(f"unknown no_regret {no_regret!r}; expected one of {NO_REGRET}")
    if learning_rate is None:
        learning_rate = hedge_learning_rate(num_actions, horizon, anytime)
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if not 0.0 <= mix < 1.0:
        raise ValueError(f"mix (uniform mixing gamma) must be in [0, 1), got {mix}")
    if ix < 0:
        raise ValueError(f"ix (Exp3-IX implicit exploration / eta) must be >= 0, got {ix}")
    return Learner(
        estimator=jnp.int32(ESTIMATORS.index(estimator)),
        no_regret=jnp.int32(NO_REGRET.index(no_regret)),
        learning_rate=jnp.float32(learning_rate),
        beta=jnp.float32(beta),
        mix=jnp.float32(mix),
        anytime=jnp.float32(1.0 if anytime else 0.0),
        ix=jnp.float32(ix),
        beta_theory=jnp.float32(1.0 if beta_theory else 0.0),
    )


def stack(items: list) -> NamedTuple:
    """Stacks NamedTuples of arrays (learners or games) along a new leading axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *items)


class SelfPlayResult(NamedTuple):
    """Outcome of one self-play run (leading axes when vmapped).

    Attributes:
      regret_trace: Reg(t)/t at t = trace_every, 2 trace_every, ..., T, `[len(REGRETS),
        len(AGGREGATES), T // trace_every]`.
      final_regret: max_i expected Reg_i(T)/T.
    """

    regret_trace: jax.Array
    final_regret: jax.Array


def self_play(
    key: chex.PRNGKey,
    game: Game,
    learner: Learner,
    noise_std: float | jax.Array = 0.1,
    prior_mean: float | jax.Array = 0.5,
    prior_std: float | jax.Array = 1.0,
    *,
    horizon: int = 20_000,
    trace_every: int = 100,
) -> SelfPlayResult:
    """Every player runs `learner` against the others for `horizon` rounds (nested `lax.scan`).

    Args:
      key: PRNG key.
      game: the game (`matrix_game`, `congestion_game`).
      learner: traced learner description (`make_learner`); all players use it.
      noise_std: reward noise standard deviation (also the posterior's likelihood noise; traced).
      prior_mean, prior_std: per-cell Gaussian prior (traced).
      horizon: T rounds (static).
      trace_every: stride of the regret traces (static; divides T).

    Returns:
      `SelfPlayResult`.
    """
    chex.assert_rank(game.payoffs, 3)
    if horizon < 1 or horizon % trace_every:
        raise ValueError(f"horizon={horizon} must be a multiple of trace_every={trace_every}")
    if isinstance(noise_std, float | int) and noise_std <= 0:
        raise ValueError(f"noise_std must be > 0, got {noise_std}")
    if isinstance(prior_std, float | int) and prior_std <= 0:
        raise ValueError(f"prior_std must be > 0, got {prior_std}")
    n, a, o = game.payoffs.shape
    players_N = jnp.arange(n)
    is_hedge = learner.no_regret == 0

    def step(carry, inputs):
        post, score_NxA, regret_NxA, best_NxA, pseudo_best_NxA, earned_4xN = carry
        t, k = inputs
        eta = learning_rate_at(learner, t)
        w_hedge_NxA = jax.nn.softmax(eta * score_NxA, axis=-1)
        w_NxA = jnp.where(is_hedge, w_hedge_NxA, jax.vmap(regret_matching_probs)(regret_NxA))
        x_NxA = (1.0 - learner.mix) * w_NxA + learner.mix / a
        # One uniform draw per player and round: action, reward noise and the A optimism draws.
        u_NxU = jax.random.uniform(k, (n, a + 2), minval=1e-7, maxval=1.0 - 1e-7)
        normal_NxU = jnp.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * u_NxU - 1.0)
        actions_N = jnp.minimum(jnp.sum(jnp.cumsum(x_NxA, -1) <= u_NxU[:, :1], -1), a - 1)
        opp_N = opponent_index(game, actions_N)
        true_NxA = game.payoffs[players_N, :, opp_N]
        y_N = true_NxA[players_N, actions_N] + noise_std * normal_NxU[:, 1]
        # Only the column of the observed opponents' profile changes: update it and write it back
        # (O(N A) per round instead of touching all N A O cells).
        column = posterior.GaussianCells(
            post.mean[players_N, :, opp_N], post.precision[players_N, :, opp_N]
        )
        column = posterior.cells_update(
            column, y_N[:, None], noise_std, where=jax.nn.one_hot(actions_N, a)
        )
        post = posterior.GaussianCells(
            post.mean.at[players_N, :, opp_N].set(column.mean),
            post.precision.at[players_N, :, opp_N].set(column.precision),
        )
        r_NxA = jax.vmap(optimistic_rewards, in_axes=(None, 0, 0, 0, 0, 0, 0, 0, None, None))(
            learner.estimator,
            column.mean,
            posterior.cells_std(column),
            normal_NxU[:, 2:],
            true_NxA,
            y_N,
            actions_N,
            x_NxA,
            ucb_width_at(learner, t, a * o),
            learner.ix * eta,
        )
        # Hedge is shift invariant: keep the cumulative scores bounded by subtracting the max.
        score_NxA = score_NxA + r_NxA
        score_NxA = score_NxA - score_NxA.max(-1, keepdims=True)
        regret_NxA = regret_NxA + r_NxA - (x_NxA * r_NxA).sum(-1, keepdims=True)
        expected_NxA = jnp.einsum("nao,no->na", game.payoffs, opponent_distribution(game, x_NxA))
        best_NxA = best_NxA + true_NxA
        pseudo_best_NxA = pseudo_best_NxA + expected_NxA
        earned_4xN = earned_4xN + jnp.stack(
            [
                (x_NxA * true_NxA).sum(-1),
                true_NxA[players_N, actions_N],
                y_N,
                (x_NxA * expected_NxA).sum(-1),
            ]
        )
        return (post, score_NxA, regret_NxA, best_NxA, pseudo_best_NxA, earned_4xN), None

    def block(carry, inputs):
        carry, _ = jax.lax.scan(step, carry, inputs)
        _, _, _, best_NxA, pseudo_best_NxA, earned_4xN = carry
        t = inputs[0][-1] + 1.0
        best_4xN = jnp.stack([best_NxA.max(-1)] * 3 + [pseudo_best_NxA.max(-1)])
        avg_4xN = (best_4xN - earned_4xN) / t
        return carry, jnp.stack([avg_4xN.max(-1), avg_4xN.mean(-1)], axis=-1)

    post = posterior.cells_init(prior_mean, prior_std, (n, a, o))
    zeros_NxA = jnp.zeros((n, a), jnp.float32)
    carry = (post, zeros_NxA, zeros_NxA, zeros_NxA, zeros_NxA, jnp.zeros((4, n), jnp.float32))
    blocks = horizon // trace_every
    inputs = (
        jnp.arange(horizon).reshape(blocks, trace_every),
        jax.random.split(key, horizon).reshape(blocks, trace_every),
    )
    _, trace_Bx4x2 = jax.lax.scan(block, carry, inputs)
    trace_4x2xB = jnp.moveaxis(trace_Bx4x2, 0, -1)
    return SelfPlayResult(regret_trace=trace_4x2xB, final_regret=trace_4x2xB[0, 0, -1])


@functools.partial(jax.jit, static_argnames=("num_seeds", "horizon", "trace_every"))
def self_play_arms(
    key: chex.PRNGKey,
    games: Game,
    learners: Learner,
    *,
    num_seeds: int,
    noise_std: float | jax.Array = 0.1,
    prior_mean: float | jax.Array = 0.5,
    prior_std: float | jax.Array = 1.0,
    horizon: int = 20_000,
    trace_every: int = 100,
) -> SelfPlayResult:
    """`self_play` for stacked learners `[L]` x stacked games `[S]` (one game per seed).

    Seed s plays game s with key s for every learner (common random numbers); results are
    `[L, S, ...]`. `noise_std`, `prior_mean` and `prior_std` are traced: sweeping them reuses the
    compiled program.
    """
    keys_S = jax.random.split(key, num_seeds)
    chex.assert_shape(games.payoffs, (num_seeds, None, None, None))
    run = functools.partial(self_play, horizon=horizon, trace_every=trace_every)
    over_seeds = jax.vmap(run, in_axes=(0, 0, None, None, None, None))
    over_arms = jax.vmap(over_seeds, in_axes=(None, None, 0, None, None, None))
    return over_arms(keys_S, games, learners, noise_std, prior_mean, prior_std)


# ---------------------------------------------------------------------------------------------
# Host-side metrics on regret traces.
# ---------------------------------------------------------------------------------------------


def settle_round(trace: np.ndarray, threshold: float, trace_every: int) -> np.ndarray:
    """First traced round after which Reg(t)/t stays <= threshold up to the horizon.

    `trace` is `[..., B]` at rounds trace_every * (1..B); returns `[...]` ints, with
    `trace_every * (B + 1)` (one stride past the horizon) where the last point is still above the
    threshold, i.e. "not settled within the horizon".
    """
    trace = np.asarray(trace)
    above = trace > threshold
    num = trace.shape[-1]
    # index of the last point above the threshold (-1 when none)
    last = np.where(above.any(-1), num - 1 - np.argmax(above[..., ::-1], axis=-1), -1)
    return (last + 2) * trace_every


def reach_round(trace: np.ndarray, threshold: float, trace_every: int) -> np.ndarray:
    """First traced round with Reg(t)/t <= threshold (`trace_every * (B + 1)` if never)."""
    trace = np.asarray(trace)
    below = trace <= threshold
    num = trace.shape[-1]
    first = np.where(below.any(-1), np.argmax(below, axis=-1), num)
    return (first + 1) * trace_every
