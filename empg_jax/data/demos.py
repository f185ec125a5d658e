"""Task lists and oracle demonstrations of any registered environment, as numpy arrays.

Generic over the environment contract (`empg_jax.envs.core`): it only calls `default_params`,
`reset_to_task`, `oracle_response` (through `core.oracle_policy`) and `step` (through
`core.rollout`), so household, shop and search all work. The TFDS builders in
`empg_jax.data.tfds_builders` write these arrays to array_record files.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs import core

#: Per-step fields of a demonstration row (besides the text fields the builders add).
DEMO_FIELDS = (
    "episode",
    "task_id",
    "task_type",
    "step",
    "task",
    "obs",
    "admissible",
    "num_admissible",
    "response",
    "reward",
    "won",
    "terminated",
    "truncated",
    "invalid",
)


def task_ids_for(env: Any, split: str, num_episodes: int | None) -> np.ndarray:
    """Task indices `0, 1, ...` of the split, cycling when more episodes than tasks are asked."""
    params = env.default_params(split=split)
    num_tasks = int(params.num_tasks)
    n = num_tasks if num_episodes is None else int(num_episodes)
    if n <= 0:
        raise ValueError(f"num_episodes must be positive, got {num_episodes}")
    return np.arange(n, dtype=np.int32) % num_tasks


def generate_tasks(env: Any, split: str, num_tasks: int | None = None, batch: int = 512):
    """The tasks of a split: `task_id`, `task_type`, `task` tokens and first `obs`, as numpy."""
    params = env.default_params(split=split)
    ids = task_ids_for(env, split, num_tasks)
    batch = min(batch, len(ids))
    reset = _jitted_reset(env, split)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("task_id", "task_type", "task", "obs")}
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        state, obs = reset(jnp.asarray(_pad_to(chunk, batch)))
        info = jax.vmap(env.info, in_axes=(0, None))(state, params)
        n = len(chunk)
        out["task_id"].append(chunk)
        out["task_type"].append(np.asarray(info["task_type"])[:n])
        out["task"].append(np.asarray(info["task"])[:n])
        out["obs"].append(np.asarray(obs)[:n])
    return {k: np.concatenate(v) for k, v in out.items()}


def generate_demonstrations(
    env: Any,
    split: str,
    num_episodes: int | None = None,
    *,
    thinking: bool = True,
    noise: float = 0.0,
    seed: int = 0,
    batch: int = 256,
    num_steps: int | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Oracle demonstrations, one row per real step (padding steps after the end are dropped).

    Args:
      env: an environment object (`empg_jax.envs.make(name)`).
      split: one of `env.splits`.
      num_episodes: episodes to play (default: every task of the split once).
      thinking: thinking-mode answers (`<think>...</think><action>...</action>`) or direct ones.
      noise: probability per step of an imperfect step (a random admissible action without
        reasoning; see `core.oracle_policy`).
      seed: PRNG seed of the oracle's tie-breaks and of the noise.
      batch: episodes per vmapped call (the last batch is padded, then trimmed).
      num_steps: steps per episode (default: the split's horizon).

    Returns:
      A dict of `DEMO_FIELDS` arrays with one leading row axis, ordered by (episode, step).
    """
    params = env.default_params(split=split)
    ids = task_ids_for(env, split, num_episodes)
    num_steps = int(params.horizon) if num_steps is None else int(num_steps)
    batch = min(batch, len(ids))
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    run = _jitted_demo_rollout(env, thinking, num_steps)
    reset = _jitted_reset(env, split)
    # `step` and the oracle do not read the split (contract in `envs.core`), so one compiled
    # rollout serves every split: pass the split's params with the split name normalised.
    step_params = params.replace(split=env.splits[0])
    rows: dict[str, list[np.ndarray]] = {k: [] for k in DEMO_FIELDS}
    key = jax.random.PRNGKey(seed)
    for b, start in enumerate(range(0, len(ids), batch)):
        chunk = ids[start : start + batch]
        n = len(chunk)
        state, obs = reset(jnp.asarray(_pad_to(chunk, batch)))
        keys = jax.random.split(jax.random.fold_in(key, b), batch)
        final, tr = run(keys, state, obs, step_params, jnp.float32(noise))
        tr = jax.tree.map(lambda x, n=n: np.asarray(x)[:n], tr)  # [n, T, ...]
        valid = tr.valid
        episode = np.broadcast_to((start + np.arange(n))[:, None], valid.shape)
        task_type = np.broadcast_to(np.asarray(final.task_type)[:n, None], valid.shape)
        task_id = np.broadcast_to(chunk[:, None], valid.shape)
        cols = {
            "episode": episode,
            "task_id": task_id,
            "task_type": task_type,
            "step": tr.step_index,
            "task": tr.task,
            "obs": tr.obs,
            "admissible": tr.admissible,
            "num_admissible": tr.num_admissible,
            "response": tr.response,
            "reward": tr.reward,
            "won": tr.won,
            "terminated": tr.terminated,
            "truncated": tr.truncated,
            "invalid": tr.invalid,
        }
        for k, v in cols.items():
            rows[k].append(np.asarray(v)[valid])
        if progress:
            done = min(start + batch, len(ids))
            won = float(np.asarray(final.won)[:n].mean())
            print(f"[demos {env.name}/{split}] {done}/{len(ids)} episodes, won {won:.3f}")
    out = {k: np.concatenate(v) for k, v in rows.items()}
    out["num_admissible"] = out["num_admissible"].astype(np.int32)
    return out


def _pad_to(ids: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([ids, np.full(batch - len(ids), ids[0], ids.dtype)])


# Cached per (environment object, split, ...) so repeated calls reuse one compiled program.
def _jitted_reset(env: Any, split: str):
    """`task_ids -> (state, obs)` for a split. An environment with `reset_in_split(task_id,
    split_index)` (household) gets one compiled reset for all of its splits."""
    if hasattr(env, "reset_in_split"):
        reset = _jitted_reset_any_split(env)
        split_id = jnp.int32(env.splits.index(split))
        return lambda ids: reset(ids, split_id)
    return _jitted_reset_one_split(env, split)


@functools.lru_cache(maxsize=16)
def _jitted_reset_any_split(env: Any):
    return jax.jit(jax.vmap(env.reset_in_split, in_axes=(0, None)))


@functools.lru_cache(maxsize=16)
def _jitted_reset_one_split(env: Any, split: str):
    params = env.default_params(split=split)
    return jax.jit(jax.vmap(lambda i: env.reset_to_task(i, params)))


@functools.lru_cache(maxsize=16)
def _jitted_demo_rollout(env: Any, thinking: bool, num_steps: int):
    def one(key, state, obs, params, noise):
        policy = core.oracle_policy(env, params, thinking=thinking, noise=noise)
        return core.rollout(env, policy, key, state, obs, params, num_steps)

    return jax.jit(jax.vmap(one, in_axes=(0, 0, 0, None, None)))
