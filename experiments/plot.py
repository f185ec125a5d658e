"""Overlay the training curves of one or more runs.

    python -m experiments.plot --workdir=runs/a [--workdir=runs/b ...] [--out=fig.png]

Reads each run's `metrics.jsonl` (written by `experiments.train`, also while it trains) and draws
training success, reward, mean step entropy, KL, clip fraction, EMPG's g and f per RL iteration
and the held-out success of each evaluation, one colour per run. The legend labels each run by
the config fields that differ between the runs (from each run's `config.json`), e.g.
`rl.empg.enabled=True, seed=1`. Default `--out`: `curves.png` in the first workdir. A user error
(no such workdir, no metrics yet) is one line and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from experiments import _cli

FLAGS = flags.FlagValues()
flags.DEFINE_multi_string(
    "workdir", [], "run folder of experiments.train (repeat)", flag_values=FLAGS
)
flags.DEFINE_string(
    "out", None, "PNG to write (default: <first workdir>/curves.png)", flag_values=FLAGS
)


def _main() -> int:
    from empg_jax.training.report import ReportError, load_run, plot_runs, run_labels

    if not FLAGS.workdir:
        raise _cli.UsageError("--workdir is required (repeat it to overlay runs)")
    try:
        runs = [load_run(w) for w in FLAGS.workdir]
    except ReportError as e:
        raise _cli.UsageError(str(e)) from None
    out = Path(FLAGS.out) if FLAGS.out else Path(FLAGS.workdir[0]) / "curves.png"
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise _cli.UsageError(f"--out={out}: use a .png, .pdf or .svg file name")
    if not out.parent.is_dir():
        raise _cli.UsageError(f"--out={out}: folder {out.parent} does not exist")
    labels = run_labels(runs)
    plot_runs(runs, out, labels)
    for run, label in zip(runs, labels, strict=True):
        print(f"[plot] {run.workdir}: {label} ({len(run.rl)} RL iterations)")
    print(f"[plot] wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs with `argv` (default: the process's arguments); returns the exit status."""
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
