"""Household scene generation: the episode of a task index, a pure function of (split, index).

Task `i` of a split is the scene generated from `fold_in(PRNGKey(split_seed), i)`, with a
different seed per split, so `valid_seen` gives new scenes of the training distribution. A scene
is a task triple of the split's group (seen or unseen), a room where it is feasible, receptacle
counts in the room's ranges (forcing the goal receptacle, the tool and a start place for the
object), the target object(s), distractors and, in living rooms and bedrooms, a desk lamp, each
object on a plausible receptacle (never a target already on the goal receptacle).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.household.dynamics import with_admissible
from empg_jax.envs.household.render import intro_obs, task_text
from empg_jax.envs.household.state import HouseholdState
from empg_jax.envs.household.tables import HouseholdTables
from empg_jax.envs.household.tasks import CLEAN, COOL, HEAT, PICK2, SPLITS, TOOL
from empg_jax.envs.household.world import LAMP, O_NAMES, R_NAMES, ROOM_NAMES


def reset_in_split(tab: HouseholdTables, task_id: jax.Array, split_id: jax.Array):
    """`(state, obs_O)` of task `task_id` of split `SPLITS[split_id]` (both may be traced, so
    one compiled, vmapped reset serves every split)."""
    R, O = tab.R, tab.O
    nt = len(R_NAMES)
    split_id = jnp.asarray(split_id, jnp.int32)
    group = (split_id == SPLITS.index("valid_unseen")).astype(jnp.int32)
    key = jax.random.fold_in(jax.random.PRNGKey(tab.split_seeds[split_id]), task_id)
    # One draw of uniforms for the whole scene: categorical samples use the Gumbel-max trick
    # on slices of it (far less code to compile than one threefry call per sample).
    sizes = (1, len(ROOM_NAMES), nt, nt, nt, O * len(O_NAMES), 1, O * R, 1)
    u = jax.random.uniform(key, (sum(sizes),), minval=1e-6, maxval=1.0 - 1e-6)
    u = jnp.split(u, np.cumsum(sizes)[:-1])
    gumbel = lambda v: -jnp.log(-jnp.log(v))  # noqa: E731

    def categorical(v, ok):
        return jnp.argmax(jnp.where(ok, gumbel(v.reshape(ok.shape)), -jnp.inf), axis=-1)

    c = jnp.minimum(
        jnp.floor(u[0][0] * tab.num_combos[group]).astype(jnp.int32),
        tab.num_combos[group] - 1,
    )
    combo = tab.combos[group, c]
    task_type, x, y = combo[0], combo[1], combo[2]
    room = categorical(u[1], tab.combo_rooms[group, c])
    lo, hi = tab.lo[room], tab.hi[room]
    counts = lo + jnp.floor(u[2] * (hi - lo + 1).astype(jnp.float32)).astype(jnp.int32)
    types = jnp.arange(nt)
    # Force what the task needs: the goal receptacle, the tool, a start place for the object.
    start_ok = tab.plaus[x] & (hi > 0) & (types != y)
    start_t = categorical(u[3], start_ok)
    tool = jnp.select(
        [task_type == CLEAN, task_type == HEAT, task_type == COOL],
        [TOOL[CLEAN], TOOL[HEAT], TOOL[COOL]],
        -1,
    )
    has_lamp = tab.lamp_room[room]
    host_ok = tab.lamp_host & (hi > 0)
    host_t = categorical(u[4], host_ok)
    forced = (types == y) | (types == tool) | (types == start_t)
    forced |= (types == host_t) & has_lamp
    counts = jnp.maximum(counts, forced.astype(jnp.int32))
    ends = jnp.cumsum(counts)
    slot = jnp.arange(R)
    r_type = jnp.searchsorted(ends, slot, side="right").astype(jnp.int32)
    r_valid = slot < ends[-1]
    r_type = jnp.where(r_valid, r_type, -1)
    r_num = jnp.where(r_valid, slot - (ends - counts)[jnp.clip(r_type, 0)] + 1, 0)

    # Objects: slot 0 target, slot 1 second target (pick two) or distractor, slots 2..O-2
    # distractors, slot O-1 the desk lamp in living rooms and bedrooms.
    present_t = jnp.zeros(nt + 1, bool).at[jnp.where(r_valid, r_type, nt)].set(True)[:nt]
    type_ok = tab.obj_room[room] & jnp.any(tab.plaus & present_t[None, :], axis=1)
    type_ok = type_ok.at[LAMP].set(False)
    o_slot = jnp.arange(O)
    distract = categorical(u[5], jnp.broadcast_to(type_ok, (O, len(O_NAMES))))
    distract = distract.astype(jnp.int32)
    n_extra = 3 + jnp.floor(u[6][0] * (O - 5)).astype(jnp.int32)
    is_target = (o_slot == 0) | ((o_slot == 1) & (task_type == PICK2))
    o_type = jnp.where(is_target, x, distract)
    o_valid = is_target | ((o_slot >= 1) & (o_slot <= n_extra))
    o_valid = o_valid & (o_slot < O - 1)
    o_type = jnp.where(o_slot == O - 1, LAMP, o_type)
    o_valid = jnp.where(o_slot == O - 1, has_lamp, o_valid)
    # Place each object on a plausible receptacle slot (never an X on a Y: goal unmet).
    rt = jnp.clip(r_type, 0)
    place_ok = tab.plaus[o_type][:, rt] & r_valid[None, :]  # [O, R]
    place_ok &= ~((o_type[:, None] == x) & (rt[None, :] == y))
    place_ok &= ~((o_type[:, None] == LAMP) & (rt[None, :] != host_t))
    loc = categorical(u[7], place_ok)
    o_valid &= jnp.any(place_ok, axis=1)
    same = (o_type[:, None] == o_type[None, :]) & o_valid[None, :]
    o_num = jnp.sum(same & (o_slot[None, :] < o_slot[:, None]), axis=1) + 1
    o_valid &= o_num <= 9
    o_type = jnp.where(o_valid, o_type, -1).astype(jnp.int32)
    o_loc = jnp.where(o_valid, loc, -1).astype(jnp.int32)
    o_num = jnp.where(o_valid, o_num, 0).astype(jnp.int32)

    variant = (u[8][0] < 0.5).astype(jnp.int32)
    task_K = task_text(tab, task_type, variant, x, y)
    zeros_o = jnp.zeros(O, bool)
    s = HouseholdState(
        task_id=jnp.asarray(task_id, jnp.int32),
        task_type=task_type,
        target_obj=x,
        target_recep=y,
        room=room.astype(jnp.int32),
        recep_type=r_type,
        recep_num=r_num.astype(jnp.int32),
        recep_open=jnp.zeros(R, bool),
        observed=jnp.zeros(R, bool),
        obj_type=o_type,
        obj_num=o_num,
        obj_loc=o_loc,
        obj_clean=zeros_o,
        obj_hot=zeros_o,
        obj_cool=zeros_o,
        lamp_on=jnp.zeros((), bool),
        cur=jnp.int32(-1),
        held=jnp.int32(-1),
        won=jnp.zeros((), bool),
        t=jnp.int32(0),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        task_K=task_K,
        adm_AxL=jnp.zeros((tab.max_admissible, tab.action_len), jnp.int32),
        adm_row_A=jnp.zeros((tab.max_admissible,), jnp.int32),
        num_adm=jnp.int32(0),
    )
    s = with_admissible(tab, s)
    return s, intro_obs(tab, s)
