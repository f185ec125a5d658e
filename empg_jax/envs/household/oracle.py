"""Household oracle: a pure function of the state that only uses what the agent could observe.

The state tracks which receptacles the agent has seen inside. The oracle searches unseen
receptacles (those where the target object plausibly lies first, random tie-break), opens closed
ones, takes a target object it has seen, cleans/heats/cools it, turns on the desk lamp, and places
it; holding something else, it puts it down first. Every generated episode is solvable and the
oracle solves it within the horizon.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.household.dynamics import full_table
from empg_jax.envs.household.render import render_text
from empg_jax.envs.household.state import HouseholdState
from empg_jax.envs.household.tables import HouseholdTables
from empg_jax.envs.household.tasks import CLEAN, COOL, HEAT, LOOK, TOOL
from empg_jax.envs.household.text import FA, TH
from empg_jax.envs.household.world import LAMP


def plan(tab: HouseholdTables, key, s: HouseholdState):
    """The next move: `(row in full_table, thought variant, dest slot, obj slot)` (-1: none)."""
    R, O = tab.R, tab.O
    x, y, tt = s.target_obj, s.target_recep, s.task_type
    r_slot = jnp.arange(R)
    r_valid = s.recep_type >= 0
    rt = jnp.clip(s.recep_type, 0)
    at = s.cur >= 0
    cur = jnp.clip(s.cur, 0)
    cur_type = jnp.where(at, s.recep_type[cur], -1)
    is_open = s.recep_open[cur]
    cur_openable = at & tab.openable[jnp.clip(cur_type, 0)]
    accessible = at & (~cur_openable | is_open)
    holding = s.held >= 0
    hb = jnp.clip(s.held, 0)
    held_x = holding & (s.obj_type[hb] == x)
    row_go = lambda r: r  # noqa: E731
    row_fixed = lambda name: R + O + FA[name]  # noqa: E731

    # where an X is "done": on a Y and processed as the task asks
    cond = jnp.select(
        [tt == CLEAN, tt == HEAT, tt == COOL],
        [s.obj_clean, s.obj_hot, s.obj_cool],
        jnp.ones_like(s.obj_clean),
    )
    loc = jnp.clip(s.obj_loc, 0)
    on_recep = s.obj_loc >= 0
    placed = on_recep & (s.recep_type[loc] == y) & cond & (tt != LOOK)
    cand = (s.obj_type == x) & on_recep & ~placed
    known = cand & s.observed[loc]
    # unobserved receptacles, the plausible ones for X (or the lamp) first, random tie-break
    lamp = O - 1
    lamp_known = (s.obj_type[lamp] == LAMP) & s.observed[jnp.clip(s.obj_loc[lamp], 0)]
    want_lamp = (tt == LOOK) & held_x & ~lamp_known
    plaus = jnp.where(want_lamp, tab.lamp_host[rt], tab.plaus[x][rt])
    noise = jax.random.uniform(key, (R,))
    score = jnp.where(plaus, 0.0, 2.0) + noise
    unseen_ok = r_valid & ~s.observed & (r_slot != s.cur)
    search_r = jnp.argmin(jnp.where(unseen_ok, score, jnp.inf)).astype(jnp.int32)
    any_unseen = jnp.any(unseen_ok)
    cur_unseen_closed = at & ~s.observed[cur] & cur_openable & ~is_open

    # targets
    tool = jnp.select(
        [tt == CLEAN, tt == HEAT, tt == COOL], [TOOL[CLEAN], TOOL[HEAT], TOOL[COOL]], -1
    )
    need_proc = held_x & (tt >= CLEAN) & (tt <= COOL) & ~cond[hb]
    tool_r = jnp.argmax(r_valid & (s.recep_type == tool)).astype(jnp.int32)
    y_here = at & (cur_type == y)
    y_r = jnp.argmax(r_valid & (s.recep_type == y)).astype(jnp.int32)
    lamp_r = jnp.clip(s.obj_loc[lamp], 0)
    # prefer a known X at the current receptacle, else the first known one
    known_here = known & (s.obj_loc == s.cur)
    pick_o = jnp.where(jnp.any(known_here), jnp.argmax(known_here), jnp.argmax(known))
    pick_o = pick_o.astype(jnp.int32)
    pick_r = s.obj_loc[pick_o]
    proc_row = jnp.select(
        [tt == CLEAN, tt == HEAT], [row_fixed("clean"), row_fixed("heat")], row_fixed("cool")
    )
    goto_tool_th = jnp.select(
        [tt == CLEAN, tt == HEAT], [TH["goto_clean"], TH["goto_heat"]], TH["goto_cool"]
    )
    proc_th = jnp.select([tt == CLEAN, tt == HEAT], [TH["clean"], TH["heat"]], TH["cool"])
    first_r = jnp.argmax(r_valid & (r_slot != s.cur)).astype(jnp.int32)

    branches = [
        # holding X that still needs cleaning / heating / cooling
        (need_proc & (cur_type == tool), proc_row, proc_th, -1, -1),
        (need_proc, row_go(tool_r), goto_tool_th, tool_r, -1),
        # look task: bring X to the lamp and turn it on
        (held_x & (tt == LOOK) & lamp_known & (s.cur == s.obj_loc[lamp]),
         row_fixed("use"), TH["use"], -1, -1),
        (held_x & (tt == LOOK) & lamp_known, row_go(lamp_r), TH["goto_lamp"], lamp_r, -1),
        (held_x & (tt == LOOK) & cur_unseen_closed, row_fixed("open"), TH["open_search"],
         -1, -1),
        (held_x & (tt == LOOK) & any_unseen, row_go(search_r), TH["search"], search_r, -1),
        # holding a ready X: put it on / in a Y
        (held_x & (tt != LOOK) & y_here & cur_openable & ~is_open, row_fixed("open"),
         TH["open_target"], -1, -1),
        (held_x & (tt != LOOK) & y_here, row_fixed("move"), TH["move"], -1, -1),
        (held_x & (tt != LOOK), row_go(y_r), TH["goto_target"], y_r, -1),
        # holding something else: put it down
        (holding & accessible, row_fixed("move"), TH["drop"], -1, -1),
        (holding & cur_openable, row_fixed("open"), TH["open_target"], -1, -1),
        (holding, row_go(first_r), TH["leave"], first_r, -1),
        # hands empty: take a seen X, else search
        (jnp.any(known) & (s.cur == pick_r) & cur_openable & ~is_open, row_fixed("open"),
         TH["open_search"], -1, -1),
        (jnp.any(known) & (s.cur == pick_r), R + pick_o, TH["take"], -1, pick_o),
        (jnp.any(known), row_go(pick_r), TH["goto_obj"], pick_r, pick_o),
        (cur_unseen_closed, row_fixed("open"), TH["open_search"], -1, -1),
        (any_unseen, row_go(search_r), TH["search"], search_r, -1),
    ]  # fmt: skip
    conds = [b[0] for b in branches]
    pick = lambda j, default: jnp.select(  # noqa: E731
        conds, [jnp.asarray(b[j], jnp.int32) for b in branches], jnp.int32(default)
    )
    return (
        pick(1, row_fixed("look")),
        pick(2, TH["look"]),
        pick(3, -1),
        pick(4, -1),
    )


def next_action(tab: HouseholdTables, key: jax.Array, state: HouseholdState) -> jax.Array:
    """The oracle's next action `[L]`."""
    row, *_ = plan(tab, key, state)
    table, _ = full_table(tab, state)
    return table[row]


def next_thought(tab: HouseholdTables, key: jax.Array, state: HouseholdState) -> jax.Array:
    """The oracle's reasoning `[T]` for its next action."""
    _, th, dest, obj = plan(tab, key, state)
    return render_text(
        tab, tab.th_segs, tab.th_slots, th, state, held_before=state.held, dest=dest,
        obj=obj, length=tab.thought_len,
    )  # fmt: skip
