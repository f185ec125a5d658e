"""The ops benchmark runs and reports consistent numbers on a tiny shape."""

from experiments import bench_ops


def test_bench_ops_small():
    results = bench_ops.run(rows=64, vocab=512, chunk_sizes=[16], repeats=1, seed=0)
    assert [r["impl"] for r in results[:3]] == [
        "naive (softmax*log_softmax)",
        "ops, unchunked",
        "ops, chunk_size=16",
    ]
    for r in results:
        assert r["time_s"] > 0 and r["peak_bytes"] > 0
        assert r["max_abs_diff"] < 1e-4  # same entropies as the naive formula
    table = bench_ops.format_table(results, 64, 512)
    assert table.count("\n| float32 |") == 3 and table.count("\n| bfloat16 |") == 3
