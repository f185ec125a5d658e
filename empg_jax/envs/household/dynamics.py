"""Household dynamics: the admissible actions of a state and one transition.

A step is a fixed amount of array work with no Python loop over objects: the parsed action is
looked up in the state's cached admissible table (its row in the full action table says what it
does: go to receptacle r, take object o, or one of `text.FIXED_ACTIONS`), every effect is a masked
update, and the feedback text is a template chosen by `jnp.select`. Rules follow ALFWorld's PDDL
domain: receptacles that open must be open to take from or put into, the held object is heated
at the microwave, cooled at the fridge, cleaned at the sink basin, and the desk lamp is used where
it stands. Reward 10 on success, which terminates the episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.core import compact_rows, match_action
from empg_jax.envs.household.render import obj_names, recep_names, render_text
from empg_jax.envs.household.state import HouseholdState
from empg_jax.envs.household.tables import HouseholdTables
from empg_jax.envs.household.tasks import CLEAN, COOL, HEAT, LOOK, PICK2, TOOL
from empg_jax.envs.household.text import FA, OV
from empg_jax.envs.household.world import LAMP


def full_table(tab: HouseholdTables, s: HouseholdState) -> tuple[jax.Array, jax.Array]:
    """All candidate actions `[R + O + 11, L]` and which are admissible now."""
    R, O, L, p, w = tab.R, tab.O, tab.action_len, tab.pad, tab.w
    rnames = recep_names(tab, s)  # [R, 2]
    onames = obj_names(tab, s)  # [O, 2]
    at = s.cur >= 0
    cur = jnp.clip(s.cur, 0)
    cur_type = jnp.where(at, s.recep_type[cur], -1)
    cur_name = jnp.where(at, rnames[cur], p)
    holding = s.held >= 0
    held_name = jnp.where(holding, onames[jnp.clip(s.held, 0)], p)
    accessible = at & (~tab.openable[jnp.clip(cur_type, 0)] | s.recep_open[cur])

    go = jnp.concatenate(
        [jnp.full((R, 1), w["go"]), jnp.full((R, 1), w["to"]), rnames,
         jnp.full((R, L - 4), p)], axis=1,
    )  # fmt: skip
    go_ok = (s.recep_type >= 0) & (jnp.arange(R) != s.cur)
    lamp_slot = tab.O - 1
    take = jnp.concatenate(
        [
            jnp.full((O, 1), w["take"]),
            onames,
            jnp.full((O, 1), w["from"]),
            jnp.broadcast_to(cur_name, (O, 2)),
            jnp.full((O, L - 6), p),
        ],
        axis=1,
    )
    take_ok = (
        (s.obj_type >= 0) & (s.obj_loc == s.cur) & accessible & ~holding
        & (s.obj_type != LAMP)
    )  # fmt: skip
    lamp_here = (s.obj_type[lamp_slot] == LAMP) & (s.obj_loc[lamp_slot] == s.cur) & at

    def fixed(*parts):
        row = jnp.concatenate([jnp.atleast_1d(jnp.asarray(q, jnp.int32)) for q in parts])
        return jnp.pad(row, (0, L - row.shape[0]), constant_values=p)

    lamp_name = onames[lamp_slot]
    fixed_rows = jnp.stack(
        [
            fixed(w["open"], cur_name),
            fixed(w["close"], cur_name),
            fixed(w["move"], held_name, w["to"], cur_name),
            fixed(w["heat"], held_name, w["with"], cur_name),
            fixed(w["cool"], held_name, w["with"], cur_name),
            fixed(w["clean"], held_name, w["with"], cur_name),
            fixed(w["use"], lamp_name),
            fixed(w["examine"], cur_name),
            fixed(w["examine"], held_name),
            fixed(w["look"]),
            fixed(w["inventory"]),
        ]
    )
    openable = at & tab.openable[jnp.clip(cur_type, 0)]
    is_open = s.recep_open[cur]
    fixed_ok = jnp.stack(
        [
            openable & ~is_open,
            openable & is_open,
            holding & accessible,
            holding & (cur_type == TOOL[HEAT]),
            holding & (cur_type == TOOL[COOL]),
            holding & (cur_type == TOOL[CLEAN]),
            lamp_here,
            at,
            holding,
            jnp.ones((), bool),
            jnp.ones((), bool),
        ]
    )
    table = jnp.concatenate([go, take.astype(jnp.int32), fixed_rows], axis=0)
    return table.astype(jnp.int32), jnp.concatenate([go_ok, take_ok, fixed_ok])


def with_admissible(tab: HouseholdTables, s: HouseholdState) -> HouseholdState:
    """`s` with its admissible table: the admissible rows of `full_table`, compacted, and
    each one's row in the full table."""
    table, ok = full_table(tab, s)
    adm, n = compact_rows(table, ok, tab.pad)
    rows = jnp.arange(table.shape[0], dtype=jnp.int32)
    pos = jnp.where(ok, jnp.cumsum(ok) - 1, table.shape[0])
    adm_row = jnp.zeros(table.shape[0] + 1, jnp.int32).at[pos].set(rows, mode="drop")
    return s.replace(adm_AxL=adm, adm_row_A=adm_row[:-1], num_adm=n)


def is_won(tab: HouseholdTables, s: HouseholdState) -> jax.Array:
    """The task of `s` is solved (for look tasks: holding the object where the lamp is on)."""
    on_y = (s.obj_type == s.target_obj) & (s.obj_loc >= 0)
    on_y &= s.recep_type[jnp.clip(s.obj_loc, 0)] == s.target_recep
    cond = jnp.select(
        [s.task_type == CLEAN, s.task_type == HEAT, s.task_type == COOL],
        [s.obj_clean, s.obj_hot, s.obj_cool],
        jnp.ones_like(s.obj_clean),
    )
    n = jnp.sum(on_y & cond)
    lamp = tab.O - 1
    held_x = (s.held >= 0) & (s.obj_type[jnp.clip(s.held, 0)] == s.target_obj)
    looked = held_x & s.lamp_on & (s.obj_loc[lamp] == s.cur) & (s.cur >= 0)
    return jnp.select([s.task_type == LOOK, s.task_type == PICK2], [looked, n >= 2], n >= 1)


def step(tab: HouseholdTables, s: HouseholdState, action_L: jax.Array, ok: jax.Array):
    """One transition on a parsed action: `(state, obs_O, reward, terminated, invalid)`."""
    R, O = tab.R, tab.O
    idx, found = match_action(action_L, s.adm_AxL, jnp.arange(tab.max_admissible) < s.num_adm)
    valid = ok & found
    row = jnp.where(valid, s.adm_row_A[idx], -1)
    is_go = (row >= 0) & (row < R)
    is_take = (row >= R) & (row < R + O)
    k = row - R - O
    cur = jnp.clip(s.cur, 0)
    held = jnp.clip(s.held, 0)
    o_slot = jnp.arange(O)
    r_slot = jnp.arange(R)

    new_cur = jnp.where(is_go, row, s.cur)
    nc = jnp.clip(new_cur, 0)
    openable_new = tab.openable[jnp.clip(s.recep_type[nc], 0)]
    opened = (k == FA["open"]) & valid
    closed = (k == FA["close"]) & valid
    recep_open = jnp.where((r_slot == cur) & opened, True, s.recep_open)
    recep_open = jnp.where((r_slot == cur) & closed, False, recep_open)
    sees = (is_go & (~openable_new | recep_open[nc])) | opened
    observed = s.observed | ((r_slot == nc) & sees & (new_cur >= 0))

    take_o = row - R
    moved = (k == FA["move"]) & valid
    obj_loc = jnp.where(is_take & (o_slot == take_o), -1, s.obj_loc)
    obj_loc = jnp.where(moved & (o_slot == held), s.cur, obj_loc)
    new_held = jnp.where(is_take, take_o, jnp.where(moved, -1, s.held))
    at_held = (o_slot == held) & (s.held >= 0) & valid
    obj_hot = s.obj_hot | (at_held & (k == FA["heat"]))
    obj_cool = s.obj_cool | (at_held & (k == FA["cool"]))
    obj_clean = s.obj_clean | (at_held & (k == FA["clean"]))
    # heating undoes cooling and vice versa, as in ALFWorld's PDDL effects
    obj_cool = jnp.where(at_held & (k == FA["heat"]), False, obj_cool)
    obj_hot = jnp.where(at_held & (k == FA["cool"]), False, obj_hot)
    lamp_on = s.lamp_on | ((k == FA["use"]) & valid)

    ns = s.replace(
        cur=new_cur.astype(jnp.int32),
        held=new_held.astype(jnp.int32),
        recep_open=recep_open,
        observed=observed,
        obj_loc=obj_loc.astype(jnp.int32),
        obj_hot=obj_hot,
        obj_cool=obj_cool,
        obj_clean=obj_clean,
        lamp_on=lamp_on,
    )
    won = is_won(tab, ns)
    ns = ns.replace(won=won)
    ns = with_admissible(tab, ns)

    # Observation text.
    surface = ~openable_new
    variant = jnp.select(
        [
            ~valid,
            is_go & surface,
            is_go & recep_open[nc],
            is_go,
            is_take,
            k == FA["open"],
            k == FA["close"],
            k == FA["move"],
            k == FA["heat"],
            k == FA["cool"],
            k == FA["clean"],
            k == FA["use"],
            (k == FA["examine_cur"]) & surface,
            (k == FA["examine_cur"]) & recep_open[nc],
            k == FA["examine_cur"],
            k == FA["examine_held"],
            (k == FA["look"]) & (s.cur < 0),
            k == FA["look"],
            (k == FA["inventory"]) & (s.held < 0),
        ],
        [
            OV["nothing"],
            OV["go_on"],
            OV["go_in"],
            OV["go_closed"],
            OV["take"],
            OV["open"],
            OV["close"],
            OV["move"],
            OV["heat"],
            OV["cool"],
            OV["clean"],
            OV["use"],
            OV["examine_on"],
            OV["examine_in"],
            OV["examine_closed"],
            OV["examine_obj"],
            OV["look_middle"],
            OV["look_at"],
            OV["inventory_empty"],
        ],
        OV["inventory"],
    )
    obs = render_text(
        tab, tab.obs_segs, tab.obs_slots, variant, ns, held_before=s.held, list_at=new_cur,
        show_list=tab.obs_list[variant], length=tab.obs_len,
    )  # fmt: skip
    reward = jnp.where(won, 10.0, 0.0)
    return ns, obs, reward, won, ~valid
