"""Train an agent: SFT then RL, with evaluation, metrics, plots and checkpoints.

    python -m experiments.train --config=configs/default.py --workdir=runs/default
    python -m experiments.train --config=configs/household/grpo_empg.py \\
        --config.seed=1 --config.rl.empg.zeta=0.05 --workdir=runs/x

Any `--config.<field>=value` overrides the config file. Re-running with the same workdir resumes
from its latest checkpoint. At the end it prints the before/after success table and writes
`results.md` and `training_curves.png` beside `metrics.jsonl`, `config.json` and `checkpoints/`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from experiments import _cli

FLAGS = flags.FlagValues()
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "configs/<env>/<algo>.py[:variant]", flag_values=FLAGS
)
flags.DEFINE_string("workdir", None, "run folder (metrics, checkpoints, report)", flag_values=FLAGS)
flags.DEFINE_bool(
    "allow_config_changes",
    False,
    "resume an existing workdir with the changes that are safe on resume (README, run directories)",
    flag_values=FLAGS,
)
_cli.required(FLAGS, "config", "workdir")


def _main() -> int:
    from empg_jax.training import train
    from empg_jax.training.guards import NonFiniteError
    from empg_jax.training.report import plot_curves, results_table

    workdir = Path(FLAGS.workdir)
    config = _CONFIG.value
    try:
        summary = train(config, workdir, allow_config_changes=FLAGS.allow_config_changes)
    except NonFiniteError as e:  # a failed run, not a usage error
        print(f"error: {e}; nothing after the last good checkpoint was saved", file=sys.stderr)
        return 1
    env = summary["experiment"].env
    task_types = getattr(env, "active_task_types", env.task_types)
    text = results_table(
        summary["before"] or {}, summary["after"], task_types, config.eval.temperature
    )
    print(text)
    (workdir / "results.md").write_text(text + "\n")
    plot_curves(workdir / "metrics.jsonl", workdir / "training_curves.png")
    print(f"[train] report: {workdir / 'results.md'}, {workdir / 'training_curves.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs with `argv` (default: the process's arguments); returns the exit status."""
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
