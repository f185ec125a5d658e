"""`make run`: the default experiment, end to end on CPU.

Until the RL trainer lands, the default experiment is the foundation's: the logit-dynamics analysis
notebook (executed headless into analysis/logit_dynamics.ipynb, figures under analysis/figures/)
and the ops benchmark at the Qwen2.5 vocabulary size. The benchmark table is also written to
`<workdir>/bench_ops.md`.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/default")
    parser.add_argument("--bench-rows", type=int, default=4096)
    parser.add_argument("--bench-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    from analysis import render
    from experiments import bench_ops

    start = time.perf_counter()
    print("[run 1/2] logit-dynamics analysis notebook", flush=True)
    if render.main(["logit_dynamics"]) != 0:
        return 1
    print(f"[run 2/2] ops benchmark (N={args.bench_rows}, V=151936)", flush=True)
    results = bench_ops.run(args.bench_rows, 151_936, [256, 1024], args.bench_repeats, seed=0)
    table = bench_ops.format_table(results, args.bench_rows, 151_936)
    print(table)
    (workdir / "bench_ops.md").write_text(table + "\n", encoding="utf-8")
    print(
        f"[run] done in {time.perf_counter() - start:.0f} s: analysis/logit_dynamics.ipynb, "
        f"analysis/figures/logit_dynamics_*.png, {workdir / 'bench_ops.md'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
