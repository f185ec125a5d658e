"""Linear-Gaussian contextual bandit of the HyperAgent check experiment.

A problem instance is K fixed unit-norm arm features x_a in R^d and an unknown theta* ~ N(0, I);
pulling arm a returns r = <x_a, theta*> + N(0, sigma^2). Regret of a pull is
max_a <x_a, theta*> - <x_chosen, theta*> (pseudo-regret: noise-free, as in the calibration).
Pure functions with explicit keys, so a whole run is one `lax.scan` and seeds are a `vmap`.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp


class LinearBandit(NamedTuple):
    """One linear bandit instance.

    Attributes:
      arms: unit-norm arm features, `[K, d]`.
      theta: the unknown parameter theta*, `[d]`.
      noise_std: reward-noise standard deviation sigma.
    """

    arms: jax.Array
    theta: jax.Array
    noise_std: jax.Array


def make_linear_bandit(
    key: chex.PRNGKey,
    dim: int = 10,
    num_arms: int = 100,
    prior_std: float = 1.0,
    noise_std: float = 1.0,
) -> LinearBandit:
    """Samples an instance: arms uniform on the unit sphere, theta* ~ N(0, prior_std^2 I)."""
    if dim < 1 or num_arms < 2:
        raise ValueError(f"need dim >= 1 and num_arms >= 2, got dim={dim}, num_arms={num_arms}")
    if isinstance(noise_std, (int, float)) and noise_std <= 0:
        raise ValueError(f"noise_std must be > 0, got {noise_std}")
    k_arms, k_theta = jax.random.split(key)
    arms = jax.random.normal(k_arms, (num_arms, dim))
    arms = arms / jnp.linalg.norm(arms, axis=-1, keepdims=True)
    theta = prior_std * jax.random.normal(k_theta, (dim,))
    return LinearBandit(arms=arms, theta=theta, noise_std=jnp.asarray(noise_std, jnp.float32))


def mean_rewards(env: LinearBandit) -> jax.Array:
    """Expected reward of every arm, `[K]`."""
    return env.arms @ env.theta


def pull(key: chex.PRNGKey, env: LinearBandit, arm: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Pulls `arm` (int scalar): returns (noisy reward, pseudo-regret of the pull)."""
    chex.assert_rank(arm, 0)
    means_K = mean_rewards(env)
    reward = means_K[arm] + env.noise_std * jax.random.normal(key, (), means_K.dtype)
    return reward, jnp.max(means_K) - means_K[arm]


def regret_summary(regret_SxT, late_window: int) -> dict[str, float]:
    """Statistics of per-step regret over S seeds (host-side, NumPy).

    Returns mean and standard error of the cumulative regret at T, its median, 90th percentile and
    maximum over seeds, `tail` = mean / median (heavy-tailed failures pull the mean above the
    median), `late` = mean regret of the last `late_window` steps, and `late_slope` = late regret
    relative to a linear share of the total (late / (cum * window / T)): ~1 for linear regret,
    well below 1 for sublinear regret.
    """
    import numpy as np

    r = np.asarray(regret_SxT, np.float64)
    if r.ndim != 2 or not 0 < late_window <= r.shape[1]:
        raise ValueError(
            f"need [S, T] regret and 0 < late_window <= T, got {r.shape}, {late_window}"
        )
    cum = r.sum(1)
    late = r[:, -late_window:].sum(1).mean()
    median = float(np.median(cum))
    return {
        "mean": float(cum.mean()),
        "se": float(cum.std(ddof=1) / np.sqrt(len(cum))) if len(cum) > 1 else 0.0,
        "median": median,
        "p90": float(np.percentile(cum, 90)),
        "max": float(cum.max()),
        "tail": float(cum.mean() / max(median, 1e-12)),
        "late": float(late),
        "late_slope": float(late / max(cum.mean() * late_window / r.shape[1], 1e-12)),
    }
