"""Shop dynamics: reset to a goal, BM25 retrieval and one transition, inside `jit`.

`search[query]` (on the search page) retrieves the top `NUM_RETRIEVED` products by BM25 over each
product's title, bullet points, description and option values (a precomputed term-by-product
matrix, so a query is one gather); `click[x]` with the exact text of a clickable of the page
moves between pages, selects an option or buys. Every candidate next state is built and the
right one selected by the clickable's kind. Reward 10 when the purchase scores 1, else 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs import bm25
from empg_jax.envs.core import compact_rows, match_action
from empg_jax.envs.shop.pages import clickables, observation
from empg_jax.envs.shop.score import purchase_score
from empg_jax.envs.shop.state import (
    DONE,
    ITEM,
    K_BUY,
    K_NONE,
    MAX_SLOTS,
    NUM_RETRIEVED,
    RESULTS,
    SEARCH,
    SUB,
    ShopState,
)
from empg_jax.envs.shop.tables import ShopTables


def retrieve(tab: ShopTables, action_L: jax.Array) -> tuple[jax.Array, jax.Array]:
    """BM25 top 50 for the query inside `search [ ... ]` (tokens between the brackets)."""
    pos_L = jnp.arange(action_L.shape[0])
    n = jnp.sum(action_L != tab.tokenizer.pad_id)
    inside_L = (pos_L >= 2) & (pos_L < n - 1)
    terms_L = tab.term_of_token[jnp.clip(action_L, 0, tab.tokenizer.vocab_size - 1)]
    scores_D = bm25.index_scores(tab.index, terms_L, inside_L & (terms_L >= 0))
    return bm25.top_k(scores_D, NUM_RETRIEVED)


def reset_goal(tab: ShopTables, goal: jax.Array):
    """`(state, obs_O)`: the search page of goal `goal` (an index into the goal table)."""
    target = tab.goal_product[goal]
    state = ShopState(
        t=jnp.zeros((), jnp.int32),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        task_type=tab.department[target],
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
    return state, observation(tab, state)


def step(tab: ShopTables, state: ShopState, action_L: jax.Array, ok: jax.Array):
    """One transition on a parsed action: `(state, obs_O, reward, terminated, invalid)`."""
    tok = tab.tokenizer
    n = jnp.sum(action_L != tok.pad_id)
    is_search = (
        ok
        & (state.page == SEARCH)
        & (action_L[0] == tok.token_to_id("search"))
        & (action_L[1] == tok.token_to_id("["))
        & (action_L[jnp.maximum(n - 1, 0)] == tok.token_to_id("]"))
        & (n > 3)
    )
    results, count = retrieve(tab, action_L)
    table, kind, arg, arg2, valid = clickables(tab, state)
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
    score = purchase_score(tab, s.goal, s.item, s.chosen)
    buy = s.replace(page=jnp.asarray(DONE, jnp.int32), score=score, won=score >= 1.0 - 1e-6)
    candidates = [searched, back, prev, nxt, product, option, sub, buy]
    # Candidate i is the result of clickable kind i (0: a search).
    which = jnp.where(is_search, 0, jnp.where(is_click, k, 0))
    new = jax.tree.map(lambda *xs: jnp.stack(xs)[which], *candidates)
    invalid = ~(is_search | is_click)
    new = jax.tree.map(lambda old, x: jnp.where(invalid, old, x), s, new)
    bought = is_click & (k == K_BUY)
    reward = jnp.where(bought & new.won, 10.0, 0.0).astype(jnp.float32)
    obs = observation(tab, new, invalid)
    return new, obs, reward, bought, invalid


def info(tab: ShopTables, state: ShopState, invalid: jax.Array) -> dict[str, jax.Array]:
    """The `core.INFO_KEYS` dict of `state`: the page's clickables are the admissible actions."""
    table, _, _, _, valid = clickables(tab, state)
    admissible, count = compact_rows(table, valid, tab.tokenizer.pad_id)
    return {
        "invalid": jnp.asarray(invalid, bool),
        "won": state.won,
        "task_type": state.task_type.astype(jnp.int32),
        "admissible": admissible,
        "num_admissible": count,
        "score": state.score.astype(jnp.float32),
        "task": tab.instructions[state.goal][: tab.task_len],
    }
