"""Optimism-then-NoRegret learning in unknown games: OTS / UCB / IWE with Hedge or regret matching.

Spec: `seed-systems.md` (f). Paper: Li, Liu, Pu, Liang, Luo, "Optimistic Thompson Sampling for
No-Regret Learning in Unknown Games", https://arxiv.org/abs/2402.09456. No code was released: the
structure (posterior, then an optimistic reward vector, then a full-information no-regret step) is
verified from the abstract; the per-cell Gaussian posterior, the optimistic vectors and all
constants are [reconstructed] and configurable.

Every player i sees the opponents' joint action o_t = a_{-i,t} and a noisy reward of its own action,
y_t = r_i(a_{i,t}, o_t) + N(0, noise_std^2). Per round and player:

  1. play a_t ~ x_t; observe o_t and y_t; update the per-cell posterior N(mu, s^2) of r_i(a, o)
     (`posterior.cells_update`, prior N(prior_mean, prior_std^2) per cell);
  2. build a reward vector over own actions a (the "optimism" step):
       full  r~(a) = r_i(a, o_t)                                   (full-information reference)
       iwe   r~(a) = 1 - (1 - y_t) 1{a = a_t} / x_t(a)             (importance-weighted loss; Exp3)
       iwr   r~(a) = y_t 1{a = a_t} / x_t(a)                         (importance-weighted reward;
                                                                     Exp3 of Auer et al. 2002)
       ucb   r~(a) = mu(a, o_t) + beta s(a, o_t)                   (UCB; GP-MW of Sessa et al.)
       ots   r~(a) = mu(a, o_t) + s(a, o_t) |xi_a|, xi_a ~ N(0, 1)  (optimistic Thompson sampling)
       ts    r~(a) = mu(a, o_t) + s(a, o_t) xi_a                     (plain Thompson sampling)
  3. full-information no-regret step with r~:
       hedge w_{t+1}(a) ∝ w_t(a) exp(eta r~(a))
       rm    R(a) += r~(a) - <x_t, r~>,  w_{t+1} ∝ [R]_+ (uniform when R <= 0)
     and play x_{t+1} = (1 - gamma) w_{t+1} + gamma / A: Auer et al.'s (2002) uniform mixing,
     which keeps every x(a) >= gamma / A and so bounds the importance weights 1 / x(a) by A /
     gamma (`Learner.mix`; gamma = 0, the default, plays w itself). The importance weights, the
     sampled action and the regret all use the mixed x.

Both importance-weighted vectors are unbiased for r_i(., o_t); they differ in variance,
(1 - y)^2 / x(a) against y^2 / x(a) on the played action, so the loss form is the quieter one once
play concentrates on actions with rewards near 1. Which form the paper's IWE-Hedge uses is
[unknown]; both are kept and the check experiment reports both.

Regret of player i after t rounds (with the true mean rewards, against the realised opponents):
  Reg_i(t) = max_a sum_{s<=t} r_i(a, o_s) - sum_{s<=t} <x_s, r_i(., o_s)>;
the reported metric is the settling round: the first t after which max_i Reg_i(t) / t stays at or
below `threshold` up to the horizon (the horizon itself when it never settles). The same round is
also reported for the realised regret, which uses r_i(a_s, o_s) of the played action instead of
<x_s, r_i(., o_s)> (noisier by O(1/sqrt(t))).

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

from empg_jax.exploration import posterior

ESTIMATORS = ("full", "iwe", "ucb", "ots", "ts", "iwr")
NO_REGRET = ("hedge", "rm")


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


def matrix_game(key: chex.PRNGKey, num_actions: int = 50) -> Game:
    """Random two-player general-sum game with independent U[0, 1] mean payoffs (spec (f))."""
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
            1.0 - onehot_A * (1.0 - reward) / probs_A[action],
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


class Learner(NamedTuple):
    """Traced learner description (one compiled program for every arm).

    Attributes:
      estimator: index into `ESTIMATORS`.
      no_regret: index into `NO_REGRET`.
      learning_rate: Hedge eta (unused by regret matching).
      beta: UCB width.
      mix: uniform mixing gamma in [0, 1): play (1 - gamma) w + gamma / A (module docstring).
    """

    estimator: jax.Array
    no_regret: jax.Array
    learning_rate: jax.Array
    beta: jax.Array
    mix: jax.Array


def make_learner(
    estimator: str = "ots",
    no_regret: str = "hedge",
    *,
    learning_rate: float | None = None,
    num_actions: int = 50,
    horizon: int = 20_000,
    beta: float = 2.0,
    mix: float = 0.0,
) -> Learner:
    """Builds a `Learner`; `learning_rate=None` is the spec's eta = sqrt(8 ln A / T).

    `mix` is Auer et al.'s uniform mixing gamma (module docstring, step 3); Auer's Exp3 ties the
    step to it, eta = gamma / A, which here means passing both.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    if no_regret not in NO_REGRET:
        raise ValueError(f"unknown no_regret {no_regret!r}; expected one of {NO_REGRET}")
    if learning_rate is None:
        learning_rate = math.sqrt(8.0 * math.log(num_actions) / horizon)
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if not 0.0 <= mix < 1.0:
        raise ValueError(f"mix (uniform mixing gamma) must be in [0, 1), got {mix}")
    return Learner(
        estimator=jnp.int32(ESTIMATORS.index(estimator)),
        no_regret=jnp.int32(NO_REGRET.index(no_regret)),
        learning_rate=jnp.float32(learning_rate),
        beta=jnp.float32(beta),
        mix=jnp.float32(mix),
    )


def stack(items: list) -> NamedTuple:
    """Stacks NamedTuples of arrays (learners or games) along a new leading axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *items)


class SelfPlayResult(NamedTuple):
    """Outcome of one self-play run (leading axes when vmapped).

    Attributes:
      settle_round: first t after which max_i Reg_i(t)/t stays <= threshold (horizon if never).
      settle_round_realised: the same for the realised regret (played actions).
      final_regret: max_i Reg_i(T)/T.
      regret_trace: max_i Reg_i(t)/t at every `trace_every`-th round.
    """

    settle_round: jax.Array
    settle_round_realised: jax.Array
    final_regret: jax.Array
    regret_trace: jax.Array


def self_play(
    key: chex.PRNGKey,
    game: Game,
    learner: Learner,
    *,
    horizon: int = 20_000,
    noise_std: float = 0.1,
    prior_mean: float = 0.5,
    prior_std: float = 1.0,
    threshold: float = 0.05,
    trace_every: int = 100,
) -> SelfPlayResult:
    """Every player runs `learner` against the others for `horizon` rounds (one `lax.scan`).

    Args:
      key: PRNG key.
      game: the game (`matrix_game`, `congestion_game`).
      learner: traced learner description (`make_learner`); all players use it.
      horizon: T rounds (static).
      noise_std: reward noise standard deviation (also the posterior's likelihood noise).
      prior_mean, prior_std: per-cell Gaussian prior.
      threshold: average-regret level for the settling round.
      trace_every: stride of the regret trace (static).

    Returns:
      `SelfPlayResult`.
    """
    chex.assert_rank(game.payoffs, 3)
    if horizon < 1 or horizon % trace_every:
        raise ValueError(f"horizon={horizon} must be a multiple of trace_every={trace_every}")
    if noise_std <= 0 or prior_std <= 0:
        raise ValueError(f"noise_std and prior_std must be > 0, got {noise_std}, {prior_std}")
    n, a, o = game.payoffs.shape
    players_N = jnp.arange(n)

    def step(carry, inputs):
        post, log_w_NxA, regret_NxA, best_NxA, learner_N, realised_N, last_bad, last_bad_r = carry
        t, k = inputs
        use_rm = learner.no_regret == 1
        x_rm_NxA = jax.vmap(regret_matching_probs)(regret_NxA)
        w_NxA = jnp.where(use_rm, x_rm_NxA, jax.nn.softmax(log_w_NxA, axis=-1))
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
        mean_NxA = column.mean
        std_NxA = posterior.cells_std(column)
        r_NxA = jax.vmap(optimistic_rewards, in_axes=(None, 0, 0, 0, 0, 0, 0, 0, None))(
            learner.estimator,
            mean_NxA,
            std_NxA,
            normal_NxU[:, 2:],
            true_NxA,
            y_N,
            actions_N,
            x_NxA,
            learner.beta,
        )
        log_w_NxA = jax.nn.log_softmax(log_w_NxA + learner.learning_rate * r_NxA, axis=-1)
        regret_NxA = regret_NxA + r_NxA - (x_NxA * r_NxA).sum(-1, keepdims=True)
        best_NxA = best_NxA + true_NxA
        learner_N = learner_N + (x_NxA * true_NxA).sum(-1)
        realised_N = realised_N + true_NxA[players_N, actions_N]
        avg_regret = jnp.max(best_NxA.max(-1) - learner_N) / (t + 1)
        avg_realised = jnp.max(best_NxA.max(-1) - realised_N) / (t + 1)
        last_bad = jnp.where(avg_regret > threshold, t + 1, last_bad)
        last_bad_r = jnp.where(avg_realised > threshold, t + 1, last_bad_r)
        carry = (post, log_w_NxA, regret_NxA, best_NxA, learner_N, realised_N, last_bad, last_bad_r)
        return carry, avg_regret

    post = posterior.cells_init(prior_mean, prior_std, (n, a, o))
    zeros_NxA = jnp.zeros((n, a), jnp.float32)
    zeros_N = jnp.zeros((n,), jnp.float32)
    carry = (post, zeros_NxA, zeros_NxA, zeros_NxA, zeros_N, zeros_N, jnp.int32(0), jnp.int32(0))
    inputs = (jnp.arange(horizon), jax.random.split(key, horizon))
    carry, avg_regret_T = jax.lax.scan(step, carry, inputs)
    return SelfPlayResult(
        settle_round=carry[-2],
        settle_round_realised=carry[-1],
        final_regret=avg_regret_T[-1],
        regret_trace=avg_regret_T[trace_every - 1 :: trace_every],
    )


_STATIC = (
    "num_seeds",
    "horizon",
    "noise_std",
    "prior_mean",
    "prior_std",
    "threshold",
    "trace_every",
)


@functools.partial(jax.jit, static_argnames=_STATIC)
def self_play_arms(
    key: chex.PRNGKey,
    games: Game,
    learners: Learner,
    *,
    num_seeds: int,
    horizon: int = 20_000,
    noise_std: float = 0.1,
    prior_mean: float = 0.5,
    prior_std: float = 1.0,
    threshold: float = 0.05,
    trace_every: int = 100,
) -> SelfPlayResult:
    """`self_play` for stacked learners `[L]` x stacked games `[S]` (one game per seed).

    Seed s plays game s with key s for every learner (common random numbers); results are
    `[L, S, ...]`.
    """
    keys_S = jax.random.split(key, num_seeds)
    chex.assert_shape(games.payoffs, (num_seeds, None, None, None))
    run = functools.partial(
        self_play,
        horizon=horizon,
        noise_std=noise_std,
        prior_mean=prior_mean,
        prior_std=prior_std,
        threshold=threshold,
        trace_every=trace_every,
    )
    over_seeds = jax.vmap(run, in_axes=(0, 0, None))
    return jax.vmap(over_seeds, in_axes=(None, None, 0))(keys_S, games, learners)
