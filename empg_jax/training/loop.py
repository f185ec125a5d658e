"""The training program: SFT warm-start on oracle demonstrations, then RL (GRPO / DAPO, optional
EMPG), with evaluation, metrics, checkpoints and exact resume (`training.resume`).

EMPG: Wang et al., "Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM
Agents", https://arxiv.org/abs/2509.09265.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections

from empg_jax.data.sft import SFTBatches, memory_source, read_rows, write_rows
from empg_jax.training.checkpoint import Checkpointer, CheckpointError
from empg_jax.training.distributed import (
    barrier,
    is_primary,
    primary_ok,
    process_prefix,
    to_host,
)
from empg_jax.training.evaluation import evaluate, rollout_batch
from empg_jax.training.experiment import Experiment
from empg_jax.training.guards import NonFiniteError, check_metrics, check_rollout
from empg_jax.training.metrics import MetricsWriter
from empg_jax.training.resume import initial_meta, restore_latest
from empg_jax.training.rundir import RunDirError, WorkdirLock, check_config
from empg_jax.training.schedules import plateau_update
from empg_jax.training.state import TrainState

#: Metrics on the RL progress line (`step_entropy` is the rollout's mean step entropy).
PROGRESS_KEYS = (
    "success",
    "reward",
    "length",
    "invalid_format",
    "step_entropy",
    "kl",
    "clip_fraction",
)
SFT_KEYS = ("sft_loss", "grad_norm")


def train(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    stream=None,
    host_envs: dict[str, Any] | None = None,
    *,
    allow_config_changes: bool = False,
) -> dict[str, Any]:
    """Runs (or resumes) SFT then RL; returns a summary with the before/after evaluations.

    The config is validated and the experiment built before the workdir is touched. Then the
    workdir is locked for this trainer (`rundir.WorkdirLock`) and the config is checked against
    the run's `config.json` (`rundir.check_config`: a changed config is refused unless
    `allow_config_changes` and every change is one that is safe on resume).

    `host_envs`: train on host (external) environments, one per split (see `Experiment`).
    Raises `guards.NonFiniteError` when a NaN/inf stops the run (`nonfinite="stop"`).
    """
    exp = Experiment(config, host_envs)
    workdir = Path(workdir)
    out = stream if stream is not None else sys.stdout
    log = lambda message: print(process_prefix() + message, file=out, flush=True)  # noqa: E731
    lock = WorkdirLock(workdir, log)
    # Process 0 owns the workdir; the others follow its verdict (a refusal stops them all).
    refusal = None
    if is_primary():
        try:
            lock.acquire()
            check_config(
                workdir,
                config,
                allow_changes=allow_config_changes,
                rl_started=_rl_started(workdir / "checkpoints"),
                log=log,
            )
        except RunDirError as e:
            lock.release()
            refusal = e
    if not primary_ok(refusal is None):
        raise refusal or RunDirError(f"process 0 refused the workdir {workdir}")
    try:
        ckpt = Checkpointer(
            workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
        )
        writer = MetricsWriter(workdir, config.log.tensorboard, out)
        try:  # an interrupted run still finishes its pending (async) checkpoint
            return _train(exp, ckpt, writer)
        finally:
            writer.close()
            ckpt.close()
    finally:
        lock.release()


def _sft_batches(exp: Experiment, key, k_demo, workdir: Path) -> SFTBatches:
    """The run's SFT batches through the data stack (`data.sft`): the demonstration rows are
    generated once and, with `sft.data="tfds"`, written to `<workdir>/data` by process 0 and
    read back from there (also on resume)."""
    c = exp.config
    dataset = workdir / "data" / "sft_rows" / "1.0.0"
    if c.sft.data == "tfds" and (dataset / "dataset_info.json").exists():
        source = read_rows(dataset)
    else:
        rows = exp.demonstration_rows(k_demo)  # a jitted rollout: every process runs it
        if c.sft.data == "tfds":
            if is_primary():
                write_rows(rows, workdir / "data")
            barrier("sft rows written")
            source = read_rows(dataset)
        else:
            source = memory_source(rows)
    return SFTBatches(
        source, key, c.sft.batch_rows, c.sft.steps, jax.process_index(), jax.process_count()
    )


def _rl_started(checkpoints: Path) -> bool:
    """Whether the newest readable checkpoint is past the first RL iteration (read directly
    from the checkpoints' JSON metadata, without opening a checkpoint manager)."""
    steps = sorted((int(p.name) for p in checkpoints.glob("*") if p.name.isdigit()), reverse=True)
    for step in steps:
        try:
            meta = json.loads((checkpoints / str(step) / "meta" / "metadata").read_text())
        except (OSError, ValueError):  # a damaged step: look at the previous one
            continue
        return meta.get("phase") == "rl" and meta.get("rl_iteration", 0) > 0
    return False


def run_keys(seed: int) -> jax.Array:
    """The run's four root keys: SFT, RL, demonstrations and evaluation (every evaluation of a
    run, before and after RL, uses the same key: common random numbers)."""
    return jax.random.split(jax.random.PRNGKey(seed), 4)


def _train(exp: Experiment, ckpt: Checkpointer, writer: MetricsWriter) -> dict[str, Any]:
    c = exp.config
    k_sft, k_rl, k_demo, k_eval = run_keys(c.seed)
    meta = initial_meta(c)
    state = exp.new_state(exp.init_params, meta["phase"], k_sft if meta["phase"] == "sft" else k_rl)
    state, meta, resumed = restore_latest(exp, ckpt, writer, state, meta, k_rl)
    if not resumed:
        writer.reset()
    resumed_rl = meta["rl_iteration"] if resumed and meta["phase"] == "rl" else None

    def save(global_step: int) -> None:
        meta["reference"] = state.ref_params is not None
        ckpt.save(global_step, state, meta)

    eval_s: dict[str, float] = {}  # wall time of each split's latest evaluation

    def evaluate_all(params) -> dict[str, dict[str, float]]:
        results = {}
        for split in c.env.eval_splits:
            t0 = time.perf_counter()
            results[split] = evaluate(exp, params, split, k_eval)
            eval_s[split] = time.perf_counter() - t0
        return results

    def log_eval(phase: str, step: int, results) -> None:
        for split, res in results.items():
            timing = {"time/eval_s": eval_s[split]}
            writer.write(phase, step, {**{f"{split}/{k}": v for k, v in res.items()}, **timing})

    # ----- SFT ---------------------------------------------------------------------------
    if meta["phase"] == "sft":
        batches = _sft_batches(exp, to_host(state.key), k_demo, writer.workdir)
        batches.set_state(meta.get("data_state") or {"next_index": meta["sft_step"]})
        writer.begin("sft", c.sft.steps, meta["sft_step"])
        for step in range(meta["sft_step"], c.sft.steps):
            batch = exp.sft_batch(next(batches), c.sft.batch_rows)
            state, m = exp.sft_step(state, batch)
            meta["data_state"] = batches.get_state()
            scalars = writer.write("sft", step + 1, m)
            bad = check_metrics(scalars, ("sft_loss", "grad_norm"))
            if bad and c.nonfinite == "stop":
                raise NonFiniteError(f"SFT step {step + 1}: {', '.join(bad)}")
            sft_every = c.log.progress_every * 10
            writer.progress("sft", step + 1, c.sft.steps, scalars, SFT_KEYS, sft_every)
            meta["sft_step"] = step + 1
            every = c.checkpoint.sft_every
            if every and (step + 1) % every == 0 and step + 1 < c.sft.steps:
                save(step + 1)
        meta["phase"] = "rl"
        state = exp.new_state(state.params, "rl", k_rl)
        if c.eval.before_rl:  # kept in the end-of-SFT checkpoint: RL runs resumed from it reuse it
            meta["before"] = evaluate_all(state.params)
            log_eval("eval_before", 0, meta["before"])
        save(c.sft.steps)

    # ----- RL ----------------------------------------------------------------------------
    if meta["before"] is None and c.eval.before_rl:
        meta["before"] = evaluate_all(state.params)
        log_eval("eval_before", 0, meta["before"])
    if resumed_rl and resumed_rl % c.eval.every == 0 and resumed_rl < c.rl.iterations:
        # `truncate` dropped this evaluation (written before the checkpoint, and not told
        # apart from a shorter run's final one): redo it, as the uninterrupted run has it.
        log_eval("eval", resumed_rl, evaluate_all(state.params))
    writer.begin("rl", c.rl.iterations, meta["rl_iteration"])
    for it in range(meta["rl_iteration"], c.rl.iterations):
        state, scalars = _rl_iteration(exp, state, it, meta["temperature"], writer)
        if c.rl.plateau.enabled:
            plateau_update(meta, scalars["reward"], c.rl.plateau)
        meta["rl_iteration"] = it + 1
        eval_s.clear()
        if (it + 1) % c.eval.every == 0 and it + 1 < c.rl.iterations:
            log_eval("eval", it + 1, evaluate_all(state.params))
        shown = {**scalars, "step_entropy": scalars.get("step_entropy_mean", float("nan"))}
        shown["time/eval_s"] = sum(eval_s.values())
        writer.progress("rl", it + 1, c.rl.iterations, shown, PROGRESS_KEYS, c.log.progress_every)
        if (it + 1) % c.checkpoint.every == 0 or it + 1 == c.rl.iterations:
            save(c.sft.steps + it + 1)
    if c.env.eval_splits:
        writer.log(f"[eval] after RL: {', '.join(c.env.eval_splits)} ...")
    # Without RL iterations the policy is the one evaluated before RL (same keys): reuse it.
    no_rl = c.rl.iterations == 0 and meta["before"] is not None
    after = meta["before"] if no_rl else evaluate_all(state.params)
    log_eval("eval", c.rl.iterations, after)
    return {"before": meta["before"], "after": after, "state": state, "experiment": exp}


def _rl_iteration(exp: Experiment, state: TrainState, it: int, temperature: float, writer):
    """Rollout, update and metrics of RL iteration `it` (0-based)."""
    c = exp.config
    t0 = time.perf_counter()
    ro, attempts, kept = rollout_batch(exp, state.params, state.key, it, temperature)
    jax.block_until_ready(ro)
    t1 = time.perf_counter()
    bad = check_rollout(ro.reward_N, ro.token_entropy_NxTxL, ro.answer_mask_NxTxL)
    if bad and c.nonfinite == "stop":
        raise NonFiniteError(f"RL iteration {it + 1}: non-finite {', '.join(bad)} in the rollout")
    if bad:  # skip: this iteration's batch would turn every advantage into NaN
        writer.log(f"[rl] iteration {it + 1}: non-finite {', '.join(bad)}; update skipped")
        m = {"skipped_update_fraction": 1.0, "num_train_rows": 0.0}
    else:
        state, m = exp.rl_step(state, ro)
        jax.block_until_ready(state)
    t2 = time.perf_counter()
    m = dict(m)
    m.update(ro.episode_metrics(exp.env.task_types))
    m["temperature"] = temperature
    m["resample_attempts"] = attempts
    m["kept_groups"] = kept
    m["time/rollout_tokens_per_s"] = float(to_host(ro.answer_mask_NxTxL).sum()) / (t1 - t0)
    m["time/update_tokens_per_s"] = float(m["num_train_rows"]) * c.agent.answer_len / (t2 - t1)
    m["time/iteration_s"] = t2 - t0  # rollout + update; evaluation: `time/eval_s` of "eval"
    m["time/rollout_s"] = t1 - t0
    m["time/update_s"] = t2 - t1
    scalars = writer.write("rl", it + 1, m)
    bad = check_metrics(scalars, ("loss", "pg_loss", "kl", "grad_norm"))
    if bad and c.nonfinite == "stop":
        raise NonFiniteError(f"RL iteration {it + 1}: {', '.join(bad)}")
    return state, scalars


def load_params(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    step: int | None = None,
    host_envs: dict[str, Any] | None = None,
):
    """Restores the policy parameters of a run's checkpoint (the newest intact one by default).

    Only the parameters are read, never the optimiser state. Returns `(experiment, params,
    meta)`: `meta` is the checkpoint's loop state plus `global_step` and `skipped` (damaged newer
    steps passed over, `[(step, reason)]`). Raises `CheckpointError` (a `ValueError`) when there
    is no such checkpoint.
    """
    exp = Experiment(config, host_envs)
    ckpt = Checkpointer(Path(workdir) / "checkpoints", config.checkpoint.keep, False)

    def read(s: int):
        return ckpt.restore_params(exp.init_params, s), ckpt.read_meta(s)

    try:
        steps = ckpt.steps()
        if not steps:
            raise CheckpointError(f"no checkpoint under {workdir}/checkpoints")
        if step is None:
            found = ckpt.restore_newest(read)
            step, (params, meta), skipped = found.step, found.value, found.skipped
        elif step not in steps:
            raise CheckpointError(
                f"no checkpoint {step} under {workdir}/checkpoints (have {steps})"
            )
        else:
            (params, meta), skipped = read(step), []
    finally:
        ckpt.close()
    return exp, params, {**meta, "global_step": int(step), "skipped": skipped}
