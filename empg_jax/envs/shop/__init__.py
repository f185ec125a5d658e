"""shop: a WebShop-like environment that runs inside `jit` and `vmap`.

WebShop (Yao et al., arXiv 2207.01206) as run by verl-agent for the EMPG paper, rebuilt over a
generated catalogue (`catalog`, >= 1,000 products):

- **Pages.** search (start) -> results (top 50 by BM25, 10 per page, `next >` / `< prev`) -> item
  (option values, `description`, `features`, `reviews`, `attributes`, `buy now`) -> item sub-page
  (`< prev` back to the item) and `back to search` everywhere; `buy now` ends the episode.
- **Actions.** `search[query]` on the search page and `click[clickable]` with the exact text of a
  clickable of the current page. The observation is the page's visible text joined by ` | `.
- **Search engine.** BM25 (`envs.bm25`) over each product's title, bullet points, description and
  option values.
- **Score** at purchase: WebShop's r = r_type * (n_attr + n_opt + r_price) / (|attrs| + |opts| +
  1) (`score`), with our own fuzzy matcher and noun lists standing in for thefuzz and spaCy
  [reconstructed] (`fuzzy`, `catalog`).
- **Reward** (verl-agent): 10 when the episode ends with r = 1, else 0; `info["score"]` is r,
  `info["won"]` is r = 1. Horizon 15.
- **Splits** (WebShop convention): `test` = goals 0..499, `train` = goals 500.. of the shuffled
  synthetic goal list; a goal is (target product, attributes, options, price bound, instruction).
- **Task types**: the target product's department (`Shop.task_types`).
- **Admissible actions** (`info["admissible"]`): the clickables of the page as `click [ x ]`; on the
  search page, where the action set is not finite, the one example row `search [ ... ]`
  (verl-agent lists `search[<your query>]`).
- **Oracle** (`oracle`): wins every goal.

Modules: `categories` (world data), `fuzzy`, `catalog` (products and goals), `state`, `text`,
`tables` (the above as id arrays), `pages` (observation and clickables), `score`, `dynamics`
(reset and step), `oracle`, `env` (the `Shop` class).
"""

from empg_jax.envs.shop.env import Shop, cached
from empg_jax.envs.shop.state import DONE, ITEM, RESULTS, SEARCH, SUB, ShopParams, ShopState

__all__ = [
    "DONE",
    "ITEM",
    "RESULTS",
    "SEARCH",
    "SUB",
    "Shop",
    "ShopParams",
    "ShopState",
    "cached",
]
