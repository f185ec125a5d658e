"""`shop`: a WebShop-like environment that runs inside `jit` and `vmap` (issue #5 part B).

WebShop (Yao et al., arXiv 2207.01206) as run by verl-agent for the EMPG paper (environments.md
§1.2, §1.4), rebuilt over a generated catalogue (`shop_catalog`, >= 1,000 products):

- **Pages.** search (start) -> results (top 50 by BM25, 10 per page, `next >` / `< prev`) -> item
  (option values, `description`, `features`, `reviews`, `attributes`, `buy now`) -> item sub-page
  (`< prev` back to the item) and `back to search` everywhere; `buy now` ends the episode.
- **Actions.** `search[query]` on the search page and `click[clickable]` with the exact text of a
  clickable of the current page. The observation is the page's visible text joined by ` | ` (WebShop
  uses ` [SEP] `; one `|` token keeps pages short).
- **Search engine.** BM25 (`bm25.build_index`) over each product's title, bullet points,
  description and option values, as a precomputed term-by-product matrix: a query is one gather.
- **Score** at purchase (spec §1.2, WebShop `goal.py`):

      r = r_type * (n_attr + n_opt + r_price) / (|attrs| + |opts| + 1)

  n_attr counts goal attributes matched by the product (`shop_catalog.attribute_hits`), n_opt goal
  options matched by a chosen option (colour-normalised fuzzy match, `shop_catalog.option_matches`),
  r_price = [price <= goal upper bound]. r_type = 1, lowered to 0.5 when none of (query match,
  category match: >= 2 shared category levels, title score > 0.2) holds, then 0.1 when the title
  score < 0.1 and 0 when it is 0; title score = |goal-title nouns & product-title nouns| /
  |goal-title nouns| (0.2 when the goal title has none). The fuzzy matcher and the noun tagger are
  generation-time substitutes [reconstructed], see `shop_catalog`.
- **Reward** (verl-agent): 10 when the episode ends with r = 1, else 0; `info["score"]` is r,
  `info["won"]` is r = 1. Horizon 15.
- **Splits** (WebShop convention): `test` = goals 0..499, `train` = goals 500.. of the shuffled
  synthetic goal list; a goal is (target product, attributes, options, price bound, instruction).
- **Task types**: the target product's department (`Shop.task_types`).
- **Admissible actions** (`info["admissible"]`): the clickables of the page as `click [ x ]`; on the
  search page, where the action set is not finite, the one example row `search [ ... ]`
  (verl-agent lists `search[<your query>]`).
- **Oracle.** Searches with the goal's keywords (its attributes and product noun), or the target's
  title when no product that can score 1 appears in the keyword query's top 50 (checked inside the
  oracle with the same BM25), opens the first product on the results that can score 1 (paging with
  `next >`), selects the goal's options and buys; from any other page it goes back to where it can
  continue. Every goal is solvable (the target itself scores 1) and the oracle wins all of them.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from empg_jax.envs import bm25, register
from empg_jax.envs import shop_catalog as sc
from empg_jax.envs.core import (
    NOTHING_HAPPENS,
    Environment,
    compact_rows,
    compact_tokens,
    match_action,
)
from empg_jax.text.word import WordTokenizer, split_words

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
SEP = "|"
_BUTTONS = ("back", "prev", "next", *SUBPAGES, "buy", "search")
_BUTTON_KINDS = {
    "back": K_BACK,
    "prev": K_PREV,
    "next": K_NEXT,
    "buy": K_BUY,
    "search": K_NONE,
    **{x: K_SUB for x in SUBPAGES},
}
DEPARTMENTS = ("clothing", "shoes", "beauty", "grocery", "electronics", "home", "sports")

_TEXTS = {
    "search_head": f"webshop {SEP} instruction : {SEP}",
    "search_tail": f"{SEP} search",
    "back": "back to search",
    "results_head": f"back to search {SEP} page",
    "total": "( total results :",
    "close": ")",
    "prev": "< prev",
    "next": "next >",
    "item_head": f"back to search {SEP} < prev {SEP}",
    "selected": f"{SEP} selected :",
    "item_tail": f"{SEP} description {SEP} features {SEP} reviews {SEP} attributes {SEP} buy now",
    "sub_head": f"back to search {SEP} < prev {SEP}",
    "done": f"thank you for shopping with us ! {SEP} purchased {SEP}",
    "nothing": NOTHING_HAPPENS,
    "sep": SEP,
}
_THOUGHTS = {
    "search": ("i am on the search page , so i will search for", "."),
    "open": ("the result", "matches the instruction , so i will open it ."),
    "next": ("no result on this page matches , so i will look at the next page .", ""),
    "research": ("these results do not match , so i will search again .", ""),
    "wrong": ("this item does not match the instruction , so i will go back .", ""),
    "option": ("the instruction asks for", ", so i will select it ."),
    "buy": ("the item and its options match the instruction , so i will buy it .", ""),
    "sub": ("i will go back to the item page .", ""),
    "done": ("the purchase is done .", ""),
}
_EXTRA_WORDS = (
    "webshop instruction search back to page total results prev next selected description "
    "features reviews attributes buy now thank you for shopping with us purchased price rating "
    "out of a customer says good would again click nothing happens product i am on the so will "
    "result matches open it no this look at these do not match item does go its options and asks "
    "select need find is done b"
).split()


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


def _pad_rows(rows: list[list[int]], width: int | None = None, fill: int = 0) -> np.ndarray:
    width = width or max(1, max(len(r) for r in rows))
    out = np.full((len(rows), width), fill, np.int32)
    for i, r in enumerate(rows):
        if len(r) > width:
            raise ValueError(f"row {i} has {len(r)} > {width} entries")
        out[i, : len(r)] = r
    return out


class Shop(Environment):
    """The WebShop-like environment (see the module docstring)."""

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
        tok = self.tokenizer
        cat = sc.generate_catalog(num_products, seed)
        if not 0 < num_test_goals < len(cat.goals):
            raise ValueError(
                f"num_test_goals must be in (0, {len(cat.goals)}), got {num_test_goals}"
            )
        self.catalog = cat
        self.num_test_goals = num_test_goals
        self.action_len = action_len
        self.thought_len = thought_len
        self.max_admissible = max(3 + PER_PAGE, 2 + MAX_SLOTS * MAX_VALUES + len(SUBPAGES) + 1)
        self._build_tables(tok, cat)
        self._observation_jit = jax.jit(self._observation)

    # ----- words ------------------------------------------------------------------------------
    @classmethod
    def words(cls) -> tuple[str, ...]:
        texts = [*_TEXTS.values(), *(a + " " + b for a, b in _THOUGHTS.values()), *_EXTRA_WORDS]
        texts += list(sc.brand_names()) + list(sc.NOUNS) + list(DEPARTMENTS)
        for path, nouns, attrs, descriptors, options, _ in sc.CATEGORIES:
            texts += [*path, *nouns, *attrs, *descriptors]
            for name, values in options:
                texts += [name, *values]
        texts += [t for tpl in sc._INSTRUCTION_TEMPLATES for t in tpl.split()]
        texts += [
            "this",
            "from",
            "is",
            "and",
            "some",
            "an",
            "in",
            "size",
            "scent",
            "flavor",
            "pack",
        ]
        words = {w for t in texts for w in split_words(t) if w.isalpha()}
        return tuple(sorted(words))

    # ----- host-side tables -------------------------------------------------------------------
    def _enc(self, text: str) -> list[int]:
        ids = self.tokenizer.encode(text)
        if self.tokenizer.unk_id in ids:
            raise ValueError(f"shop text has words outside the vocabulary: {text!r}")
        return ids

    def _click(self, text: str) -> list[int]:
        return self._enc(f"click [ {text} ]")

    def _build_tables(self, tok: WordTokenizer, cat: sc.Catalog) -> None:
        enc = self._enc
        products, goals = cat.products, cat.goals
        n = len(products)
        attr_index = {a: i for i, a in enumerate(cat.attributes)}
        opt_index = {v: i for i, v in enumerate(cat.option_values)}
        type_index = {t: i for i, t in enumerate(cat.option_type_names)}
        query_index = {q: i for i, q in enumerate(cat.queries)}
        level_index = {lv: i for i, lv in enumerate(cat.levels)}
        brands = set(sc.brand_names())

        self.texts = {k: np.asarray(enc(v), np.int32) for k, v in _TEXTS.items()}
        self.thoughts = {
            k: (np.asarray(enc(a), np.int32), np.asarray(enc(b) or [0], np.int32))
            for k, (a, b) in _THOUGHTS.items()
        }

        def price(cents: int) -> str:
            return f"${cents // 100}.{cents % 100:02d}"

        # Per-product rendered pieces.
        self.result_rows = _pad_rows(
            [
                enc(f"{SEP} {p.code} {SEP} {' '.join(p.title)} {SEP} {price(p.price_cents)}")
                for p in products
            ]
        )
        opt_parts, bodies, subs = [], [], []
        for p in products:
            part = []
            for name, values in zip(p.option_types, p.options, strict=True):
                part.append(f"{name} : {SEP} " + f" {SEP} ".join(values))
            opt_parts.append(enc(f" {SEP} ".join(part)))
            bodies.append(
                enc(
                    f"{SEP} {' '.join(p.title)} {SEP} price : {price(p.price_cents)} "
                    f"{SEP} rating : {p.rating}"
                )
            )
            subs.append(
                [
                    enc(p.description),
                    enc(f" {SEP} ".join(p.bullets)),
                    enc(
                        f"rating : {p.rating} out of 5 {SEP} a customer says : good {p.noun} , "
                        "would buy again ."
                    ),
                    enc(f" {SEP} ".join(p.attributes)),
                ]
            )
        self.opt_parts = _pad_rows(opt_parts)
        self.bodies = _pad_rows(bodies)
        sub_width = max(len(r) for s in subs for r in s)
        self.sub_rows = np.stack([_pad_rows(s, sub_width) for s in subs])
        self.option_tokens = _pad_rows([enc(v) for v in cat.option_values])
        self.code_tokens = _pad_rows([enc(p.code) for p in products])

        # Clickable rows.
        L = self.action_len
        self.click_code = _pad_rows([self._click(p.code) for p in products], L)
        self.click_opt = _pad_rows([self._click(v) for v in cat.option_values], L)
        self.buttons = {
            "back": self._click("back to search"),
            "prev": self._click("< prev"),
            "next": self._click("next >"),
            **{s: self._click(s) for s in SUBPAGES},
            "buy": self._click("buy now"),
            "search": enc("search [ ... ]"),
        }
        self.button_rows = {k: _pad_rows([v], L)[0] for k, v in self.buttons.items()}
        # The global clickable table: buttons, then product codes, then option values.
        self.click_rows = np.concatenate(
            [_pad_rows([self.buttons[k] for k in _BUTTONS], L), self.click_code, self.click_opt]
        )
        kinds = [_BUTTON_KINDS[k] for k in _BUTTONS]
        args = [SUBPAGES.index(k) if k in SUBPAGES else 0 for k in _BUTTONS]
        self.click_kind = np.array(
            kinds + [K_PRODUCT] * n + [K_OPTION] * len(cat.option_values), np.int32
        )
        self.click_arg = np.array(
            args + list(range(n)) + list(range(len(cat.option_values))), np.int32
        )

        # Product facts for the score.
        self.price_cents = np.array([p.price_cents for p in products], np.int32)
        self.query_id = np.array([query_index[p.query] for p in products], np.int32)
        self.levels = np.array([[level_index[x] for x in p.category] for p in products], np.int32)
        self.department = np.array([DEPARTMENTS.index(p.category[0]) for p in products], np.int32)
        opt_vals = np.full((n, MAX_SLOTS, MAX_VALUES), -1, np.int32)
        opt_types = np.full((n, MAX_SLOTS), -1, np.int32)
        for i, p in enumerate(products):
            for s, (name, values) in enumerate(zip(p.option_types, p.options, strict=True)):
                opt_types[i, s] = type_index[name]
                opt_vals[i, s, : len(values)] = [opt_index[v] for v in values]
        self.opt_vals, self.opt_types = opt_vals, opt_types
        noun_ids = set()
        for w in set(sc.NOUNS) | brands:
            noun_ids.update(
                i for i, piece in zip(tok.encode(w), split_words(w), strict=True) if piece.isalpha()
            )
        nouns = []
        for p in products:
            ids = sorted({i for i in enc(" ".join(p.title)) if i in noun_ids})
            nouns.append(ids)
        self.title_nouns = _pad_rows(nouns, fill=-1)
        self.attr_hit = sc.attribute_hits(cat)
        self.opt_match = sc.option_matches(cat)

        # Goals.
        g = len(goals)
        self.goal_product = np.array([x.product for x in goals], np.int32)
        self.goal_attrs = np.full((g, MAX_GOAL_ATTRS), -1, np.int32)
        self.goal_opts = np.full((g, MAX_SLOTS), -1, np.int32)
        for i, x in enumerate(goals):
            self.goal_attrs[i, : len(x.attributes)] = [attr_index[a] for a in x.attributes]
            self.goal_opts[i, : len(x.options)] = [opt_index[o] for o in x.options]
        self.goal_price = np.array([x.price_upper * 100 for x in goals], np.int32)
        self.instructions = _pad_rows([enc(x.instruction) for x in goals])
        self.task_len = self.instructions.shape[1]

        # BM25 index over title, bullets, description and option values.
        doc_ids = []
        for p in products:
            text = " ".join(
                [
                    " ".join(p.title),
                    *p.bullets,
                    p.description,
                    *(v for vals in p.options for v in vals),
                ]
            )
            doc_ids.append(enc(text))
        # Words and digits are terms; punctuation is not (Lucene's analyser drops it).
        terms = sorted({i for d in doc_ids for i in d if tok.vocab[i].isalnum()})
        term_of = np.full((tok.vocab_size,), -1, np.int32)
        term_of[terms] = np.arange(len(terms))
        self.term_of_token = term_of
        self.index = bm25.build_index(
            [[term_of[i] for i in d if term_of[i] >= 0] for d in doc_ids], len(terms)
        )

        # Sizes of the observation: the longest page that can be rendered.
        results_len = (
            len(self.texts["results_head"])
            + 2
            + len(self.texts["total"])
            + 2
            + len(self.texts["close"])
            + len(self.texts["prev"])
            + 1
            + len(self.texts["next"])
            + 1
            + PER_PAGE * int((self.result_rows != 0).sum(1).max())
        )
        item_len = (
            len(self.texts["item_head"])
            + int((self.opt_parts != 0).sum(1).max())
            + len(self.texts["selected"])
            + MAX_SLOTS * (self.option_tokens.shape[1] + 1)
            + int((self.bodies != 0).sum(1).max())
            + len(self.texts["item_tail"])
        )
        search_len = self.instructions.shape[1] + 10
        sub_len = len(self.texts["sub_head"]) + self.sub_rows.shape[-1]
        self.obs_len = int(-(-max(results_len, item_len, search_len, sub_len) // 16) * 16)

        self._to_device()
        self._oracle_queries()

    def _to_device(self) -> None:
        for name in (
            "click_rows click_kind click_arg result_rows code_tokens opt_parts bodies sub_rows "
            "option_tokens click_code click_opt price_cents "
            "query_id levels department opt_vals opt_types title_nouns attr_hit opt_match "
            "goal_product goal_attrs goal_opts goal_price instructions term_of_token"
        ).split():
            setattr(self, name, jnp.asarray(getattr(self, name)))
        self.texts = {k: jnp.asarray(v) for k, v in self.texts.items()}
        self.thoughts = {k: (jnp.asarray(a), jnp.asarray(b)) for k, (a, b) in self.thoughts.items()}
        self.button_rows = {k: jnp.asarray(v) for k, v in self.button_rows.items()}

    def _oracle_queries(self) -> None:
        """Per goal, two candidate oracle queries: the goal keywords and the target's title."""
        cat = self.catalog
        L = self.action_len
        keyword_rows, title_rows = [], []
        for x in cat.goals:
            p = cat.products[x.product]
            keywords = " ".join([*x.attributes, p.noun])
            keyword_rows.append(self._enc(f"search [ {keywords} ]")[:L])
            title_rows.append(self._enc(f"search [ {' '.join(p.title)} ]")[:L])
        self.keyword_search = jnp.asarray(_pad_rows(keyword_rows, L))
        self.title_search = jnp.asarray(_pad_rows(title_rows, L))

    # ----- params -----------------------------------------------------------------------------
    def default_params(self, split: str = "train", horizon: int = 15) -> ShopParams:
        if split not in self.splits:
            raise ValueError(f"split {split!r} not in {self.splits}")
        num_goals = len(self.catalog.goals)
        if split == "test":
            return ShopParams(split, horizon, self.num_test_goals, 0)
        return ShopParams(split, horizon, num_goals - self.num_test_goals, self.num_test_goals)

    # ----- jit pieces -------------------------------------------------------------------------
    def _retrieve(self, action_L: jax.Array) -> tuple[jax.Array, jax.Array]:
        """BM25 top 50 for the query inside `search [ ... ]` (tokens between the brackets)."""
        pos_L = jnp.arange(action_L.shape[0])
        n = jnp.sum(action_L != self.tokenizer.pad_id)
        inside_L = (pos_L >= 2) & (pos_L < n - 1)
        terms_L = self.term_of_token[jnp.clip(action_L, 0, self.tokenizer.vocab_size - 1)]
        scores_D = bm25.index_scores(self.index, terms_L, inside_L & (terms_L >= 0))
        return bm25.top_k(scores_D, NUM_RETRIEVED)

    def purchase_score(self, goal: jax.Array, product: jax.Array, chosen: jax.Array) -> jax.Array:
        """WebShop's task score r of buying `product` with options `chosen` for `goal` (§1.2)."""
        chex.assert_shape(chosen, (MAX_SLOTS,))
        target = self.goal_product[goal]
        g_attr = self.goal_attrs[goal]
        has_attr = g_attr >= 0
        n_attr = jnp.sum(self.attr_hit[product, jnp.maximum(g_attr, 0)] & has_attr)
        g_opt = self.goal_opts[goal]
        has_opt = g_opt >= 0
        hit_CxG = self.opt_match[jnp.maximum(chosen, 0)[:, None], jnp.maximum(g_opt, 0)[None, :]]
        hit_CxG = hit_CxG & (chosen >= 0)[:, None] & has_opt[None, :]
        n_opt = jnp.sum(jnp.any(hit_CxG, axis=0))
        r_price = (self.price_cents[product] <= self.goal_price[goal]).astype(jnp.float32)
        query_match = self.query_id[product] == self.query_id[target]
        lv_p, lv_t = self.levels[product], self.levels[target]
        category_match = jnp.sum(jnp.any(lv_t[:, None] == lv_p[None, :], axis=1)) >= 2
        nouns_t, nouns_p = self.title_nouns[target], self.title_nouns[product]
        n_goal_nouns = jnp.sum(nouns_t >= 0)
        shared = jnp.sum(
            jnp.any((nouns_t[:, None] == nouns_p[None, :]) & (nouns_t >= 0)[:, None], axis=1)
        )
        title_score = jnp.where(n_goal_nouns > 0, shared / jnp.maximum(n_goal_nouns, 1), 0.2)
        r_type = jnp.where(query_match | category_match | (title_score > 0.2), 1.0, 0.5)
        r_type = jnp.where(title_score < 0.1, 0.1, r_type)
        r_type = jnp.where(title_score == 0.0, 0.0, r_type)
        total = jnp.sum(has_attr) + jnp.sum(has_opt) + 1
        return (r_type * (n_attr + n_opt + r_price) / total).astype(jnp.float32)

    def _best_options(self, goal: jax.Array, product: jax.Array) -> jax.Array:
        """Per slot, the product's value matching the goal's option of that slot (exact first)."""
        g_opt = self.goal_opts[goal]
        vals = self.opt_vals[product]  # [S, V]
        exact_SxV = (vals == g_opt[:, None]) & (vals >= 0)
        fuzzy_SxV = self.opt_match[jnp.maximum(vals, 0), jnp.maximum(g_opt, 0)[:, None]]
        fuzzy_SxV = fuzzy_SxV & (vals >= 0) & (g_opt >= 0)[:, None]
        pick_S = jnp.where(
            jnp.any(exact_SxV, 1), jnp.argmax(exact_SxV, 1), jnp.argmax(fuzzy_SxV, 1)
        )
        found_S = jnp.any(exact_SxV | fuzzy_SxV, 1)
        return jnp.where(found_S, jnp.take_along_axis(vals, pick_S[:, None], 1)[:, 0], -1)

    def _can_win(self, goal: jax.Array, product: jax.Array) -> jax.Array:
        """Buying `product` with the oracle's options scores 1."""
        return self.purchase_score(goal, product, self._best_options(goal, product)) >= 1.0 - 1e-6

    def _number(self, value: jax.Array) -> jax.Array:
        """Digit tokens of a number in [0, 999] without leading zeros, padded to 3."""
        digits = jnp.stack([value // 100, (value // 10) % 10, value % 10])
        keep = jnp.arange(3) >= jnp.where(value >= 100, 0, jnp.where(value >= 10, 1, 2))
        return jnp.where(keep, jnp.asarray(self.tokenizer.digit_ids)[digits], self.tokenizer.pad_id)

    def _observation(self, state: ShopState, invalid: jax.Array | bool = False) -> jax.Array:
        """The visible text of the state's page (or "Nothing happens." when `invalid`), `[O]`.

        Every page's pieces are masked by whether that page is shown and compacted once (one
        scatter per observation keeps both the compiled program and the step small).
        """
        T = self.texts
        pad = self.tokenizer.pad_id
        page = jnp.where(invalid, -1, state.page)

        def on(cond, *parts):
            tokens = jnp.concatenate([jnp.asarray(p, jnp.int32).reshape(-1) for p in parts])
            return jnp.where(cond, tokens, pad)

        slots = state.page_no * PER_PAGE + jnp.arange(PER_PAGE)
        shown = slots < state.num_results
        rows = self.result_rows[state.results[jnp.minimum(slots, NUM_RETRIEVED - 1)]]
        rows = jnp.where(shown[:, None], rows, pad)
        more = (state.page_no + 1) * PER_PAGE < state.num_results
        chosen = state.chosen
        chosen_rows = self.option_tokens[jnp.maximum(chosen, 0)]
        seps = jnp.broadcast_to(T["sep"], (MAX_SLOTS, T["sep"].shape[0]))
        chosen_text = jnp.where(
            (chosen >= 0)[:, None], jnp.concatenate([seps, chosen_rows], 1), pad
        )
        is_results, is_item = page == RESULTS, page == ITEM
        pieces = [
            on(page == -1, T["nothing"]),
            on(page == SEARCH, T["search_head"], self.instructions[state.goal], T["search_tail"]),
            on(is_results, T["results_head"], self._number(state.page_no + 1), T["total"]),
            on(is_results, self._number(state.num_results), T["close"]),
            on(is_results & (state.page_no > 0), T["sep"], T["prev"]),
            on(is_results & more, T["sep"], T["next"]),
            on(is_results, rows),
            on(is_item, T["item_head"], self.opt_parts[state.item]),
            on(is_item & jnp.any(chosen >= 0), T["selected"], chosen_text),
            on(is_item, self.bodies[state.item], T["item_tail"]),
            on(page == SUB, T["sub_head"], self.sub_rows[state.item, state.sub]),
            on(page == DONE, T["done"], self.code_tokens[state.item]),
        ]
        return compact_tokens(jnp.concatenate(pieces), self.obs_len, pad)

    def _clickables(self, state: ShopState):
        """The page's clickables: `(table_AxL, kind_A, arg_A, slot_A, valid_A)`, not compacted.

        Each page lists rows of the global clickable table (`_build_clickable_rows`) by index, so
        the page's table is one gather.
        """
        A = self.max_admissible
        n = len(self.catalog.products)
        code0, opt0 = len(_BUTTONS), len(_BUTTONS) + n
        b = {name: i for i, name in enumerate(_BUTTONS)}

        def layout(idx, valid, slot=None):
            idx = jnp.concatenate([jnp.asarray(i, jnp.int32).reshape(-1) for i in idx])
            valid = jnp.concatenate([jnp.asarray(v, bool).reshape(-1) for v in valid])
            slot = jnp.zeros_like(idx) if slot is None else slot
            fill = A - idx.shape[0]
            return (jnp.pad(idx, (0, fill)), jnp.pad(valid, (0, fill)), jnp.pad(slot, (0, fill)))

        slots = state.page_no * PER_PAGE + jnp.arange(PER_PAGE)
        products = state.results[jnp.minimum(slots, NUM_RETRIEVED - 1)]
        more = (state.page_no + 1) * PER_PAGE < state.num_results
        results = layout(
            [[b["back"], b["prev"], b["next"]], code0 + products],
            [jnp.stack([True, state.page_no > 0, more]), slots < state.num_results],
        )
        vals = self.opt_vals[state.item].reshape(-1)
        subs = [b[x] for x in SUBPAGES] + [b["buy"]]
        item_slot = jnp.concatenate(
            [
                jnp.zeros((2,), jnp.int32),
                jnp.repeat(jnp.arange(MAX_SLOTS), MAX_VALUES),
                jnp.zeros((len(subs),), jnp.int32),
            ]
        )
        item = layout(
            [[b["back"], b["prev"]], opt0 + jnp.maximum(vals, 0), subs],
            [jnp.ones((2,), bool), vals >= 0, jnp.ones((len(subs),), bool)],
            item_slot,
        )
        search = layout([[b["search"]]], [[True]])
        sub = layout([[b["back"], b["prev"]]], [[True, True]])
        done = layout([[b["search"]]], [[False]])
        idx, valid, slot = jax.tree.map(
            lambda *xs: jnp.stack(xs)[state.page], search, results, item, sub, done
        )
        return self.click_rows[idx], self.click_kind[idx], self.click_arg[idx], slot, valid

    # ----- contract ---------------------------------------------------------------------------
    def _reset_task(self, task_id: jax.Array, params: ShopParams):
        return self._reset_goal(jnp.asarray(params.task_offset + task_id, jnp.int32))

    def reset_in_split(self, task_id: jax.Array, split_index: jax.Array):
        """The episode `task_id` of split `splits[split_index]` (both may be traced)."""
        offset = jnp.where(split_index == self.splits.index("test"), 0, self.num_test_goals)
        return self._reset_goal(jnp.asarray(offset + task_id, jnp.int32))

    def _reset_goal(self, goal: jax.Array):
        target = self.goal_product[goal]
        state = ShopState(
            t=jnp.zeros((), jnp.int32),
            terminated=jnp.zeros((), bool),
            truncated=jnp.zeros((), bool),
            task_type=self.department[target],
            goal=goal,
            page=jnp.asarray(SEARCH, jnp.int32),
            page_no=jnp.zeros((), jnp.int32),
            results=jnp.zeros((NUM_RETRIEVED,), jnp.int32),
            num_results=jnp.zeros((), jnp.int32),
            item=jnp.zeros((), jnp.int32),
            sub=jnp.zeros((), jnp.int32),
            chosen=jnp.full((MAX_SLOTS,), -1, jnp.int32),
            score=jnp.zeros((), jnp.float32),
            won=jnp.zeros((), bool),
        )
        return state, self._observation(state)

    def _step(self, key, state: ShopState, action_L, ok, params: ShopParams):
        del key, params  # deterministic
        tok = self.tokenizer
        n = jnp.sum(action_L != tok.pad_id)
        is_search = (
            ok
            & (state.page == SEARCH)
            & (action_L[0] == tok.token_to_id("search"))
            & (action_L[1] == tok.token_to_id("["))
            & (action_L[jnp.maximum(n - 1, 0)] == tok.token_to_id("]"))
            & (n > 3)
        )
        results, count = self._retrieve(action_L)
        table, kind, arg, arg2, valid = self._clickables(state)
        row, found = match_action(action_L, table, valid & (kind != K_NONE))
        is_click = ok & found & ~is_search
        k, a, slot = kind[row], arg[row], arg2[row]

        s = state
        searched = s.replace(
            page=jnp.asarray(RESULTS, jnp.int32),
            page_no=jnp.zeros((), jnp.int32),
            results=results,
            num_results=count,
        )
        back = s.replace(page=jnp.asarray(SEARCH, jnp.int32))
        prev_page = jnp.where(s.page == RESULTS, s.page_no - 1, s.page_no)
        prev = s.replace(
            page=jnp.select(
                [s.page == RESULTS, s.page == ITEM, s.page == SUB],
                [jnp.where(s.page_no > 0, RESULTS, SEARCH), RESULTS, ITEM],
                s.page,
            ),
            page_no=jnp.maximum(prev_page, 0),
        )
        nxt = s.replace(page_no=s.page_no + 1)
        product = s.replace(
            page=jnp.asarray(ITEM, jnp.int32), item=a, chosen=jnp.full((MAX_SLOTS,), -1, jnp.int32)
        )
        option = s.replace(chosen=s.chosen.at[slot].set(a))
        sub = s.replace(page=jnp.asarray(SUB, jnp.int32), sub=a)
        score = self.purchase_score(s.goal, s.item, s.chosen)
        buy = s.replace(page=jnp.asarray(DONE, jnp.int32), score=score, won=score >= 1.0 - 1e-6)
        candidates = [searched, back, prev, nxt, product, option, sub, buy]
        # Candidate i is the result of clickable kind i (0: a search).
        which = jnp.where(is_search, 0, jnp.where(is_click, k, 0))
        new = jax.tree.map(lambda *xs: jnp.stack(xs)[which], *candidates)
        invalid = ~(is_search | is_click)
        new = jax.tree.map(lambda old, x: jnp.where(invalid, old, x), s, new)
        bought = is_click & (k == K_BUY)
        reward = jnp.where(bought & new.won, 10.0, 0.0).astype(jnp.float32)
        obs = self._observation(new, invalid)
        return new, obs, reward, bought, invalid

    def info_for_state(self, state: ShopState, params: ShopParams, invalid: jax.Array):
        del params
        table, _, _, _, valid = self._clickables(state)
        admissible, count = compact_rows(table, valid, self.tokenizer.pad_id)
        return {
            "invalid": jnp.asarray(invalid, bool),
            "won": state.won,
            "task_type": state.task_type.astype(jnp.int32),
            "admissible": admissible,
            "num_admissible": count,
            "score": state.score.astype(jnp.float32),
            "task": self.instructions[state.goal][: self.task_len],
        }

    def _oracle_plan(self, state: ShopState):
        """The oracle's action `[L]`, thought case and the variable tokens of its thought."""
        B = self.button_rows
        goal = state.goal
        # Search: the goal's keywords when their top 50 holds a product that can score 1, else
        # the target's title (which retrieves the target itself).
        keyword = self.keyword_search[goal]
        kw_results, kw_count = self._retrieve(keyword)
        kw_ok = jax.vmap(lambda p: self._can_win(goal, p))(kw_results)
        kw_ok = jnp.any(kw_ok & (jnp.arange(NUM_RETRIEVED) < kw_count))
        search = jnp.where(kw_ok, keyword, self.title_search[goal])
        # Results: first winnable product at or after the current page.
        winnable_K = jax.vmap(lambda p: self._can_win(goal, p))(state.results)
        winnable_K = winnable_K & (jnp.arange(NUM_RETRIEVED) < state.num_results)
        on_page_K = (jnp.arange(NUM_RETRIEVED) // PER_PAGE) == state.page_no
        here = jnp.any(winnable_K & on_page_K)
        later = jnp.any(winnable_K & (jnp.arange(NUM_RETRIEVED) // PER_PAGE > state.page_no))
        pick = state.results[jnp.argmax(winnable_K & on_page_K)]
        # Item: right product? then options, then buy.
        right = self._can_win(goal, state.item)
        best = self._best_options(goal, state.item)
        g_opt = self.goal_opts[goal]
        chosen = state.chosen
        matches_S = (chosen >= 0) & self.opt_match[jnp.maximum(chosen, 0), jnp.maximum(g_opt, 0)]
        chosen_ok_S = (g_opt < 0) | (best < 0) | matches_S
        need = jnp.argmin(chosen_ok_S)
        missing = ~jnp.all(chosen_ok_S)
        value = best[need]
        cases = [
            ("search", search, search[2:]),
            ("open", self.click_code[pick], self.click_code[pick][2:]),
            ("next", B["next"], None),
            ("research", B["back"], None),
            ("wrong", B["prev"], None),
            (
                "option",
                self.click_opt[jnp.maximum(value, 0)],
                self.option_tokens[jnp.maximum(value, 0)],
            ),
            ("buy", B["buy"], None),
            ("sub", B["prev"], None),
            ("done", B["buy"], None),
        ]
        case = jnp.select(
            [
                state.page == SEARCH,
                (state.page == RESULTS) & here,
                (state.page == RESULTS) & later,
                state.page == RESULTS,
                (state.page == ITEM) & ~right,
                (state.page == ITEM) & missing,
                state.page == ITEM,
                state.page == SUB,
            ],
            [0, 1, 2, 3, 4, 5, 6, 7],
            8,
        )
        return cases, case

    def oracle(self, key, state: ShopState, params: ShopParams) -> jax.Array:
        del key, params
        cases, case = self._oracle_plan(state)
        return jnp.stack([c[1] for c in cases])[case]

    def oracle_thought(self, key, state: ShopState, params: ShopParams) -> jax.Array:
        del key, params
        cases, case = self._oracle_plan(state)
        pad = self.tokenizer.pad_id
        close = self.tokenizer.token_to_id("]")
        pieces = []
        for i, (name, _, var) in enumerate(cases):
            head, tail = self.thoughts[name]
            var = jnp.zeros((1,), jnp.int32) if var is None else jnp.where(var == close, pad, var)
            pieces.append(jnp.where(case == i, jnp.concatenate([head, var, tail]), pad))
        return compact_tokens(jnp.concatenate(pieces), self.thought_len, pad)

    def render(self, state: ShopState) -> str:
        obs = self._observation_jit(state)
        page = ("search", "results", "item", "sub-page", "done")[int(state.page)]
        goal = self.decode(self.instructions[state.goal])
        head = f"[shop] step {int(state.t)} | page {page} | goal: {goal}"
        if int(state.page) == DONE:
            head += f" | score {float(state.score):.3f}"
        return head + "\n" + self.decode(obs)


register("shop", Shop)


@functools.lru_cache(maxsize=2)
def cached(tokenizer: WordTokenizer | None = None) -> Shop:
    """One shared `Shop` per tokenizer (building it takes a few seconds)."""
    return Shop(tokenizer)
