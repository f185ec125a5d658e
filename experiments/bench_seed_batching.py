"""Several seeds' RL updates as one batched program against one after another: is `jax.vmap`
over seeds faster on this machine?

    nice -n 10 python -m experiments.bench_seed_batching [--seeds=2] [--rounds=3] [--pack]

The experiment is `configs/default.py` at its random initialisation (as in
`bench_rl_iteration`): one rollout per seed (its own parameters and key), then the same RL
update (`training.rl.rl_update`, the trainer's) run two ways on the same states and batches:
S jitted updates in turn, and one jitted `jax.vmap` of the update over the S stacked states and
batches. The two ways run alternately, one warm-up round each (compilation) first; the ratio is
taken per round. The batched program's parameters are compared with the sequential ones.

Only the update is batched here (78-80% of the default experiment's iteration); the rollout
(environment steps, sampling) would batch the same way but is not measured. `--pack` times the
packed update (`rl.pack`); without it the padded one.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from experiments import _cli

FLAGS = flags.FlagValues()
flags.DEFINE_integer("seeds", 2, "seeds batched together", lower_bound=2, flag_values=FLAGS)
flags.DEFINE_integer("rounds", 3, "timed rounds (after a warm-up round)", lower_bound=1,
                     flag_values=FLAGS)  # fmt: skip
flags.DEFINE_bool("pack", False, "time the packed update (rl.pack) instead of the padded one",
                  flag_values=FLAGS)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv)


def _main() -> int:
    from configs import default
    from empg_jax.training.evaluation import rollout_batch
    from empg_jax.training.experiment import Experiment
    from empg_jax.training.rl import rl_update

    s = FLAGS.seeds
    exps, states, batches = [], [], []
    for seed in range(s):
        c = default.get_config()
        c.seed = seed
        exp = Experiment(c)
        state = exp.new_state(exp.init_params, "rl", jax.random.PRNGKey(seed))
        ro, _, _ = rollout_batch(exp, state.params, state.key, 0, c.rl.temperature)
        exps.append(exp)
        states.append(state)
        batches.append(jax.device_get(ro))
    exp = exps[0]
    opts = dataclasses.replace(exp.rl_options, pack=FLAGS.pack)
    update = functools.partial(rl_update, exp.graphdef, exp.rl_opt, opts)
    one = jax.jit(update)
    many = jax.jit(jax.vmap(update))
    stack = lambda trees: jax.tree.map(lambda *x: jnp.stack(x), *trees)  # noqa: E731
    stacked_states, stacked_batches = stack(states), stack(batches)
    print(f"{s} seeds; update rows per seed: {batches[0].flat(batches[0].prompt_NxTxP).shape[0]}"
          f"; {'packed' if FLAGS.pack else 'padded'} update", flush=True)  # fmt: skip

    def sequential():
        out = [one(st, b) for st, b in zip(states, batches, strict=True)]
        jax.block_until_ready(out)
        return out

    def batched():
        out = many(stacked_states, stacked_batches)
        jax.block_until_ready(out)
        return out

    times = {"sequential": [], "batched": []}
    results = {}
    for r in range(FLAGS.rounds + 1):
        for name, fn in (("sequential", sequential), ("batched", batched)):
            t0 = time.perf_counter()
            results[name] = fn()
            dt = time.perf_counter() - t0
            if r:
                times[name].append(dt)
            print(f"round {r}{' (warm-up, compiles)' if r == 0 else ''}: {name} {dt:.2f} s",
                  flush=True)  # fmt: skip
    seq_params = [st.params for st, _ in results["sequential"]]
    bat_params = results["batched"][0].params
    diff = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b[i]))))
        for i, p in enumerate(seq_params)
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(bat_params), strict=True)
    )
    ratios = [a / b for a, b in zip(times["sequential"], times["batched"], strict=True)]
    print(f"\nmedians over {FLAGS.rounds} round(s) after one warm-up round")
    print("| way | s per round (S updates) | s per seed |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.2f} | {statistics.median(ts) / s:.2f} |")
    print(
        f"\nbatched speed-up (sequential / batched, per round): median "
        f"{statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x"
    )
    print(f"max |parameter difference| batched vs sequential: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
