#!/usr/bin/env bash
# The accelerator check: on a machine with a GPU (or TPU), after `pip install -e ".[cuda12]"`
# (or ".[tpu]"), one short run of the ops and model benchmarks and two RL iterations of a
# Qwen2-0.5B-sized random model with the real Qwen2.5 vocabulary; prints tokens/s and MFU.
#     bash experiments/accelerator_check.sh [out_dir]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/accelerator_check}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
$PY -c "import jax; print('devices:', jax.devices())"
$PY -m experiments.bench_ops --repeats=3 | tee "$OUT/bench_ops.txt"
$PY -m experiments.bench_model --shapes=small,small-moe-ragged --reps=5 | tee "$OUT/bench_model.txt"
$PY -m experiments.accelerator_check --out="$OUT" | tee "$OUT/accelerator_check.txt"
