"""What a finished run shows a person: the before/after success table and its training curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from empg_jax.training.metrics import read_jsonl


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


#: The curves of `plot_curves`: (metric, title); KL falls back to the PPO ratio's estimate.
CURVES = (
    ("success", "training success"),
    ("step_entropy_mean", "mean step entropy (rollout)"),
    ("kl", "KL to the reference"),
)


def plot_curves(metrics_path: str | Path, out: str | Path) -> None:
    """Training success, mean step entropy and KL (or `approx_kl`) over RL iterations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in read_jsonl(metrics_path) if r.get("phase") == "rl"]
    it = [r["step"] for r in recs]
    fig, axes = plt.subplots(1, len(CURVES), figsize=(12, 3.2))
    for ax, (key, title) in zip(axes, CURVES, strict=True):
        if key == "kl" and recs and "kl" not in recs[0]:
            key, title = "approx_kl", "KL(old || new) per update"
        ax.plot(it, [r.get(key, float("nan")) for r in recs], marker=".")
        ax.set_title(title)
        ax.set_xlabel("RL iteration")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
