"""Sequential random projection: any-time ("martingale") Johnson-Lindenstrauss check.

Paper: Yingru Li, "Probability Tools for Sequential Random Projection",
https://arxiv.org/abs/2402.14026. With z_0, z_1, ... i.i.d. isotropic in R^M (E||z||^2 = 1) and
scalars x_t chosen sequentially (possibly depending on the past z's),

    S_t = sum_{s<=t} x_s z_s,   V_t = sum_{s<=t} x_s^2,
    P(exists t <= T: | ||S_t||^2 - V_t | > eps V_t) <= delta
        if M >= c eps^-2 (log(1/delta) + log(1 + V_T / x_0^2))      [reconstructed statement]

Numerically we track the self-normalised vector u_t = S_t / sqrt(V_t), whose squared norm is the
ratio r_t = ||S_t||^2 / V_t. Writing every step as a relative increment c_t = x_t^2 / V_{t-1},

    u_0 = z_0,   u_t = (u_{t-1} + sqrt(c_t) z_t) / sqrt(1 + c_t)

(x_t > 0 without loss of generality, z is symmetric), which stays finite even when V_T spans 50
orders of magnitude. Sequences of our design:

    const     x_t = 1                   c_t = 1 / t
    geom      x_t^2 = V_{t-1}           c_t = 1
    adaptive  x_t^2 = 0.01 V_{t-1} when |r_{t-1} - 1| > boundary * eps (near the failure boundary),
              9 V_{t-1} otherwise       [reconstructed: "near the boundary" = boundary * eps, 0.5]

The reference is the classical fixed-time JL failure P(| ||G x||^2 / ||x||^2 - 1 | > eps) with G
having N(0, 1/M) entries, i.e. ||g||^2 with g ~ N(0, I/M). The matrix version checks HyperAgent's
factor: max_t max-eig |Sigma_t^-1/2 A_t A_t^T Sigma_t^-1/2 - I| (`posterior.factor_deviation`).

Every M of a sweep shares one compiled program: z is drawn in `max_index` coordinates and masked
to the first M, and a normalised Gaussian restricted to M coordinates is exactly uniform on S^{M-1}.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.exploration import bandits
from empg_jax.exploration import hyperagent as ha
from empg_jax.exploration import posterior as post

SEQUENCES = ("const", "geom", "adaptive")


def projection_ratios(x_T: jax.Array, z_TxM: jax.Array) -> jax.Array:
    """r_t = ||S_t||^2 / V_t for an explicit scalar sequence x and projections z: `[T]`.

    Direct (unnormalised) form, for sequences of moderate dynamic range; `sequence_ratios` is the
    overflow-free form used by the experiment.
    """
    chex.assert_rank([x_T, z_TxM], [1, 2])
    chex.assert_equal_shape_prefix([x_T, z_TxM], 1)
    s_TxM = jnp.cumsum(x_T[:, None] * z_TxM, axis=0)
    return jnp.sum(s_TxM**2, axis=-1) / jnp.cumsum(x_T**2)


def _masked_sphere(key: chex.PRNGKey, shape, num_index: jax.Array, max_index: int) -> jax.Array:
    g = jax.random.normal(key, (*shape, max_index)) * (jnp.arange(max_index) < num_index)
    return g / jnp.linalg.norm(g, axis=-1, keepdims=True)


def sequence_ratios(
    key: chex.PRNGKey,
    num_steps: int,
    num_index: jax.Array,
    sequence: str,
    eps: float = 0.5,
    boundary: float = 0.5,
    max_index: int | None = None,
) -> jax.Array:
    """Ratios r_t for t = 0..num_steps of one design sequence with sphere projections: `[T + 1]`.

    Args:
      key: PRNG key.
      num_steps: T (the sequence has T + 1 terms, x_0 .. x_T).
      num_index: M (may be traced when `max_index` is given).
      sequence: one of `SEQUENCES`.
      eps: failure threshold, used by the adaptive adversary.
      boundary: the adaptive adversary switches to small steps once |r - 1| > boundary * eps.
      max_index: static padded width (defaults to `num_index`, which must then be a Python int).
    """
    if sequence not in SEQUENCES:
        raise ValueError(f"unknown sequence {sequence!r}; expected one of {SEQUENCES}")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    max_index = int(num_index) if max_index is None else max_index
    z_TxM = _masked_sphere(key, (num_steps + 1,), num_index, max_index)

    def step(carry, inp):
        u_m, r = carry
        t, z_m = inp
        if sequence == "const":
            c = 1.0 / t
        elif sequence == "geom":
            c = jnp.float32(1.0)
        else:
            c = jnp.where(jnp.abs(r - 1.0) > boundary * eps, 0.01, 9.0)
        u_m = (u_m + jnp.sqrt(c) * z_m) / jnp.sqrt(1.0 + c)
        r = jnp.sum(u_m**2)
        return (u_m, r), r

    u0 = z_TxM[0]
    r0 = jnp.sum(u0**2)
    ts = jnp.arange(1, num_steps + 1, dtype=jnp.float32)
    _, r_T = jax.lax.scan(step, (u0, r0), (ts, z_TxM[1:]))
    return jnp.concatenate([r0[None], r_T])


@functools.partial(
    jax.jit,
    static_argnames=("num_trials", "num_steps", "sequence", "max_index"),
)
def failure_probabilities(
    key: chex.PRNGKey,
    num_indices_G: jax.Array,
    num_trials: int,
    num_steps: int,
    sequence: str,
    max_index: int,
    eps: float = 0.5,
    boundary: float = 0.5,
) -> tuple[jax.Array, jax.Array]:
    """Monte-Carlo failure probabilities per M of a grid (one program for the whole grid).

    Returns:
      (sup_G, final_G): P(sup_{t<=T} |r_t - 1| > eps) and the fixed-time P(|r_T - 1| > eps).
    """

    def per_m(num_index, k):
        def trial(kk):
            dev = jnp.abs(
                sequence_ratios(kk, num_steps, num_index, sequence, eps, boundary, max_index) - 1
            )
            return jnp.max(dev) > eps, dev[-1] > eps

        sup, final = jax.vmap(trial)(jax.random.split(k, num_trials))
        return jnp.mean(sup), jnp.mean(final)

    keys = jax.random.split(key, num_indices_G.shape[0])
    return jax.lax.map(lambda a: per_m(*a), (num_indices_G, keys))


@functools.partial(jax.jit, static_argnames=("num_trials", "max_index"))
def jl_failure_probabilities(
    key: chex.PRNGKey, num_indices_G: jax.Array, num_trials: int, max_index: int, eps: float = 0.5
) -> jax.Array:
    """Classical fixed-time JL failure P(| ||g||^2 - 1 | > eps), g ~ N(0, I/M), per M: `[G]`."""

    def per_m(num_index, k):
        g = jax.random.normal(k, (num_trials, max_index)) * (jnp.arange(max_index) < num_index)
        return jnp.mean(jnp.abs(jnp.sum(g**2, -1) / num_index - 1.0) > eps)

    keys = jax.random.split(key, num_indices_G.shape[0])
    return jax.lax.map(lambda a: per_m(*a), (num_indices_G, keys))


def fit_exponential_decay(num_indices: np.ndarray, probs: np.ndarray, eps: float) -> float:
    """Least-squares c' in log P ~ a - c' M eps^2 over the grid points with 0 < P < 1."""
    m = np.asarray(num_indices, np.float64)
    p = np.asarray(probs, np.float64)
    ok = (p > 0) & (p < 1)
    if ok.sum() < 2:
        raise ValueError(f"need >= 2 grid points with 0 < P < 1 to fit a decay, got {ok.sum()}")
    slope, _ = np.polyfit(m[ok] * eps**2, np.log(p[ok]), 1)
    return float(-slope)


def required_index(num_indices: np.ndarray, probs: np.ndarray, delta: float) -> float:
    """Smallest M with failure <= delta, log-linearly interpolated on the grid (inf if none)."""
    m = np.asarray(num_indices, np.float64)
    p = np.asarray(probs, np.float64)
    below = np.nonzero(p <= delta)[0]
    if below.size == 0:
        return float("inf")
    i = int(below[0])
    if i == 0 or p[i - 1] <= 0:
        return float(m[i])
    lo, hi = np.log(p[i - 1]), np.log(max(p[i], 1e-12))
    frac = (lo - np.log(delta)) / (lo - hi)
    return float(m[i - 1] + frac * (m[i] - m[i - 1]))


# ---------------------------------------------------------------------------------------------
# Matrix version: HyperAgent's factor A_t along its own (adaptive) trajectory.
# ---------------------------------------------------------------------------------------------


def hyperagent_factor_deviation(
    key: chex.PRNGKey,
    env: bandits.LinearBandit,
    num_steps: int,
    num_index: jax.Array,
    max_index: int,
) -> jax.Array:
    """Runs linear HyperAgent (sphere z, Gaussian xi) and records max |eig - 1| per step: `[T]`.

    The arms it pulls depend on the past perturbations through its samples, so this is the
    adaptive (sequential) setting that classical JL does not cover.
    """
    d = env.arms.shape[1]
    agent_id = ha.LINEAR_AGENTS.index("hyperagent")
    k_init, k_run = jax.random.split(key)
    z0 = jax.vmap(lambda k: ha._padded_perturbation(k, num_index, max_index, False))(
        jax.random.split(k_init, d)
    )
    state = post.LinearPosterior(
        mean=jnp.zeros((d,)),
        cov=jnp.eye(d),
        precision=jnp.eye(d),
        factor=z0,
        noise_std=env.noise_std,
    )

    def step(state, key_t):
        k_act, k_rew, k_z = jax.random.split(key_t, 3)
        theta = ha._choose_theta(k_act, state, agent_id, num_index)
        arm = jnp.argmax(env.arms @ theta)
        reward, _ = bandits.pull(k_rew, env, arm)
        z = ha._padded_perturbation(k_z, num_index, max_index, False)
        state = post.update(state, env.arms[arm], reward, z)
        return state, post.factor_deviation(state)

    _, dev_T = jax.lax.scan(step, state, jax.random.split(k_run, num_steps))
    return dev_T


@functools.partial(
    jax.jit,
    static_argnames=("num_steps", "max_index", "dim", "num_arms"),
    compiler_options=ha.FAST_COMPILE,
)
def factor_deviation_sweep(
    keys_S: jax.Array,
    num_indices_G: jax.Array,
    num_steps: int,
    max_index: int,
    dim: int = 10,
    num_arms: int = 100,
) -> jax.Array:
    """Deviation curves for every M of the grid and seed: `[G, S, T]` (same instance per seed)."""

    def one(num_index, key):
        k_env, k_agent = jax.random.split(key)
        env = bandits.make_linear_bandit(k_env, dim, num_arms)
        return hyperagent_factor_deviation(k_agent, env, num_steps, num_index, max_index)

    over_seeds = jax.vmap(one, in_axes=(None, 0))
    return jax.lax.map(lambda m: over_seeds(m, keys_S), num_indices_G)
