"""PSRL-VTR on random linear mixture MDPs: regret growth and Bayesian regret versus prior variance.

Spec: `seed-systems.md` (c). One compiled program runs the slope setting (sigma^2 = 1, alpha = 1)
and the prior sweep (sigma^2 = H^2 / 4, alpha in {0.5, 5, 50}) over the same seeds.

    python -m experiments.seed_psrl --config=configs/exploration/psrl.py
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from absl import app
from ml_collections import config_flags

from empg_jax.exploration import psrl

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", "configs/exploration/psrl.py")


def run(config) -> tuple[np.ndarray, np.ndarray]:
    """Returns (alphas [G], per-episode regret [G, seeds, K]); setting 0 is the slope run."""
    alphas = np.array([config.slope_alpha, *config.sweep_alphas], np.float32)
    sigmas = np.array(
        [config.slope_noise_std] + [config.sweep_noise_std] * len(config.sweep_alphas), np.float32
    )
    start = time.time()
    print(
        f"[psrl] {len(alphas)} settings x {config.num_seeds} seeds x K={config.num_episodes}",
        flush=True,
    )
    mdps = psrl.make_mdp_grid(
        config.seed,
        tuple(float(a) for a in alphas),
        config.num_seeds,
        num_states=config.num_states,
        num_actions=config.num_actions,
        num_features=config.num_features,
        basis_concentration=config.basis_concentration,
    )
    out = psrl.run_psrl_grid(
        jax.random.key(config.seed),
        mdps,
        jnp.asarray(alphas),
        jnp.asarray(sigmas),
        num_episodes=config.num_episodes,
        horizon=config.horizon,
        prior_jitter=config.prior_jitter,
    )
    regret = np.asarray(out.regret)
    print(f"[psrl] done in {time.time() - start:.1f}s", flush=True)
    return alphas, regret


def tables(alphas: np.ndarray, regret: np.ndarray, config) -> str:
    cum = regret.cumsum(-1)
    slope = psrl.loglog_slope(cum[0].mean(0), config.slope_start)
    seeds = regret.shape[1]
    head = regret[0][:, : config.slope_start].mean()
    tail = regret[0][:, -500:].mean()
    lines = [
        f"slope run (sigma^2 = {config.slope_noise_std**2:g}, alpha = {config.slope_alpha:g}, "
        f"{seeds} seeds, K = {config.num_episodes})",
        "",
        "| log-log slope, k in [250, K] | regret/episode: first 250 | last 500 | regret at K |",
        "|---|---|---|---|",
        f"| {slope:.3f} | {head:.4f} | {tail:.4f} | {cum[0][:, -1].mean():.1f} "
        f"± {cum[0][:, -1].std() / np.sqrt(seeds):.1f} |",
        "",
        f"prior sweep (sigma^2 = {config.sweep_noise_std**2:g}, Bayesian regret at K = "
        f"{config.sweep_episodes}, mean ± s.e. over {seeds} seeds)",
        "",
        "| alpha | prior Var(theta_i) | Bayesian regret | slope on [250, K] |",
        "|---|---|---|---|",
    ]
    d = config.num_features
    for g in range(1, len(alphas)):
        at = cum[g][:, config.sweep_episodes - 1]
        var = (1 / d) * (1 - 1 / d) / (d * alphas[g] + 1)
        sl = psrl.loglog_slope(cum[g].mean(0)[: config.sweep_episodes], config.slope_start)
        lines.append(
            f"| {alphas[g]:g} | {var:.4f} | {at.mean():.1f} ± {at.std() / np.sqrt(seeds):.1f} "
            f"| {sl:.3f} |"
        )
    return "\n".join(lines)


def plot(alphas: np.ndarray, regret: np.ndarray, config, path: str) -> None:
    cum = regret.cumsum(-1).mean(1)
    k = np.arange(1, regret.shape[-1] + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].loglog(k, cum[0], label="PSRL-VTR (sigma^2=1, alpha=1)")
    ref = cum[0][config.slope_start - 1] * (k / config.slope_start) ** 0.5
    axes[0].loglog(k, ref, "k--", lw=0.8, label="slope 0.5")
    axes[0].set_xlabel("episode k")
    axes[0].set_ylabel("mean cumulative regret")
    axes[0].legend(fontsize=8)
    for g in range(1, len(alphas)):
        axes[1].plot(
            k[: config.sweep_episodes],
            cum[g][: config.sweep_episodes],
            label=f"alpha = {alphas[g]:g}",
        )
    axes[1].set_xlabel("episode k")
    axes[1].set_ylabel("Bayesian cumulative regret (sigma^2 = H^2/4)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv) -> None:
    del argv
    config = _CONFIG.value
    alphas, regret = run(config)
    print(tables(alphas, regret, config))
    plot(alphas, regret, config, config.figure)
    print(f"[psrl] figure: {config.figure}")


if __name__ == "__main__":
    app.run(main)
