"""The `Shop` environment class: options, sizes and the `core.Environment` contract.

The work is done by pure functions of the compiled tables (`tables.ShopTables`): pages in
`pages`, the transition in `dynamics`, the score in `score`, the oracle in `oracle`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from empg_jax.envs.core import Environment
from empg_jax.envs.shop import dynamics, oracle, pages, score, text
from empg_jax.envs.shop.catalog import generate_catalog
from empg_jax.envs.shop.categories import DEPARTMENTS
from empg_jax.envs.shop.state import (
    MAX_SLOTS,
    MAX_VALUES,
    PER_PAGE,
    SUBPAGES,
    ShopParams,
    ShopState,
)
from empg_jax.envs.shop.tables import build_tables
from empg_jax.text.word import WordTokenizer


class Shop(Environment):
    """The WebShop-like environment (see the package docstring).

    Args:
      tokenizer: the word tokenizer (default: the shop's own words).
      num_products: size of the generated catalogue (>= the number of categories).
      seed: catalogue seed.
      num_test_goals: goals 0..num_test_goals-1 form `test`, the rest `train`.
      action_len, thought_len: action and oracle-thought lengths in tokens.
    """

    name = "shop"
    splits = ("train", "test")
    task_types = DEPARTMENTS

    def __init__(
        self,
        tokenizer: WordTokenizer | None = None,
        num_products: int = 1200,
        seed: int = 0,
        num_test_goals: int = 500,
        action_len: int = 24,
        thought_len: int = 32,
    ):
        super().__init__(tokenizer or self.own_tokenizer())
        cat = generate_catalog(num_products, seed)
        if not 0 < num_test_goals < len(cat.goals):
            raise ValueError(
                f"num_test_goals must be in (0, {len(cat.goals)}), got {num_test_goals}"
            )
        self.catalog = cat
        self.num_test_goals = num_test_goals
        self.action_len = action_len
        self.thought_len = thought_len
        self.max_admissible = max(3 + PER_PAGE, 2 + MAX_SLOTS * MAX_VALUES + len(SUBPAGES) + 1)
        self.tables = build_tables(
            self.tokenizer, cat, action_len, thought_len, self.max_admissible
        )
        self.obs_len = self.tables.obs_len
        self.task_len = self.tables.task_len
        #: `[G, K]` every goal's instruction (the task text).
        self.instructions = self.tables.instructions
        self._observation_jit = jax.jit(lambda state: pages.observation(self.tables, state))

    @classmethod
    def words(cls) -> tuple[str, ...]:
        return text.words()

    def default_params(self, split: str = "train", horizon: int = 15) -> ShopParams:
        if split not in self.splits:
            raise ValueError(f"split {split!r} not in {self.splits}")
        num_goals = len(self.catalog.goals)
        if split == "test":
            return ShopParams(split, horizon, self.num_test_goals, 0)
        return ShopParams(split, horizon, num_goals - self.num_test_goals, self.num_test_goals)

    def _reset_task(self, task_id: jax.Array, params: ShopParams):
        return dynamics.reset_goal(
            self.tables, jnp.asarray(params.task_offset + task_id, jnp.int32)
        )

    def reset_in_split(self, task_id: jax.Array, split_index: jax.Array):
        """The episode `task_id` of split `splits[split_index]` (both may be traced)."""
        offset = jnp.where(split_index == self.splits.index("test"), 0, self.num_test_goals)
        return dynamics.reset_goal(self.tables, jnp.asarray(offset + task_id, jnp.int32))

    def _step(self, key, state: ShopState, action_L, ok, params: ShopParams):
        del key, params  # deterministic, and the split only selects goals
        return dynamics.step(self.tables, state, action_L, ok)

    def info_for_state(self, state: ShopState, params: ShopParams, invalid: jax.Array):
        del params
        return dynamics.info(self.tables, state, invalid)

    def purchase_score(self, goal: jax.Array, product: jax.Array, chosen: jax.Array) -> jax.Array:
        """WebShop's task score of buying `product` with options `chosen` `[MAX_SLOTS]` for
        `goal` (`score.purchase_score`)."""
        return score.purchase_score(self.tables, goal, product, chosen)

    def oracle(self, key, state: ShopState, params: ShopParams) -> jax.Array:
        del key, params
        return oracle.next_action(self.tables, state)

    def oracle_thought(self, key, state: ShopState, params: ShopParams) -> jax.Array:
        del key, params
        return oracle.next_thought(self.tables, state)

    def render(self, state: ShopState) -> str:
        return pages.render_state(self.tables, state, self._observation_jit(state))


@functools.lru_cache(maxsize=2)
def cached(tokenizer: WordTokenizer | None = None, **options) -> Shop:
    """One shared `Shop` per (tokenizer, options); building one takes a few seconds."""
    return Shop(tokenizer, **options)
