"""The `Workforce` environment class: options, sizes and the `core.Environment` contract.

The work is done by pure functions of the compiled tables (`tables.WorkforceTables`): episode
generation in `episode`, parsing in `plan`, the workers and coordinator in `workers`, the
transition in `dynamics`, the oracle in `oracle`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from empg_jax.envs.core import Environment
from empg_jax.envs.workforce import dynamics, episode, oracle, text
from empg_jax.envs.workforce.state import WorkforceParams, WorkforceState
from empg_jax.envs.workforce.tables import TASK_LEN, build_tables
from empg_jax.envs.workforce.tasks import SPLITS, TEMPLATE_NAMES, glued_tags, spaced_tags
from empg_jax.envs.workforce.world import CITY, NUMBER, PERSON, WORKERS
from empg_jax.text.word import WordTokenizer

#: Default horizons: three plans (OWL halts after three failures), or enough calls for the
#: longest expert plan (3), the answer and three failed calls.
HORIZON = {"planner": 3, "monolithic": 7}


class Workforce(Environment):
    """The planner / coordinator / worker environment (see the package docstring).

    Args:
      tokenizer: the word tokenizer (default: the environment's own words).
      seed: seed of every episode's knowledge.
      num_train: episodes in `train`; num_test: episodes in each test split.
      p_fail: probability that a worker call fails (the default params' `p_fail`).
      monolithic: the agent calls the workers itself, one call per step, and answers
        (the baseline without a planner); otherwise it is the planner.
      thought_len: length of the oracle's thoughts.
    """

    name = "workforce"
    splits = SPLITS
    task_types = TEMPLATE_NAMES

    def __init__(
        self,
        tokenizer: WordTokenizer | None = None,
        seed: int = 0,
        num_train: int = 1_000_000,
        num_test: int = 500,
        p_fail: float = 0.0,
        monolithic: bool = False,
        thought_len: int = 12,
    ):
        super().__init__(tokenizer or self.own_tokenizer())
        if not 0.0 <= p_fail <= 1.0:
            raise ValueError(f"p_fail must be in [0, 1], got {p_fail}")
        self.seed, self.p_fail, self.monolithic = seed, float(p_fail), bool(monolithic)
        self.num_train, self.num_test = num_train, num_test
        self.tables = build_tables(self.tokenizer, self.splits, seed, self.monolithic, thought_len)
        self.action_len = self.tables.action_len
        self.thought_len = thought_len
        self.obs_len = self.tables.obs_len
        self.task_len = TASK_LEN
        self.max_admissible = self.tables.admissible.shape[0]
        self.mode = "monolithic" if self.monolithic else "planner"

    @classmethod
    def words(cls) -> tuple[str, ...]:
        return text.words()

    def default_params(
        self, split: str = "train", horizon: int | None = None, p_fail: float | None = None
    ) -> WorkforceParams:
        if split not in self.splits:
            raise ValueError(f"split {split!r} not in {self.splits}")
        return WorkforceParams(
            split,
            HORIZON[self.mode] if horizon is None else horizon,
            self.num_train if split == "train" else self.num_test,
            self.p_fail if p_fail is None else p_fail,
        )

    def _reset_task(self, task_id: jax.Array, params: WorkforceParams):
        return self.reset_in_split(task_id, self.splits.index(params.split))

    def reset_in_split(self, task_id: jax.Array, split_index: jax.Array):
        """The episode `task_id` of split `splits[split_index]` (both may be traced)."""
        transfer = self.splits.index("test_transfer")
        return episode.reset_in_split(self.tables, task_id, split_index, transfer)

    def _step(self, key, state: WorkforceState, action_L, ok, params: WorkforceParams):
        step = dynamics.call_step if self.monolithic else dynamics.plan_step
        return step(self.tables, key, state, action_L, ok, params.p_fail)

    def info_for_state(self, state: WorkforceState, params, invalid):
        del params
        return dynamics.info(self.tables, state, invalid)

    def oracle(self, key, state: WorkforceState, params) -> jax.Array:
        del key, params
        return oracle.next_action(self.tables, state)

    def oracle_thought(self, key, state: WorkforceState, params) -> jax.Array:
        del key, params
        return oracle.next_thought(self.tables, state)

    # ----- text ----------------------------------------------------------------------------
    def encode(self, text_: str, length: int | None = None) -> np.ndarray:
        """Text -> ids; the plan tags `<tasks>`, `<task>`, ... are read as word pieces.

        A given `length` grows by the tokens the tags gain (a caller sizing it from the
        tokenizer's count of the raw text, where a tag is one token, gets the whole plan).
        """
        spaced = spaced_tags(text_)
        if length is not None:
            gained = len(self.tokenizer.encode(spaced)) - len(self.tokenizer.encode(text_))
            length += max(gained, 0)
        return super().encode(spaced, length)

    def decode(self, tokens: Any, **kwargs: Any) -> str:
        """Ids -> text, with the plan tags written back as `<tasks>`, `<task>`, ..."""
        return glued_tags(super().decode(tokens, **kwargs))

    def value_text(self, state: WorkforceState, value_2) -> str:
        """A value `(kind, value)` of an (unbatched) state as text."""
        kind, v = int(value_2[0]), int(value_2[1])
        if kind == NUMBER:
            return str(v)
        if kind == CITY:
            return self.decode(state.city_names[v : v + 1])
        if kind == PERSON:
            return self.decode(state.person_names[v : v + 1])
        return "nothing"

    def render(self, state: WorkforceState) -> str:
        names = [self.decode(n[None]) for n in np.asarray(state.city_names)]
        people = [self.decode(n[None]) for n in np.asarray(state.person_names)]
        lines = [
            f"[workforce/{self.mode}] step {int(state.t)} | {TEMPLATE_NAMES[int(state.task_type)]}"
            f" | question: {self.decode(state.question)}",
            f"answer: {self.value_text(state, state.answer)} | expert plan: "
            f"{self.decode(state.plan)}",
            "table: "
            + "; ".join(
                f"{n} population {int(p)} founded {int(f)} mayor {people[int(m)]}"
                for n, p, f, m in zip(
                    names, state.city_pop, state.city_founded, state.city_mayor, strict=True
                )
            ),
            "documents: " + " | ".join(self.decode(d) for d in state.documents),
            "workers: "
            + ", ".join(w for w, on in zip(WORKERS, np.asarray(state.workers), strict=True) if on)
            + f" | failures {int(state.failures)}",
        ]
        if bool(state.terminated) or bool(state.truncated):
            lines.append(f"episode over | won {bool(state.won)}")
        return "\n".join(lines)


@functools.lru_cache(maxsize=4)
def cached(tokenizer: WordTokenizer | None = None, **options) -> Workforce:
    """One shared `Workforce` per (tokenizer, options)."""
    return Workforce(tokenizer, **options)
