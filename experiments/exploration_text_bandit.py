"""GPT-HyperAgent on the generated content-moderation stream vs greedy and epsilon-greedy heads.

The content-moderation stream of docs/seed_systems.md. Every agent uses the same hypermodel head
on the same transformer features; prints the cumulative-regret table and writes the regret curves.

    python -m experiments.exploration_text_bandit --config=configs/exploration/text_bandit.py
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

from empg_jax.exploration import bandits
from empg_jax.exploration import text_bandit as tb

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import _cli

FLAGS = flags.FlagValues()
DEFAULT_CONFIG = "configs/exploration/text_bandit.py"
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, f"config file (default {DEFAULT_CONFIG})", flag_values=FLAGS
)


def _main() -> None:
    config = _CONFIG.value
    start = time.time()
    streams = []
    for s in range(config.num_seeds):
        streams.append(
            tb.make_stream(
                config.seed + s, config.num_posts, config.max_len, config.cue,
                config.feature_hidden, config.feature_layers,
            )
        )  # fmt: skip
        print(
            f"stream {s}: features {streams[-1][0].shape} ({time.time() - start:.0f}s)", flush=True
        )
    x = np.stack([s[0] for s in streams])
    r = np.stack([s[1] for s in streams])
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    curves = {"always hold": r.max(-1) - r[..., tb.HOLD]}
    for agent in config.agents:
        t0 = time.time()
        curves[agent] = np.asarray(
            tb.run_agent_seeds(keys, x, r, tb.agent_config(agent, config), config.epsilon)
        )
        print(f"{agent}: {time.time() - t0:.0f}s", flush=True)
    rows = {k: bandits.regret_summary(v, config.late_window) for k, v in curves.items()}
    print(
        f"\nModeration stream: {config.num_posts} posts, {config.num_seeds} seeds, cue "
        f"{config.cue}, transformer features D={x.shape[-1] - 1}+1"
    )
    print(f"| head | cum. regret @{config.num_posts} (± s.e.) | per seed | regret, last "
          f"{config.late_window} |")  # fmt: skip
    print("|---|---|---|---|")
    for name, s in rows.items():
        per_seed = " ".join(f"{v:.0f}" for v in curves[name].sum(1))
        print(f"| {name} | {s['mean']:.0f} ± {s['se']:.0f} | {per_seed} | {s['late']:.1f} |")
    hyper = rows.get("hyperagent")
    if hyper:
        print("\nPass criteria")
        for other in ("greedy", "egreedy"):
            if other in rows:
                ok = hyper["mean"] < rows[other]["mean"]
                print(f"  [{'PASS' if ok else 'FAIL'}] hyperagent {hyper['mean']:.0f} < {other} "
                      f"{rows[other]['mean']:.0f} at the end of the stream")  # fmt: skip
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, reg in curves.items():
        cum = reg.cumsum(1)
        mean, se = cum.mean(0), cum.std(0) / np.sqrt(len(cum))
        t = np.arange(1, len(mean) + 1)
        (line,) = ax.plot(t, mean, label=name)
        ax.fill_between(t, mean - se, mean + se, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="post", ylabel="cumulative regret", title="content moderation, mean ± s.e.")
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(config.figure) or ".", exist_ok=True)
    fig.savefig(config.figure, dpi=120)
    print(f"wrote {config.figure}  (total {time.time() - start:.0f}s)")


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv, default_config=DEFAULT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
