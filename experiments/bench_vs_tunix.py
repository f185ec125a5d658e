"""Seconds per GRPO step, Google Tunix vs empg_jax, on identical random models (CPU).

One GRPO step = a rollout of `prompts x G` completions in which every row generates exactly
`gen` tokens (no stop token can be emitted), then one update: group-relative advantages,
PPO-clip (0.2), k3 KL to a frozen reference (beta 0.04, the reference forward included), one
AdamW step (lr 1e-4, weight decay 1e-4, no gradient clipping) over one mini-batch of all rows.
The model is the Qwen3 architecture (QK-norm, no QKV bias, untied embeddings) at random
initialisation in both systems, so parameter counts are equal; prompts are `<s>` + 16 random
word ids, left-padded to 32. Nothing is downloaded.

Shapes: tiny = 2 layers, d 64, V 512, 4 prompts x G 4, gen 32;
        small = 4 layers, d 256, V 4096, 8 prompts x G 4, gen 64.

Each (system, shape) runs in a fresh worker process: `--warmup` steps (compilation) then
`--steps` timed steps, reporting the medians of the step, its rollout and its update. Rounds
alternate the order of the systems; the ratio Tunix / empg_jax is formed within each round, so
the load of a shared machine hits both sides alike. Run it under `nice -n 10` on shared hosts.

Tunix (`google-tunix==0.1.7`) cannot share a virtual environment with empg_jax's pinned
dependencies (it needs safetensors < 0.8, and every transformers release that accepts
tokenizers 0.23.3 needs safetensors >= 0.8), so it runs from any Python where it is importable:

    make bench-tunix   # both steps below: the venv once, then the benchmark

    python3 -m venv .venv-tunix && .venv-tunix/bin/pip install google-tunix==0.1.7 \\
        jax==0.10.2 jaxlib==0.10.2 flax==0.12.8 optax==0.2.8 transformers==5.11.0
    nice -n 10 python -m experiments.bench_vs_tunix --tunix_python=.venv-tunix/bin/python

Without Tunix the empg_jax side runs alone. `--baseline=DIR` also times the empg_jax checkout
in DIR (e.g. a worktree of main) in the same rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = {
    "tiny": dict(layers=2, d=64, mlp=256, heads=4, kv_heads=2, head_dim=16, vocab=512,
                 prompts=4, group=4, gen=32),
    "small": dict(layers=4, d=256, mlp=1024, heads=8, kv_heads=4, head_dim=32, vocab=4096,
                  prompts=8, group=4, gen=64),
}  # fmt: skip
PROMPT_WORDS, PROMPT_PAD = 16, 32
TEMPERATURE, BETA, LR, WEIGHT_DECAY, CLIP = 0.9, 0.04, 1e-4, 1e-4, 0.2
PAD, BOS, TARGET = 0, 1, 7  # word ids: <pad>, <s>; the reward counts TARGET in completions
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _median_ms(xs, warmup):
    return statistics.median(xs[warmup:]) * 1e3


# -- workers (run in their own process; only the one asked for imports its system) -------------


def _empg_update_fn(graphdef, optimizer, rows: int, pack: bool):
    """The empg_jax update of one GRPO step: its public `jit_rl_update` with typed options."""
    from empg_jax.training.options import RLOptions
    from empg_jax.training.rl import jit_rl_update

    opts = RLOptions(estimator="grpo", scope="episode", invalid_penalty=0.0, clip_low=CLIP,
                     clip_high=CLIP, dual_clip=None, aggregation="token-mean", kl_coef=BETA,
                     kl_kind="k3", epochs=1, minibatch_rows=rows, pack=pack,
                     share_prefixes=pack)  # fmt: skip
    return jit_rl_update(graphdef, optimizer, opts)


def run_empg(shape: dict, steps: int, warmup: int, seed: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from empg_jax.agents.batch import Rollout
    from empg_jax.models import ModelConfig, Transformer, make_sampler
    from empg_jax.training.state import create_state, make_optimizer

    s = shape
    cfg = ModelConfig(vocab_size=s["vocab"], hidden_size=s["d"], num_layers=s["layers"],
                      num_heads=s["heads"], num_kv_heads=s["kv_heads"], head_dim=s["head_dim"],
                      intermediate_size=s["mlp"], rope_theta=10_000.0, rms_norm_eps=1e-6,
                      tie_embeddings=False, qkv_bias=False, qk_norm=True)  # fmt: skip
    graphdef, params = nnx.split(Transformer(cfg, rngs=nnx.Rngs(seed)))
    optimizer = make_optimizer(LR, weight_decay=WEIGHT_DECAY, grad_clip=0.0)
    state = create_state(params, optimizer, jax.random.PRNGKey(seed), with_reference=True)
    b, g, n = s["prompts"], s["group"], s["gen"]
    rows = b * g
    # Padded: at these short, barely padded rows the packed update costs more than it saves.
    update = _empg_update_fn(graphdef, optimizer, rows, pack=False)
    sampler = make_sampler(graphdef, max_new_tokens=n)
    never = jnp.asarray([-1], jnp.int32)  # no token id is -1: every row generates n tokens
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed + 1)
    times = {"step": [], "rollout": [], "update": []}
    min_len = n
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        prompts = np.zeros((b, PROMPT_PAD), np.int32)
        prompts[:, -PROMPT_WORDS - 1] = BOS
        prompts[:, -PROMPT_WORDS:] = rng.integers(3, s["vocab"], (b, PROMPT_WORDS))
        prompts = np.repeat(prompts, g, axis=0)
        prompts_j = jnp.asarray(prompts)
        out = sampler(state.params, prompts_j, prompts_j != PAD, jax.random.fold_in(key, i),
                      never, temperature=TEMPERATURE)  # fmt: skip
        out = jax.block_until_ready(out)
        t1 = time.perf_counter()
        lengths = np.asarray(out.lengths)
        min_len = min(min_len, int(lengths.min()))
        reward = (np.asarray(out.tokens) == TARGET).sum(1) / np.maximum(lengths, 1)
        one = lambda x: x[:, None]  # noqa: E731  (one step per episode: T = 1)
        no = jnp.zeros((rows, 1), bool)
        batch = Rollout(
            prompt_NxTxP=one(prompts_j), prompt_mask_NxTxP=one(prompts_j != PAD),
            answer_NxTxL=one(out.tokens), answer_mask_NxTxL=one(out.mask),
            old_log_probs_NxTxL=one(out.log_probs), token_entropy_NxTxL=one(out.entropies),
            valid_NxT=jnp.ones((rows, 1), bool), invalid_format_NxT=no, invalid_action_NxT=no,
            step_reward_NxT=one(jnp.asarray(reward, jnp.float32)), overflow_NxT=no,
            reward_N=jnp.asarray(reward, jnp.float32), won_N=jnp.asarray(reward > 0),
            score_N=jnp.asarray(reward, jnp.float32), length_N=jnp.ones((rows,), jnp.int32),
            truncated_N=jnp.zeros((rows,), bool), task_type_N=jnp.zeros((rows,), jnp.int32),
            task_id_N=jnp.repeat(jnp.arange(b, dtype=jnp.int32), g),
            temperature=jnp.float32(TEMPERATURE), group_size=g,
        )  # fmt: skip
        t2 = time.perf_counter()
        state, _ = update(state, batch)
        jax.block_until_ready(state.params)
        t3 = time.perf_counter()
        times["step"].append(t3 - t0)
        times["rollout"].append(t1 - t0)
        times["update"].append(t3 - t2)
    params_count = sum(x.size for x in jax.tree.leaves(params))
    return {k: _median_ms(v, warmup) for k, v in times.items()} | {
        "params": int(params_count), "min_generated": min_len}  # fmt: skip


def run_tunix(shape: dict, steps: int, warmup: int, seed: int) -> dict:
    import jax
    import numpy as np
    import optax
    from flax import nnx
    from grain import python as grain
    from tunix.models.qwen3 import model as qwen3
    from tunix.rl import rl_cluster as rlc
    from tunix.rl.grpo import grpo_learner
    from tunix.rl.rollout import base_rollout
    from tunix.tests.test_common import MockVocab

    s = shape
    words = [f"w{i}" for i in range(3, s["vocab"])]
    vocab = MockVocab(mapping_text_to_id={"<pad>": PAD, "<s>": BOS, "</s>": 2}
                      | {w: i for i, w in enumerate(words, start=3)})  # fmt: skip
    cfg = qwen3.ModelConfig(num_layers=s["layers"], vocab_size=s["vocab"], embed_dim=s["d"],
                            hidden_dim=s["mlp"], num_heads=s["heads"], head_dim=s["head_dim"],
                            num_kv_heads=s["kv_heads"], rope_theta=10_000, norm_eps=1e-6,
                            use_tied_embedding=False)  # fmt: skip
    actor = qwen3.Qwen3(cfg, rngs=nnx.Rngs(params=seed))
    reference = qwen3.Qwen3(cfg, rngs=nnx.Rngs(params=seed))
    # Auto axes: with jax 0.10 `make_mesh` defaults to Explicit ones, which Tunix cannot use.
    mesh = jax.make_mesh((1, 1), ("fsdp", "tp"), axis_types=(jax.sharding.AxisType.Auto,) * 2,
                         devices=jax.devices()[:1])  # fmt: skip
    total = warmup + steps
    rollout = base_rollout.RolloutConfig(
        max_tokens_to_generate=s["gen"], max_prompt_length=PROMPT_PAD, eos_tokens=[-1],
        kv_cache_size=PROMPT_PAD + s["gen"] + 8, temperature=TEMPERATURE)  # fmt: skip
    training = rlc.RLTrainingConfig(
        actor_optimizer=optax.adamw(LR, weight_decay=WEIGHT_DECAY),
        eval_every_n_steps=10**9, max_steps=total)  # fmt: skip
    roles = {r: mesh for r in (rlc.Role.ACTOR, rlc.Role.REFERENCE, rlc.Role.ROLLOUT)}
    cluster = rlc.RLCluster(
        actor=actor, reference=reference, tokenizer=vocab,
        cluster_config=rlc.ClusterConfig(role_to_mesh=roles, rollout_engine="vanilla",
                                         offload_to_cpu=False, training_config=training,
                                         rollout_config=rollout))  # fmt: skip
    algo = grpo_learner.GRPOConfig(num_generations=s["group"], num_iterations=1, beta=BETA,
                                   epsilon=CLIP, kl_loss_mode="low_var_kl")  # fmt: skip

    def reward(prompts, completions, **_):
        return [c.split().count(f"w{TARGET}") / max(len(c.split()), 1) for c in completions]

    learner = grpo_learner.GRPOLearner(rl_cluster=cluster, reward_fns=reward, algo_config=algo)
    times = {"step": [], "rollout": [], "update": []}
    lengths = []
    actor_params = lambda: nnx.state(cluster.actor_trainer.model, nnx.Param)  # noqa: E731

    def timed(fn, name, block=False):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            if block:
                jax.block_until_ready(actor_params())
            times[name].append(time.perf_counter() - t0)
            if name == "rollout":
                lengths.append(min(len(t) for t in out.tokens))
            return out

        return wrapper

    learner._run_global_step = timed(learner._run_global_step, "step", block=True)
    cluster.generate = timed(cluster.generate, "rollout")
    cluster.update_actor = timed(cluster.update_actor, "update", block=True)
    rng = np.random.default_rng(seed)
    # Prompts stay a NumPy array: Tunix repeats every pytree leaf G times.
    texts = np.asarray([" ".join(rng.choice(words, PROMPT_WORDS))
                        for _ in range((total + 1) * s["prompts"])])  # fmt: skip
    data = grain.MapDataset.source(texts).batch(s["prompts"]).map(lambda x: {"prompts": x})
    learner.train(data)
    if len(times["step"]) < total:
        raise RuntimeError(f"Tunix ran {len(times['step'])} of {total} steps")
    params_count = sum(x.size for x in jax.tree.leaves(actor_params()))
    return {k: _median_ms(v, warmup) for k, v in times.items()} | {
        "params": int(params_count), "min_generated": min(lengths)}  # fmt: skip


# -- driver ---------------------------------------------------------------------------------------


def _worker_env(root: str) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=root)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env["XLA_FLAGS"] = " ".join(flags)  # one CPU device for both systems
    return env


def _run_worker(python, system, shape, args, root=REPO) -> dict:
    # The worker protocol is positional and parsed without absl: the worker may run in Tunix's
    # own virtual environment, which need not have empg_jax's CLI dependencies.
    cmd = [python, os.path.join(HERE, "bench_vs_tunix.py"), WORKER, system, shape,
           str(args.steps), str(args.warmup), str(args.seed)]  # fmt: skip
    proc = subprocess.run(cmd, env=_worker_env(root), capture_output=True, text=True, cwd=root)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise SystemExit(f"{system} worker failed on {shape}:\n" + "\n".join(tail))
    return json.loads(lines[-1][len("RESULT ") :])


def _tunix_available(python: str) -> bool:
    probe = "import tunix.rl.grpo.grpo_learner, tunix.models.qwen3.model"
    return subprocess.run([python, "-c", probe], capture_output=True, env=_worker_env(REPO),
                          cwd=HERE).returncode == 0  # fmt: skip


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def _fmt_range(xs, scale=1e-3, digits=3):
    lo, hi = min(xs) * scale, max(xs) * scale
    return f"{lo:.{digits}f}" if f"{lo:.{digits}f}" == f"{hi:.{digits}f}" else (
        f"{lo:.{digits}f}–{hi:.{digits}f}")  # fmt: skip


def _cell(results):
    step = _fmt_range([r["step"] for r in results])
    roll = _fmt_range([r["rollout"] for r in results])
    upd = _fmt_range([r["update"] for r in results])
    return f"{step} ({roll} / {upd})"


WORKER = "_worker"


def _worker(argv: list[str]) -> int:
    system, shape, steps, warmup, seed = argv
    run = run_tunix if system == "tunix" else run_empg
    print("RESULT " + json.dumps(run(SHAPES[shape], int(steps), int(warmup), int(seed))))
    return 0


def main(argv: list[str] | None = None) -> int:
    from absl import flags

    from experiments import _cli

    fv = flags.FlagValues()
    flags.DEFINE_list("shapes", ["tiny", "small"], "some of tiny, small", flag_values=fv)
    flags.DEFINE_integer("rounds", 3, "alternating rounds per shape", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("steps", 10, "timed steps per worker", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("warmup", 2, "untimed first steps (compilation)", lower_bound=0,
                         flag_values=fv)  # fmt: skip
    flags.DEFINE_integer("seed", 0, "seed of models and prompts", flag_values=fv)
    flags.DEFINE_string("tunix_python", sys.executable, "a Python that can import tunix",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_string("baseline", None, "another empg_jax checkout to time in the same rounds",
                        flag_values=fv)  # fmt: skip
    return _cli.run(lambda: _drive(fv), fv, argv)


def _drive(a) -> int:
    from experiments import _cli

    shapes = [s.strip() for s in a.shapes if s.strip()]
    bad = [s for s in shapes if s not in SHAPES]
    if bad or not shapes:
        raise _cli.UsageError(f"unknown shape(s) {bad or shapes}; choose from {sorted(SHAPES)}")
    if a.baseline and not os.path.isdir(os.path.join(a.baseline, "empg_jax")):
        raise _cli.UsageError(f"--baseline {a.baseline!r} has no empg_jax package")

    # Workers run in other directories: a relative interpreter path is the caller's.
    tunix_python = os.path.abspath(a.tunix_python) if os.sep in a.tunix_python else a.tunix_python
    systems = [("empg_jax", sys.executable, REPO)]
    if a.baseline:
        name = f"empg_jax@{os.path.basename(os.path.abspath(a.baseline))}"
        systems.append((name, sys.executable, os.path.abspath(a.baseline)))
    if _tunix_available(tunix_python):
        systems.insert(0, ("Tunix", tunix_python, REPO))
    else:
        print(f"Tunix is not importable with {tunix_python}: timing empg_jax only "
              "(see this script's docstring to install it).", flush=True)  # fmt: skip
    print(f"{a.rounds} round(s) x {shapes}; {a.warmup} warm-up + {a.steps} timed steps per "
          f"worker; systems: {[s[0] for s in systems]}; load average {_load()}",
          flush=True)  # fmt: skip
    results = {(name, sh): [] for name, *_ in systems for sh in shapes}
    for r in range(a.rounds):
        for sh in shapes:
            order = systems if r % 2 == 0 else systems[::-1]
            for name, python, root in order:
                t0 = time.perf_counter()
                res = _run_worker(python, "tunix" if name == "Tunix" else "empg", sh, a, root)
                if res["min_generated"] != SHAPES[sh]["gen"]:
                    print(f"  warning: {name} generated only {res['min_generated']} tokens")
                results[(name, sh)].append(res)
                print(f"round {r + 1} {sh:5s} {name:18s} step {res['step']:8.1f} ms (rollout "
                      f"{res['rollout']:8.1f} / update {res['update']:8.1f}) "
                      f"[{res['params']:,} params, {time.perf_counter() - t0:.0f} s]",
                      flush=True)  # fmt: skip
    print()
    has_tunix = systems[0][0] == "Tunix"
    head = "| shape | " + ("Tunix s/step (rollout / update) | " if has_tunix else "")
    head += " | ".join(f"{n} s/step (rollout / update)" for n, *_ in systems if n != "Tunix")
    if has_tunix:
        head += " | " + " | ".join(f"Tunix / {n}" for n, *_ in systems if n != "Tunix")
    print(head + " |")
    print("|" + "---|" * (head.count("|")))
    for sh in shapes:
        s = SHAPES[sh]
        label = (f"{sh}: {s['layers']}L d{s['d']} V{s['vocab']}, {s['prompts']} prompts × G "
                 f"{s['group']}, gen {s['gen']}")  # fmt: skip
        cells = [_cell(results[(n, sh)]) for n, *_ in systems]
        if has_tunix:
            for n, *_ in systems[1:]:
                ratios = [
                    t["step"] / e["step"]
                    for t, e in zip(results[("Tunix", sh)], results[(n, sh)], strict=True)
                ]
                cells.append(
                    f"{_fmt_range(ratios, 1.0, 2)} (median {statistics.median(ratios):.2f})"
                )
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nRanges are over rounds; each entry is a worker's median over its timed steps. "
          f"Load average at the end: {_load()}.")  # fmt: skip
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == WORKER:
        sys.exit(_worker(sys.argv[2:]))
    sys.exit(main())
