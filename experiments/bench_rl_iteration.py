"""The default experiment's RL iteration, timed: rollout / update / other, token positions the
update computes vs the real tokens it needs, and the update's FLOP/s against a matmul peak
measured in the same run; for the padded update and the packed one (`rl.pack`, and with
`rl.share_prefixes`), and for the rollout's one-shot prefill and the chunked one
(`agent.prefill_chunk`, and with `agent.share_prefill`), as ratios measured in the same run.

    nice -n 10 python -m experiments.bench_rl_iteration [--iterations=2] [--arms=padded,packed]

Arms: `padded` (the update and prefill before this work), `packed`, `shared` (update options;
one-shot prefill), `chunked_prefill` and `shared_prefill` (the shared update plus the chunked
prefill, without and with shared group prefixes: the defaults).

The experiment is `configs/default.py` (8 tasks x 4 rollouts x horizon 30 = 960 step rows, 4
mini-batches of 256) at the policy's random initialisation: no SFT, so episodes run the whole
horizon (every row is trained, as in the trained experiment's failing episodes) and answers are
the random policy's; the prompts are the environment's. Each arm keeps its own training state,
all from the same start; rounds run the arms in turn (iteration i of every arm, then i + 1), one
warm-up round (compilation) first. Iteration 0 of every arm updates from the same state on the
same rollout (the prefill arms sample it to float round-off), so its metrics and parameters
are compared across arms.

Iteration time = the training loop's `_rl_iteration` (rollout, update, episode metrics and the
metrics file). Token positions: the padded update runs every row of ceil(rows / M) mini-batches
of M rows at P + L positions; the packed one its used pieces (`pack/positions`). Real tokens: a
trained row's real prompt + answer tokens minus one (the last predicts nothing). FLOPs are
analytic, the work of the real tokens alone: forward 2 x (matmul weights) per token plus
4 x head dim x heads x (keys seen) per token and layer for attention, the output layer at
answer positions only; backward twice the forward. MFU = real FLOP/s / the best of a few f32
2048^3 matmuls on this machine, measured before and after the arms.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from experiments import _cli

ONE_SHOT = {"prefill_chunk": 0, "share_prefill": False}
SHARED = {"pack": True, "share_prefixes": True}
#: arm -> (`RLOptions` fields of the update, `agent.*` prefill settings of the rollout).
ARMS = {
    "padded": ({"pack": False}, ONE_SHOT),
    "packed": ({"pack": True, "share_prefixes": False}, ONE_SHOT),
    "shared": (SHARED, ONE_SHOT),
    "chunked_prefill": (SHARED, {"prefill_chunk": 32, "share_prefill": False}),
    "shared_prefill": (SHARED, {"prefill_chunk": 32, "share_prefill": True}),
}
COMPARED = ("loss", "pg_loss", "grad_norm", "policy_entropy", "clip_fraction", "adv_abs_mean")


def matmul_peak_flops(n: int = 2048, reps: int = 5) -> float:
    """The best FLOP/s of an f32 n x n x n matmul, jitted, over `reps` runs."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x, y: x @ y)
    f(a, a).block_until_ready()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f(a, a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def real_tokens_and_flops(cfg, prompt_mask, answer_mask, train):
    """Real tokens of the trained rows and the update's analytic FLOPs on them (docstring)."""
    d, f, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_layers
    hd, h, kv = cfg.resolved_head_dim, cfg.num_heads, cfg.num_kv_heads
    weights = layers * (d * h * hd + 2 * d * kv * hd + h * hd * d + 3 * d * f)
    n_prompt = prompt_mask.sum(1).astype(np.int64)
    n_answer = answer_mask.sum(1).astype(np.int64)
    keep = train & (n_answer > 0)
    n = np.where(keep, n_prompt + n_answer - 1, 0)
    tokens = int(n.sum())
    attention = layers * 4 * hd * h * float((n * (n + 1) // 2).sum())
    head = 2 * d * cfg.vocab_size * int(np.where(keep, n_answer, 0).sum())
    forward = 2 * weights * tokens + attention + head
    return tokens, 3 * forward


FLAGS = flags.FlagValues()
flags.DEFINE_integer("iterations", 2, "timed iterations per arm", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_list("arms", list(ARMS), "some of " + ", ".join(ARMS),
                  flag_values=FLAGS)  # fmt: skip
flags.DEFINE_integer("seed", 0, "config seed", flag_values=FLAGS)


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


def _main() -> int:
    args = FLAGS
    arms = [a.strip() for a in args.arms if a.strip()]
    bad = [a for a in arms if a not in ARMS]
    if bad or not arms:
        raise _cli.UsageError(f"--arms must name some of {', '.join(ARMS)}, got {args.arms!r}")

    from configs import default
    from empg_jax.training import loop, rl_advantages
    from empg_jax.training.experiment import Experiment, model_config
    from empg_jax.training.metrics import MetricsWriter

    c = default.get_config()
    c.seed = args.seed
    exp = Experiment(c)
    cfg = model_config(c, exp.codec.vocab_size)
    p_len, l_len = c.agent.prompt_len, c.agent.answer_len
    peak = matmul_peak_flops()
    print(f"matmul peak (f32 2048^3): {peak / 1e9:.1f} GFLOP/s", flush=True)
    base_opts = exp.rl_options
    rollouts = {}
    for arm in arms:
        prefill = ARMS[arm][1]
        key = tuple(sorted(prefill.items()))
        if key not in rollouts:
            rollouts[key] = exp.make_rollout(**prefill)
    state0 = exp.new_state(exp.init_params, "rl", jax.random.PRNGKey(c.seed))
    states = {a: jax.tree.map(jnp.copy, state0) for a in arms}
    steps = {}
    captured = []
    records = {a: [] for a in arms}
    first = {}
    with tempfile.TemporaryDirectory() as tmp:
        writer = MetricsWriter(tmp, tensorboard=False, stream=open("/dev/null", "w"), live=False)
        for it in range(args.iterations + 1):
            for arm in arms:
                opts = dataclasses.replace(base_opts, **ARMS[arm][0])
                exp.rl_options, exp._rl_step = opts, steps.get(arm)
                exp.rollout_fn = rollouts[tuple(sorted(ARMS[arm][1].items()))]
                inner = type(exp).rl_step.__get__(exp)

                def capture(state, batch, inner=inner):
                    captured.append(batch)
                    return inner(state, batch)

                exp.rl_step = capture
                t0 = time.perf_counter()
                state, m = loop._rl_iteration(exp, states[arm], it, c.rl.temperature, writer)
                wall = time.perf_counter() - t0
                del exp.rl_step
                steps[arm], states[arm] = exp._rl_step, state
                ro = captured.pop()
                _, train_S, _ = jax.jit(lambda b, o=opts: rl_advantages(b, o))(ro)
                pm = np.asarray(ro.flat(ro.prompt_mask_NxTxP)).astype(bool)
                am = np.asarray(ro.flat(ro.answer_mask_NxTxL)).astype(bool)
                tokens, flops = real_tokens_and_flops(cfg, pm, am, np.asarray(train_S))
                n_up = int(m["num_updates"])
                mb = min(c.rl.minibatch_rows, pm.shape[0])
                computed = n_up * (m["pack/positions"] if opts.pack else mb * (p_len + l_len))
                rec = dict(
                    wall=wall,
                    rollout=m["time/rollout_s"],
                    update=m["time/update_s"],
                    other=wall - m["time/rollout_s"] - m["time/update_s"],
                    rows=int(m["num_train_rows"]),
                    computed=float(computed),
                    real=tokens,
                    flops=flops,
                    prompt_real=float(pm.sum(1).mean()),
                )
                if it == 0:
                    first[arm] = (
                        {k: float(m[k]) for k in COMPARED if k in m},
                        jax.tree.map(np.asarray, state.params),
                        (np.asarray(ro.answer_NxTxL), np.asarray(ro.old_log_probs_NxTxL), am),
                    )
                else:
                    records[arm].append(rec)
                print(f"[{arm}] iteration {it}{' (warm-up)' if it == 0 else ''}: "
                      f"{wall:.2f} s (rollout {rec['rollout']:.2f}, update {rec['update']:.2f}, "
                      f"other {rec['other']:.3f}); positions {computed:.0f} vs real {tokens}",
                      flush=True)  # fmt: skip
        writer.close()
    peak = max(peak, matmul_peak_flops())
    print(f"matmul peak (best of before/after): {peak / 1e9:.1f} GFLOP/s\n")
    _report(arms, records, first, peak, args)
    return 0


def _report(arms, records, first, peak, args):
    med = lambda arm, k: statistics.median(r[k] for r in records[arm])  # noqa: E731
    print(f"medians over {args.iterations} timed iteration(s) per arm, after one warm-up round")
    print("| arm | iteration s | rollout s | update s | other s | positions computed | "
          "real tokens | computed / real | update real GFLOP/s | MFU (real) | "
          "update speed-up vs padded | rollout speed-up vs padded | "
          "iteration speed-up vs padded |")  # fmt: skip
    print("|---" * 13 + "|")
    for arm in arms:
        upd, it = med(arm, "update"), med(arm, "wall")
        comp, real = med(arm, "computed"), med(arm, "real")
        gflops = statistics.median(r["flops"] / r["update"] for r in records[arm]) / 1e9
        ratios = ["-"] * 3
        if "padded" in records and arm != "padded":
            # Per round: the arms of one round ran back to back, under the same load.
            pairs = list(zip(records["padded"], records[arm], strict=True))
            ratios = [
                f"{statistics.median(a[k] / b[k] for a, b in pairs):.2f}x"
                for k in ("update", "rollout", "wall")
            ]
        print(f"| {arm} | {it:.2f} | {med(arm, 'rollout'):.2f} | {upd:.2f} | "
              f"{med(arm, 'other'):.3f} | {comp:.0f} | {real:.0f} | {comp / real:.2f} | "
              f"{gflops:.1f} | {gflops * 1e9 / peak:.1%} | {' | '.join(ratios)} |")  # fmt: skip
    r0 = records[arms[0]][0]
    print(f"\nrows trained per iteration: {r0['rows']}; mean real prompt tokens per row: "
          f"{r0['prompt_real']:.1f}")  # fmt: skip
    if len(arms) > 1:
        ref_m, ref_p, (ref_ans, ref_lp, mask) = first[arms[0]]
        print(f"iteration 0 (same state, same rollout) against {arms[0]}:")
        for arm in arms[1:]:
            m, params, (ans, lp, _) = first[arm]
            same = np.array_equal(ans, ref_ans)
            dlp = float(np.max(np.abs(lp - ref_lp).reshape(-1, lp.shape[-1])[mask]))
            print(f"  {arm}: rollout answers {'identical' if same else 'DIFFERENT'}, "
                  f"max |old log-prob difference| {dlp:.2e}")  # fmt: skip
            rel = {k: abs(m[k] - ref_m[k]) / max(abs(ref_m[k]), 1e-12) for k in ref_m}
            dp = max(float(np.max(np.abs(a - b))) for a, b in
                     zip(jax.tree.leaves(params), jax.tree.leaves(ref_p), strict=True))  # fmt: skip
            worst = max(rel, key=rel.get)
            print(f"  {arm}: max relative metric difference {rel[worst]:.2e} ({worst}); "
                  f"max |parameter difference| after the update {dp:.2e}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
