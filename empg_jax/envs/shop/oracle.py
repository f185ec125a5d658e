"""Shop oracle: a pure function of the state that buys a product scoring 1 for the goal.

It searches with the goal's keywords (its attributes and product noun), or the target's title
when no product that can score 1 appears in the keyword query's top 50 (checked inside the oracle
with the same BM25), opens the first product on the results that can score 1 (paging with
`next >`), selects the goal's options and buys; from any other page it goes back to where it can
continue. Every goal is solvable (the target itself scores 1) and the oracle wins all of them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.shop.dynamics import retrieve
from empg_jax.envs.shop.score import best_options, can_win
from empg_jax.envs.shop.state import ITEM, NUM_RETRIEVED, PER_PAGE, RESULTS, SEARCH, SUB, ShopState
from empg_jax.envs.shop.tables import ShopTables


def plan(tab: ShopTables, state: ShopState):
    """`(cases, case)`: every case as (thought name, action `[L]`, variable thought tokens or
    None), and the index of the case that applies to `state`."""
    B = tab.button_rows
    goal = state.goal
    # Search: the goal's keywords when their top 50 holds a product that can score 1, else
    # the target's title (which retrieves the target itself).
    keyword = tab.keyword_search[goal]
    kw_results, kw_count = retrieve(tab, keyword)
    kw_ok = jax.vmap(lambda p: can_win(tab, goal, p))(kw_results)
    kw_ok = jnp.any(kw_ok & (jnp.arange(NUM_RETRIEVED) < kw_count))
    search = jnp.where(kw_ok, keyword, tab.title_search[goal])
    # Results: first winnable product at or after the current page.
    winnable_K = jax.vmap(lambda p: can_win(tab, goal, p))(state.results)
    winnable_K = winnable_K & (jnp.arange(NUM_RETRIEVED) < state.num_results)
    on_page_K = (jnp.arange(NUM_RETRIEVED) // PER_PAGE) == state.page_no
    here = jnp.any(winnable_K & on_page_K)
    later = jnp.any(winnable_K & (jnp.arange(NUM_RETRIEVED) // PER_PAGE > state.page_no))
    pick = state.results[jnp.argmax(winnable_K & on_page_K)]
    # Item: right product? then options, then buy.
    right = can_win(tab, goal, state.item)
    best = best_options(tab, goal, state.item)
    g_opt = tab.goal_opts[goal]
    chosen = state.chosen
    matches_S = (chosen >= 0) & tab.opt_match[jnp.maximum(chosen, 0), jnp.maximum(g_opt, 0)]
    chosen_ok_S = (g_opt < 0) | (best < 0) | matches_S
    need = jnp.argmin(chosen_ok_S)
    missing = ~jnp.all(chosen_ok_S)
    value = best[need]
    cases = [
        ("search", search, search[2:]),
        ("open", tab.click_code[pick], tab.click_code[pick][2:]),
        ("next", B["next"], None),
        ("research", B["back"], None),
        ("wrong", B["prev"], None),
        (
            "option",
            tab.click_opt[jnp.maximum(value, 0)],
            tab.option_tokens[jnp.maximum(value, 0)],
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


def next_action(tab: ShopTables, state: ShopState) -> jax.Array:
    """The oracle's next action `[L]`."""
    cases, case = plan(tab, state)
    return jnp.stack([c[1] for c in cases])[case]


def next_thought(tab: ShopTables, state: ShopState) -> jax.Array:
    """The oracle's reasoning `[T]` for its next action."""
    cases, case = plan(tab, state)
    pad = tab.tokenizer.pad_id
    close = tab.tokenizer.token_to_id("]")
    pieces = []
    for i, (name, _, var) in enumerate(cases):
        head, tail = tab.thoughts[name]
        var = jnp.zeros((1,), jnp.int32) if var is None else jnp.where(var == close, pad, var)
        pieces.append(jnp.where(case == i, jnp.concatenate([head, var, tail]), pad))
    return compact_tokens(jnp.concatenate(pieces), tab.thought_len, pad)
