"""The `Search` environment class: options, sizes and the `core.Environment` contract.

The work is done by pure functions of the compiled tables (`tables.SearchTables`): episode
generation in `episode`, the transition in `dynamics`, the oracle in `oracle`.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from empg_jax.envs.core import Environment
from empg_jax.envs.search import dynamics, episode, oracle, text
from empg_jax.envs.search.state import SearchParams, SearchState
from empg_jax.envs.search.tables import build_tables
from empg_jax.envs.search.tasks import split_compositions
from empg_jax.text.word import WordTokenizer


class Search(Environment):
    """The Deep-Search-like environment (see the package docstring).

    Args:
      tokenizer: the word tokenizer (default: the environment's own words).
      seed: seed of every episode's knowledge base.
      num_train: episodes in `train`; num_test: episodes in `test_id` and in `test_ood`.
      action_len, thought_len: action and oracle-thought lengths in tokens.
      task_types: hop counts to ask ("2-hop", "3-hop", "4-hop"; default all): every split keeps
        only its relation paths of these lengths (a curriculum slice; type ids stay hops - 2).
    """

    name = "search"
    splits = ("train", "test_id", "test_ood")
    generated_tasks = True  # a task is a pure function of (split, index)
    task_types = ("2-hop", "3-hop", "4-hop")
    top_k = 3

    def __init__(
        self,
        tokenizer: WordTokenizer | None = None,
        seed: int = 0,
        num_train: int = 1_000_000,
        num_test: int = 500,
        action_len: int = 16,
        thought_len: int = 32,
        task_types: tuple[str, ...] | None = None,
    ):
        super().__init__(tokenizer or self.own_tokenizer())
        chosen = self.task_types if task_types is None else tuple(task_types)
        bad = sorted(set(chosen) - set(self.task_types))
        if bad or not chosen:
            raise ValueError(
                f"task_types {bad or list(chosen)}: want a subset of {self.task_types}"
            )
        hops = {int(name.split("-")[0]) for name in chosen}
        self.seed = seed
        self.num_train, self.num_test = num_train, num_test
        self.action_len, self.thought_len = action_len, thought_len
        self.max_admissible = 2
        self.passage_len = 24
        self.task_len = 40
        #: The relation paths (tuples of relation ids) each split draws questions from.
        self.compositions = {
            split: [path for path in paths if len(path) in hops]
            for split, paths in split_compositions().items()
        }
        self.active_task_types = chosen
        self.tables = build_tables(
            self.tokenizer,
            self.splits,
            self.compositions,
            seed=seed,
            action_len=action_len,
            thought_len=thought_len,
            passage_len=self.passage_len,
            task_len=self.task_len,
            top_k=self.top_k,
        )
        self.obs_len = self.tables.obs_len

    @classmethod
    def words(cls) -> tuple[str, ...]:
        return text.words()

    def default_params(self, split: str = "train", horizon: int = 10) -> SearchParams:
        if split not in self.splits:
            raise ValueError(f"split {split!r} not in {self.splits}")
        return SearchParams(split, horizon, self.num_train if split == "train" else self.num_test)

    def _reset_task(self, task_id: jax.Array, params: SearchParams):
        return self.reset_in_split(task_id, self.splits.index(params.split))

    def reset_in_split(self, task_id: jax.Array, split_index: jax.Array):
        """The episode `task_id` of split `splits[split_index]` (both may be traced)."""
        return episode.reset_in_split(self.tables, task_id, split_index)

    def _step(self, key, state: SearchState, action_L, ok, params):
        del key, params  # deterministic, and the split only selects episodes
        return dynamics.step(self.tables, state, action_L, ok)

    def info_for_state(self, state: SearchState, params, invalid):
        del params
        return dynamics.info(self.tables, state, invalid)

    def retrieve(self, state: SearchState, query_Q: jax.Array, mask_Q: jax.Array) -> jax.Array:
        """Indices `[top_k]` of the best passages by BM25 (all returned, best first)."""
        return dynamics.retrieve(self.tables, state, query_Q, mask_Q)

    def oracle(self, key, state: SearchState, params) -> jax.Array:
        del key, params
        return oracle.next_action(self.tables, state)

    def oracle_thought(self, key, state: SearchState, params) -> jax.Array:
        del key, params
        return oracle.next_thought(self.tables, state)

    def solvable(self, state: SearchState) -> jax.Array:
        """Every hop subject's own passage is among the top 3 for a search of its name."""
        return oracle.solvable(self.tables, state)

    def render(self, state: SearchState) -> str:
        q = self.decode(state.question)
        answer = self.decode(state.names[int(state.chain[int(state.hops)])])
        lines = [f"[search] step {int(state.t)} | {int(state.hops)}-hop | question: {q}"]
        lines.append(f"answer: {answer} | passages shown: {int(np.sum(state.shown))}")
        if bool(state.terminated):
            lines.append(f"episode over | won {bool(state.won)}")
        return "\n".join(lines)


@functools.lru_cache(maxsize=2)
def cached(tokenizer: WordTokenizer | None = None, **options) -> Search:
    """One shared `Search` per (tokenizer, options)."""
    return Search(tokenizer, **options)
