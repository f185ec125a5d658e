"""Evaluate a trained run: success per task type on its evaluation splits.

    python -m experiments.eval --workdir=runs/x [--split=valid_unseen] [--step=N]
        [--num_tasks=K] [--temperature=T] [--env_module=my.package.envs]

Loads `RUN/config.json` (written by `training.train`), restores the latest checkpoint (or the one
of global step N: SFT steps plus RL iterations), plays tasks 0..K-1 of each split (default: the
config's `env.eval_splits`, `eval.num_tasks` tasks at `eval.temperature`, with the trainer's
evaluation key, so the final checkpoint reproduces the run's "after" numbers), prints a table and
writes `RUN/eval_<split>_<step>.json`. `--env_module` imports a module first, for runs on an
environment registered outside the library (`empg_jax.envs.register`). Problems (no such run,
checkpoint or split) are reported on one line and exit with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True, help="run folder of experiments.train")
    ap.add_argument("--split", default=None, help="one split (default: env.eval_splits)")
    ap.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
    ap.add_argument("--num_tasks", type=int, default=None, help="tasks (default: eval.num_tasks)")
    ap.add_argument("--temperature", type=float, default=None, help="default: eval.temperature")
    ap.add_argument(
        "--env_module", action="append", default=[], help="module that registers an environment"
    )
    return ap.parse_args(argv)


def table(results: dict[str, dict[str, float]], task_types) -> str:
    """Markdown table of success (%) per task type (rows) and split (columns)."""
    splits = list(results)
    lines = ["| task type | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for name in [*task_types, None]:
        key = "success" if name is None else f"success/{name}"
        cells = [f"{100 * results[s][key]:.1f}" if key in results[s] else "-" for s in splits]
        lines.append(f"| {'all' if name is None else name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    if not workdir.is_dir():
        raise ValueError(f"workdir {workdir} does not exist")
    if not (workdir / "config.json").is_file():
        raise ValueError(f"{workdir} has no config.json (not a run of experiments.train)")
    if args.num_tasks is not None and args.num_tasks <= 0:
        raise ValueError(f"--num_tasks={args.num_tasks} must be positive")
    for module in args.env_module:
        importlib.import_module(module)

    import jax

    from empg_jax.training import config as config_lib
    from empg_jax.training import evaluate, load_params

    config = config_lib.from_json(workdir / "config.json")
    if args.split is not None:
        config.env.eval_splits = (args.split,)  # validated with the environment's splits
    if args.temperature is not None:
        config.eval.temperature = float(args.temperature)
    exp, params, meta = load_params(config, workdir, args.step)
    step = meta["global_step"]
    key = jax.random.split(jax.random.PRNGKey(config.seed), 4)[3]  # the trainer's eval key
    results = {}
    for split in config.env.eval_splits:
        res = evaluate(exp, params, split, key, args.num_tasks)
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
    args = _parse(argv)
    try:
        return run(args)
    except ValueError as e:  # training.ConfigError included
        msg = str(e)
        if msg.startswith("env.name=") and not args.env_module:
            msg += "; pass --env_module=<module that registers it>"
        print(f"error: {msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
