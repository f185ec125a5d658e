"""A tiny environment under the `envs.core` contract for fast agent/trainer tests.

"rooms": the task names the room holding a key ("find the key in room 3."); the admissible actions
are "go to room 1" .. "go to room R". The right room wins (reward 10, terminated), a wrong one
answers "the room is empty." and the episode goes on until the horizon. A random admissible policy
succeeds often but not always, so RL after a noisy SFT has clear headroom.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from empg_jax import envs
from empg_jax.envs.core import Environment, TextTable, compact_tokens, match_action


@struct.dataclass
class RoomsParams:
    horizon: int = 3
    num_tasks: int = 64
    split: str = struct.field(pytree_node=False, default="train")


@struct.dataclass
class RoomsState:
    target: jax.Array
    task_type: jax.Array
    won: jax.Array
    t: jax.Array
    terminated: jax.Array
    truncated: jax.Array


class Rooms(Environment):
    name = "toy_rooms"
    splits = ("train", "valid_seen", "valid_unseen")
    task_types = ("low", "high")

    def __init__(self, tokenizer, num_rooms: int = 4):
        super().__init__(tokenizer)
        self.num_rooms = num_rooms
        self.obs_len, self.action_len, self.task_len, self.thought_len = 8, 4, 8, 6
        self.max_admissible = num_rooms
        tok = tokenizer
        self._text = TextTable(
            tok,
            {
                "start": "you are in a hall.",
                "empty": "the room is empty.",
                "won": "you found the key.",
                "nothing": "nothing happens.",
                "task": "find the key in room",
                "thought": "the key is in room",
                "go": "go to room",
            },
        )
        self._rows = {k: jnp.asarray(self._text.row(k)) for k in self._text.names}
        self._digits = jnp.asarray(tok.digit_ids)

    @classmethod
    def words(cls):
        text = "you are in a hall the room is empty found key nothing happens find go to"
        return tuple(sorted(set(text.split())))

    def default_params(self, split: str = "train") -> RoomsParams:
        if split not in self.splits:
            raise ValueError(f"split {split!r} not in {self.splits}")
        return RoomsParams(split=split, num_tasks=64 if split == "train" else 16)

    def _with_number(self, name, number, length):
        digit = self._digits[number + 1]
        return compact_tokens(jnp.concatenate([self._rows[name], digit[None]]), length)

    def _table(self):
        rows = [
            self._with_number("go", jnp.int32(i), self.action_len) for i in range(self.num_rooms)
        ]
        return jnp.stack(rows)

    def _reset_task(self, task_id, params):
        salt = {"train": 0, "valid_seen": 1, "valid_unseen": 2}[params.split]
        target = (task_id * 7 + 3 + salt) % self.num_rooms
        state = RoomsState(
            target=target.astype(jnp.int32),
            task_type=(target >= self.num_rooms // 2).astype(jnp.int32),
            won=jnp.zeros((), bool),
            t=jnp.zeros((), jnp.int32),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
        )
        return state, compact_tokens(self._rows["start"], self.obs_len)

    def _step(self, key, state, action_L, ok, params):
        del key, params
        idx, found = match_action(action_L, self._table(), jnp.ones((self.num_rooms,), bool))
        valid = ok & found
        win = valid & (idx == state.target)
        obs_name = jnp.where(win, 1, jnp.where(valid, 0, 2))
        obs = jnp.stack(
            [compact_tokens(self._rows[k], self.obs_len) for k in ("empty", "won", "nothing")]
        )[obs_name]
        reward = jnp.where(win, 10.0, 0.0)
        return state.replace(won=state.won | win), obs, reward, win, ~valid

    def info_for_state(self, state, params, invalid):
        return {
            "invalid": jnp.asarray(invalid, bool),
            "won": state.won,
            "task_type": state.task_type,
            "admissible": self._table(),
            "num_admissible": jnp.int32(self.num_rooms),
            "score": state.won.astype(jnp.float32),
            "task": self._with_number("task", state.target, self.task_len),
        }

    def oracle(self, key, state, params):
        return self._table()[state.target]

    def oracle_thought(self, key, state, params):
        return self._with_number("thought", state.target, self.thought_len)

    def render(self, state):
        return f"target room {int(state.target) + 1}, t={int(state.t)}, won={bool(state.won)}"


envs.register("toy_rooms", Rooms)


def toy_config(**overrides):
    """A CPU-seconds config of the trainer on the toy environment."""
    from configs import base

    c = base.get_config("toy_rooms")
    c.env.horizon = 3
    c.env.eval_splits = ("valid_seen",)
    c.env.max_objects = 0
    c.agent.prompt_len = 160
    c.agent.obs_tokens = 8
    c.agent.history_obs_tokens = 4
    c.agent.admissible_rows = 4
    c.agent.admissible_tokens = 24
    c.agent.answer_len = 8
    c.agent.history = 1
    c.model.hidden_size = 32
    c.model.num_layers = 1
    c.model.num_heads = 2
    c.model.num_kv_heads = 1
    c.model.intermediate_size = 64
    c.sft.steps = 40
    c.sft.batch_rows = 16
    c.sft.demo_episodes = 32
    c.sft.noise = 0.75
    c.rl.iterations = 4
    c.rl.tasks_per_iter = 4
    c.rl.group_size = 4
    c.rl.minibatch_rows = 32
    c.eval.num_tasks = 16
    c.eval.every = 100
    c.checkpoint.every = 2
    c.log.tensorboard = False
    for k, v in overrides.items():
        *path, leaf = k.split(".")
        target = c
        for p in path:
            target = target[p]
        target[leaf] = v
    return c


def host_arrays(x):
    return np.asarray(x)
