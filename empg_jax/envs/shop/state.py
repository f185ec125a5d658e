"""Shop params and state (immutable `flax.struct` dataclasses) and the page structure.

Pages: search (start) -> results (top `NUM_RETRIEVED` by BM25, `PER_PAGE` per page) -> item
(option values, sub-pages, `buy now`) -> item sub-page; `buy now` leads to the done page. Each
clickable of a page has a kind (`K_*`) that says what clicking it does.
"""

from __future__ import annotations

import jax
from flax import struct

# Pages.
SEARCH, RESULTS, ITEM, SUB, DONE = 0, 1, 2, 3, 4
# Clickable kinds.
K_NONE, K_BACK, K_PREV, K_NEXT, K_PRODUCT, K_OPTION, K_SUB, K_BUY = range(8)
SUBPAGES = ("description", "features", "reviews", "attributes")
NUM_RETRIEVED = 50
PER_PAGE = 10
MAX_SLOTS = 2  # option types per product
MAX_VALUES = 6  # values per option type
MAX_GOAL_ATTRS = 3


@struct.dataclass
class ShopParams:
    """`split` picks the goal range; `horizon` 15 as verl-agent; `task_offset` is the first goal."""

    split: str = struct.field(pytree_node=False)
    horizon: int = 15
    num_tasks: int = 0
    task_offset: int = 0


@struct.dataclass
class ShopState:
    t: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    task_type: jax.Array
    goal: jax.Array  # index into the goal table
    page: jax.Array
    page_no: jax.Array  # results page, 0-based
    results: jax.Array  # [NUM_RETRIEVED] product ids, best first
    num_results: jax.Array
    item: jax.Array  # product shown on the item page
    sub: jax.Array  # which sub-page
    chosen: jax.Array  # [MAX_SLOTS] chosen option value id per slot, -1 none
    score: jax.Array
    won: jax.Array
