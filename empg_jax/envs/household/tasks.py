"""Household tasks and splits: the task types, their text, and which tasks each split draws.

A task is the triple (task type, object type, receptacle type). [reconstructed] The triples
feasible in some room are split once, with a fixed seed, into "seen" and "unseen" (a share
`unseen_fraction` of every task type's triples, at least one each): `train` and `valid_seen` draw
only seen triples, `valid_unseen` only unseen ones, so an unseen combination is never generated
for training. Split sizes are ALFWorld's (3,553 train games, 140 valid_seen, 134 valid_unseen).
"""

from __future__ import annotations

import numpy as np

from empg_jax.envs.household.world import (
    LAMP,
    LAMP_ROOMS,
    NO_RECEP,
    OBJECTS,
    R_ID,
    ROOM_NAMES,
    plausible_table,
    room_tables,
)

TASK_TYPES = (
    "pick_and_place",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
PICK, LOOK, CLEAN, HEAT, COOL, PICK2 = range(6)
SPLITS = ("train", "valid_seen", "valid_unseen")
SPLIT_SIZES = {"train": 3553, "valid_seen": 140, "valid_unseen": 134}
SPLIT_SEEDS = {"train": 11, "valid_seen": 23, "valid_unseen": 37}

TOOL = {CLEAN: R_ID["sinkbasin"], HEAT: R_ID["microwave"], COOL: R_ID["fridge"]}

# Task text, two phrasings per type as in ALFWorld; {o} object type, {r} receptacle, {p} in/on.
TASK_TEMPLATES = (
    ("put a {o} {p} {r}.", "put some {o} {p} {r}."),
    ("look at {o} under the desklamp.", "examine the {o} with the desklamp."),
    ("put a clean {o} {p} {r}.", "clean some {o} and put it {p} {r}."),
    ("put a hot {o} {p} {r}.", "heat some {o} and put it {p} {r}."),
    ("put a cool {o} {p} {r}.", "cool some {o} and put it {p} {r}."),
    ("put two {o} {p} {r}.", "find two {o} and put them {p} {r}."),
)


def task_combinations() -> tuple[np.ndarray, np.ndarray]:
    """All feasible (task type, object type, receptacle type) triples and their rooms.

    Returns `(combos_Cx3, rooms_CxM)`: a triple is feasible in a room when the object occurs there
    with a starting place other than the goal receptacle, the goal receptacle type can exist
    there, and so can the tool (sink basin, microwave, fridge, or a desk lamp for look tasks).
    """
    plaus = plausible_table()
    lo, hi, obj_room = room_tables()
    combos, rooms = [], []
    for task in range(len(TASK_TYPES)):
        for x, (_, _, _, abil) in enumerate(OBJECTS):
            if x == LAMP:
                continue
            need = {CLEAN: "c", HEAT: "h", COOL: "k"}.get(task)
            if need and need not in abil:
                continue
            goals = [NO_RECEP] if task == LOOK else list(np.flatnonzero(plaus[x]))
            for y in goals:
                if task in TOOL and y == TOOL[task]:
                    continue
                ok = np.zeros(len(ROOM_NAMES), bool)
                for m, room in enumerate(ROOM_NAMES):
                    starts = plaus[x] & (hi[m] > 0)
                    if y != NO_RECEP:
                        starts[y] = False
                    ok[m] = obj_room[m, x] and starts.any()
                    if task == LOOK:
                        ok[m] &= room in LAMP_ROOMS
                    else:
                        ok[m] &= hi[m, y] > 0
                    if task in TOOL:
                        ok[m] &= hi[m, TOOL[task]] > 0
                if ok.any():
                    combos.append((task, x, y))
                    rooms.append(ok)
    return np.array(combos, np.int32), np.array(rooms, bool)


def split_combinations(unseen_fraction: float, seed: int = 5) -> np.ndarray:
    """Boolean `[C]`: which triples of `task_combinations()` are held out as unseen."""
    if not 0.0 < unseen_fraction < 1.0:
        raise ValueError(f"unseen_fraction must be in (0, 1), got {unseen_fraction}")
    combos, _ = task_combinations()
    rng = np.random.RandomState(seed)
    unseen = np.zeros(len(combos), bool)
    for task in range(len(TASK_TYPES)):
        idx = np.flatnonzero(combos[:, 0] == task)
        k = max(1, int(round(unseen_fraction * len(idx))))
        unseen[rng.permutation(idx)[:k]] = True
    return unseen


def active_combinations(
    task_types: tuple[str, ...], rooms: tuple[str, ...] | None, unseen_fraction: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The triples of the chosen task types feasible in the chosen rooms.

    The seen/unseen split is made over all task types and rooms first, so a subset keeps the same
    held-out triples. Returns `(combos_Cx3, rooms_CxM, unseen_C)`.
    """
    combos, room_mask = task_combinations()
    unseen = split_combinations(unseen_fraction)
    keep = np.isin(combos[:, 0], [TASK_TYPES.index(t) for t in task_types])
    room_ok = np.ones(len(ROOM_NAMES), bool)
    if rooms is not None:
        bad = sorted(set(rooms) - set(ROOM_NAMES))
        if bad or not rooms:
            raise ValueError(f"rooms {bad or list(rooms)}: want a subset of {ROOM_NAMES}")
        room_ok = np.isin(ROOM_NAMES, rooms)
    room_mask = room_mask & room_ok[None]
    keep = keep & room_mask.any(1)
    combos, room_mask, unseen = combos[keep], room_mask[keep], unseen[keep]
    for part in (unseen, ~unseen):
        if not part.any():
            raise ValueError(
                f"task_types={list(task_types)}, rooms={rooms} leave no seen or no unseen triple"
            )
    return combos, room_mask, unseen
