"""Comparing RL algorithms from a shared SFT policy: a grid of environments x seeds x arms.

Every arm of a seed starts from the same end-of-SFT checkpoint, trained once per (environment,
seed): the SFT run's folder is copied and the arm's RL settings applied (the change of `rl.*` at
the SFT boundary that resuming allows). Every arm of a seed is evaluated on the same tasks with
the same evaluation key (common random numbers), so the paired difference of two arms of one
seed removes the SFT policy's variance. A finished cell writes `cell.json`; re-running the grid
skips finished cells and resumes unfinished ones. A finished cell whose evaluation settings
(`EVAL_FIELDS`) differ from the grid's now is evaluated again from its final checkpoint, with
the same key, without training again (e.g. after raising `eval.split_size`).

Layout: `<workdir>/<env>/seed<k>/sft` (the SFT run) and `<workdir>/<env>/seed<k>/<arm>`.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from empg_jax.training.config import ConfigError, flat_items, from_json
from empg_jax.training.evaluation import evaluate
from empg_jax.training.loop import load_params, run_keys, train
from empg_jax.training.metrics import read_jsonl
from empg_jax.training.rundir import RESUMABLE_ANYTIME, RESUMABLE_BEFORE_RL

#: Two-sided 97.5% quantiles of Student's t for n - 1 degrees of freedom (n = 2..30).
_T975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045,
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Arm:
    """An algorithm: a name and the config fields it sets (`rl.*` only, or resumable ones)."""

    name: str
    overrides: tuple[tuple[str, Any], ...]


def parse_arm(spec: str) -> Arm:
    """`"grpo_empg: rl.empg.enabled=True rl.empg.zeta=0.05"` -> an `Arm` (values are Python
    literals). Only fields that may change at the SFT boundary are allowed."""
    name, _, rest = spec.partition(":")
    name = name.strip()
    if not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise ConfigError(f"arm {spec!r}: it must start with a name, e.g. 'grpo: rl.lr=1e-4'")
    overrides = []
    for item in rest.split():
        field, eq, text = item.partition("=")
        if not eq:
            raise ConfigError(f"arm {name!r}: {item!r} is not field=value")
        allowed = RESUMABLE_ANYTIME + RESUMABLE_BEFORE_RL
        if not any(field == p or (p.endswith(".") and field.startswith(p)) for p in allowed):
            raise ConfigError(
                f"arm {name!r}: {field} cannot differ between arms of one SFT run "
                f"(arms may set rl.*, eval.*, log.*, checkpoint.*)"
            )
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        overrides.append((field, value))
    return Arm(name, tuple(overrides))


def _set(config: ml_collections.ConfigDict, field: str, value: Any) -> None:
    *path, leaf = field.split(".")
    target = config
    for p in path:
        target = target[p]
    if leaf not in target:
        raise ConfigError(f"unknown config field {field!r}")
    old = target[leaf]
    if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    target[leaf] = value


def arm_config(base: ml_collections.ConfigDict, arm: Arm) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(base.to_dict())
    for field, value in arm.overrides:
        _set(c, field, value)
    return c


@dataclasses.dataclass
class Grid:
    """The experiments of a comparison: per environment label a base-config factory; seeds;
    arms; the baseline arm of the paired differences."""

    configs: dict[str, Callable[[], ml_collections.ConfigDict]]
    seeds: Sequence[int]
    arms: Sequence[Arm]
    baseline: str

    def __post_init__(self):
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ConfigError(f"arm names must be unique, got {names}")
        if self.baseline not in names:
            raise ConfigError(f"baseline {self.baseline!r} is not one of the arms {names}")
        if not self.seeds:
            raise ConfigError("the grid needs at least one seed")


def _cell_config(base, seed: int, arm: Arm | None) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict(base.to_dict())
    c.seed = int(seed)
    if arm is None:  # the shared SFT run: no RL, evaluated once before RL
        c.rl.iterations = 0
        c.eval.before_rl = True
        return c
    return arm_config(c, arm)


def run_grid(
    grid: Grid,
    workdir: str | Path,
    log: Callable[[str], None] = print,
    *,
    report_only: bool = False,
) -> list[dict]:
    """Trains every missing cell and evaluates again every finished cell whose evaluation
    settings changed; returns every arm cell's summary (`cell.json`). SFT runs once per
    environment and seed, first; then the arms run one after another, each over all seeds, so a
    grid stopped early has whole arms. An arm's "before" is its SFT cell's evaluation (the same
    parameters and key).

    `report_only`: train and evaluate nothing; return the cells that are finished and evaluated
    with the current settings (e.g. to report on a grid still running elsewhere)."""
    workdir = Path(workdir)
    cells = []
    for env, factory in grid.configs.items():
        base = factory()
        sft_cells = {}
        for seed in grid.seeds:
            sft_dir = workdir / env / f"seed{seed}" / "sft"
            sft_cfg = _cell_config(base, seed, None)
            if report_only:
                cell = _finished_cell(sft_dir, sft_cfg)
                if cell is not None:
                    sft_cells[seed] = cell
                continue
            if not (sft_dir / "cell.json").exists():
                log(f"[compare] {env} seed {seed}: SFT")
                t0 = time.perf_counter()
                summary = train(sft_cfg, sft_dir)
                _write_cell(sft_dir, sft_cfg, env, seed, "sft", summary, time.perf_counter() - t0)
            sft_cells[seed] = _current_cell(sft_dir, sft_cfg, log)
        for arm in grid.arms:
            for seed in grid.seeds:
                arm_dir = workdir / env / f"seed{seed}" / arm.name
                cfg = _cell_config(base, seed, arm)
                if report_only:
                    cell = _finished_cell(arm_dir, cfg)
                    if cell is not None and seed in sft_cells:
                        cells.append({**cell, "before": sft_cells[seed]["before"]})
                    continue
                if not (arm_dir / "cell.json").exists():
                    if not (arm_dir / "config.json").exists():
                        _copy_sft(arm_dir.with_name("sft"), arm_dir)
                    log(f"[compare] {env} seed {seed}: {arm.name}")
                    t0 = time.perf_counter()
                    summary = train(cfg, arm_dir, allow_config_changes=True)
                    seconds = time.perf_counter() - t0
                    _write_cell(arm_dir, cfg, env, seed, arm.name, summary, seconds)
                cell = _current_cell(arm_dir, cfg, log)
                if cell["before"] != sft_cells[seed]["before"]:  # evaluated again since
                    cell["before"] = sft_cells[seed]["before"]
                    (arm_dir / "cell.json").write_text(json.dumps(cell, indent=2) + "\n")
                cells.append(cell)
    return cells


#: The settings an evaluation depends on; a finished cell evaluated with others is redone.
EVAL_FIELDS = ("eval.num_tasks", "eval.split_size", "eval.temperature", "env.eval_splits")


def eval_settings(config: ml_collections.ConfigDict) -> dict[str, Any]:
    flat = flat_items(config)
    return {f: list(v) if isinstance(v, tuple) else v for f, v in flat.items() if f in EVAL_FIELDS}


def _finished_cell(run: Path, cfg: ml_collections.ConfigDict) -> dict | None:
    """The cell of `run` if it is finished and evaluated with `cfg`'s settings, else None."""
    if not (run / "cell.json").exists():
        return None
    cell, had = _read_cell(run)
    return cell if had == eval_settings(cfg) else None


def _read_cell(run: Path) -> tuple[dict, dict[str, Any]]:
    """`cell.json` and the settings it was evaluated with (cells written before the settings
    were recorded are judged by the run's `config.json`)."""
    cell = json.loads((run / "cell.json").read_text())
    return cell, cell.get("eval_settings") or eval_settings(from_json(run / "config.json"))


def _current_cell(run: Path, cfg: ml_collections.ConfigDict, log: Callable[[str], None]) -> dict:
    """The cell of `run`, evaluated again from its final checkpoint (same key) when it was
    evaluated with other settings than `cfg`'s."""
    cell, had = _read_cell(run)
    want = eval_settings(cfg)
    if had == want:
        return cell
    changed = ", ".join(f"{f} {had.get(f)!r} -> {want[f]!r}" for f in want if had.get(f) != want[f])
    log(f"[compare] {run}: evaluating again ({changed})")
    t0 = time.perf_counter()
    exp, params, _ = load_params(cfg, run)
    k_eval = run_keys(cfg.seed)[3]
    results = {split: evaluate(exp, params, split, k_eval) for split in cfg.env.eval_splits}
    cell["after"] = results
    if cell["arm"] == "sft":
        cell["before"] = results
    cell["eval_settings"] = want
    cell["reevaluated_s"] = time.perf_counter() - t0
    (run / "cell.json").write_text(json.dumps(cell, indent=2) + "\n")
    return cell


def _copy_sft(sft_dir: Path, arm_dir: Path) -> None:
    """A copy of the SFT run (config, checkpoints, metrics, data) to continue with RL."""
    tmp = arm_dir.with_name(arm_dir.name + ".copying")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(sft_dir, tmp, ignore=shutil.ignore_patterns(".lock", "cell.json", "tb"))
    tmp.rename(arm_dir)


def _write_cell(
    run: Path, cfg, env: str, seed: int, arm: str, summary: dict, seconds: float
) -> dict:
    cell = {
        "env": env,
        "seed": int(seed),
        "arm": arm,
        "before": summary["before"],
        "after": summary["after"],
        "seconds": seconds,
        "eval_settings": eval_settings(cfg),
    }
    (run / "cell.json").write_text(json.dumps(cell, indent=2) + "\n")
    return cell


# ----- statistics ------------------------------------------------------------------------------
def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    """`(mean, low, high)`: the 95% t-interval of the mean over seeds (a point with one seed)."""
    x = np.asarray(values, np.float64)
    m = float(x.mean())
    if x.size < 2:
        return m, m, m
    half = _T975.get(x.size - 1, 1.96) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return m, m - half, m + half


def wilson_ci(successes: Sequence[bool]) -> tuple[float, float, float]:
    """`(rate, low, high)`: the 95% Wilson interval of a success rate over episodes."""
    n = len(successes)
    p = float(np.mean(successes)) if n else 0.0
    if not n:
        return p, p, p
    z = 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half


def summarize(cells: Sequence[dict], baseline: str) -> dict:
    """Per environment, arm and split: success (mean and 95% interval) and the paired difference
    from the baseline arm of the same seed (mean and 95% interval).

    With several seeds the intervals are over seeds (t-intervals of the per-seed values). With
    one seed they are over evaluation episodes: a Wilson interval for the success rate, and a
    t-interval of the per-task differences (both arms play the same tasks) for the difference.
    """
    out: dict[str, Any] = {}
    by = {(c["env"], c["arm"], c["seed"]): c for c in cells}
    for env in sorted({c["env"] for c in cells}):
        arms = sorted({c["arm"] for c in cells if c["env"] == env}, key=_arm_order(cells))
        seeds = sorted({c["seed"] for c in cells if c["env"] == env})
        splits = list(next(c for c in cells if c["env"] == env)["after"])
        out[env] = {"seeds": seeds, "splits": splits, "arms": {}}
        for arm in arms:
            row: dict[str, Any] = {}
            for split in splits:
                have = [s for s in seeds if (env, arm, s) in by]
                after = [by[env, arm, s]["after"][split]["success"] for s in have]
                episodes = by[env, arm, have[0]]["after"][split]["episodes"]
                entry = {"success": mean_ci(after), "per_seed": after, "episodes": episodes}
                single = len(have) == 1 and "won_per_task" in by[env, arm, have[0]]["after"][split]
                if single:
                    entry["success"] = wilson_ci(
                        by[env, arm, have[0]]["after"][split]["won_per_task"]
                    )
                entry["interval_over"] = "episodes" if single else "seeds"
                before = [(by[env, arm, s]["before"] or {}).get(split) for s in have]
                if all(b is not None for b in before):
                    entry["before"] = mean_ci([b["success"] for b in before])
                    if single and "won_per_task" in before[0]:
                        entry["before"] = wilson_ci(before[0]["won_per_task"])
                paired = [s for s in have if (env, baseline, s) in by]
                if arm != baseline and paired:
                    base = [by[env, baseline, s]["after"][split]["success"] for s in paired]
                    mine = [by[env, arm, s]["after"][split]["success"] for s in paired]
                    entry["vs_baseline"] = mean_ci(np.subtract(mine, base))
                    if single and len(paired) == 1:
                        s0 = paired[0]
                        a = np.asarray(by[env, arm, s0]["after"][split]["won_per_task"], float)
                        b = np.asarray(by[env, baseline, s0]["after"][split]["won_per_task"], float)
                        entry["vs_baseline"] = mean_ci(a - b)
                row[split] = entry
            out[env]["arms"][arm] = row
    return out


def _arm_order(cells):
    first = {}
    for i, c in enumerate(cells):
        first.setdefault(c["arm"], i)
    return lambda a: first[a]


def results_markdown(summary: dict, baseline: str) -> str:
    """The report's tables: success (%) per arm and split, mean [95% interval] over seeds, and
    the paired difference from the baseline."""
    lines = []
    for env, block in summary.items():
        splits = block["splits"]
        lines.append(f"### {env} (seeds {block['seeds']})\n")
        head = "| arm | " + " | ".join(f"{s} | vs {baseline}" for s in splits) + " |"
        lines += [head, "|---|" + "---|---|" * len(splits)]
        for arm, row in block["arms"].items():
            cells = []
            for s in splits:
                e = row[s]
                m, lo, hi = (100 * v for v in e["success"])
                cells.append(f"{m:.1f} [{lo:.1f}, {hi:.1f}]")
                if "vs_baseline" in e:
                    d, dlo, dhi = (100 * v for v in e["vs_baseline"])
                    cells.append(f"{d:+.1f} [{dlo:+.1f}, {dhi:+.1f}]")
                else:
                    cells.append("-")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        first = next(iter(block["arms"].values()))
        sft = {s: first[s].get("before") for s in splits}
        if all(v is not None for v in sft.values()):
            text = ", ".join(
                f"{s} {100 * v[0]:.1f} [{100 * v[1]:.1f}, {100 * v[2]:.1f}]" for s, v in sft.items()
            )
            lines.append(f"\nafter SFT (before RL): {text}")
        episodes = {s: int(first[s]["episodes"]) for s in splits}
        over = first[splits[0]]["interval_over"]
        lines.append(f"episodes per split and seed: {episodes}; intervals over {over}\n")
    return "\n".join(lines)


# ----- figures ---------------------------------------------------------------------------------
def _curve(run: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    recs = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("phase") == "rl"]
    steps = np.asarray([r["step"] for r in recs])
    vals = np.asarray([r.get(key, np.nan) for r in recs], np.float64)
    return steps, vals


def telemetry_ratio(records: Sequence[dict], bins: int = 5) -> list[float]:
    """Per step-entropy bin, the logit change measured over a run's updates divided by the
    formula's prediction |A| sqrt(1 - 2 P_c + C), as a ratio of sums over the iterations
    (`telemetry/measured_q<k>`, `telemetry/formula_q<k>`): an iteration whose probe rows predict
    no change (A = 0) then weighs nothing instead of dividing by zero."""
    out = []
    for q in range(1, bins + 1):
        measured = np.nansum([r[f"telemetry/measured_q{q}"] for r in records])
        formula = np.nansum([r[f"telemetry/formula_q{q}"] for r in records])
        out.append(float(measured / formula) if formula > 0 else float("nan"))
    return out


def plot_grid(workdir: str | Path, cells: Sequence[dict], out: str | Path) -> None:
    """Learning curves (training success), stability (KL and clip fraction) and the logit
    telemetry of every arm, mean +- one standard error over seeds, one row per environment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workdir = Path(workdir)
    envs = sorted({c["env"] for c in cells})
    panels = ("success", "kl", "clip_fraction", "telemetry")
    fig, axes = plt.subplots(len(envs), len(panels), figsize=(4.2 * len(panels), 3.2 * len(envs)))
    axes = np.atleast_2d(axes)
    for i, env in enumerate(envs):
        arms = sorted({c["arm"] for c in cells if c["env"] == env}, key=_arm_order(cells))
        for arm in arms:
            seeds = sorted({c["seed"] for c in cells if c["env"] == env and c["arm"] == arm})
            runs = [workdir / env / f"seed{s}" / arm for s in seeds]
            for ax, key in zip(axes[i][:3], panels[:3], strict=True):
                ys = []
                for run in runs:
                    steps, vals = _curve(run, key)
                    if key == "kl" and np.all(np.isnan(vals)):
                        steps, vals = _curve(run, "approx_kl")
                    ys.append(vals)
                ys = np.asarray(ys)
                mean = np.nanmean(ys, axis=0)
                se = np.nanstd(ys, axis=0) / math.sqrt(max(len(ys), 1))
                ax.plot(steps, mean, label=arm)
                ax.fill_between(steps, mean - se, mean + se, alpha=0.2)
            ratios = []
            for run in runs:
                recs = [r for r in read_jsonl(run / "metrics.jsonl") if r.get("phase") == "rl"]
                if recs and "telemetry/measured_q1" in recs[0]:
                    ratios.append(telemetry_ratio(recs))
            if ratios:
                axes[i][3].plot(range(1, 6), np.nanmean(ratios, axis=0), marker="o", label=arm)
                axes[i][3].set_yscale("log")
        titles = (
            "training success",
            "KL to the reference (or approx.)",
            "clip fraction",
            "logit step / |A| sqrt(1-2P_c+C), ratio of sums",
        )
        for ax, title in zip(axes[i], titles, strict=True):
            ax.set_title(f"{env}: {title}", fontsize=9)
            ax.set_xlabel("RL iteration" if title != titles[3] else "step-entropy quintile")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


# ----- the step-entropy change by entropy percentile (the paper's Fig. 3 analysis) ------------
def entropy_change(
    config_fn: Callable[[], ml_collections.ConfigDict],
    workdir: str | Path,
    env: str,
    seed: int,
    arms: Sequence[str],
    split: str,
    num_bins: int = 10,
) -> dict[str, list[float]]:
    """On the SFT policy's own evaluation steps of `split`: the mean change of step entropy
    after RL, per decile of the SFT policy's step entropy, for each arm (same rows for every
    arm). Returns `{"sft_entropy": [...], arm: [...]}` (bin means)."""
    from empg_jax.training.analysis import step_entropy_of

    run = Path(workdir) / env / f"seed{seed}"
    base = config_fn()
    exp, sft_params, _ = load_params(_cell_config(base, seed, None), run / "sft")
    ids = np.arange(min(base.eval.num_tasks, exp.num_tasks(split))) % exp.num_episodes
    ids = ids[: exp.num_episodes]
    ro = exp.play(sft_params, jax.random.PRNGKey(seed), split, ids, base.eval.temperature)
    before, valid = step_entropy_of(exp, sft_params, ro)
    edges = np.quantile(before[valid], np.linspace(0, 1, num_bins + 1))
    bins = np.clip(np.searchsorted(edges[1:-1], before, side="right"), 0, num_bins - 1)
    out = {"sft_entropy": [float(before[valid & (bins == k)].mean()) for k in range(num_bins)]}
    for arm in arms:
        _, params, _ = load_params(_cell_config(base, seed, None), run / arm)
        after, _ = step_entropy_of(exp, params, ro)
        change = after - before
        out[arm] = [float(change[valid & (bins == k)].mean()) for k in range(num_bins)]
    return out


def flat_overrides(arm: Arm) -> dict[str, Any]:
    return dict(arm.overrides)


__all__ = [
    "Arm",
    "Grid",
    "arm_config",
    "entropy_change",
    "flat_items",
    "mean_ci",
    "parse_arm",
    "plot_grid",
    "results_markdown",
    "run_grid",
    "summarize",
]
