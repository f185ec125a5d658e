"""Divergence-augmented policy optimisation with data reuse K in {1, 4, 16} on a tabular gridworld.

Prints final return (mean ± std over seeds), per-iteration KL and the
worst per-state KL, and writes return and KL curves.

    python -m experiments.seed_divergence --config=configs/exploration/divergence.py
"""

from __future__ import annotations

import os
import sys
import time

import jax
import matplotlib
import numpy as np
from absl import flags
from ml_collections import config_flags

from empg_jax.exploration import divergence_gridworld as dx

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import _cli

FLAGS = flags.FlagValues()
DEFAULT_CONFIG = "configs/exploration/divergence.py"
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, f"config file (default {DEFAULT_CONFIG})", flag_values=FLAGS
)


def parse_arm(spec: str) -> tuple[str, bool, float, float, bool]:
    """`name:use_ppo:lambda:c_bar_D[:normalise_divergence]` (the last field optional, default 0;
    see `divergence_gridworld.Arm`)."""
    fields = spec.split(":")
    if len(fields) not in (4, 5):
        raise ValueError(f"arm {spec!r}: expected name:use_ppo:lambda:c_bar_D[:normalise_D]")
    name, ppo, lam, c_bar = fields[:4]
    norm = len(fields) == 5 and bool(int(fields[4]))
    return name, bool(int(ppo)), float(lam), float(c_bar), norm


def run(config) -> dict:
    arms = [parse_arm(a) for a in config.arms]
    names = [(name, k) for k in config.passes for name, *_ in arms]
    stacked = dx.stack_arms(
        [dx.make_arm(p, lam, cb, k, norm) for k in config.passes for _, p, lam, cb, norm in arms]
    )
    start = time.time()
    print(f"[divergence] {len(names)} (arm, K) x {config.num_seeds} seeds", flush=True)
    out = dx.train_arms(
        jax.random.key(config.seed),
        stacked,
        num_seeds=config.num_seeds,
        num_iterations=config.num_iterations,
        num_envs=config.num_envs,
        length=config.length,
        size=config.size,
        gamma=config.gamma,
        learning_rate=config.learning_rate,
        max_grad_norm=config.max_grad_norm,
        max_passes=max(config.passes),
        clip=config.clip,
        distractor_reward=config.distractor_reward,
    )
    out = jax.tree.map(np.asarray, out)
    print(f"[divergence] done in {time.time() - start:.1f}s", flush=True)
    return {name: jax.tree.map(lambda x, i=i: x[i], out) for i, name in enumerate(names)}


def table(results: dict, window: int) -> str:
    """One row per (arm, K). "trapped" counts seeds whose final return is below 0.5 (the
    distractor pays 0.1, the goal 1), and "early return of trapped seeds" is their batch return
    over the first 10 iterations: it shows whether a seed was lost at once or drifted later."""
    rows = [
        "| K | arm | final return | mean KL/iter | max KL/iter (seed mean) | max per-state KL "
        "| trapped seeds | early return of trapped seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, k), r in results.items():
        final = r.success[:, -window:].mean(1)
        trapped = final < 0.5
        early = f"{r.success[trapped, :10].mean():.2f}" if trapped.any() else "-"
        rows.append(
            f"| {k} | {name} | {final.mean():.3f} ± {final.std():.3f} | {r.kl.mean():.4f} "
            f"| {r.kl.max(1).mean():.4f} | {r.max_kl.max():.2f} | {trapped.sum()}/{trapped.size} "
            f"| {early} |"
        )
    return "\n".join(rows)


def plot(results: dict, config, path: str) -> None:
    ks = list(config.passes)
    fig, axes = plt.subplots(2, len(ks), figsize=(4.5 * len(ks), 6.5), squeeze=False)
    for col, k in enumerate(ks):
        for (name, kk), r in results.items():
            if kk != k:
                continue
            axes[0, col].plot(r.success.mean(0), label=name)
            axes[1, col].plot(r.kl.mean(0), label=name)
        axes[0, col].set_title(f"K = {k}: return (seed mean)")
        axes[1, col].set_title(f"K = {k}: KL(pi_new || beta) per iteration")
        axes[1, col].set_yscale("log")
        axes[1, col].set_xlabel("iteration")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _main() -> None:
    config = _CONFIG.value
    results = run(config)
    print(table(results, config.final_window))
    plot(results, config, config.figure)
    print(f"[divergence] figure: {config.figure}")


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv, default_config=DEFAULT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
