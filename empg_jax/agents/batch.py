"""The rollout record: what one RL iteration's episodes hand to the train step.

Episode-major, with static shapes: N = B * G episodes (episode e is sample e % G of task e // G,
so the G samples of a group are adjacent and groups are contiguous) x T steps (the horizon).
Finished episodes are masked (`valid_NxT`), not removed. Each step is its own single-turn
sequence `prompt ++ answer` (the verl-agent step format of the EMPG paper), so a step row is the
unit of batching, sharding and EMPG; `flat` views step fields as S = N * T rows, row
`r = e * T + t`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import struct

from empg_jax.models import to_host


@struct.dataclass
class Rollout:
    """N episodes x T steps of a policy in an environment.

    Step fields (one entry per episode and step):
      prompt_NxTxP: int32, the step prompt, left-padded to P.
      prompt_mask_NxTxP: bool, the prompt's real tokens (not the tokenizer's pad id).
      answer_NxTxL: int32, the generated answer (pad id after the stop token).
      answer_mask_NxTxL: bool, the generated tokens of valid steps, the stop token included.
      old_log_probs_NxTxL: float32, log pi_T(token) of the rollout policy at `temperature`.
      token_entropy_NxTxL: float32, entropy of pi_T at each generated token (EMPG's input).
      valid_NxT: bool, a real step (the episode had not ended before it).
      invalid_format_NxT: bool, the answer broke the step format.
      invalid_action_NxT: bool, the environment rejected the action (a no-op).
      step_reward_NxT: float32, the environment's reward for the step.
      overflow_NxT: bool, the step's prompt (or demonstration answer) did not fit the codec's
        length and was cut: the lengths of the config are too short.
    Episode fields:
      reward_N: float32 return (sum of step rewards); won_N: bool; score_N: float32 in [0, 1];
      length_N: int32 steps taken; truncated_N: bool hit the horizon without terminating;
      task_type_N: int32 index into the environment's task types; task_id_N: int32.
    temperature: float32 scalar, the sampling temperature of `old_log_probs` and
      `token_entropy` (<= 0: greedy decoding, log-probs at T = 1).
    group_size: G (static), the samples per task.
    """

    prompt_NxTxP: jax.Array
    prompt_mask_NxTxP: jax.Array
    answer_NxTxL: jax.Array
    answer_mask_NxTxL: jax.Array
    old_log_probs_NxTxL: jax.Array
    token_entropy_NxTxL: jax.Array
    valid_NxT: jax.Array
    invalid_format_NxT: jax.Array
    invalid_action_NxT: jax.Array
    step_reward_NxT: jax.Array
    overflow_NxT: jax.Array
    reward_N: jax.Array
    won_N: jax.Array
    score_N: jax.Array
    length_N: jax.Array
    truncated_N: jax.Array
    task_type_N: jax.Array
    task_id_N: jax.Array
    temperature: jax.Array
    group_size: int = struct.field(pytree_node=False, default=1)

    # ----- sizes ---------------------------------------------------------------------------
    @property
    def num_episodes(self) -> int:
        return self.valid_NxT.shape[0]

    @property
    def horizon(self) -> int:
        return self.valid_NxT.shape[1]

    @property
    def num_groups(self) -> int:
        return self.num_episodes // self.group_size

    @property
    def num_rows(self) -> int:
        return self.num_episodes * self.horizon

    # ----- views -----------------------------------------------------------------------------
    def flat(self, x_NxTx: jax.Array) -> jax.Array:
        """A step field as S = N * T rows (row e * T + t)."""
        return x_NxTx.reshape((self.num_rows,) + x_NxTx.shape[2:])

    def by_group(self, x_N: jax.Array) -> jax.Array:
        """An episode (or step) field as `[B, G, ...]` groups."""
        return x_N.reshape((self.num_groups, self.group_size) + x_N.shape[1:])

    def next_step_S(self) -> jax.Array:
        """Row of the same episode's next valid step, or -1 (last and truncated steps)."""
        n, t = self.valid_NxT.shape
        nxt_valid = jnp.concatenate([self.valid_NxT[:, 1:], jnp.zeros((n, 1), bool)], axis=1)
        row = jnp.arange(n * t, dtype=jnp.int32)
        has_next = self.flat(nxt_valid & self.valid_NxT)
        return jnp.where(has_next, row + 1, -1).astype(jnp.int32)

    def step_index_S(self) -> jax.Array:
        return jnp.tile(jnp.arange(self.horizon, dtype=jnp.int32), self.num_episodes)

    def episode_id_S(self) -> jax.Array:
        return jnp.repeat(jnp.arange(self.num_episodes, dtype=jnp.int32), self.horizon)

    # ----- selection -------------------------------------------------------------------------
    def episodes(self, index_M) -> Rollout:
        """The episodes `index_M` (in that order), e.g. whole groups for DAPO resampling."""
        index = jnp.asarray(index_M, jnp.int32)
        take = lambda x: jnp.take(x, index, axis=0)  # noqa: E731
        fields = {name: take(getattr(self, name)) for name in _EPISODE_AXIS_FIELDS}
        return self.replace(**fields)

    @staticmethod
    def concatenate(parts: Sequence[Rollout]) -> Rollout:
        """Episodes of several rollouts of one temperature and group size, in order."""
        first = parts[0]
        for p in parts[1:]:
            if p.group_size != first.group_size or p.horizon != first.horizon:
                raise ValueError("rollouts to concatenate need one group size and horizon")
        fields = {
            name: jnp.concatenate([getattr(p, name) for p in parts], axis=0)
            for name in _EPISODE_AXIS_FIELDS
        }
        return first.replace(**fields)

    # ----- summaries -------------------------------------------------------------------------
    def episode_metrics(self, task_types: Sequence[str] = ()) -> dict[str, float]:
        """Success, reward, score, length and format/action error rates (host floats)."""
        won = to_host(self.won_N)
        valid = to_host(self.valid_NxT)
        steps = max(int(valid.sum()), 1)
        out = {
            "success": float(won.mean()),
            "reward": float(to_host(self.reward_N).mean()),
            "score": float(to_host(self.score_N).mean()),
            "length": float(to_host(self.length_N).mean()),
            "invalid_format": float((to_host(self.invalid_format_NxT) & valid).sum() / steps),
            "invalid_action": float((to_host(self.invalid_action_NxT) & valid).sum() / steps),
        }
        task_type = to_host(self.task_type_N)
        for i, name in enumerate(task_types):
            if (task_type == i).any():
                out[f"success/{name}"] = float(won[task_type == i].mean())
        return out


#: The fields with a leading episode axis N (every field but `temperature` and `group_size`).
_EPISODE_AXIS_FIELDS = tuple(name for name in Rollout.__dataclass_fields__ if "_N" in name)
