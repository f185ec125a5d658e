"""Household params and state: immutable `flax.struct` dataclasses of small integer arrays.

Object locations are a receptacle slot, or -1 (held or absent). The admissible-action table of
the current state is cached in the state, so a step builds one new table.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct

from empg_jax.envs.household.tasks import SPLIT_SIZES


@struct.dataclass
class HouseholdParams:
    """Episode params. `split` is static; `horizon` and `num_tasks` may be traced."""

    horizon: int = 50
    num_tasks: int = SPLIT_SIZES["train"]
    split: str = struct.field(pytree_node=False, default="train")


@struct.dataclass
class HouseholdState:
    task_id: jax.Array  # int32 []
    task_type: jax.Array  # int32 []
    target_obj: jax.Array  # int32 [] object type
    target_recep: jax.Array  # int32 [] receptacle type (NO_RECEP for look tasks)
    room: jax.Array  # int32 []
    recep_type: jax.Array  # int32 [R], -1 = no receptacle in this slot
    recep_num: jax.Array  # int32 [R]
    recep_open: jax.Array  # bool [R]
    observed: jax.Array  # bool [R] the agent has seen what is on/in it
    obj_type: jax.Array  # int32 [O], -1 = empty slot
    obj_num: jax.Array  # int32 [O]
    obj_loc: jax.Array  # int32 [O] receptacle slot; -1 held or empty slot
    obj_clean: jax.Array  # bool [O]
    obj_hot: jax.Array  # bool [O]
    obj_cool: jax.Array  # bool [O]
    lamp_on: jax.Array  # bool []
    cur: jax.Array  # int32 [] current receptacle slot, -1 = middle of the room
    held: jax.Array  # int32 [] held object slot, -1 = none
    won: jax.Array  # bool []
    t: jax.Array  # int32 []
    terminated: jax.Array  # bool []
    truncated: jax.Array  # bool []
    task_K: jax.Array  # int32 [K] task text
    adm_AxL: jax.Array  # int32 [A, L] admissible actions, compacted
    adm_row_A: jax.Array  # int32 [A] full-table row of each admissible action
    num_adm: jax.Array  # int32 []


def check_state(state: HouseholdState) -> None:
    """Shape checks of an (unbatched) state, for tests and debugging."""
    chex.assert_rank([state.recep_type, state.obj_type, state.adm_AxL], [1, 1, 2])
    chex.assert_type([state.recep_type, state.obj_loc], [jnp.int32, jnp.int32])
