"""Benchmark of the policy model on this machine.

For the tiny shape (2 layers, d=64, V=512, ~190k parameters), the small shape (4 layers, d=256,
V=4096, ~6M) and the MoE variant of the small shape, prints:
  - forward + backward + AdamW step time (median, compile excluded) and training tokens/s;
  - decode tokens/s at batch 32 with the KV-cache sampler (prefill included);
  - model-FLOPs utilisation (MFU) of the train step against the measured peak of a large f32
    matmul on the same machine.

Model FLOPs per trained token = 6 * (non-embedding matmul parameters, active ones for MoE)
+ 12 * layers * heads * head_dim * T (attention scores and values, forward and backward,
no causal discount), the PaLM (arXiv:2204.02311, App. B) convention. The "dense" MoE
implementation computes every expert, so its MFU counts only the routed experts' useful FLOPs;
"small-moe-ragged" runs the same model with `moe_impl="ragged"` (`jax.lax.ragged_dot`).

    python experiments/bench_model.py                 # all three shapes
    python experiments/bench_model.py --shapes small --batch 8 --seq 256
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax
from absl import flags
from flax import nnx

from empg_jax import models
from empg_jax.ops import token_log_probs
from experiments import _cli

SHAPES = {
    "tiny": models.tiny_config,
    "small": models.small_config,
    "small-moe": models.small_moe_config,
    "small-moe-ragged": functools.partial(models.small_moe_config, moe_impl="ragged"),
}


def _median_time(fn, reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(n: int, reps: int) -> float:
    """FLOP/s of an n x n x n float32 matmul (median over reps, compile excluded)."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    mm = jax.jit(jnp.dot)
    jax.block_until_ready(mm(a, b))
    return 2 * n**3 / _median_time(lambda: mm(a, b), reps)


def train_flops_per_token(cfg: models.ModelConfig, seq: int) -> float:
    d, dh = cfg.hidden_size, cfg.resolved_head_dim
    attn = d * dh * (2 * cfg.num_heads + 2 * cfg.num_kv_heads)
    dense_mlp = 3 * d * cfg.intermediate_size
    active_moe = (
        3 * d * cfg.moe_intermediate_size * (cfg.num_experts_per_tok + cfg.num_shared_experts)
        + d * cfg.num_experts
    )
    mlp = sum(active_moe if cfg.is_moe_layer(i) else dense_mlp for i in range(cfg.num_layers))
    params = cfg.num_layers * attn + mlp + d * cfg.vocab_size
    return 6 * params + 12 * cfg.num_layers * cfg.num_heads * dh * seq


def bench_shape(name: str, args) -> dict:
    cfg = SHAPES[name]()
    model = models.Transformer(cfg, rngs=nnx.Rngs(0))
    n_params = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adamw(1e-4, weight_decay=0.1)
    opt_state = tx.init(params)
    tokens = jax.random.randint(jax.random.key(1), (args.batch, args.seq), 0, cfg.vocab_size)

    def loss_fn(params, tokens):
        logits, aux = nnx.merge(graphdef, params, rest)(tokens, return_aux=True)
        nll = -token_log_probs(logits[:, :-1], tokens[:, 1:]).mean()
        return nll + aux.get("moe_aux_loss", 0.0)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def train_step(params, opt_state, tokens):
        loss, grads = jax.value_and_grad(loss_fn)(params, tokens)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    print(f"[{name}] {n_params:,} parameters; compiling the train step ...", flush=True)
    params, opt_state, loss = train_step(params, opt_state, tokens)
    jax.block_until_ready(loss)
    state = {"params": params, "opt": opt_state}

    def one_step():
        state["params"], state["opt"], loss = train_step(state["params"], state["opt"], tokens)
        return loss

    step_s = _median_time(one_step, args.reps)
    train_tok_s = args.batch * args.seq / step_s
    print(f"[{name}] train step {step_s * 1e3:.1f} ms; compiling the sampler ...", flush=True)

    sample = models.make_sampler(graphdef, max_new_tokens=args.new_tokens)
    prompt = jax.random.randint(jax.random.key(2), (args.decode_batch, args.prompt), 0, 100)
    mask = jnp.ones(prompt.shape, bool)
    stops = jnp.array([-1])
    sampler_state = (state["params"], rest)
    jax.block_until_ready(sample(sampler_state, prompt, mask, jax.random.key(3), stops, 1.0))
    decode_s = _median_time(
        lambda: sample(sampler_state, prompt, mask, jax.random.key(3), stops, 1.0).tokens,
        args.reps,
    )
    decode_tok_s = args.decode_batch * args.new_tokens / decode_s
    flops = train_flops_per_token(cfg, args.seq) * args.batch * args.seq / step_s
    return {
        "shape": name,
        "params": n_params,
        "step_ms": step_s * 1e3,
        "train_tok_s": train_tok_s,
        "decode_tok_s": decode_tok_s,
        "gflops": flops / 1e9,
    }


FLAGS = flags.FlagValues()
flags.DEFINE_string(
    "shapes", "tiny,small,small-moe,small-moe-ragged", "model shapes", flag_values=FLAGS
)
flags.DEFINE_integer("batch", 16, "train batch (sequences)", flag_values=FLAGS)
flags.DEFINE_integer("seq", 128, "train sequence length", flag_values=FLAGS)
flags.DEFINE_integer("decode_batch", 32, "decode batch (rows)", flag_values=FLAGS)
flags.DEFINE_integer("prompt", 32, "decode prompt length", flag_values=FLAGS)
flags.DEFINE_integer("new_tokens", 64, "decode tokens per row", flag_values=FLAGS)
flags.DEFINE_integer("reps", 7, "timed repetitions (median)", flag_values=FLAGS)
flags.DEFINE_integer("matmul", 2048, "peak-matmul size n", flag_values=FLAGS)


def _main() -> None:
    args = FLAGS
    for name in args.shapes.split(","):
        if name not in SHAPES:
            raise _cli.UsageError(f"unknown shape {name!r}; choose from {sorted(SHAPES)}")

    print(f"jax {jax.__version__}, devices {jax.devices()}, cpus {os.cpu_count()}", flush=True)
    peak = matmul_peak(args.matmul, args.reps)
    print(f"f32 matmul peak ({args.matmul}^3): {peak / 1e9:.1f} GFLOP/s", flush=True)
    rows = [bench_shape(name, args) for name in args.shapes.split(",")]
    print()
    print(
        f"| shape | params | train step (B={args.batch}, T={args.seq}) | train tokens/s "
        f"| decode tokens/s (B={args.decode_batch}) | model GFLOP/s | MFU |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['shape']} | {r['params']:,} | {r['step_ms']:.1f} ms | {r['train_tok_s']:,.0f} "
            f"| {r['decode_tok_s']:,.0f} | {r['gflops']:.1f} | "
            f"{100 * r['gflops'] * 1e9 / peak:.0f}% |"
        )


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
