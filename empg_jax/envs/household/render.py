"""Household text inside `jit`: names, item lists, the task, observations and thoughts.

Text is assembled by concatenating fixed-size padded pieces (template segments from
`tables.HouseholdTables`, "type number" names, list items) and compacting once
(`core.compact_tokens`). `render_state` is the host-side, human-readable view of a state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.household.state import HouseholdState
from empg_jax.envs.household.tables import HouseholdTables
from empg_jax.envs.household.tasks import TASK_TYPES
from empg_jax.envs.household.world import LAMP, O_NAMES, R_NAMES, RECEPTACLES, ROOM_NAMES
from empg_jax.text.word import WordTokenizer


def numbered_names(
    tab: HouseholdTables, word_ids: jax.Array, num: jax.Array, valid: jax.Array
) -> jax.Array:
    """`[..., 2]` tokens "type number" (numbers are 1..9), all pad where not valid."""
    name = jnp.stack([word_ids, tab.digit[jnp.clip(num, 0, 9)]], axis=-1)
    return jnp.where(valid[..., None], name, tab.pad)


def recep_names(tab: HouseholdTables, s: HouseholdState) -> jax.Array:
    """`[R, 2]` "cabinet 1", ... (pad in empty slots)."""
    valid = s.recep_type >= 0
    return numbered_names(tab, tab.r_word[s.recep_type], s.recep_num, valid)


def obj_names(tab: HouseholdTables, s: HouseholdState) -> jax.Array:
    """`[O, 2]` "apple 1", ... (pad in empty slots)."""
    valid = s.obj_type >= 0
    return numbered_names(tab, tab.o_word[s.obj_type], s.obj_num, valid)


def task_text(tab: HouseholdTables, task_type, variant, x, y) -> jax.Array:
    """The task instruction `[K]` ("put a clean apple in fridge.")."""
    segs = tab.task_segs[task_type, variant]
    prep = jnp.where(tab.task_has_prep[task_type, variant], tab.prep_word[y], tab.pad)
    raw = jnp.concatenate(
        [segs[0], tab.o_word[x][None], segs[1], prep[None], tab.r_word[y][None], segs[2]]
    )
    return compact_tokens(raw, tab.task_len, tab.pad)


def item_list(tab: HouseholdTables, names_Nx2: jax.Array, show_N: jax.Array) -> jax.Array:
    """ "a x 1, a y 2, and a z 1." (or "nothing.") as raw tokens with pads, `[N*5 + 2]`."""
    rank = jnp.cumsum(show_N) - 1
    count = jnp.sum(show_N)
    is_last = rank == count - 1
    lead = jnp.where(is_last & (count > 1), tab.and_tok, tab.pad)
    end = jnp.where(is_last, tab.intro_tok["period"], tab.intro_tok["comma"])
    a = jnp.full_like(lead, tab.intro_tok["a"])
    items = jnp.concatenate([lead[:, None], a[:, None], names_Nx2, end[:, None]], axis=1)  # [N, 5]
    items = jnp.where(show_N[:, None], items, tab.pad).reshape(-1)
    nothing = jnp.where(count == 0, tab.intro["nothing"], tab.pad)
    return jnp.concatenate([items, nothing])


def intro_obs(tab: HouseholdTables, s: HouseholdState) -> jax.Array:
    """The first observation: the room's receptacles, then the task."""
    recep_list = item_list(tab, recep_names(tab, s), s.recep_type >= 0)
    raw = jnp.concatenate([tab.intro["head"], recep_list, tab.intro["task"], s.task_K])
    return compact_tokens(raw, tab.obs_len, tab.pad)


def slot_names(tab: HouseholdTables, s: HouseholdState, held_before, dest, obj) -> jax.Array:
    """Names for slot codes 0..6, `[7, 2]`."""
    p = tab.pad
    rnames, onames = recep_names(tab, s), obj_names(tab, s)
    at = s.cur >= 0
    cur = jnp.where(at, rnames[jnp.clip(s.cur, 0)], p)
    hb = jnp.where(held_before >= 0, onames[jnp.clip(held_before, 0)], p)
    held = jnp.where(s.held >= 0, onames[jnp.clip(s.held, 0)], hb)
    lamp = onames[tab.O - 1]
    xtype = jnp.stack([tab.o_word[s.target_obj], jnp.int32(p)])
    dname = jnp.where(dest >= 0, rnames[jnp.clip(dest, 0)], p)
    oname = jnp.where(obj >= 0, onames[jnp.clip(obj, 0)], hb)
    return jnp.stack([jnp.full(2, p), cur, held, lamp, xtype, dname, oname]).astype(jnp.int32)


def render_text(
    tab: HouseholdTables, segs, slots, variant, s, *, held_before, list_at=None,
    show_list=False, dest=-1, obj=-1, length,
) -> jax.Array:  # fmt: skip
    """Template `variant` of `segs`/`slots` with its slots named from `s` (and the objects at
    `list_at` when the template shows a list), compacted to `length`."""
    names = slot_names(tab, s, held_before, jnp.asarray(dest), jnp.asarray(obj))
    seg = segs[variant]
    slot = slots[variant]
    parts = [seg[0], names[slot[0]], seg[1], names[slot[1]], seg[2]]
    if list_at is not None:
        show = (s.obj_type >= 0) & (s.obj_loc == list_at) & (list_at >= 0) & show_list
        items = item_list(tab, obj_names(tab, s), show)
        items = jnp.where(show_list, items, tab.pad)
        parts.append(items)
    return compact_tokens(jnp.concatenate(parts), length, tab.pad)


def render_state(state: HouseholdState, tokenizer: WordTokenizer) -> str:
    """A human-readable description of one (unbatched) state: every receptacle and its objects."""
    s = jax.tree.map(np.asarray, state)
    if s.recep_type.ndim != 1:
        raise ValueError("render takes one unbatched state")
    rname = lambda r: f"{R_NAMES[s.recep_type[r]]} {s.recep_num[r]}"  # noqa: E731
    oname = lambda o: f"{O_NAMES[s.obj_type[o]]} {s.obj_num[o]}"  # noqa: E731
    lines = [
        f"task {int(s.task_id)} [{TASK_TYPES[int(s.task_type)]}] in the "
        f"{ROOM_NAMES[int(s.room)]}: {tokenizer.decode(s.task_K)}",
        f"step {int(s.t)}  at: {rname(int(s.cur)) if s.cur >= 0 else 'middle of the room'}"
        f"  holding: {oname(int(s.held)) if s.held >= 0 else 'nothing'}"
        f"  won: {bool(s.won)}",
    ]
    for r in np.flatnonzero(s.recep_type >= 0):
        objs = []
        for o in np.flatnonzero((s.obj_loc == r) & (s.obj_type >= 0)):
            flags = [f for f, v in (("clean", s.obj_clean[o]), ("hot", s.obj_hot[o]),
                                    ("cool", s.obj_cool[o])) if v]  # fmt: skip
            if s.obj_type[o] == LAMP and s.lamp_on:
                flags.append("on")
            objs.append(oname(o) + (f" ({', '.join(flags)})" if flags else ""))
        state_txt = ""
        if RECEPTACLES[s.recep_type[r]][1]:
            state_txt = " [open]" if s.recep_open[r] else " [closed]"
        seen = "" if s.observed[r] else " (unseen)"
        lines.append(f"  {rname(r)}{state_txt}{seen}: {', '.join(objs) or '-'}")
    return "\n".join(lines)
