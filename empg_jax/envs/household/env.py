"""The `Household` environment class: options, sizes and the `core.Environment` contract.

The work is done by pure functions of the compiled tables (`tables.HouseholdTables`): scene
generation in `scene`, the transition in `dynamics`, text in `render`, the oracle in `oracle`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from empg_jax.envs.core import Environment
from empg_jax.envs.household import dynamics, oracle, render, scene, text
from empg_jax.envs.household.state import HouseholdParams, HouseholdState
from empg_jax.envs.household.tables import build_tables
from empg_jax.envs.household.tasks import SPLIT_SIZES, SPLITS, TASK_TYPES, active_combinations
from empg_jax.envs.household.world import room_tables
from empg_jax.text.word import WordTokenizer


class Household(Environment):
    """The ALFWorld-like environment (see the package docstring).

    Args:
      tokenizer: the word tokenizer (must contain `Household.words()`).
      max_receptacles: receptacle slots R (>= 20: the largest room has up to 20).
      max_objects: object slots O (>= 6), including the desk lamp.
      obs_len: observation length in tokens (>= 160 fits every observation).
      unseen_fraction: share of each task type's triples held out for `valid_unseen`.
      task_types: names of the task types to generate (default: all six). The seen/unseen split
        of the triples is made over all types first, so a subset keeps the same held-out
        triples; a curriculum knob for small models (the CPU default experiment).
      rooms: names of the rooms scenes may use (default: all four); same split rule.
    """

    name = "household"
    splits = SPLITS
    generated_tasks = True  # a task is a pure function of (split, index)
    task_types = TASK_TYPES

    def __init__(
        self,
        tokenizer: WordTokenizer,
        max_receptacles: int = 20,
        max_objects: int = 12,
        obs_len: int = 160,
        unseen_fraction: float = 0.15,
        task_types: tuple[str, ...] | None = None,
        rooms: tuple[str, ...] | None = None,
    ):
        super().__init__(tokenizer)
        chosen = TASK_TYPES if task_types is None else tuple(task_types)
        bad = sorted(set(chosen) - set(TASK_TYPES))
        if bad or not chosen:
            raise ValueError(f"task_types {bad or list(chosen)}: want a subset of {TASK_TYPES}")
        _, hi, _ = room_tables()
        if max_receptacles < int(hi.sum(1).max()):
            raise ValueError(
                f"max_receptacles={max_receptacles} < {int(hi.sum(1).max())}, the largest room"
            )
        if max_objects < 6:
            raise ValueError(f"max_objects={max_objects} must be >= 6")
        if obs_len < 32:
            raise ValueError(f"obs_len={obs_len} must be >= 32")
        combos, room_mask, unseen = active_combinations(chosen, rooms, unseen_fraction)
        self.tables = build_tables(
            tokenizer,
            combos,
            room_mask,
            unseen,
            max_receptacles=max_receptacles,
            max_objects=max_objects,
            obs_len=obs_len,
            action_len=8,
            task_len=12,
            thought_len=24,
        )
        self.R, self.O = max_receptacles, max_objects
        self.obs_len = obs_len
        self.action_len = self.tables.action_len
        self.max_admissible = self.tables.max_admissible
        self.task_len = self.tables.task_len
        self.thought_len = self.tables.thought_len
        self.unseen_fraction = unseen_fraction
        self.active_task_types = chosen
        self.combos = {"seen": combos[~unseen], "unseen": combos[unseen]}

    @classmethod
    def words(cls) -> tuple[str, ...]:
        return text.words()

    def default_params(self, split: str = "train") -> HouseholdParams:
        if split not in SPLITS:
            raise ValueError(f"split {split!r} not in {SPLITS}")
        return HouseholdParams(horizon=50, num_tasks=SPLIT_SIZES[split], split=split)

    def _reset_task(self, task_id: jax.Array, params: HouseholdParams):
        return self.reset_in_split(task_id, SPLITS.index(params.split))

    def reset_in_split(self, task_id: jax.Array, split_id: jax.Array):
        """`reset_to_task` with the split as an index into `SPLITS` that may be traced, so one
        compiled (and vmapped) reset serves every split."""
        return scene.reset_in_split(self.tables, task_id, split_id)

    def _step(self, key, state: HouseholdState, action_L, ok, params):
        del key, params  # deterministic, and the split only selects tasks
        return dynamics.step(self.tables, state, action_L, ok)

    def info_for_state(self, state: HouseholdState, params, invalid) -> dict[str, jax.Array]:
        return {
            "invalid": jnp.asarray(invalid, bool),
            "won": state.won,
            "task_type": state.task_type,
            "admissible": state.adm_AxL,
            "num_admissible": state.num_adm,
            "score": state.won.astype(jnp.float32),
            "task": state.task_K,
        }

    def oracle(self, key, state: HouseholdState, params) -> jax.Array:
        del params
        return oracle.next_action(self.tables, key, state)

    def oracle_thought(self, key, state: HouseholdState, params) -> jax.Array:
        del params
        return oracle.next_thought(self.tables, key, state)

    def render(self, state: HouseholdState) -> str:
        return render.render_state(state, self.tokenizer)


@functools.lru_cache(maxsize=4)
def cached(tokenizer: WordTokenizer | None = None, **options) -> Household:
    """One shared `Household` per (tokenizer, options); its own vocabulary unless given one."""
    return Household(tokenizer or Household.own_tokenizer(), **options)
