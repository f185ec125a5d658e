"""The radar link of the optimistic-Thompson-sampling paper: radar versus DRFM jammer as an
unknown game.

Paper: Li, Liu, Pu, Liang, Luo, https://arxiv.org/abs/2402.09456 (the abstract names "radar
sensing" as an application); the radar game itself is the one of `radar` (Liu, Pu, Li, Jiu, Luo,
IEEE SAM 2024). The setup below is [reconstructed]: the frequency-agile radar picks a sub-band a_t
from x_t; the reactive DRFM jammer (`radar.reactive_jammer`) jams the radar's previous sub-band
with probability `replay_prob`, otherwise a uniform one; after the pulse the radar senses the
jammed band j_t (the opponent's action) and measures a noisy reward of its own band,
y_t = r(a_t, j_t) + N(0, noise_std^2) with r(a, j) = 1 - 1{a = j}, which it does not know a priori.
This is the unknown-game feedback of `games`: the per-cell posterior on r(a, j) over K x K cells,
optimistic vectors `games.optimistic_rewards`, Hedge or regret matching, and the same Exp3
estimators; regret = max_a sum_s r(a, j_s) - sum_s <x_s, r(., j_s)> (`games` "expected" regret
against the realised jammer, as `radar`'s static regret).
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp

from empg_jax.exploration import games, posterior, radar


def radar_play(
    key: chex.PRNGKey,
    learner: games.Learner,
    noise_std: float | jax.Array = 0.1,
    prior_mean: float | jax.Array = 0.5,
    prior_std: float | jax.Array = 1.0,
    *,
    num_bands: int = 10,
    replay_prob: float = 0.8,
    horizon: int = 20_000,
    trace_every: int = 100,
) -> jax.Array:
    """One radar run against the reactive jammer; returns Reg(t)/t every `trace_every` pulses."""
    if horizon < 1 or horizon % trace_every:
        raise ValueError(f"horizon={horizon} must be a multiple of trace_every={trace_every}")
    k = num_bands
    is_hedge = learner.no_regret == 0

    def step(carry, inputs):
        post, score_K, regret_K, best_K, earned, prev_band = carry
        t, key_t = inputs
        eta = games.learning_rate_at(learner, t)
        w_K = jnp.where(
            is_hedge, jax.nn.softmax(eta * score_K), games.regret_matching_probs(regret_K)
        )
        x_K = (1.0 - learner.mix) * w_K + learner.mix / k
        u = jax.random.uniform(key_t, (k + 4,), minval=1e-7, maxval=1.0 - 1e-7)
        normal = jnp.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * u[4:] - 1.0)
        action = jnp.minimum(jnp.sum(jnp.cumsum(x_K) <= u[2]), k - 1)
        jammed_K = radar.reactive_jammer(u[:2], prev_band, k, replay_prob)
        band = jnp.argmax(jammed_K)
        true_K = 1.0 - jammed_K
        noise = jnp.sqrt(2.0) * jax.scipy.special.erfinv(2.0 * u[3] - 1.0)
        y = true_K[action] + noise_std * noise
        column = posterior.GaussianCells(post.mean[:, band], post.precision[:, band])
        column = posterior.cells_update(column, y, noise_std, where=jax.nn.one_hot(action, k))
        post = posterior.GaussianCells(
            post.mean.at[:, band].set(column.mean), post.precision.at[:, band].set(column.precision)
        )
        r_K = games.optimistic_rewards(
            learner.estimator,
            column.mean,
            posterior.cells_std(column),
            normal,
            true_K,
            y,
            action,
            x_K,
            games.ucb_width_at(learner, t, k * k),
            learner.ix * eta,
        )
        score_K = score_K + r_K
        score_K = score_K - score_K.max()
        regret_K = regret_K + r_K - x_K @ r_K
        carry = (post, score_K, regret_K, best_K + true_K, earned + x_K @ true_K, action)
        return carry, None

    def block(carry, inputs):
        carry, _ = jax.lax.scan(step, carry, inputs)
        return carry, (carry[3].max() - carry[4]) / (inputs[0][-1] + 1.0)

    k_init, k_steps = jax.random.split(key)
    zeros_K = jnp.zeros((k,), jnp.float32)
    carry = (
        posterior.cells_init(prior_mean, prior_std, (k, k)),
        zeros_K,
        zeros_K,
        zeros_K,
        jnp.float32(0.0),
        jax.random.randint(k_init, (), 0, k),
    )
    blocks = horizon // trace_every
    inputs = (
        jnp.arange(horizon).reshape(blocks, trace_every),
        jax.random.split(k_steps, horizon).reshape(blocks, trace_every),
    )
    _, trace_B = jax.lax.scan(block, carry, inputs)
    return trace_B


@functools.partial(
    jax.jit, static_argnames=("num_seeds", "num_bands", "replay_prob", "horizon", "trace_every")
)
def radar_play_arms(
    key: chex.PRNGKey,
    learners: games.Learner,
    *,
    num_seeds: int,
    noise_std: float | jax.Array = 0.1,
    prior_mean: float | jax.Array = 0.5,
    prior_std: float | jax.Array = 1.0,
    num_bands: int = 10,
    replay_prob: float = 0.8,
    horizon: int = 20_000,
    trace_every: int = 100,
) -> jax.Array:
    """`radar_play` for stacked learners `[L]` x `num_seeds` keys: traces `[L, S, B]`."""
    keys_S = jax.random.split(key, num_seeds)
    run = functools.partial(
        radar_play,
        num_bands=num_bands,
        replay_prob=replay_prob,
        horizon=horizon,
        trace_every=trace_every,
    )
    over_seeds = jax.vmap(run, in_axes=(0, None, None, None, None))
    over_arms = jax.vmap(over_seeds, in_axes=(None, 0, None, None, None))
    return over_arms(keys_S, learners, noise_std, prior_mean, prior_std)
