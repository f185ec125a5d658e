"""The workforce check experiment: planner success on held-out templates for random / SFT /
SFT+DPO / SFT+GRPO / SFT+GRPO+EMPG, robustness to worker failures, and the drop on a new worker.

    python -m experiments.workforce                       # configs/workforce/check.py
    python -m experiments.workforce --config.num_seeds=2 --config.sft_steps=100

Per seed: the planner is trained by SFT on the oracle's successful plans (`configs/workforce/`,
the same recipes as `experiments.train`), then each RL phase starts from that SFT policy (DPO on
(success, failure) pairs against the frozen SFT policy, GRPO, GRPO + EMPG; workers fail with
`env.p_fail` = 0.2 during training). "random" is the untrained initial policy. Evaluation is
greedy, on `eval_tasks` episodes of the held-out templates (`test_unseen`) at each `p_fail`, and
of the seen templates. Transfer: the SFT planner and the monolithic tool-calling policy (the same
model, SFT on the oracle's calls, no planner / worker split) on `test_seen` and on
`test_transfer` (questions that need the `convert` worker, which only that split describes).

Every run of a seed shares the compiled programs (one rollout, one SFT step and one update per
algorithm), so the whole table costs a few compilations. Prints a markdown table (mean and 95%
t-interval over seeds) and the orderings that hold, and writes it to `results` with a figure.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags
from flax import nnx
from ml_collections import config_flags

from configs.workforce.common import workforce_config
from empg_jax.data.sft import SFTBatches, memory_source
from empg_jax.models import Transformer, shard_state, to_host
from empg_jax.training import Experiment, evaluate, rollout_batch
from empg_jax.training.dpo import jit_dpo_update
from empg_jax.training.experiment import model_config
from empg_jax.training.options import DPOOptions, RLOptions
from empg_jax.training.rl import jit_rl_update
from experiments import _cli

FLAGS = flags.FlagValues()
DEFAULT_CONFIG = "configs/workforce/check.py"
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, f"config file (default {DEFAULT_CONFIG})", flag_values=FLAGS
)
LABELS = {
    "random": "random (untrained)",
    "sft": "SFT",
    "sft_dpo": "SFT+DPO",
    "sft_grpo": "SFT+GRPO",
    "sft_grpo_empg": "SFT+GRPO+EMPG",
}
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 9: 2.262}


def pipeline_config(check, pipeline: str, monolithic: bool = False):
    """A `configs/workforce` recipe with the check experiment's overrides."""
    c = workforce_config(pipeline, monolithic)
    c.sft.steps = int(check.sft_steps)
    c.rl.iterations = int(check.rl_iterations)
    c.eval.num_tasks = int(check.eval_tasks)
    c.mesh.shape = tuple(check.get("mesh_shape", c.mesh.shape))
    return c


class Runner:
    """One built experiment (prompt, rollout, SFT step) serving every seed and RL phase."""

    def __init__(self, check, monolithic: bool, log):
        self.check, self.log = check, log
        self.exp = Experiment(pipeline_config(check, "sft", monolithic))
        self.updates = {}

    def initial_params(self, seed: int):
        c = self.exp.config
        model = Transformer(model_config(c, self.exp.codec.vocab_size), rngs=nnx.Rngs(seed))
        return shard_state(nnx.split(model)[1], self.exp.mesh)

    def sft(self, seed: int):
        """The SFT phase of `training.loop` (same data, steps and optimiser)."""
        exp, c = self.exp, self.exp.config
        k_sft, _, k_demo, _ = jax.random.split(jax.random.PRNGKey(seed), 4)
        t0 = time.time()
        rows = exp.demonstration_rows(k_demo)
        state = exp.new_state(self.initial_params(seed), "sft", k_sft)
        batches = SFTBatches(memory_source(rows), to_host(state.key), c.sft.batch_rows, c.sft.steps)
        for _ in range(c.sft.steps):
            state, m = exp.sft_step(state, exp.sft_batch(next(batches), c.sft.batch_rows))
        self.log(
            f"  SFT seed {seed}: {c.sft.steps} steps, last loss {float(m['sft_loss']):.3f} "
            f"({time.time() - t0:.0f}s)"
        )
        return state.params

    def rl(self, pipeline: str, sft_params, seed: int):
        """The RL phase of `training.loop` from the SFT parameters."""
        cfg = pipeline_config(self.check, pipeline)
        if pipeline not in self.updates:
            exp = self.exp
            if cfg.rl.algorithm == "dpo":
                fn = jit_dpo_update(exp.graphdef, exp.rl_opt, DPOOptions.from_config(cfg))
            else:
                fn = jit_rl_update(exp.graphdef, exp.rl_opt, RLOptions.from_config(cfg))
            self.updates[pipeline] = fn
        _, k_rl, _, _ = jax.random.split(jax.random.PRNGKey(seed), 4)
        with_ref = cfg.rl.kl_coef > 0 or cfg.rl.algorithm == "dpo"
        params = jax.tree.map(jnp.copy, sft_params)  # the update donates its state
        state = self.exp.new_state(params, "rl", k_rl, with_ref=with_ref)
        won, t0 = [], time.time()
        for it in range(cfg.rl.iterations):
            ro, _, _ = rollout_batch(self.exp, state.params, state.key, it, cfg.rl.temperature)
            state, _ = self.updates[pipeline](state, ro)
            won.append(float(np.asarray(ro.won_N).mean()))
        self.log(
            f"  {LABELS[pipeline]} seed {seed}: training success {np.mean(won[:3]):.2f} "
            f"(first 3 iterations) -> {np.mean(won[-3:]):.2f} (last 3) ({time.time() - t0:.0f}s)"
        )
        return state.params

    def success(self, params, split: str, p_fail: float, seed: int) -> float:
        """Greedy success on `eval_tasks` episodes of `split` with workers failing w.p. p_fail.

        The failure probability is a traced field of the step params: no recompilation.
        """
        exp = self.exp
        saved = exp.step_params
        exp.step_params = saved.replace(p_fail=float(p_fail))
        try:
            key = jax.random.fold_in(jax.random.PRNGKey(1000 + seed), int(p_fail * 100))
            return evaluate(exp, params, split, key, self.check.eval_tasks)["success"]
        finally:
            exp.step_params = saved


def run(check, log=print) -> dict:
    """Trains and evaluates everything; returns `{"success": {...}, "transfer": {...}}`."""
    seeds = [int(check.seed) + i for i in range(int(check.num_seeds))]
    methods = ["random", "sft", *check.pipelines]
    success = {
        m: {f"{split}@{pf:g}": [] for split in ("test_unseen", "test_seen") for pf in check.p_fails}
        for m in methods
    }
    transfer = {"planner": {"test_seen": [], "test_transfer": []}}
    start = time.time()
    planner = Runner(check, False, log)
    for seed in seeds:
        log(f"[workforce] planner, seed {seed} ({time.time() - start:.0f}s)")
        params = {"random": planner.initial_params(seed), "sft": planner.sft(seed)}
        for pipeline in check.pipelines:
            params[pipeline] = planner.rl(pipeline, params["sft"], seed)
        t0 = time.time()
        for m in methods:
            for key in success[m]:
                split, pf = key.split("@")
                success[m][key].append(planner.success(params[m], split, float(pf), seed))
        for split in transfer["planner"]:
            transfer["planner"][split].append(planner.success(params["sft"], split, 0.0, seed))
        log(f"  evaluated seed {seed} ({time.time() - t0:.0f}s)")
    if check.monolithic:
        mono = Runner(check, True, log)
        transfer["monolithic"] = {"test_seen": [], "test_transfer": []}
        for seed in seeds[: int(check.monolithic_seeds)]:
            log(f"[workforce] monolithic, seed {seed} ({time.time() - start:.0f}s)")
            params = mono.sft(seed)
            for split in transfer["monolithic"]:
                transfer["monolithic"][split].append(mono.success(params, split, 0.0, seed))
    log(f"[workforce] done in {time.time() - start:.0f}s")
    return {
        "success": success,
        "transfer": transfer,
        "seeds": seeds,
        "seconds": time.time() - start,
    }


def interval(values) -> tuple[float, float]:
    """Mean and the half-width of the 95% t-interval over seeds (0 for one seed)."""
    x = np.asarray(values, np.float64)
    if len(x) < 2:
        return float(x.mean()), 0.0
    return float(x.mean()), float(T_975.get(len(x) - 1, 1.96) * x.std(ddof=1) / np.sqrt(len(x)))


def cell(values) -> str:
    mean, half = interval(values)
    if len(values) < 2:
        return f"{100 * mean:.1f} (1 seed)"
    return f"{100 * mean:.1f} ± {100 * half:.1f}"


def orderings(results, check) -> list[tuple[str, str]]:
    """(claim, verdict) per ordering: paired over seeds, "holds (every seed)", "holds on
    average" (mean difference > 0 but not every seed), or "does not hold"."""
    s = results["success"]
    lo, hi = f"test_unseen@{min(check.p_fails):g}", f"test_unseen@{max(check.p_fails):g}"

    def verdict(diff):
        diff = np.asarray(diff)
        mean, half = interval(diff)
        tail = f"(difference {100 * mean:+.1f} ± {100 * half:.1f} points)"
        if len(diff) < 2:
            return f"one seed, no interval (difference {100 * mean:+.1f} points)"
        if (diff > 0).all() and mean - half > 0:
            return f"holds, every seed, interval above 0 {tail}"
        if (diff > 0).all():
            return f"holds in every seed, interval includes 0 {tail}"
        if mean > 0:
            return f"holds on average only {tail}"
        return f"does not hold {tail}"

    def gap(a, b, key=lo):
        return np.subtract(s[b][key], s[a][key])

    seen = f"test_seen@{min(check.p_fails):g}"
    claims = [
        ("random < SFT (seen templates)", verdict(gap("random", "sft", seen))),
        ("random < SFT (held-out)", verdict(gap("random", "sft"))),
    ]
    for p in check.pipelines:
        claims.append((f"SFT < {LABELS[p]} (held-out)", verdict(gap("sft", p))))
    if "sft_grpo" in s and "sft_grpo_empg" in s:
        claims.append(
            ("SFT+GRPO < SFT+GRPO+EMPG (held-out)", verdict(gap("sft_grpo", "sft_grpo_empg")))
        )
    if "sft_dpo" in s and hi != lo:
        # More robust: a smaller drop from p_fail low to high than SFT's.
        drop = {m: np.subtract(s[m][lo], s[m][hi]) for m in ("sft", "sft_dpo")}
        claims.append(
            (
                f"SFT+DPO drops less than SFT from p_fail {lo.split('@')[1]} to "
                f"{hi.split('@')[1]} (held-out)",
                verdict(drop["sft"] - drop["sft_dpo"]),
            )
        )
    t = results["transfer"]
    if "monolithic" in t:
        drop = {k: np.subtract(v["test_seen"], v["test_transfer"]) for k, v in t.items()}
        n = len(drop["monolithic"])  # the monolithic policy is trained on the first n seeds
        claims.append(
            (
                f"planner drops less than monolithic on the new worker ({n} paired seeds)",
                verdict(drop["monolithic"] - drop["planner"][:n]),
            )
        )
    return claims


def table(results, check) -> str:
    s, t = results["success"], results["transfer"]
    keys = list(next(iter(s.values())))
    head = " | ".join(
        f"{k.split('@')[0].replace('test_', '')} p_fail={k.split('@')[1]}" for k in keys
    )
    n = len(results["seeds"])
    lines = [
        f"Success (%) over {n} seeds, mean ± 95% t-interval; {check.eval_tasks} greedy episodes "
        "per seed and cell; 'unseen' = held-out templates.",
        "",
        f"| method | {head} |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for m, row in s.items():
        lines.append(f"| {LABELS[m]} | " + " | ".join(cell(row[k]) for k in keys) + " |")
    lines += [
        "",
        "Transfer (p_fail = 0): success on seen templates and on questions that need the "
        "`convert` worker, never trained on and described in the prompt only.",
        "",
        "| policy | seen | transfer | drop |",
        "|---|---|---|---|",
    ]
    for name, v in t.items():
        drop = np.subtract(v["test_seen"], v["test_transfer"])
        label = "planner (SFT)" if name == "planner" else "monolithic (SFT)"
        lines.append(
            f"| {label} | {cell(v['test_seen'])} | {cell(v['test_transfer'])} | {cell(drop)} |"
        )
    lines += ["", "| ordering | verdict |", "|---|---|"]
    lines += [f"| {claim} | {v} |" for claim, v in orderings(results, check)]
    return "\n".join(lines)


def plot(results, check, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s, t = results["success"], results["transfer"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 1.4]})
    methods = list(s)
    keys = list(next(iter(s.values())))
    width = 0.8 / len(keys)
    for i, k in enumerate(keys):
        split, pf = k.split("@")
        stats = [interval(s[m][k]) for m in methods]
        axes[0].bar(
            np.arange(len(methods)) + i * width,
            [100 * a for a, _ in stats],
            width,
            yerr=[100 * b for _, b in stats],
            capsize=3,
            hatch="" if split == "test_unseen" else "//",
            label=f"{'held-out' if split == 'test_unseen' else 'seen'} templates, p_fail {pf}",
        )
    axes[0].set_xticks(np.arange(len(methods)) + width * (len(keys) - 1) / 2)
    axes[0].set_xticklabels([LABELS[m] for m in methods], fontsize=8)
    axes[0].set_ylabel("success (%)")
    axes[0].set_ylim(0, 100)
    axes[0].legend(fontsize=7)
    names = list(t)
    for i, split in enumerate(("test_seen", "test_transfer")):
        stats = [interval(t[n][split]) for n in names]
        axes[1].bar(
            np.arange(len(names)) + i * 0.4,
            [100 * a for a, _ in stats],
            0.4,
            yerr=[100 * b for _, b in stats],
            capsize=3,
            label=split.replace("test_", ""),
        )
    axes[1].set_xticks(np.arange(len(names)) + 0.2)
    axes[1].set_xticklabels(names, fontsize=8)
    axes[1].set_ylabel("success (%)")
    axes[1].set_ylim(0, 100)
    axes[1].set_title("new worker (transfer)", fontsize=9)
    axes[1].legend(fontsize=8)
    fig.suptitle(
        f"workforce check experiment, {len(results['seeds'])} seeds, 95% t-intervals", fontsize=9
    )
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _main() -> None:
    check = _CONFIG.value
    # Compiled programs are cached across runs (as the tests do); JAX_COMPILATION_CACHE_DIR wins.
    jax.config.update(
        "jax_compilation_cache_dir", os.environ.get("JAX_COMPILATION_CACHE_DIR", ".cache/jax")
    )
    if int(check.num_seeds) < 1:
        raise _cli.UsageError(f"num_seeds={check.num_seeds} must be >= 1")
    if check.monolithic and not 1 <= int(check.monolithic_seeds) <= int(check.num_seeds):
        raise _cli.UsageError(
            f"monolithic_seeds={check.monolithic_seeds} must be in [1, num_seeds]"
        )
    unknown = [p for p in check.pipelines if p not in LABELS or p in ("random", "sft")]
    if unknown:
        raise _cli.UsageError(
            f"unknown pipelines {unknown}; choose from sft_dpo, sft_grpo, sft_grpo_empg"
        )
    results = run(check)
    text = table(results, check)
    print(text)
    out = Path(check.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    plot(results, check, check.figure)
    print(f"[workforce] table: {out}; figure: {check.figure}")


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv, default_config=DEFAULT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
