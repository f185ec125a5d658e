"""Benchmark of the losses and advantages at the paper's batch size (jitted, compile excluded).

One training batch of verl-agent's ALFWorld recipe: 16 tasks x 8 rollouts x 50 steps = 6,400 step
rows, each with up to 256 generated tokens. Every function is jitted, compiled once
(not timed), then timed over `--repeats` calls with `block_until_ready`; the table gives the median
and the best time per call.

    python -m experiments.bench_losses            # Markdown table on stdout
    python -m experiments.bench_losses --repeats 50 --json runs/bench_losses.json
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
from absl import flags

from empg_jax import losses
from experiments import _cli

TASKS, GROUP, STEPS, TOKENS = 16, 8, 50, 256


def make_batch(key: jax.Array) -> dict[str, jax.Array]:
    """Random rollout data of the benchmark size, with episodes of random length (padded rows)."""
    k_len, k_rew, k_ent, k_old, k_new, k_tok = jax.random.split(key, 6)
    episodes = TASKS * GROUP
    num_rows = episodes * STEPS
    length_E = jax.random.randint(k_len, (episodes,), 1, STEPS + 1)
    row = jnp.arange(num_rows)
    step_S, episode_S = row % STEPS, row // STEPS
    valid_S = step_S < length_E[episode_S]
    next_step_S = jnp.where(step_S + 1 < length_E[episode_S], row + 1, -1).astype(jnp.int32)
    answer_len_S = jax.random.randint(k_tok, (num_rows,), 16, TOKENS + 1)
    mask_SxL = (jnp.arange(TOKENS)[None, :] < answer_len_S[:, None]) & valid_S[:, None]
    old_logp_SxL = -jax.random.exponential(k_old, (num_rows, TOKENS))
    return {
        "rewards_NxG": jax.random.bernoulli(k_rew, 0.4, (TASKS, GROUP)).astype(jnp.float32),
        "rewards_NxGT": jax.random.bernoulli(k_rew, 0.4, (TASKS, GROUP * STEPS)).astype(
            jnp.float32
        ),
        "episode_S": episode_S,
        "valid_S": valid_S,
        "next_step_S": next_step_S,
        "entropy_S": jax.random.uniform(k_ent, (num_rows,), maxval=3.0),
        "token_entropy_SxL": jax.random.uniform(k_ent, (num_rows, TOKENS), maxval=3.0),
        "mask_SxL": mask_SxL,
        "old_logp_SxL": old_logp_SxL,
        "logp_SxL": old_logp_SxL + 0.1 * jax.random.normal(k_new, (num_rows, TOKENS)),
        "discounts_ExT": jnp.full((episodes, STEPS), 0.99),
        "adv_ExT": jax.random.normal(k_new, (episodes, STEPS)),
        "logp_ExT": -jax.random.exponential(k_old, (episodes, STEPS)),
        "blogp_ExT": -jax.random.exponential(k_new, (episodes, STEPS)),
    }


def cases(batch: dict[str, jax.Array]):
    """(name, shape description, jitted function, args) of every timed call."""
    b = batch
    step_adv_S = losses.group_advantages(b["rewards_NxG"]).reshape(-1)[b["episode_S"]]

    def ppo_value_and_grad(logp, old, adv, mask):
        return jax.value_and_grad(lambda lp: losses.ppo_policy_loss(lp, old, adv, mask)[0])(logp)

    divergence = jax.vmap(
        functools.partial(losses.divergence_augmented_advantages, coefficient=0.5, c_bar=1.0)
    )
    return [
        (
            "group_advantages",
            "rewards 16 x 8",
            jax.jit(losses.group_advantages),
            (b["rewards_NxG"],),
        ),
        (
            "group_advantages",
            "rewards 16 x 400 (cross-step)",
            jax.jit(losses.group_advantages),
            (b["rewards_NxGT"],),
        ),
        (
            "empg_advantages",
            "S = 16 x 8 x 50 steps",
            jax.jit(losses.empg_advantages),
            (b["entropy_S"], step_adv_S, b["next_step_S"], b["valid_S"]),
        ),
        (
            "empg_token_advantages",
            "tokens 6,400 x 256",
            jax.jit(losses.empg_token_advantages),
            (b["token_entropy_SxL"], b["mask_SxL"], step_adv_S, b["next_step_S"], b["valid_S"]),
        ),
        (
            "ppo_policy_loss (value + grad)",
            "tokens 6,400 x 256",
            jax.jit(ppo_value_and_grad),
            (b["logp_SxL"], b["old_logp_SxL"], b["token_entropy_SxL"], b["mask_SxL"]),
        ),
        (
            "divergence_augmented_advantages (vmap)",
            "128 trajectories x 50 steps",
            jax.jit(divergence),
            (b["adv_ExT"], b["logp_ExT"], b["blogp_ExT"], b["discounts_ExT"]),
        ),
    ]


def time_call(fn, args, repeats: int) -> tuple[float, float]:
    """Median and best seconds per call, compile excluded."""
    jax.block_until_ready(fn(*args))  # compile + warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


FLAGS = flags.FlagValues()
flags.DEFINE_integer("repeats", 20, "timed calls per function", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "random seed", flag_values=FLAGS)
flags.DEFINE_string("json", None, "also write the results to this file", flag_values=FLAGS)


def _main() -> None:
    args = FLAGS
    if args.repeats < 1:
        raise _cli.UsageError(f"--repeats must be >= 1, got {args.repeats}")

    device = jax.devices()[0]
    batch = make_batch(jax.random.key(args.seed))
    rows = []
    for name, shape, fn, fn_args in cases(batch):
        median, best = time_call(fn, fn_args, args.repeats)
        print(f"[bench_losses] {name:42s} {shape:30s} {median * 1e3:9.3f} ms", flush=True)
        rows.append(
            {"function": name, "shape": shape, "median_ms": median * 1e3, "best_ms": best * 1e3}
        )

    # Shared machines: report the load so a reader can judge how noisy the timings are.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\ndevice: {device.platform} ({device.device_kind}), {os.cpu_count()} CPU cores, "
        f"load average {load:.1f}, jax {jax.__version__}, {args.repeats} timed calls each\n"
    )
    print("| function | input | median ms | best ms |")
    print("|---|---|---:|---:|")
    for r in rows:
        print(f"| `{r['function']}` | {r['shape']} | {r['median_ms']:.3f} | {r['best_ms']:.3f} |")
    if args.json is not None:
        out = pathlib.Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "device": f"{device.platform} ({device.device_kind})",
            "load": load,
            "rows": rows,
        }
        out.write_text(json.dumps(payload, indent=2))


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


if __name__ == "__main__":
    sys.exit(main())
