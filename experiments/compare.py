"""Compare RL algorithms from shared SFT policies: a grid of environments x seeds x arms.

    python -m experiments.compare --config=configs/compare/household.py --workdir=runs/cmp
    python -m experiments.compare --config=configs/compare/default.py --workdir=runs/default

Per environment and seed, SFT runs once; every arm continues the same end-of-SFT checkpoint with
its own RL settings and is evaluated on the same tasks with the same keys. Re-running skips
finished cells and resumes unfinished ones. Writes `results.md` and `results.json` (success per
split: mean and 95% interval over seeds, and each arm's paired difference from the baseline
arm), `curves.png` (training success, KL, clip fraction and the logit-dynamics telemetry of
every arm, mean +- standard error over seeds) and `entropy_change.png` (the change of step
entropy after RL by SFT step-entropy decile, on the SFT policy's own evaluation steps).

The config (`configs/compare/*.py`) names, per environment label, a training config file
(`experiments`), the `seeds`, the `arms` ("name: field=value ..."; arms may set rl.*, eval.*,
log.*, checkpoint.*), the `baseline` arm, `overrides` ("field=value") applied to every cell, and
optionally `report_dir`, the report's folder relative to the workdir (default: the workdir), so that
a second grid of arms over the same SFT checkpoints keeps its own report.

`--jobs=N` trains the seeds in N processes at once (seeds dealt round-robin), each pinned to its
own CPU core when there are enough, then writes one report. Measured on the 2-core CPU: 1.14x
faster than one process on household's slice; XLA then runs each process on one thread, which
rounds the larger programs differently, so a `--jobs` grid reproduces other `--jobs` grids, not
`--jobs=1` ones bit for bit (docs/running.md).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from experiments import _cli

FLAGS = flags.FlagValues()
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "configs/compare/<name>.py", flag_values=FLAGS
)
flags.DEFINE_string("workdir", None, "folder of the grid's runs and report", flag_values=FLAGS)
flags.DEFINE_bool(
    "report_only",
    False,
    "write the report from the cells already finished (and evaluated with the current "
    "settings); train and evaluate nothing",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "jobs",
    1,
    "train the seeds in this many processes at once, each pinned to its own CPU core",
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "report",
    True,
    "write the report after training (--noreport: train only, e.g. one job of --jobs)",
    flag_values=FLAGS,
)
_cli.required(FLAGS, "config", "workdir")

#: The arguments of the running command (`main`), handed on to the processes of `--jobs`.
_ARGV: list[str] = []


def seed_jobs(seeds, jobs: int) -> list[tuple[int, ...]]:
    """The seeds of each of `jobs` processes, dealt round-robin (no empty job)."""
    seeds = tuple(seeds)
    n = max(1, min(jobs, len(seeds)))
    return [seeds[i::n] for i in range(n)]


def job_argv(argv: list[str], seeds: tuple[int, ...]) -> list[str]:
    """`argv` for one job: the same grid, only `seeds`, no report, no further jobs."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--jobs", "--config.seeds"):
            skip = "=" not in arg  # `--flag value`: drop the value too
            continue
        if name in ("--report", "--noreport"):
            continue
        out.append(arg)
    return [*out, f"--config.seeds={tuple(int(s) for s in seeds)!r}", "--noreport"]


def _run_jobs(groups: list[tuple[int, ...]]) -> list[str]:
    """Runs one `experiments.compare` process per seed group and waits for all of them; their
    output lines are echoed with the group's seeds in front. Returns the failed jobs."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    procs, failed = [], []

    def echo(proc, tag):
        for line in proc.stdout:
            print(f"[seeds {tag}] {line}", end="", flush=True)

    try:
        for i, seeds in enumerate(groups):
            proc = subprocess.Popen(
                [sys.executable, "-m", "experiments.compare", *job_argv(_ARGV, seeds)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if len(groups) <= len(cores):  # one core each: no two jobs' threads contend
                os.sched_setaffinity(proc.pid, {cores[i]})
            tag = ",".join(map(str, seeds))
            thread = threading.Thread(target=echo, args=(proc, tag), daemon=True)
            thread.start()
            procs.append((proc, thread, tag))
        for proc, thread, tag in procs:
            if proc.wait() != 0:
                failed.append(f"seeds {tag} (exit status {proc.returncode})")
            thread.join()
    finally:
        for proc, _, _ in procs:
            if proc.poll() is None:
                proc.terminate()
    return failed


def _load_config_file(path: str):
    """`get_config()` of a training config file (with an optional `:variant`)."""
    path, _, variant = path.partition(":")
    if not Path(path).is_file():
        raise _cli.UsageError(f"experiment config {path!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"_compare_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return (lambda: module.get_config(variant)) if variant else module.get_config


def _factory(path: str, overrides: tuple[str, ...]):
    from empg_jax.training import validate
    from empg_jax.training.compare import _set

    get = _load_config_file(path)

    def make():
        c = get()
        for item in overrides:
            field, eq, text = item.partition("=")
            if not eq:
                raise _cli.UsageError(f"override {item!r} is not field=value")
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = text
            _set(c, field, value)
        return validate(c)

    return make


def _main() -> int:
    import jax

    from empg_jax.training.compare import (
        Grid,
        entropy_change,
        parse_arm,
        plot_grid,
        results_markdown,
        run_grid,
        summarize,
    )

    # Every arm compiles the same rollout and evaluation programs again: cache them on disk
    # (JAX_COMPILATION_CACHE_DIR wins).
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", ".cache/jax")
    jax.config.update("jax_compilation_cache_dir", cache)
    c = _CONFIG.value
    workdir = Path(FLAGS.workdir)
    configs = {}
    for item in c.experiments:
        env, eq, path = item.partition("=")
        if not eq:
            raise _cli.UsageError(f"experiment {item!r} is not label=configs/<file>.py")
        configs[env.strip()] = _factory(path.strip(), tuple(c.overrides))
    grid = Grid(configs, tuple(c.seeds), tuple(parse_arm(a) for a in c.arms), c.baseline)
    for make in configs.values():  # every cell's config validates before anything trains
        make()
    if FLAGS.jobs < 1:
        raise _cli.UsageError(f"--jobs={FLAGS.jobs}: give 1 or more")
    start = time.perf_counter()
    groups = seed_jobs(grid.seeds, FLAGS.jobs)
    if len(groups) > 1 and not FLAGS.report_only:
        print(f"[compare] {len(groups)} jobs, seeds {groups}")
        failed = _run_jobs(groups)
        if failed:  # the others' cells are kept: re-running resumes the failed ones
            print(f"error: {'; '.join(failed)} failed, see its lines above", file=sys.stderr)
            return 1
        if not FLAGS.report:
            return 0
        cells = run_grid(grid, workdir, report_only=True)
    else:
        cells = run_grid(grid, workdir, report_only=FLAGS.report_only)
        if not FLAGS.report:
            return 0
    if not cells:
        raise _cli.UsageError(f"no finished cell of this grid under {workdir}")
    summary = summarize(cells, grid.baseline)
    text = results_markdown(summary, grid.baseline)
    print(text)
    report = workdir / c.get("report_dir", ".")
    report.mkdir(parents=True, exist_ok=True)
    header = (
        f"# {Path(c.name if 'name' in c else 'comparison').name}\n\n"
        f"success % at the final RL iteration, mean [95% interval] over seeds; 'vs "
        f"{grid.baseline}' is the paired difference from the baseline arm of the same seed "
        f"(same SFT checkpoint, same evaluation tasks and keys)\n\n"
    )
    (report / "results.md").write_text(header + text + "\n")
    (report / "results.json").write_text(json.dumps({"summary": summary, "cells": cells}, indent=1))
    plot_grid(workdir, cells, report / "curves.png")
    if c.entropy_analysis:
        _entropy_figure(grid, cells, workdir, report, entropy_change, c.entropy_split)
    print(
        f"[compare] {len(cells)} cells, {time.perf_counter() - start:.0f} s; report: "
        f"{report / 'results.md'}, {report / 'curves.png'}"
    )
    return 0


def _entropy_figure(grid, cells, workdir: Path, report: Path, entropy_change, split: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    envs = list(grid.configs)
    fig, axes = plt.subplots(1, len(envs), figsize=(5 * len(envs), 3.4), squeeze=False)
    out = {}
    for ax, env in zip(axes[0], envs, strict=True):
        have = {(c["arm"], c["seed"]) for c in cells if c["env"] == env}
        arms = [a.name for a in grid.arms if any(h[0] == a.name for h in have)]
        seeds = [s for s in grid.seeds if all((a, s) in have for a in arms)]
        per_seed = [entropy_change(grid.configs[env], workdir, env, s, arms, split) for s in seeds]
        out[env] = per_seed
        deciles = np.arange(1, 11)
        for arm in arms:
            ax.plot(deciles, np.mean([p[arm] for p in per_seed], axis=0), marker="o", label=arm)
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_title(f"{env}: step-entropy change after RL ({split})", fontsize=9)
        ax.set_xlabel("decile of the SFT policy's step entropy")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(report / "entropy_change.png", dpi=110)
    plt.close(fig)
    (report / "entropy_change.json").write_text(json.dumps(out, indent=1))


def main(argv: list[str] | None = None) -> int:
    _ARGV[:] = sys.argv[1:] if argv is None else list(argv)
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
