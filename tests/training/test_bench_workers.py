"""The benchmark workers run against the current API (a worker that imports a moved module
fails only when someone benchmarks, long after the move)."""

import pytest

from experiments import bench_vs_tunix


@pytest.mark.slow
def test_the_empg_jax_worker_of_the_tunix_benchmark_runs_a_grpo_step():
    shape = dict(bench_vs_tunix.SHAPES["tiny"], gen=8)
    out = bench_vs_tunix.run_empg(shape, steps=1, warmup=1, seed=0)
    assert out["min_generated"] == 8  # every row generates exactly `gen` tokens
    assert out["params"] > 0 and out["step"] >= out["update"] > 0 and out["rollout"] > 0
