"""Two RL iterations of a Qwen2-0.5B-sized random model with the real Qwen2.5 vocabulary and chat
template, through the same trainer and accelerator config as a real run; prints the rollout and
update tokens/s and the update's model-FLOPs utilisation (MFU) against a measured matmul peak.

    python -m experiments.accelerator_check --out=runs/accelerator_check   # on a GPU / TPU
    python -m experiments.accelerator_check --size=tiny --out=/tmp/check   # a CPU smoke run

`experiments/accelerator_check.sh` runs it after the ops and model benchmarks. The model is
random (nothing is downloaded): the answers are mostly invalid, which does not change the work
per token. MFU counts 6 x parameters x trained token positions (policy forward and backward)
plus 2 x parameters x positions for the KL reference forward, per second, over the peak of a
large bfloat16 (accelerator) or float32 (CPU) matmul.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from absl import flags

from experiments import _cli

#: Qwen2-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 KV heads, MLP 4864, tied embeddings).
SIZES = {
    "0.5b": dict(
        hidden_size=896, num_layers=24, num_heads=14, num_kv_heads=2, intermediate_size=4864
    ),
    "tiny": dict(hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64),
}

FLAGS = flags.FlagValues()
flags.DEFINE_enum("size", "0.5b", list(SIZES), "model size", flag_values=FLAGS)
flags.DEFINE_string("out", None, "run folder (the checkpoint is written inside)", flag_values=FLAGS)
flags.DEFINE_integer("horizon", 4, "steps per episode", flag_values=FLAGS)
flags.DEFINE_integer("answer_len", 256, "answer tokens", flag_values=FLAGS)
_cli.required(FLAGS, "out")


def matmul_peak(dtype) -> float:
    """FLOP/s of a large square matmul in `dtype` on the default device (best of 5)."""
    import jax
    import jax.numpy as jnp

    n = 4096 if jax.default_backend() != "cpu" else 1024
    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def _main() -> int:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from configs.household import grpo_empg
    from empg_jax.models import Transformer, tiny_config, to_hf
    from empg_jax.text.chat import ChatTokenizer
    from empg_jax.training import read_jsonl, train

    out = Path(FLAGS.out)
    accelerator = jax.default_backend() != "cpu"
    dtype = "bfloat16" if accelerator else "float32"
    ckpt = out / "random_qwen2"
    if not (ckpt / "config.json").exists():
        cfg = tiny_config(vocab_size=151_936, tie_embeddings=True, **SIZES[FLAGS.size])
        to_hf(Transformer(cfg, rngs=nnx.Rngs(0)), cfg, str(ckpt), tokenizer=ChatTokenizer.qwen())
    c = grpo_empg.get_config("accelerator")
    c.model.hf_checkpoint, c.model.dtype = str(ckpt), dtype
    c.env.horizon = FLAGS.horizon
    c.agent.answer_len = FLAGS.answer_len
    c.rl.iterations = 2
    c.eval.before_rl = False
    c.env.eval_splits = ()
    if not accelerator:  # a smoke run: the paper's batch and prompts are for accelerators
        c.rl.tasks_per_iter, c.rl.group_size, c.rl.minibatch_rows = 2, 2, 8
        c.agent.prompt_len, c.agent.obs_tokens, c.agent.history_obs_tokens = 384, 48, 16
        c.agent.admissible_rows, c.agent.admissible_tokens = 32, 128
        c.agent.answer_len = min(FLAGS.answer_len, 64)
    summary = train(c, out / "run")
    recs = [r for r in read_jsonl(out / "run" / "metrics.jsonl") if r["phase"] == "rl"]
    exp = summary["experiment"]
    params = sum(x.size for x in jax.tree.leaves(exp.init_params))
    peak = matmul_peak(jnp.bfloat16 if accelerator else jnp.float32)
    positions = exp.codec.prompt_len + exp.codec.answer_len
    report = {"device": str(jax.devices()[0]), "params": params, "peak_flops": peak}
    report["iterations"] = []
    for r in recs:
        update_s = r["num_train_rows"] * exp.codec.answer_len / r["time/update_tokens_per_s"]
        flops = (6 + 2 * (c.rl.kl_coef > 0)) * params * r["num_train_rows"] * positions
        row = {
            "iteration": r["step"],
            "rollout_tokens_per_s": r["time/rollout_tokens_per_s"],
            "update_tokens_per_s": r["time/update_tokens_per_s"],
            "iteration_s": r["time/iteration_s"],
            "update_mfu": flops / update_s / peak,
        }
        report["iterations"].append(row)
        print(
            f"[check] iteration {row['iteration']}: rollout {row['rollout_tokens_per_s']:,.0f} "
            f"tokens/s, update {row['update_tokens_per_s']:,.0f} tokens/s, "
            f"{row['iteration_s']:.1f} s, update MFU {100 * row['update_mfu']:.1f}%",
            flush=True,
        )
    kind = "bfloat16" if accelerator else "float32"
    print(
        f"[check] {params / 1e6:.0f}M parameters on {report['device']}; matmul peak "
        f"{peak / 1e12:.1f} TFLOP/s ({kind})"
    )
    (out / "accelerator_check.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
