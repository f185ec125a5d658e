"""Evaluate a trained run: success per task type on its evaluation splits.

    python -m experiments.eval --workdir=runs/x [--split=valid_unseen] [--step=N]
        [--num_tasks=K] [--temperature=T] [--env_module=my.package.envs]

Loads `RUN/config.json` (written by `experiments.train`), restores the policy parameters of the
latest checkpoint (or of global step N: SFT steps plus RL iterations), plays tasks 0..K-1 of each
split (default: the config's `env.eval_splits`, `eval.num_tasks` tasks at `eval.temperature`,
with the trainer's evaluation key, so the final checkpoint reproduces the run's "after"
numbers), prints a table and writes `RUN/eval_<split>_<step>.json`. `--env_module` imports a
module first, for runs on an environment registered outside the library. A user error (no such
run, checkpoint or split) is one line and exit status 2.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

from absl import flags

from experiments import _cli

FLAGS = flags.FlagValues()
flags.DEFINE_string("workdir", None, "run folder of experiments.train", flag_values=FLAGS)
flags.DEFINE_string("split", None, "one split (default: env.eval_splits)", flag_values=FLAGS)
flags.DEFINE_integer("step", None, "checkpoint step (default: latest)", flag_values=FLAGS)
flags.DEFINE_integer("num_tasks", None, "tasks (default: eval.num_tasks)", flag_values=FLAGS)
flags.DEFINE_float("temperature", None, "default: eval.temperature; 0 is greedy", flag_values=FLAGS)
flags.DEFINE_multi_string(
    "env_module", [], "module that registers an environment", flag_values=FLAGS
)
_cli.required(FLAGS, "workdir")


def table(results: dict[str, dict[str, float]], task_types) -> str:
    """Markdown table of success (%) per task type (rows) and split (columns)."""
    splits = list(results)
    lines = ["| task type | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for name in [*task_types, None]:
        key = "success" if name is None else f"success/{name}"
        cells = [f"{100 * results[s][key]:.1f}" if key in results[s] else "-" for s in splits]
        lines.append(f"| {'all' if name is None else name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _main() -> int:
    workdir = Path(FLAGS.workdir)
    if not workdir.is_dir():
        raise _cli.UsageError(f"workdir {workdir} does not exist")
    if not (workdir / "config.json").is_file():
        raise _cli.UsageError(f"{workdir} has no config.json (not a run of experiments.train)")
    if FLAGS.num_tasks is not None and FLAGS.num_tasks <= 0:
        raise _cli.UsageError(f"--num_tasks={FLAGS.num_tasks} must be positive")
    t = FLAGS.temperature
    if t is not None and not (math.isfinite(t) and t >= 0):
        raise _cli.UsageError(f"--temperature={t} must be a finite number >= 0 (0: greedy)")
    for module in FLAGS.env_module:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise _cli.UsageError(f"--env_module={module}: {e}") from None

    import jax

    from empg_jax import envs
    from empg_jax.training import config as config_lib
    from empg_jax.training import evaluate, load_params

    config = config_lib.from_json(workdir / "config.json")
    if config.env.name not in envs.names() and not FLAGS.env_module:
        raise _cli.UsageError(
            f"env.name={config.env.name!r} is not registered; pass --env_module=<module that "
            "registers it>"
        )
    if FLAGS.split is not None:
        config.env.eval_splits = (FLAGS.split,)  # validated with the environment's splits
    if t is not None:
        config.eval.temperature = float(t)
    try:
        exp, params, meta = load_params(config, workdir, FLAGS.step)
    except ValueError as e:
        raise _cli.UsageError(str(e)) from None
    step = meta["global_step"]
    for bad, reason in meta["skipped"]:
        print(f"[eval] checkpoint {bad} is damaged ({reason}); using {step}", file=sys.stderr)
    key = jax.random.split(jax.random.PRNGKey(config.seed), 4)[3]  # the trainer's eval key
    results = {}
    for split in config.env.eval_splits:
        res = evaluate(exp, params, split, key, FLAGS.num_tasks)
        results[split] = res
        out = {
            "workdir": str(workdir),
            "split": split,
            "step": step,
            "phase": meta["phase"],
            "sft_step": meta["sft_step"],
            "rl_iteration": meta["rl_iteration"],
            "temperature": float(config.eval.temperature),
            "results": res,
        }
        (workdir / f"eval_{split}_{step}.json").write_text(json.dumps(out, indent=2) + "\n")
    episodes = {s: int(r["episodes"]) for s, r in results.items()}
    print(table(results, getattr(exp.env, "active_task_types", exp.env.task_types)))
    print(
        f"\nsuccess %, checkpoint {step} ({meta['phase']}), temperature "
        f"{config.eval.temperature}; episodes per split: {episodes}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs with `argv` (default: the process's arguments); returns the exit status."""
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
