"""HyperAgent vs exact Thompson sampling, greedy and ensemble sampling on a linear bandit.

d = 10, K = 100 unit-norm arms, theta* ~ N(0, I),
sigma = 1, T = 3000, 30 seeds (all agents and seeds in one vmapped program), plus the neural
hypermodel on the same bandit. Prints the tables and the pass criteria, writes the regret curves.

    python -m experiments.exploration_linear_bandit --config=configs/exploration/linear_bandit.py
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
from empg_jax.exploration import hyperagent as ha

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import _cli

FLAGS = flags.FlagValues()
DEFAULT_CONFIG = "configs/exploration/linear_bandit.py"
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, f"config file (default {DEFAULT_CONFIG})", flag_values=FLAGS
)


def parse_agents(entries) -> tuple[tuple[str, int], ...]:
    out = []
    for entry in entries:
        name, _, m = entry.rpartition("-")
        out.append((name, int(m)))
    return tuple(out)


def label(agent: str, m: int) -> str:
    return agent if agent in ("ts", "greedy") else f"{agent} M={m}"


def print_table(title: str, rows: dict[str, dict[str, float]], num_steps: int, window: int) -> None:
    print(f"\n{title}")
    print(
        f"| method | cum. regret @{num_steps} (± s.e.) | median | p90 | max | mean/median "
        f"| regret, last {window} | late slope |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, s in rows.items():
        print(
            f"| {name} | {s['mean']:.0f} ± {s['se']:.0f} | {s['median']:.0f} | {s['p90']:.0f} "
            f"| {s['max']:.0f} | {s['tail']:.2f} | {s['late']:.1f} | {s['late_slope']:.2f} |"
        )


def linear_part(config) -> tuple[dict, dict]:
    agents = parse_agents(config.agents)
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    print(
        f"linear bandit: d={config.dim} K={config.num_arms} T={config.num_steps} "
        f"seeds={config.num_seeds}, {len(agents)} agents in one program (compiling...)",
        flush=True,
    )
    start = time.time()
    regret = np.asarray(
        ha.run_linear_sweep(
            keys, agents, config.num_steps, config.dim, config.num_arms, config.noise_std
        )
    )
    print(f"done in {time.time() - start:.1f}s", flush=True)
    rows = {
        label(a, m): bandits.regret_summary(r, config.late_window)
        for (a, m), r in zip(agents, regret, strict=True)
    }
    curves = {label(a, m): r for (a, m), r in zip(agents, regret, strict=True)}
    print_table("Linear agents", rows, config.num_steps, config.late_window)
    return rows, curves


def check_linear(config, rows) -> list[tuple[str, bool]]:
    ts = rows["ts"]
    checks = []
    for name, s in rows.items():
        agent, _, m = name.partition(" M=")
        if agent == "hyperagent" and int(m) >= config.dim:
            checks.append(
                (
                    f"{name} within {config.tolerance:.0%} of TS "
                    f"({s['mean']:.0f} vs {ts['mean']:.0f})",
                    s["mean"] <= (1 + config.tolerance) * ts["mean"],
                )
            )
            checks.append(
                (
                    f"{name} sublinear (late slope {s['late_slope']:.2f} < 0.5)",
                    s["late_slope"] < 0.5,
                )
            )
        if agent == "ensemble" and int(m) < config.dim:
            ref = max(
                v["tail"]
                for k, v in rows.items()
                if k.startswith("hyperagent M=") and int(k.split("=")[1]) >= config.dim
            )
            checks.append(
                (
                    f"{name} worse than TS ({s['mean']:.0f} > {1 + config.tolerance:.1f} x "
                    f"{ts['mean']:.0f})",
                    s["mean"] > (1 + config.tolerance) * ts["mean"],
                )
            )
            checks.append(
                (
                    f"{name} heavy-tailed (mean/median {s['tail']:.2f} > HyperAgent M>=d "
                    f"{ref:.2f})",
                    s["tail"] > ref,
                )
            )
    g = rows["greedy"]
    checks.append(
        (f"greedy linear (late slope {g['late_slope']:.2f} > 0.8)", g["late_slope"] > 0.8)
    )
    return checks


def neural_part(config) -> tuple[dict, dict]:
    nc = config.neural
    keys = jax.random.split(jax.random.key(config.seed + 1), nc.num_seeds)
    rows, curves = {}, {}
    for agent in nc.agents:
        cfg = ha.neural_agent_config(agent, update_every=nc.update_every)
        cfg = cfg._replace(hypermodel=cfg.hypermodel._replace(noise_std=nc.noise_std))
        print(f"neural {agent}: T={nc.num_steps} seeds={nc.num_seeds} (compiling...)", flush=True)
        start = time.time()
        r = np.asarray(
            ha.run_neural_seeds(keys, nc.num_steps, cfg, config.dim, config.num_arms, nc.noise_std)
        )
        print(f"  done in {time.time() - start:.1f}s", flush=True)
        rows[f"neural {agent}"] = bandits.regret_summary(r, nc.late_window)
        curves[f"neural {agent}"] = r
    print_table(
        f"Neural hypermodel (env noise {nc.noise_std}, MLP 64x2, M=4)",
        rows,
        nc.num_steps,
        nc.late_window,
    )
    return rows, curves


def plot(config, curves: dict, neural_curves: dict) -> None:
    ncols = 3 if neural_curves else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 4))
    for name, r in curves.items():
        cum = r.cumsum(1)
        mean, se = cum.mean(0), cum.std(0) / np.sqrt(len(cum))
        t = np.arange(1, len(mean) + 1)
        (line,) = axes[0].plot(t, mean, label=name)
        axes[0].fill_between(t, mean - se, mean + se, color=line.get_color(), alpha=0.2)
    axes[0].set(
        xlabel="t", ylabel="cumulative regret", yscale="log", title="linear bandit, mean ± s.e."
    )
    axes[0].legend(fontsize=7)
    names = list(curves)
    axes[1].boxplot([curves[n].sum(1) for n in names], showfliers=True)
    axes[1].set_xticks(range(1, len(names) + 1), names, rotation=60, fontsize=7)
    axes[1].set(ylabel="cumulative regret @T", yscale="log", title="per-seed spread (tails)")
    if neural_curves:
        for name, r in neural_curves.items():
            cum = r.cumsum(1)
            mean, se = cum.mean(0), cum.std(0) / np.sqrt(len(cum))
            t = np.arange(1, len(mean) + 1)
            (line,) = axes[2].plot(t, mean, label=name)
            axes[2].fill_between(t, mean - se, mean + se, color=line.get_color(), alpha=0.2)
        axes[2].set(xlabel="t", ylabel="cumulative regret", title="neural hypermodel")
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(config.figure) or ".", exist_ok=True)
    fig.savefig(config.figure, dpi=120)
    print(f"\nwrote {config.figure}")


def _main() -> None:
    config = _CONFIG.value
    rows, curves = linear_part(config)
    checks = check_linear(config, rows)
    neural_curves = {}
    if config.neural.enabled:
        nrows, neural_curves = neural_part(config)
        hyper, greedy = nrows.get("neural hyperagent"), nrows.get("neural greedy")
        if hyper and greedy:
            checks.append(
                (
                    f"neural hyperagent below neural greedy ({hyper['mean']:.0f} < "
                    f"{greedy['mean']:.0f})",
                    hyper["mean"] < greedy["mean"],
                )
            )
    print("\nPass criteria")
    for text, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    plot(config, curves, neural_curves)


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv, default_config=DEFAULT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
