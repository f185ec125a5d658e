"""Benchmark of `ops.entropy_from_logits`: naive vs unchunked vs chunked, time and memory.

Default shape: N = 4096 rows over the Qwen2.5 vocabulary V = 151,936, in float32 and bfloat16.
Time is the median of `--repeats` calls after a warm-up call (compile excluded). Memory is read
from the compiled executable's memory analysis: `temp` is XLA's scratch for intermediates (what
chunking bounds: O(chunk_size x V) instead of O(N x V)); `peak` adds the arguments (the N x V
logits themselves, which every implementation receives) and the outputs.

    python -m experiments.bench_ops                       # full size (about a minute on 2 cores)
    python -m experiments.bench_ops --rows 512 --vocab 32768 --repeats 3
"""

from __future__ import annotations

import statistics
import sys
import time

import jax
import jax.numpy as jnp
from absl import flags

from empg_jax import ops
from experiments import _cli


def naive_entropy(logits):
    """What one writes without thinking about memory: softmax times log-softmax, summed."""
    z = logits.astype(jnp.float32)
    return -jnp.sum(jax.nn.softmax(z, axis=-1) * jax.nn.log_softmax(z, axis=-1), axis=-1)


def _measure(fn, x, repeats: int) -> dict:
    compiled = jax.jit(fn).lower(x).compile()
    memory = compiled.memory_analysis()
    compiled(x).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        compiled(x).block_until_ready()
        times.append(time.perf_counter() - start)
    peak = memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
    return {
        "time_s": statistics.median(times),
        "temp_bytes": memory.temp_size_in_bytes,
        "peak_bytes": peak,
        "out": compiled(x),
    }


def run(rows: int, vocab: int, chunk_sizes: list[int], repeats: int, seed: int) -> list[dict]:
    results = []
    key = jax.random.key(seed)
    for dtype in (jnp.float32, jnp.bfloat16):
        x = (jax.random.normal(key, (rows, vocab), jnp.float32) * 3.0).astype(dtype)
        candidates = [("naive (softmax*log_softmax)", naive_entropy), ("ops, unchunked", None)]
        candidates += [(f"ops, chunk_size={c}", c) for c in chunk_sizes]
        reference = None
        for name, impl in candidates:
            if callable(impl):
                fn = impl
            else:
                fn = lambda z, c=impl: ops.entropy_from_logits(z, chunk_size=c)  # noqa: E731
            print(f"  {jnp.dtype(dtype).name:8s} {name} ...", flush=True)
            r = _measure(fn, x, repeats)
            out = r.pop("out")
            if reference is None:
                reference, reference_out = r, out
            r["max_abs_diff"] = float(jnp.max(jnp.abs(out - reference_out)))
            r.update(dtype=jnp.dtype(dtype).name, impl=name)
            r["time_vs_naive"] = r["time_s"] / reference["time_s"]
            # XLA may fuse the naive form into row reductions with no temp buffer: no ratio then.
            base = reference["temp_bytes"]
            r["temp_vs_naive"] = r["temp_bytes"] / base if base else None
            r["peak_vs_naive"] = r["peak_bytes"] / reference["peak_bytes"]
            results.append(r)
        del x, reference_out
    return results


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def format_table(results: list[dict], rows: int, vocab: int) -> str:
    mib = 2**20
    lines = [
        f"entropy_from_logits, N={rows}, V={vocab}, {jax.devices()[0].device_kind}",
        "",
        "| dtype | implementation | time (ms) | time / naive | temp (MiB) | temp / naive | "
        "peak incl. input (MiB) | peak / naive | max abs diff vs naive |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['dtype']} | {r['impl']} | {r['time_s'] * 1e3:.1f} | {r['time_vs_naive']:.2f} | "
            f"{r['temp_bytes'] / mib:.1f} | {_ratio(r['temp_vs_naive'])} | "
            f"{r['peak_bytes'] / mib:.1f} | {r['peak_vs_naive']:.3f} | {r['max_abs_diff']:.1e} |"
        )
    return "\n".join(lines)


FLAGS = flags.FlagValues()
flags.DEFINE_integer("rows", 4096, "rows of logits", flag_values=FLAGS)
flags.DEFINE_integer("vocab", 151_936, "vocabulary size (Qwen2.5: 151,936)", flag_values=FLAGS)
flags.DEFINE_list("chunk_sizes", ["256", "1024"], "chunk sizes to compare", flag_values=FLAGS)
flags.DEFINE_integer("repeats", 5, "timed calls per case", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "random seed", flag_values=FLAGS)


def _main() -> int:
    if FLAGS.rows <= 0 or FLAGS.vocab <= 1 or FLAGS.repeats <= 0:
        raise _cli.UsageError("--rows and --repeats must be positive and --vocab at least 2")
    chunks = [int(x) for x in FLAGS.chunk_sizes]
    print(f"[bench_ops] N={FLAGS.rows} V={FLAGS.vocab} repeats={FLAGS.repeats}", flush=True)
    results = run(FLAGS.rows, FLAGS.vocab, chunks, FLAGS.repeats, FLAGS.seed)
    print(format_table(results, FLAGS.rows, FLAGS.vocab))
    return 0


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
