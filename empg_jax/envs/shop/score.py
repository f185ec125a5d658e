"""WebShop's task score of a purchase, inside `jit` (integer gathers from the shop's tables).

    r = r_type * (n_attr + n_opt + r_price) / (|attrs| + |opts| + 1)

n_attr counts goal attributes matched by the product (`catalog.attribute_hits`), n_opt goal
options matched by a chosen option (colour-normalised fuzzy match, `catalog.option_matches`),
r_price = [price <= goal upper bound]. r_type = 1, lowered to 0.5 when none of (query match,
category match: >= 2 shared category levels, title score > 0.2) holds, then 0.1 when the title
score < 0.1 and 0 when it is 0; title score = |goal-title nouns & product-title nouns| /
|goal-title nouns| (0.2 when the goal title has none).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from empg_jax.envs.shop.state import MAX_SLOTS
from empg_jax.envs.shop.tables import ShopTables


def purchase_score(
    tab: ShopTables, goal: jax.Array, product: jax.Array, chosen: jax.Array
) -> jax.Array:
    """WebShop's task score r of buying `product` with options `chosen` for `goal`."""
    chex.assert_shape(chosen, (MAX_SLOTS,))
    target = tab.goal_product[goal]
    g_attr = tab.goal_attrs[goal]
    has_attr = g_attr >= 0
    n_attr = jnp.sum(tab.attr_hit[product, jnp.maximum(g_attr, 0)] & has_attr)
    g_opt = tab.goal_opts[goal]
    has_opt = g_opt >= 0
    hit_CxG = tab.opt_match[jnp.maximum(chosen, 0)[:, None], jnp.maximum(g_opt, 0)[None, :]]
    hit_CxG = hit_CxG & (chosen >= 0)[:, None] & has_opt[None, :]
    n_opt = jnp.sum(jnp.any(hit_CxG, axis=0))
    r_price = (tab.price_cents[product] <= tab.goal_price[goal]).astype(jnp.float32)
    query_match = tab.query_id[product] == tab.query_id[target]
    lv_p, lv_t = tab.levels[product], tab.levels[target]
    category_match = jnp.sum(jnp.any(lv_t[:, None] == lv_p[None, :], axis=1)) >= 2
    nouns_t, nouns_p = tab.title_nouns[target], tab.title_nouns[product]
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


def best_options(tab: ShopTables, goal: jax.Array, product: jax.Array) -> jax.Array:
    """Per slot, the product's value matching the goal's option of that slot (exact first)."""
    g_opt = tab.goal_opts[goal]
    vals = tab.opt_vals[product]  # [S, V]
    exact_SxV = (vals == g_opt[:, None]) & (vals >= 0)
    fuzzy_SxV = tab.opt_match[jnp.maximum(vals, 0), jnp.maximum(g_opt, 0)[:, None]]
    fuzzy_SxV = fuzzy_SxV & (vals >= 0) & (g_opt >= 0)[:, None]
    pick_S = jnp.where(jnp.any(exact_SxV, 1), jnp.argmax(exact_SxV, 1), jnp.argmax(fuzzy_SxV, 1))
    found_S = jnp.any(exact_SxV | fuzzy_SxV, 1)
    return jnp.where(found_S, jnp.take_along_axis(vals, pick_S[:, None], 1)[:, 0], -1)


def can_win(tab: ShopTables, goal: jax.Array, product: jax.Array) -> jax.Array:
    """Buying `product` with the oracle's options scores 1."""
    return purchase_score(tab, goal, product, best_options(tab, goal, product)) >= 1.0 - 1e-6
