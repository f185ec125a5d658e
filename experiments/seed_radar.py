"""Radar anti-jamming as OCO: Exp3 vs domain-knowledge Hedge vs full information vs fixed share.

Prints a table (mean ± std over seeds) and writes the regret curves.

    python -m experiments.seed_radar --config=configs/exploration/radar.py
    python -m experiments.seed_radar --config=configs/exploration/radar.py --config.num_seeds=4
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

from empg_jax.exploration import radar

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import _cli

FLAGS = flags.FlagValues()
DEFAULT_CONFIG = "configs/exploration/radar.py"
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, f"config file (default {DEFAULT_CONFIG})", flag_values=FLAGS
)


def run(config) -> dict:
    """Runs every (jammer, arm) pair in one compiled program; returns {(jammer, arm): result}."""
    profiles = radar.default_profiles(config.num_bands, config.profile_high, config.profile_low)
    names = [(jammer, arm) for jammer in config.jammers for arm in config.arms]
    arms = radar.stack_arms(
        [
            radar.make_arm(
                arm,
                jammer,
                num_bands=config.num_bands,
                horizon=config.horizon,
                replay_prob=config.replay_prob,
                profiles=profiles,
                sense_prob=config.sense_prob,
                learning_rate_scale=config.learning_rate_scale,
                share=config.share,
            )
            for jammer, arm in names
        ]
    )
    start = time.time()
    print(
        f"[radar] {len(names)} arms x {config.num_seeds} seeds x T={config.horizon} ...", flush=True
    )
    out = radar.run_radar_arms(
        jax.random.key(config.seed),
        arms,
        num_seeds=config.num_seeds,
        horizon=config.horizon,
        switch_period=config.switch_period,
        trace_every=config.trace_every,
    )
    out = jax.tree.map(np.asarray, out)
    print(f"[radar] done in {time.time() - start:.1f}s", flush=True)
    return {name: jax.tree.map(lambda x, i=i: x[i], out) for i, name in enumerate(names)}


def table(results: dict) -> str:
    rows = [
        "| jammer | arm | static regret | dynamic regret | jam rate |",
        "|---|---|---|---|---|",
    ]
    for (jammer, arm), r in results.items():
        rows.append(
            f"| {jammer} | {arm} | {r.static_regret.mean():.1f} ± {r.static_regret.std():.1f} "
            f"| {r.dynamic_regret.mean():.1f} ± {r.dynamic_regret.std():.1f} "
            f"| {r.jam_rate.mean():.4f} |"
        )
    return "\n".join(rows)


def plot(results: dict, config, path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    t = np.arange(1, config.horizon // config.trace_every + 1) * config.trace_every
    panels = (
        ("reactive", "regret_trace", "static regret"),
        ("switching", "dynamic_trace", "dynamic regret"),
    )
    for ax, (jammer, field, label) in zip(axes, panels, strict=True):
        for arm in config.arms:
            if (jammer, arm) not in results:
                continue
            curve = getattr(results[(jammer, arm)], field)
            ax.plot(t, curve.mean(0), label=arm)
            ax.fill_between(
                t, curve.mean(0) - curve.std(0), curve.mean(0) + curve.std(0), alpha=0.2
            )
        ax.set_title(f"{jammer} jammer")
        ax.set_xlabel("pulse t")
        ax.set_xticks(np.linspace(0, config.horizon, 5))
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _main() -> None:
    config = _CONFIG.value
    results = run(config)
    print(table(results))
    plot(results, config, config.figure)
    print(f"[radar] figure: {config.figure}")


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv, default_config=DEFAULT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
