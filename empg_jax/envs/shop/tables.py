"""The catalogue, pages and goals compiled to id arrays for one tokenizer (host side, run once).

Every piece of page text a product or goal can show is encoded here, padded into tables; the
jitted code (`pages`, `score`, `dynamics`, `oracle`) only gathers rows. Also here: the BM25 index
of the products (`bm25.build_index`), the product facts the score needs, and the observation
length, the longest page that can be rendered.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs import bm25
from empg_jax.envs.shop.catalog import Catalog, attribute_hits, option_matches, price_text
from empg_jax.envs.shop.categories import DEPARTMENTS, NOUNS, brand_names
from empg_jax.envs.shop.state import (
    K_OPTION,
    K_PRODUCT,
    MAX_GOAL_ATTRS,
    MAX_SLOTS,
    MAX_VALUES,
    PER_PAGE,
    SUBPAGES,
)
from empg_jax.envs.shop.text import BUTTON_KINDS, BUTTONS, SEP, TEXTS, THOUGHTS
from empg_jax.text.word import WordTokenizer, split_words


@dataclasses.dataclass(frozen=True, eq=False)
class ShopTables:
    """Sizes and constant arrays of one shop (N products, V option values, G goals, S = MAX_SLOTS
    option slots, L = action_len; rows are right-padded with `<pad>`)."""

    tokenizer: WordTokenizer
    num_products: int
    action_len: int
    thought_len: int
    task_len: int
    obs_len: int
    max_admissible: int
    # fixed page texts and the oracle's thought pieces (`text.TEXTS`, `text.THOUGHTS`)
    texts: dict[str, jax.Array]
    thoughts: dict[str, tuple[jax.Array, jax.Array]]
    # rendered pieces per product
    result_rows: jax.Array  # [N, W] "| code | title | $price" on the results page
    opt_parts: jax.Array  # [N, W] the item page's option lists
    bodies: jax.Array  # [N, W] the item page's title, price and rating
    sub_rows: jax.Array  # [N, 4, W] the sub-pages (`SUBPAGES`)
    option_tokens: jax.Array  # [V, W] option value text
    code_tokens: jax.Array  # [N, W] product code
    # clickables: buttons, then product codes, then option values, as `click [ ... ]` rows
    click_code: jax.Array  # [N, L]
    click_opt: jax.Array  # [V, L]
    button_rows: dict[str, jax.Array]  # [L] per button (and the "search [ ... ]" example)
    click_rows: jax.Array  # [len(BUTTONS) + N + V, L]
    click_kind: jax.Array  # [len(BUTTONS) + N + V] `K_*`
    click_arg: jax.Array  # [len(BUTTONS) + N + V] sub-page, product or option value id
    # product facts for the score
    price_cents: jax.Array  # [N]
    query_id: jax.Array  # [N] the search query the product came from
    levels: jax.Array  # [N, 3] category level ids
    department: jax.Array  # [N] index into DEPARTMENTS (the task type)
    opt_vals: jax.Array  # [N, S, MAX_VALUES] option value ids, -1 padded
    title_nouns: jax.Array  # [N, W] token ids of the title's nouns, -1 padded
    attr_hit: jax.Array  # bool [N, A] `catalog.attribute_hits`
    opt_match: jax.Array  # bool [V, V] `catalog.option_matches`
    # goals
    goal_product: jax.Array  # [G]
    goal_attrs: jax.Array  # [G, MAX_GOAL_ATTRS] attribute ids, -1 padded
    goal_opts: jax.Array  # [G, S] option value ids, -1 padded
    goal_price: jax.Array  # [G] price upper bound in cents
    instructions: jax.Array  # [G, K]
    keyword_search: jax.Array  # [G, L] the oracle's keyword query
    title_search: jax.Array  # [G, L] the oracle's fallback query (the target's title)
    # search engine
    term_of_token: jax.Array  # [vocab] BM25 term of a token id, -1 for none
    index: bm25.BM25Index


def pad_rows(rows: list[list[int]], width: int | None = None, fill: int = 0) -> np.ndarray:
    """Rows of ids right-padded with `fill` to `width` (default: the longest row)."""
    width = width or max(1, max(len(r) for r in rows))
    out = np.full((len(rows), width), fill, np.int32)
    for i, r in enumerate(rows):
        if len(r) > width:
            raise ValueError(f"row {i} has {len(r)} > {width} entries")
        out[i, : len(r)] = r
    return out


def build_tables(
    tok: WordTokenizer, cat: Catalog, action_len: int, thought_len: int, max_admissible: int
) -> ShopTables:
    """All tables of the shop over catalogue `cat` (see `ShopTables`)."""

    def enc(text: str) -> list[int]:
        ids = tok.encode(text)
        if tok.unk_id in ids:
            raise ValueError(f"shop text has words outside the vocabulary: {text!r}")
        return ids

    def click(text: str) -> list[int]:
        return enc(f"click [ {text} ]")

    products, goals = cat.products, cat.goals
    n = len(products)
    attr_index = {a: i for i, a in enumerate(cat.attributes)}
    opt_index = {v: i for i, v in enumerate(cat.option_values)}
    query_index = {q: i for i, q in enumerate(cat.queries)}
    level_index = {lv: i for i, lv in enumerate(cat.levels)}
    brands = set(brand_names())

    texts = {k: np.asarray(enc(v), np.int32) for k, v in TEXTS.items()}
    thoughts = {
        k: (np.asarray(enc(a), np.int32), np.asarray(enc(b) or [0], np.int32))
        for k, (a, b) in THOUGHTS.items()
    }

    # Per-product rendered pieces.
    result_rows = pad_rows(
        [
            enc(f"{SEP} {p.code} {SEP} {' '.join(p.title)} {SEP} {price_text(p.price_cents)}")
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
                f"{SEP} {' '.join(p.title)} {SEP} price : {price_text(p.price_cents)} "
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
    opt_parts = pad_rows(opt_parts)
    bodies = pad_rows(bodies)
    sub_width = max(len(r) for s in subs for r in s)
    sub_rows = np.stack([pad_rows(s, sub_width) for s in subs])
    option_tokens = pad_rows([enc(v) for v in cat.option_values])
    code_tokens = pad_rows([enc(p.code) for p in products])

    # Clickable rows.
    L = action_len
    click_code = pad_rows([click(p.code) for p in products], L)
    click_opt = pad_rows([click(v) for v in cat.option_values], L)
    buttons = {
        "back": click("back to search"),
        "prev": click("< prev"),
        "next": click("next >"),
        **{s: click(s) for s in SUBPAGES},
        "buy": click("buy now"),
        "search": enc("search [ ... ]"),
    }
    button_rows = {k: pad_rows([v], L)[0] for k, v in buttons.items()}
    # The global clickable table: buttons, then product codes, then option values.
    click_rows = np.concatenate([pad_rows([buttons[k] for k in BUTTONS], L), click_code, click_opt])
    kinds = [BUTTON_KINDS[k] for k in BUTTONS]
    args = [SUBPAGES.index(k) if k in SUBPAGES else 0 for k in BUTTONS]
    click_kind = np.array(kinds + [K_PRODUCT] * n + [K_OPTION] * len(cat.option_values), np.int32)
    click_arg = np.array(args + list(range(n)) + list(range(len(cat.option_values))), np.int32)

    # Product facts for the score.
    opt_vals = np.full((n, MAX_SLOTS, MAX_VALUES), -1, np.int32)
    for i, p in enumerate(products):
        for s, (_, values) in enumerate(zip(p.option_types, p.options, strict=True)):
            opt_vals[i, s, : len(values)] = [opt_index[v] for v in values]
    noun_ids = set()
    for w in set(NOUNS) | brands:
        noun_ids.update(
            i for i, piece in zip(tok.encode(w), split_words(w), strict=True) if piece.isalpha()
        )
    nouns = [sorted({i for i in enc(" ".join(p.title)) if i in noun_ids}) for p in products]

    # Goals.
    g = len(goals)
    goal_attrs = np.full((g, MAX_GOAL_ATTRS), -1, np.int32)
    goal_opts = np.full((g, MAX_SLOTS), -1, np.int32)
    for i, x in enumerate(goals):
        goal_attrs[i, : len(x.attributes)] = [attr_index[a] for a in x.attributes]
        goal_opts[i, : len(x.options)] = [opt_index[o] for o in x.options]
    instructions = pad_rows([enc(x.instruction) for x in goals])

    # BM25 index over title, bullets, description and option values.
    doc_ids = []
    for p in products:
        text = " ".join(
            [" ".join(p.title), *p.bullets, p.description, *(v for vals in p.options for v in vals)]
        )
        doc_ids.append(enc(text))
    # Words and digits are terms; punctuation is not (Lucene's analyser drops it).
    terms = sorted({i for d in doc_ids for i in d if tok.vocab[i].isalnum()})
    term_of = np.full((tok.vocab_size,), -1, np.int32)
    term_of[terms] = np.arange(len(terms))
    docs = [[term_of[i] for i in d if term_of[i] >= 0] for d in doc_ids]
    index = bm25.build_index(docs, len(terms))

    # Per goal, two candidate oracle queries: the goal keywords and the target's title.
    keyword_rows, title_rows = [], []
    for x in goals:
        p = products[x.product]
        keywords = " ".join([*x.attributes, p.noun])
        keyword_rows.append(enc(f"search [ {keywords} ]")[:L])
        title_rows.append(enc(f"search [ {' '.join(p.title)} ]")[:L])

    j = jnp.asarray
    return ShopTables(
        tokenizer=tok,
        num_products=n,
        action_len=action_len,
        thought_len=thought_len,
        task_len=instructions.shape[1],
        obs_len=_observation_length(
            texts, result_rows, opt_parts, bodies, sub_rows, option_tokens, instructions
        ),  # fmt: skip
        max_admissible=max_admissible,
        texts={k: j(v) for k, v in texts.items()},
        thoughts={k: (j(a), j(b)) for k, (a, b) in thoughts.items()},
        result_rows=j(result_rows),
        opt_parts=j(opt_parts),
        bodies=j(bodies),
        sub_rows=j(sub_rows),
        option_tokens=j(option_tokens),
        code_tokens=j(code_tokens),
        click_code=j(click_code),
        click_opt=j(click_opt),
        button_rows={k: j(v) for k, v in button_rows.items()},
        click_rows=j(click_rows),
        click_kind=j(click_kind),
        click_arg=j(click_arg),
        price_cents=j(np.array([p.price_cents for p in products], np.int32)),
        query_id=j(np.array([query_index[p.query] for p in products], np.int32)),
        levels=j(np.array([[level_index[x] for x in p.category] for p in products], np.int32)),
        department=j(np.array([DEPARTMENTS.index(p.category[0]) for p in products], np.int32)),
        opt_vals=j(opt_vals),
        title_nouns=j(pad_rows(nouns, fill=-1)),
        attr_hit=j(attribute_hits(cat)),
        opt_match=j(option_matches(cat)),
        goal_product=j(np.array([x.product for x in goals], np.int32)),
        goal_attrs=j(goal_attrs),
        goal_opts=j(goal_opts),
        goal_price=j(np.array([x.price_upper * 100 for x in goals], np.int32)),
        instructions=j(instructions),
        keyword_search=j(pad_rows(keyword_rows, L)),
        title_search=j(pad_rows(title_rows, L)),
        term_of_token=j(term_of),
        index=index,
    )


def _observation_length(
    texts, result_rows, opt_parts, bodies, sub_rows, option_tokens, instructions
) -> int:
    """Tokens of the longest page that can be rendered, rounded up to a multiple of 16."""
    results_len = (
        len(texts["results_head"])
        + 2
        + len(texts["total"])
        + 2
        + len(texts["close"])
        + len(texts["prev"])
        + 1
        + len(texts["next"])
        + 1
        + PER_PAGE * int((result_rows != 0).sum(1).max())
    )
    item_len = (
        len(texts["item_head"])
        + int((opt_parts != 0).sum(1).max())
        + len(texts["selected"])
        + MAX_SLOTS * (option_tokens.shape[1] + 1)
        + int((bodies != 0).sum(1).max())
        + len(texts["item_tail"])
    )
    search_len = instructions.shape[1] + 10
    sub_len = len(texts["sub_head"]) + sub_rows.shape[-1]
    return int(-(-max(results_len, item_len, search_len, sub_len) // 16) * 16)
