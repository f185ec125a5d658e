"""Evaluation on fixed tasks, and the RL batch of one iteration (with DAPO's resampling)."""

from __future__ import annotations

import jax
import numpy as np

from empg_jax.agents import Rollout
from empg_jax.training.distributed import to_host
from empg_jax.training.experiment import Experiment


def evaluate(exp: Experiment, params, split: str, key, num_tasks: int | None = None):
    """Success (overall and per task type), reward, length and invalid-format rate on tasks
    0..num_tasks-1 of `split` (default `eval.num_tasks`), at `eval.temperature`."""
    c = exp.config
    total = min(num_tasks or c.eval.num_tasks, exp.num_tasks(split))
    n = exp.num_episodes
    won, ttype, reward, length, bad = [], [], [], [], []
    for start in range(0, total, n):
        ids = np.arange(start, start + n) % total
        ro = exp.play(params, jax.random.fold_in(key, start), split, ids, c.eval.temperature)
        take = min(n, total - start)
        won.append(to_host(ro.won_N)[:take])
        ttype.append(to_host(ro.task_type_N)[:take])
        reward.append(to_host(ro.reward_N)[:take])
        length.append(to_host(ro.length_N)[:take])
        v = to_host(ro.valid_NxT)[:take]
        bad.append((to_host(ro.invalid_format_NxT)[:take] & v).sum() / max(v.sum(), 1))
    won, ttype = np.concatenate(won), np.concatenate(ttype)
    out = {
        "success": float(won.mean()),
        "reward": float(np.concatenate(reward).mean()),
        "length": float(np.concatenate(length).mean()),
        "invalid_format": float(np.mean(bad)),
        "episodes": float(total),
        # Per task (0..total-1): what a paired comparison of two policies on these tasks needs.
        "won_per_task": [bool(w) for w in won],
    }
    for i, name in enumerate(exp.env.task_types):
        sel = ttype == i
        if sel.any():
            out[f"success/{name}"] = float(won[sel].mean())
    return out


def rollout_batch(exp: Experiment, params, key, iteration: int, temperature: float):
    """The RL batch of one iteration: B tasks x G samples.

    With DAPO's dynamic sampling (`rl.dynamic_sampling`), up to `rl.max_resample` more batches
    are drawn and groups whose returns are not all equal are kept until B groups are found;
    slots still missing keep groups of the first batch (all-equal ones, which the update's
    dynamic-sampling mask then drops). Returns `(rollout, attempts, kept_groups)`.
    """
    c = exp.config
    b, g = c.rl.tasks_per_iter, c.rl.group_size
    base = jax.random.fold_in(jax.random.fold_in(key, 7), iteration)
    attempts = (c.rl.max_resample if c.rl.dynamic_sampling else 0) + 1
    kept: list[tuple[Rollout, int]] = []
    first = None
    for a in range(attempts):
        k_task, k_roll = jax.random.split(jax.random.fold_in(base, a))
        tasks = np.asarray(jax.random.randint(k_task, (b,), 0, exp.num_tasks(c.env.train_split)))
        ro = exp.play(params, k_roll, c.env.train_split, np.repeat(tasks, g), temperature)
        first = ro if first is None else first
        if not c.rl.dynamic_sampling:
            return ro, 1, b
        r = to_host(ro.reward_N).reshape(b, g)
        for grp in np.flatnonzero(r.max(1) > r.min(1)):
            if len(kept) < b:
                kept.append((ro, int(grp)))
        if len(kept) >= b:
            break
    n_kept = len(kept)
    used = {grp for r_, grp in kept if r_ is first}
    fill = [grp for grp in range(b) if grp not in used]
    sources = kept + [(first, grp) for grp in fill[: b - n_kept]]
    parts = [r_.episodes(np.arange(grp * g, (grp + 1) * g)) for r_, grp in sources]
    return Rollout.concatenate(parts), a + 1, n_kept
