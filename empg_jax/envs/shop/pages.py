"""Shop pages inside `jit`: the visible text of the current page and its clickables.

Every page's pieces are gathered from `tables.ShopTables`, masked by whether the page is shown,
and compacted once. `render_state` is the host-side view of a state (page, goal, observation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.shop.state import (
    DONE,
    ITEM,
    MAX_SLOTS,
    MAX_VALUES,
    NUM_RETRIEVED,
    PER_PAGE,
    RESULTS,
    SEARCH,
    SUB,
    SUBPAGES,
    ShopState,
)
from empg_jax.envs.shop.tables import ShopTables
from empg_jax.envs.shop.text import BUTTONS


def number(tab: ShopTables, value: jax.Array) -> jax.Array:
    """Digit tokens of a number in [0, 999] without leading zeros, padded to 3."""
    digits = jnp.stack([value // 100, (value // 10) % 10, value % 10])
    keep = jnp.arange(3) >= jnp.where(value >= 100, 0, jnp.where(value >= 10, 1, 2))
    return jnp.where(keep, jnp.asarray(tab.tokenizer.digit_ids)[digits], tab.tokenizer.pad_id)


def observation(tab: ShopTables, state: ShopState, invalid: jax.Array | bool = False) -> jax.Array:
    """The visible text of the state's page (or "Nothing happens." when `invalid`), `[O]`.

    Every page's pieces are masked by whether that page is shown and compacted once (one
    scatter per observation keeps both the compiled program and the step small).
    """
    T = tab.texts
    pad = tab.tokenizer.pad_id
    page = jnp.where(invalid, -1, state.page)

    def on(cond, *parts):
        tokens = jnp.concatenate([jnp.asarray(p, jnp.int32).reshape(-1) for p in parts])
        return jnp.where(cond, tokens, pad)

    slots = state.page_no * PER_PAGE + jnp.arange(PER_PAGE)
    shown = slots < state.num_results
    rows = tab.result_rows[state.results[jnp.minimum(slots, NUM_RETRIEVED - 1)]]
    rows = jnp.where(shown[:, None], rows, pad)
    more = (state.page_no + 1) * PER_PAGE < state.num_results
    chosen = state.chosen
    chosen_rows = tab.option_tokens[jnp.maximum(chosen, 0)]
    seps = jnp.broadcast_to(T["sep"], (MAX_SLOTS, T["sep"].shape[0]))
    chosen_text = jnp.where((chosen >= 0)[:, None], jnp.concatenate([seps, chosen_rows], 1), pad)
    is_results, is_item = page == RESULTS, page == ITEM
    pieces = [
        on(page == -1, T["nothing"]),
        on(page == SEARCH, T["search_head"], tab.instructions[state.goal], T["search_tail"]),
        on(is_results, T["results_head"], number(tab, state.page_no + 1), T["total"]),
        on(is_results, number(tab, state.num_results), T["close"]),
        on(is_results & (state.page_no > 0), T["sep"], T["prev"]),
        on(is_results & more, T["sep"], T["next"]),
        on(is_results, rows),
        on(is_item, T["item_head"], tab.opt_parts[state.item]),
        on(is_item & jnp.any(chosen >= 0), T["selected"], chosen_text),
        on(is_item, tab.bodies[state.item], T["item_tail"]),
        on(page == SUB, T["sub_head"], tab.sub_rows[state.item, state.sub]),
        on(page == DONE, T["done"], tab.code_tokens[state.item]),
    ]
    return compact_tokens(jnp.concatenate(pieces), tab.obs_len, pad)


def clickables(tab: ShopTables, state: ShopState):
    """The page's clickables: `(table_AxL, kind_A, arg_A, slot_A, valid_A)`, not compacted.

    Each page lists rows of the global clickable table (`ShopTables.click_rows`) by index, so
    the page's table is one gather.
    """
    A = tab.max_admissible
    n = tab.num_products
    code0, opt0 = len(BUTTONS), len(BUTTONS) + n
    b = {name: i for i, name in enumerate(BUTTONS)}

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
    vals = tab.opt_vals[state.item].reshape(-1)
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
    return tab.click_rows[idx], tab.click_kind[idx], tab.click_arg[idx], slot, valid


def render_state(tab: ShopTables, state: ShopState, observation_text: jax.Array) -> str:
    """Page, goal (and score once bought), then the page's text."""
    decode = tab.tokenizer.decode
    page = ("search", "results", "item", "sub-page", "done")[int(state.page)]
    goal = decode(np.asarray(tab.instructions[state.goal]))
    head = f"[shop] step {int(state.t)} | page {page} | goal: {goal}"
    if int(state.page) == DONE:
        head += f" | score {float(state.score):.3f}"
    return head + "\n" + decode(np.asarray(observation_text))
