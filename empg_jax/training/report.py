"""What a run shows a person: the before/after success table, and the training curves of one run
or of several runs overlaid, labelled by how their configs differ (`experiments.plot`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from empg_jax.training.config import ConfigError, flat_items, from_json
from empg_jax.training.metrics import read_jsonl
from empg_jax.training.rundir import config_differences


def results_table(before: dict, after: dict, task_types: Sequence[str], temperature: float) -> str:
    """Markdown table: success % per task type (and overall) per split, before and after RL."""
    splits = list(after)
    head = "| task type | " + " | ".join(f"{s} before | {s} after" for s in splits) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(splits))]

    def cell(res, key):
        return f"{100 * res[key]:.1f}" if res and key in res else "-"

    for name in [*task_types, None]:
        key = "success" if name is None else f"success/{name}"
        label = "all" if name is None else name
        cells = [f"{cell(before.get(s), key)} | {cell(after[s], key)}" for s in splits]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    n = {s: int(after[s]["episodes"]) for s in splits}
    decoding = "greedy decoding" if temperature <= 0 else f"sampling at temperature {temperature:g}"
    lines.append(f"\nsuccess %, {decoding}; episodes per split: {n}")
    return "\n".join(lines)


class ReportError(ValueError):
    """A run that cannot be plotted (no such workdir, no metrics), told in one line."""


class Run(NamedTuple):
    """One run's records: `rl` (one per RL iteration), `evals` (periodic and final evaluations)."""

    workdir: Path
    config: Any  # the run's ConfigDict, or None without a readable config.json
    rl: list[dict[str, float]]
    evals: list[dict[str, float]]


def load_run(workdir: str | Path, require_rl: bool = True) -> Run:
    """Reads `<workdir>/metrics.jsonl` (and `config.json` when there is one); without an RL
    iteration in it, raises `ReportError` when `require_rl`."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise ReportError(f"workdir {workdir} does not exist")
    path = workdir / "metrics.jsonl"
    if not path.is_file():
        raise ReportError(f"{workdir} has no metrics.jsonl (not a run of experiments.train)")
    recs = read_jsonl(path)
    rl = [r for r in recs if r.get("phase") == "rl"]
    if not rl and require_rl:
        raise ReportError(f"{path} has no RL iteration yet ({len(recs)} records)")
    evals = [r for r in recs if r.get("phase") in ("eval_before", "eval")]
    config = None
    if (workdir / "config.json").is_file():
        try:
            config = from_json(workdir / "config.json")
        except ConfigError as e:
            raise ReportError(str(e)) from None
    return Run(workdir, config, rl, evals)


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return "(" + ",".join(_value(x) for x in v) + ")"
    return str(v)


def run_labels(runs: Sequence[Run], max_fields: int = 4) -> list[str]:
    """Legend labels: each run's values of the config fields that differ between the runs,
    `rl.empg.enabled=True, seed=1` (at most `max_fields`, then `+N more`). A run without a
    config, runs with equal configs, and equal labels fall back to (or add) the workdir name."""
    with_config = [r for r in runs if r.config is not None]
    fields: set[str] = set()
    for other in with_config[1:]:
        fields.update(f for f, _, _ in config_differences(with_config[0].config, other.config))
    labels = []
    for r in runs:
        if r.config is None or not fields:
            labels.append(r.workdir.name)
            continue
        flat = flat_items(r.config)
        parts = [f"{f}={_value(flat.get(f, '<absent>'))}" for f in sorted(fields)]
        if len(parts) > max_fields:
            parts = [*parts[:max_fields], f"+{len(parts) - max_fields} more"]
        labels.append(", ".join(parts))
    return [
        f"{run.workdir.name}: {label}"
        if labels.count(label) > 1 and label != run.workdir.name
        else label
        for run, label in zip(runs, labels, strict=True)
    ]


#: The panels of `plot_runs`: (title, metric keys; the first a run has is drawn).
CURVES = (
    ("training success", ("success",)),
    ("reward", ("reward",)),
    ("mean step entropy (rollout)", ("step_entropy_mean",)),
    ("KL (to the reference, else PPO's approx.)", ("kl", "approx_kl")),
    ("clip fraction", ("clip_fraction",)),
    ("EMPG g (gradient scale): min, mean, max", ("empg_g_mean",)),
    ("EMPG f (future clarity), mean", ("empg_f_mean",)),
)
#: Panels that also shade a range: EMPG's g is normalised to mean 1, its spread is the signal.
BANDS = {"EMPG g (gradient scale): min, mean, max": ("empg_g_min", "empg_g_max")}


def _series(records, keys) -> tuple[list[int], list[float]] | None:
    key = next((k for k in keys if any(k in r for r in records)), None)
    if key is None:
        return None
    pts = [(r["step"], r[key]) for r in records if key in r and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def plot_runs(
    runs: Sequence[Run], out: str | Path, labels: Sequence[str] | None = None
) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """One figure: the `CURVES` panels over RL iterations and held-out success per evaluation
    split (from the periodic and final evaluations), one colour per run, one legend.

    Non-finite values are left out. Returns what was drawn: `{panel title: {label: (steps,
    values)}}` (the evaluation panel's labels are `<run label> <split>`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    labels = list(labels) if labels is not None else run_labels(runs)
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for ax, (title, keys) in zip(axes.flat, CURVES, strict=False):
        drawn[title] = {}
        for i, run in enumerate(runs):
            series = _series(run.rl, keys)
            if series is not None:
                ax.plot(*series, color=colors[i % len(colors)], marker=".", lw=1.2)
                drawn[title][labels[i]] = series
            lo, hi = (_series(run.rl, (k,)) for k in BANDS.get(title, ("", "")))
            if lo is not None and hi is not None and lo[0] == hi[0]:
                ax.fill_between(lo[0], lo[1], hi[1], color=colors[i % len(colors)], alpha=0.2)
                drawn[title][f"{labels[i]} min"], drawn[title][f"{labels[i]} max"] = lo, hi
        if not drawn[title]:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
        ax.set_title(title, fontsize=10)
        ax.ticklabel_format(axis="y", useOffset=False)
    ax = axes.flat[len(CURVES)]
    title = "held-out success (evaluations)"
    drawn[title] = {}
    styles = ("-", "--", ":", "-.")
    splits = sorted({k[: -len("/success")] for r in runs for e in r.evals for k in e
                     if k.endswith("/success")})  # fmt: skip
    for i, run in enumerate(runs):
        for j, split in enumerate(splits):
            series = _series(run.evals, (f"{split}/success",))
            if series is not None:
                ax.plot(*series, color=colors[i % len(colors)], ls=styles[j % len(styles)],
                        marker="o", ms=3, label=split if i == 0 else None)  # fmt: skip
                drawn[title][f"{labels[i]} {split}"] = series
    if splits:
        ax.legend(fontsize=8, title="split", title_fontsize=8)
    else:
        ax.text(0.5, 0.5, "no evaluation", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=10)
    for ax in axes.flat:
        ax.set_xlabel("RL iteration", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
    handles = [
        plt.Line2D([], [], color=colors[i % len(colors)], marker=".", label=label)
        for i, label in enumerate(labels)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=9,
               frameon=False)  # fmt: skip
    fig.tight_layout(rect=(0, 0.04 + 0.035 * ((len(handles) - 1) // 3), 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return drawn


def plot_curves(metrics_path: str | Path, out: str | Path) -> None:
    """The `plot_runs` figure of one run from its metrics file (`experiments.train`)."""
    run = load_run(Path(metrics_path).parent, require_rl=False)
    plot_runs([run], out, labels=[run.workdir.name])
