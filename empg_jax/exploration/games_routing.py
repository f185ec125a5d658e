"""Multi-player routing game with a known low-dimensional reward structure, and OTS on it.

The scaling experiment of the optimistic-Thompson-sampling paper's abstract (Li, Liu, Pu, Liang,
Luo, https://arxiv.org/abs/2402.09456): "given specific reward structures, the regret bound depends
logarithmically on the total action space". The game and constants are [reconstructed].

Game. A layered network: `stages` stages of `width` parallel edges each (E = width * stages
edges); a route takes one edge per stage, so each of the n players has K = width^stages routes and
the joint action space has K^n elements. Edge e has latency c_e + s_e load_e / n (load_e = players
on e, theta = (c, s) in R^{2E}, c_e, s_e ~ U[0, 1] per instance). Player i's reward is

    r_i(a, a_{-i}) = 1 - <phi(a, a_{-i}), theta> / (2 stages),
    phi_e = 1{e in a},  phi_{E+e} = 1{e in a} (load^{-i}_e + 1) / n,

in [0, 1]; each player observes the others' routes (hence phi for every own route) and a noisy
reward y = r + N(0, noise_std^2) of its own route.

Learners (every player runs the same one; `games.Learner` fields, `games.optimistic_rewards`):
  * structured OTS / UCB / TS: a Gaussian posterior on theta (`posterior.blr_init` /
    `posterior.blr_update`, the shared Bayesian linear regression; exact samples through a Cholesky
    factor of the precision); per own route a, with mu_a = 1 - phi_a mu / (2 stages) and the
    sample's deviation d_a = -phi_a (theta~ - mu) / (2 stages): OTS r~(a) = mu_a + |d_a|,
    TS r~(a) = mu_a + d_a, UCB r~(a) = mu_a + beta ||phi_a||_Sigma / (2 stages).
    The information gain grows with d = 2E = 2 width stages = 2 width log_width K, i.e.
    logarithmically in K and independently of the number of players.
  * Exp3 (iwe / iwr estimators) and full-information Hedge / RM over the K routes.

Regret: the `expected` definition of `games` (realised opponents, own mixing), max over players.
"""

from __future__ import annotations

import functools
import itertools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.exploration import games, posterior


class RoutingGame(NamedTuple):
    """A layered routing game instance.

    Attributes:
      incidence: route-edge incidence, `[K, E]` 0/1.
      theta: (c, s) latency parameters, `[2E]`.
      num_players: n (static Python int in practice; stored as an array for vmapping).
    """

    incidence: jax.Array
    theta: jax.Array
    num_players: jax.Array


def layered_incidence(width: int, stages: int) -> np.ndarray:
    """Route-edge incidence of the layered network, `[width^stages, width * stages]`."""
    if width < 1 or stages < 1:
        raise ValueError(f"width and stages must be >= 1, got {width}, {stages}")
    routes = list(itertools.product(range(width), repeat=stages))
    inc = np.zeros((len(routes), width * stages), np.float32)
    for k, route in enumerate(routes):
        for stage, edge in enumerate(route):
            inc[k, stage * width + edge] = 1.0
    return inc


def routing_game(seed: int, num_players: int, width: int = 2, stages: int = 3) -> RoutingGame:
    """Samples one instance: c_e, s_e ~ U[0, 1] (host-side numpy, reproducible per seed)."""
    if num_players < 2:
        raise ValueError(f"num_players must be >= 2, got {num_players}")
    inc = layered_incidence(width, stages)
    theta = np.random.default_rng(seed).uniform(size=2 * inc.shape[1]).astype(np.float32)
    return RoutingGame(jnp.asarray(inc), jnp.asarray(theta), jnp.int32(num_players))


def route_features(game: RoutingGame, actions_N: jax.Array, num_players: int) -> jax.Array:
    """phi(a, a_{-i}) for every player i and own route a, `[N, K, 2E]` (module docstring)."""
    inc_KxE = game.incidence
    chex.assert_shape(actions_N, (num_players,))
    load_E = inc_KxE[actions_N].sum(0)
    others_NxE = load_E[None, :] - inc_KxE[actions_N]
    ones_NxKxE = jnp.broadcast_to(inc_KxE, (num_players, *inc_KxE.shape))
    load_if_Nx1xE = (others_NxE[:, None, :] + 1.0) / num_players
    return jnp.concatenate([ones_NxKxE, ones_NxKxE * load_if_Nx1xE], axis=-1)


def to_matrix_game(game: RoutingGame, num_players: int) -> games.Game:
    """The same game as a `games.Game` payoff tensor `[N, K, K^(N-1)]` (for per-cell learners)."""
    num_routes = int(game.incidence.shape[0])
    joint_JxN = jnp.asarray(list(itertools.product(range(num_routes), repeat=num_players)))
    stages = game.incidence.sum(-1)[0]

    def rewards(actions_N):
        phi_NxKxD = route_features(game, actions_N, num_players)
        own = phi_NxKxD[jnp.arange(num_players), actions_N]
        return 1.0 - own @ game.theta / (2.0 * stages)

    reward_JxN = jax.vmap(rewards)(joint_JxN)
    weights = games._opponent_weights(num_players, num_routes)
    opp_JxN = joint_JxN @ weights.T
    payoffs = jnp.zeros((num_players, num_routes, num_routes ** (num_players - 1)))
    players = jnp.arange(num_players)
    payoffs = payoffs.at[players[None, :], joint_JxN, opp_JxN].set(reward_JxN)
    return games.Game(payoffs, weights)


def self_play(
    key: chex.PRNGKey,
    game: RoutingGame,
    learner: games.Learner,
    noise_std: float | jax.Array = 0.1,
    prior_std: float | jax.Array = 0.5,
    *,
    num_players: int,
    horizon: int = 20_000,
    trace_every: int = 100,
    with_ucb: bool = True,
) -> jax.Array:
    """Every player runs `learner` on the routing game; returns max_i expected Reg_i(t)/t at
    t = trace_every, 2 trace_every, ..., T, `[T // trace_every]`.

    The structured learners' prior is theta ~ N(0.5, prior_std^2 I); their likelihood noise is the
    true one, expressed on the regression target (1 - y) 2 stages. `with_ucb=False` (static) skips
    the O(N K d^2) UCB widths when no UCB learner runs (the `ucb` estimator then sees width 0).
    """
    if horizon < 1 or horizon % trace_every:
        raise ValueError(f"horizon={horizon} must be a multiple of trace_every={trace_every}")
    n = num_players
    num_routes, num_edges = game.incidence.shape
    dim = 2 * num_edges
    scale = 2.0 * game.incidence.sum(-1)[0]  # 2 * stages
    players_N = jnp.arange(n)
    is_hedge = learner.no_regret == 0
    prior = posterior.blr_init(
        jnp.full((dim,), 0.5, jnp.float32),
        jnp.asarray(prior_std, jnp.float32) ** 2 * jnp.eye(dim, dtype=jnp.float32),
    )
    # Likelihood noise of the regression target (1 - y) * scale.
    target_std = jnp.asarray(noise_std, jnp.float32) * scale
    post_N = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *x.shape)), prior)

    def step(carry, inputs):
        post_N, score_NxK, regret_NxK, best_NxK, earned_N = carry
        t, k = inputs
        eta = games.learning_rate_at(learner, t)
        w_hedge = jax.nn.softmax(eta * score_NxK, axis=-1)
        w_NxK = jnp.where(is_hedge, w_hedge, jax.vmap(games.regret_matching_probs)(regret_NxK))
        x_NxK = (1.0 - learner.mix) * w_NxK + learner.mix / num_routes
        k_u, k_theta = jax.random.split(k)
        u_NxU = jax.random.uniform(k_u, (n, 2), minval=1e-7, maxval=1.0 - 1e-7)
        normal_N = jnp.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * u_NxU[:, 1] - 1.0)
        actions_N = jnp.minimum(jnp.sum(jnp.cumsum(x_NxK, -1) <= u_NxU[:, :1], -1), num_routes - 1)
        phi_NxKxD = route_features(game, actions_N, n)
        true_NxK = 1.0 - phi_NxKxD @ game.theta / scale
        y_N = true_NxK[players_N, actions_N] + noise_std * normal_N
        # As in the per-cell learners, the optimistic vector uses the posterior after this round's
        # observation.
        phi_own_NxD = phi_NxKxD[players_N, actions_N]
        post_N = jax.vmap(posterior.blr_update, in_axes=(0, 0, 0, None))(
            post_N, phi_own_NxD, (1.0 - y_N) * scale, target_std
        )
        # Cholesky of the precision (accumulated exactly, so it stays positive definite in float32,
        # unlike a covariance updated by Sherman-Morrison over 1e5 rounds):
        # mu = P^-1 b, theta~ = mu + L^-T z ~ N(mu, P^-1), ||phi||_Sigma = ||L^-1 phi||.
        chol_NxDxD = jnp.linalg.cholesky(post_N.precision)
        mean_NxD = jax.vmap(lambda c, b: jax.scipy.linalg.cho_solve((c, True), b))(
            chol_NxDxD, post_N.precision_mean
        )
        z_NxD = jax.random.normal(k_theta, (n, dim), jnp.float32)
        dev_theta_NxD = jax.vmap(
            lambda c, z: jax.scipy.linalg.solve_triangular(c.T, z, lower=False)
        )(chol_NxDxD, z_NxD)
        mean_NxK = 1.0 - jnp.einsum("nkd,nd->nk", phi_NxKxD, mean_NxD) / scale
        dev_NxK = -jnp.einsum("nkd,nd->nk", phi_NxKxD, dev_theta_NxD) / scale
        if with_ucb:
            white_NxDxK = jax.vmap(
                lambda c, f: jax.scipy.linalg.solve_triangular(c, f.T, lower=True)
            )(chol_NxDxD, phi_NxKxD)
            width_NxK = jnp.sqrt((white_NxDxK**2).sum(1)) / scale
        else:
            width_NxK = jnp.zeros_like(mean_NxK)
        beta = games.ucb_width_at(learner, t, dim)
        onehot_NxK = jax.nn.one_hot(actions_N, num_routes)
        x_played_N = x_NxK[players_N, actions_N][:, None]
        choices = jnp.stack(
            [
                true_NxK,
                1.0 - onehot_NxK * (1.0 - y_N[:, None]) / (x_played_N + learner.ix * eta),
                mean_NxK + beta * width_NxK,
                mean_NxK + jnp.abs(dev_NxK),
                mean_NxK + dev_NxK,
                onehot_NxK * y_N[:, None] / x_played_N,
            ]
        )
        r_NxK = choices[learner.estimator]
        score_NxK = score_NxK + r_NxK
        score_NxK = score_NxK - score_NxK.max(-1, keepdims=True)
        regret_NxK = regret_NxK + r_NxK - (x_NxK * r_NxK).sum(-1, keepdims=True)
        best_NxK = best_NxK + true_NxK
        earned_N = earned_N + (x_NxK * true_NxK).sum(-1)
        return (post_N, score_NxK, regret_NxK, best_NxK, earned_N), None

    def block(carry, inputs):
        carry, _ = jax.lax.scan(step, carry, inputs)
        best_NxK, earned_N = carry[3], carry[4]
        t = inputs[0][-1] + 1.0
        return carry, jnp.max(best_NxK.max(-1) - earned_N) / t

    zeros_NxK = jnp.zeros((n, num_routes), jnp.float32)
    carry = (post_N, zeros_NxK, zeros_NxK, zeros_NxK, jnp.zeros((n,), jnp.float32))
    blocks = horizon // trace_every
    inputs = (
        jnp.arange(horizon).reshape(blocks, trace_every),
        jax.random.split(key, horizon).reshape(blocks, trace_every),
    )
    _, trace_B = jax.lax.scan(block, carry, inputs)
    return trace_B


@functools.partial(
    jax.jit, static_argnames=("num_players", "num_seeds", "horizon", "trace_every", "with_ucb")
)
def self_play_arms(
    key: chex.PRNGKey,
    games_S: RoutingGame,
    learners: games.Learner,
    *,
    num_players: int,
    num_seeds: int,
    noise_std: float | jax.Array = 0.1,
    prior_std: float | jax.Array = 0.5,
    horizon: int = 20_000,
    trace_every: int = 100,
    with_ucb: bool = True,
) -> jax.Array:
    """`self_play` for stacked learners `[L]` x stacked instances `[S]`: traces `[L, S, B]`."""
    chex.assert_shape(games_S.theta, (num_seeds, None))
    keys_S = jax.random.split(key, num_seeds)
    run = functools.partial(
        self_play,
        num_players=num_players,
        horizon=horizon,
        trace_every=trace_every,
        with_ucb=with_ucb,
    )
    over_seeds = jax.vmap(run, in_axes=(0, 0, None, None, None))
    over_arms = jax.vmap(over_seeds, in_axes=(None, None, 0, None, None))
    return over_arms(keys_S, games_S, learners, noise_std, prior_std)
