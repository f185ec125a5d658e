"""Task lists and oracle demonstrations of any registered environment, as numpy arrays.

Demonstrations come from one generator, `agents.demonstrations`: the oracle's answers recorded by
the agent's own rollout, in the agent's own step prompts. `demonstration_rows` turns such a
rollout into one row per real step; the trainer trains on exactly these rows, and the TFDS
builders (`data.tfds_builders`) write them to array_record files.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.agents import PromptBuilder, Rollout, demonstrations
from empg_jax.models import to_host

#: Per-step fields of a demonstration row (besides the text fields the builders add).
DEMO_FIELDS = (
    "episode",
    "step",
    "task_id",
    "task_type",
    "prompt",
    "prompt_mask",
    "answer",
    "answer_mask",
    "reward",
    "won",
    "invalid_format",
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
    reset = jitted_reset(env, split)
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


def demonstration_rows(ro: Rollout, first_episode: int = 0) -> dict[str, np.ndarray]:
    """The real steps of a demonstration rollout as host rows (`DEMO_FIELDS`), ordered by
    (episode, step); `first_episode` numbers the episodes."""
    valid = to_host(ro.valid_NxT)
    n, t = valid.shape
    per_step = lambda x: np.broadcast_to(to_host(x)[:, None], (n, t))  # noqa: E731
    cols = {
        "episode": per_step(first_episode + np.arange(n)),
        "step": np.broadcast_to(np.arange(t)[None], (n, t)),
        "task_id": per_step(ro.task_id_N),
        "task_type": per_step(ro.task_type_N),
        "prompt": ro.prompt_NxTxP,
        "prompt_mask": ro.prompt_mask_NxTxP,
        "answer": ro.answer_NxTxL,
        "answer_mask": ro.answer_mask_NxTxL,
        "reward": ro.step_reward_NxT,
        "won": per_step(ro.won_N),
        "invalid_format": ro.invalid_format_NxT,
    }
    dtypes = {"prompt_mask": bool, "answer_mask": bool, "won": bool, "invalid_format": bool}
    dtypes["reward"] = np.float32
    host = {k: to_host(v)[valid] for k, v in cols.items()}
    return {k: np.asarray(v, dtype=dtypes.get(k, np.int32)) for k, v in host.items()}


def play_demonstrations(
    env: Any,
    builder: PromptBuilder,
    split: str,
    num_episodes: int | None = None,
    *,
    horizon: int | None = None,
    answer_len: int,
    thinking: bool = True,
    noise: float = 0.0,
    seed: int = 0,
    batch: int = 256,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Oracle demonstrations of tasks 0..num_episodes-1 of `split` (cycling), as rows.

    Args:
      env: an environment object (`empg_jax.envs.make(name, tokenizer=...)`).
      builder: the agent's prompt renderer (its tokenizer is the environment's).
      split: one of `env.splits`.
      num_episodes: episodes to play (default: every task of the split once).
      horizon: steps per episode (default: the split's horizon).
      answer_len: the answer length L (at least the environment's response length).
      thinking: thinking-mode answers (`<think>...</think><action>...</action>`) or direct ones.
      noise: probability per step of an imperfect step (a random admissible action without
        reasoning; see `envs.core.oracle_policy`).
      seed: PRNG seed of the oracle's tie-breaks and of the noise.
      batch: episodes per jitted call.

    Returns:
      A dict of `DEMO_FIELDS` arrays with one leading row axis, ordered by (episode, step).
    """
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    params = env.default_params(split=split)
    horizon = int(params.horizon) if horizon is None else int(horizon)
    ids = task_ids_for(env, split, num_episodes)
    batch = min(batch, len(ids))
    reset = jitted_reset(env, split)
    # `step` and the oracle do not read the split (the `envs.core` contract), so one compiled
    # rollout serves every split.
    step_params = params.replace(split=env.splits[0], horizon=horizon)
    play = jitted_demonstrations(env, builder, horizon, answer_len, thinking)
    parts = []
    for b, start in enumerate(range(0, len(ids), batch)):
        chunk = ids[start : start + batch]
        state, obs = reset(jnp.asarray(_pad_to(chunk, batch)))
        key = jax.random.fold_in(jax.random.PRNGKey(seed), b)
        ro = play(key, state, obs, step_params, jnp.asarray(_pad_to(chunk, batch)), noise)
        ro = ro.episodes(np.arange(len(chunk)))
        parts.append(demonstration_rows(ro, first_episode=start))
        if progress:
            print(f"[demos {env.name}/{split}] {start + len(chunk)}/{len(ids)} episodes")
    return {k: np.concatenate([p[k] for p in parts]) for k in DEMO_FIELDS}


def _pad_to(ids: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([ids, np.full(batch - len(ids), ids[0], ids.dtype)])


@functools.lru_cache(maxsize=16)
def jitted_demonstrations(env, builder, horizon: int, answer_len: int, thinking: bool, codec=None):
    """`agents.demonstrations` jitted, `noise` traced (one program per environment and sizes)."""

    def run(key, state, obs, params, task_ids, noise):
        return demonstrations(
            env, builder, key, state, obs, params, task_ids,
            horizon=horizon, answer_len=answer_len, thinking=thinking, noise=noise, codec=codec,
        )  # fmt: skip

    return jax.jit(run)


# Cached per (environment object, split, ...) so repeated calls reuse one compiled program.
def jitted_reset(env: Any, split: str):
    """`task_ids -> (state, obs)` for a split. An environment with `reset_in_split(task_id,
    split_index)` (household) gets one compiled reset for all of its splits."""
    if split not in env.splits:
        raise ValueError(f"split {split!r} not in {env.name}'s splits {env.splits}")
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
