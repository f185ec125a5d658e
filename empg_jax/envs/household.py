"""household: an ALFWorld-like text environment that runs inside `jit` and `vmap`.

A procedurally generated counterpart of ALFWorld (Shridhar et al., arXiv 2010.03768) as run by
verl-agent for the EMPG paper (`environments.md` §1.1, §2; issue #5 "household"):

- rooms (kitchen, living room, bedroom, bathroom) with numbered receptacles (cabinet 1, drawer 2,
  fridge 1, ...; cabinets, drawers, fridge, microwave and safe open and close) and numbered objects
  placed plausibly (an apple on a countertop or in the fridge, a pen on a desk or in a drawer);
- the six ALFWorld task types: pick_and_place, look_at_obj_in_light, pick_clean_then_place_in_recep,
  pick_heat_then_place_in_recep, pick_cool_then_place_in_recep, pick_two_obj_and_place;
- ALFWorld's action grammar: `go to R`, `open R`, `close R`, `take O from R`, `move O to R`,
  `heat O with R`, `cool O with R`, `clean O with R`, `use R` (the desk lamp), `examine X`, `look`,
  `inventory`, with ALFWorld-style feedback ("You arrive at cabinet 1. The cabinet 1 is closed.",
  "You open the fridge 1. The fridge 1 is open. In it, you see a apple 1, and a egg 2.");
- the admissible commands of the current state (ALFWorld lists them in the prompt, §1.4); any other
  text is a no-op answered with "Nothing happens.";
- horizon 50, reward 10 on success and 0 otherwise; the episode terminates on success.

Splits (ALFWorld's sizes: 3,553 train games, 140 valid_seen, 134 valid_unseen). A task is the
triple (task type, object type, receptacle type). [reconstructed] The triples feasible in some room
are split once, with a fixed seed, into "seen" and "unseen" (`unseen_fraction` of every task type's
triples, at least one each): `train` and `valid_seen` draw only seen triples, `valid_unseen` only
unseen ones, so an unseen combination is never generated for training. Task `i` of a split is the
scene generated from `fold_in(PRNGKey(split_seed), i)`, with a different seed per split, so
`valid_seen` gives new scenes of the training distribution.

World state is a handful of small integer arrays (receptacle types/numbers/open flags, object
types/numbers/locations/clean-hot-cool flags); a step is a fixed amount of array work with no Python
loop over objects. The admissible-action table of the current state is cached in the state, so a
step builds one new table. Object locations: a receptacle slot, or -1 (held or absent).

Oracle: a pure function of the state that only uses what the agent could have observed (the state
tracks which receptacles the agent has seen inside): it searches unseen receptacles (those where
the target object plausibly lies first), opens closed ones, takes a target object it has seen,
cleans/heats/cools it, turns on the desk lamp, and places it. Every generated episode is solvable
and the oracle solves it within the horizon.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from empg_jax.envs import register
from empg_jax.envs.core import (
    NOTHING_HAPPENS,
    Environment,
    TextTable,
    compact_rows,
    compact_tokens,
    match_action,
)
from empg_jax.text.word import WordTokenizer, split_words

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

# name, openable, preposition used in task text
RECEPTACLES = (
    ("cabinet", True, "in"),
    ("drawer", True, "in"),
    ("fridge", True, "in"),
    ("microwave", True, "in"),
    ("safe", True, "in"),
    ("countertop", False, "on"),
    ("diningtable", False, "on"),
    ("sinkbasin", False, "in"),
    ("stoveburner", False, "on"),
    ("coffeemachine", False, "on"),
    ("garbagecan", False, "in"),
    ("shelf", False, "on"),
    ("desk", False, "on"),
    ("sidetable", False, "on"),
    ("dresser", False, "on"),
    ("bed", False, "on"),
    ("sofa", False, "on"),
    ("armchair", False, "on"),
    ("coffeetable", False, "on"),
    ("toilet", False, "on"),
    ("bathtubbasin", False, "in"),
    ("towelholder", False, "on"),
)
R_NAMES = tuple(r[0] for r in RECEPTACLES)
R_ID = {n: i for i, n in enumerate(R_NAMES)}
TOOL = {CLEAN: R_ID["sinkbasin"], HEAT: R_ID["microwave"], COOL: R_ID["fridge"]}
LAMP_HOSTS = ("desk", "sidetable", "dresser")

# room -> receptacle type -> (min, max) count; the max counts of a room sum to <= 20.
ROOMS = {
    "kitchen": {
        "cabinet": (2, 5), "drawer": (1, 3), "fridge": (1, 1), "microwave": (1, 1),
        "countertop": (1, 2), "diningtable": (0, 1), "sinkbasin": (1, 1), "stoveburner": (1, 2),
        "coffeemachine": (0, 1), "garbagecan": (1, 1), "shelf": (0, 2),
    },
    "livingroom": {
        "sofa": (1, 1), "armchair": (0, 1), "coffeetable": (1, 1), "sidetable": (1, 2),
        "drawer": (1, 3), "cabinet": (0, 2), "shelf": (0, 3), "diningtable": (0, 1),
        "garbagecan": (1, 1), "dresser": (0, 1), "safe": (0, 1), "desk": (0, 1),
    },
    "bedroom": {
        "bed": (1, 1), "desk": (0, 1), "sidetable": (1, 2), "dresser": (1, 1), "drawer": (2, 4),
        "shelf": (0, 3), "garbagecan": (1, 1), "safe": (0, 1), "armchair": (0, 1),
        "cabinet": (0, 2),
    },
    "bathroom": {
        "toilet": (1, 1), "sinkbasin": (1, 2), "bathtubbasin": (0, 1), "countertop": (1, 1),
        "cabinet": (1, 4), "drawer": (0, 2), "towelholder": (1, 2), "garbagecan": (1, 1),
        "shelf": (0, 2), "dresser": (0, 1),
    },
}  # fmt: skip
ROOM_NAMES = tuple(ROOMS)
LAMP_ROOMS = ("livingroom", "bedroom")

_FOOD = ("countertop", "diningtable", "fridge", "garbagecan", "sinkbasin", "microwave")
_DISH = ("countertop", "diningtable", "cabinet", "sinkbasin", "fridge", "shelf")
_UTENSIL = ("countertop", "diningtable", "drawer", "sinkbasin")
_DESKTOP = ("desk", "sidetable", "dresser", "shelf", "drawer", "coffeetable")
_K, _B, _L = ("kitchen",), ("bathroom",), ("livingroom", "bedroom")
# name, rooms, plausible receptacles, abilities (c: clean, h: heat, k: cool)
OBJECTS = (
    ("apple", _K, _FOOD, "chk"),
    ("tomato", _K, _FOOD, "chk"),
    ("potato", _K, _FOOD, "chk"),
    ("egg", _K, _FOOD, "ch"),
    ("lettuce", _K, ("countertop", "diningtable", "fridge", "sinkbasin"), "ck"),
    ("bread", _K, ("countertop", "diningtable", "fridge", "cabinet"), "hk"),
    ("mug", _K, _DISH + ("coffeemachine", "microwave"), "chk"),
    ("cup", _K, _DISH + ("microwave",), "chk"),
    ("plate", _K, _DISH, "chk"),
    ("bowl", _K, _DISH + ("microwave",), "ck"),
    ("pan", _K, ("countertop", "stoveburner", "cabinet", "sinkbasin", "fridge"), "ck"),
    ("pot", _K, ("countertop", "stoveburner", "cabinet", "sinkbasin", "fridge"), "ck"),
    ("knife", _K, _UTENSIL, "c"),
    ("fork", _K, _UTENSIL, "c"),
    ("spoon", _K, _UTENSIL, "c"),
    ("spatula", _K, _UTENSIL, "c"),
    ("ladle", _K, _UTENSIL, "c"),
    ("kettle", _K, ("countertop", "stoveburner", "cabinet", "sinkbasin"), "c"),
    ("saltshaker", _K, ("countertop", "diningtable", "cabinet", "shelf", "drawer"), ""),
    ("peppershaker", _K, ("countertop", "diningtable", "cabinet", "shelf", "drawer"), ""),
    ("dishsponge", _K + _B, ("countertop", "sinkbasin", "cabinet", "drawer"), "c"),
    ("winebottle", _K, ("countertop", "diningtable", "fridge", "cabinet", "shelf"), "k"),
    ("soapbar", _B, ("countertop", "sinkbasin", "bathtubbasin", "cabinet", "toilet"), "c"),
    ("soapbottle", _B, ("countertop", "cabinet", "toilet", "shelf", "bathtubbasin"), ""),
    ("cloth", _B, ("countertop", "cabinet", "drawer", "bathtubbasin", "sinkbasin"), "c"),
    ("towel", _B, ("towelholder", "countertop", "cabinet"), ""),
    ("spraybottle", _B, ("countertop", "cabinet", "toilet", "shelf", "garbagecan"), ""),
    ("toiletpaper", _B, ("toilet", "countertop", "cabinet", "shelf", "drawer"), ""),
    ("candle", _B, ("countertop", "cabinet", "toilet", "shelf", "drawer"), ""),
    ("book", _L, ("bed", "desk", "sidetable", "dresser", "shelf", "sofa", "coffeetable"), ""),
    ("pen", _L, _DESKTOP, ""),
    ("pencil", _L, _DESKTOP, ""),
    ("cd", _L, ("desk", "sidetable", "dresser", "shelf", "drawer", "safe", "garbagecan"), ""),
    ("cellphone", _L, ("bed", "desk", "sidetable", "dresser", "drawer", "sofa", "armchair"), ""),
    ("keychain", _L, ("desk", "sidetable", "dresser", "drawer", "safe", "coffeetable"), ""),
    ("creditcard", _L, ("desk", "sidetable", "dresser", "drawer", "safe", "sofa"), ""),
    ("alarmclock", _L, ("desk", "sidetable", "dresser", "shelf"), ""),
    ("pillow", _L, ("bed", "sofa", "armchair"), ""),
    ("laptop", _L, ("bed", "desk", "sofa", "armchair", "coffeetable"), ""),
    ("remotecontrol", _L, ("sofa", "armchair", "coffeetable", "sidetable", "dresser"), ""),
    ("vase", _L, ("shelf", "sidetable", "coffeetable", "dresser", "cabinet", "safe"), ""),
    ("statue", _L, ("shelf", "sidetable", "coffeetable", "dresser", "desk", "safe"), ""),
    ("box", _L, ("sofa", "armchair", "coffeetable", "sidetable", "dresser", "desk"), ""),
    ("watch", _L, ("sidetable", "dresser", "drawer", "desk", "shelf", "safe"), ""),
    ("newspaper", _L, ("sofa", "armchair", "coffeetable", "sidetable", "garbagecan"), ""),
    ("tissuebox", _L, ("sidetable", "dresser", "desk", "shelf", "coffeetable"), ""),
    ("desklamp", _L, LAMP_HOSTS, ""),
)
O_NAMES = tuple(o[0] for o in OBJECTS)
O_ID = {n: i for i, n in enumerate(O_NAMES)}
LAMP = O_ID["desklamp"]
NO_RECEP = len(R_NAMES)  # receptacle "type" of look tasks (the desk lamp)

# Task text, two phrasings per type as in ALFWorld; {o} object type, {r} receptacle, {p} in/on.
TASK_TEMPLATES = (
    ("put a {o} {p} {r}.", "put some {o} {p} {r}."),
    ("look at {o} under the desklamp.", "examine the {o} with the desklamp."),
    ("put a clean {o} {p} {r}.", "clean some {o} and put it {p} {r}."),
    ("put a hot {o} {p} {r}.", "heat some {o} and put it {p} {r}."),
    ("put a cool {o} {p} {r}.", "cool some {o} and put it {p} {r}."),
    ("put two {o} {p} {r}.", "find two {o} and put them {p} {r}."),
)

# Observation templates: seg0 {slot1} seg1 {slot2} seg2 [object list].
# Slot codes: 0 none, 1 current receptacle, 2 held object, 3 lamp, 4 target object (type only),
# 5 the receptacle the oracle targets, 6 the object the oracle targets.
_S_NONE, _S_CUR, _S_HELD, _S_LAMP, _S_XTYPE, _S_ODEST, _S_OOBJ = range(7)
OBS_VARIANTS = {
    "go_closed": ("you arrive at", _S_CUR, ". the", _S_CUR, "is closed.", False),
    "go_on": ("you arrive at", _S_CUR, ". on the", _S_CUR, ", you see", True),
    "go_in": ("you arrive at", _S_CUR, ". the", _S_CUR, "is open. in it, you see", True),
    "open": ("you open the", _S_CUR, ". the", _S_CUR, "is open. in it, you see", True),
    "close": ("you close the", _S_CUR, ".", _S_NONE, "", False),
    "take": ("you pick up the", _S_HELD, "from the", _S_CUR, ".", False),
    "move": ("you move the", _S_OOBJ, "to the", _S_CUR, ".", False),
    "heat": ("you heat the", _S_HELD, "using the", _S_CUR, ".", False),
    "cool": ("you cool the", _S_HELD, "using the", _S_CUR, ".", False),
    "clean": ("you clean the", _S_HELD, "using the", _S_CUR, ".", False),
    "use": ("you turn on the", _S_LAMP, ".", _S_NONE, "", False),
    "examine_on": ("on the", _S_CUR, ", you see", _S_NONE, "", True),
    "examine_in": ("the", _S_CUR, "is open. in it, you see", _S_NONE, "", True),
    "examine_closed": ("the", _S_CUR, "is closed.", _S_NONE, "", False),
    "examine_obj": ("this is a normal", _S_HELD, ".", _S_NONE, "", False),
    "look_middle": (
        "you are in the middle of a room. looking quickly around you, you see nothing.",
        _S_NONE, "", _S_NONE, "", False,
    ),
    "look_at": ("you are facing the", _S_CUR, ". next to it, you see nothing.", _S_NONE, "",
                False),
    "inventory_empty": ("you are not carrying anything.", _S_NONE, "", _S_NONE, "", False),
    "inventory": ("you are carrying: a", _S_HELD, ".", _S_NONE, "", False),
    "nothing": (NOTHING_HAPPENS, _S_NONE, "", _S_NONE, "", False),
}  # fmt: skip
OBS_NAMES = tuple(OBS_VARIANTS)
OV = {n: i for i, n in enumerate(OBS_NAMES)}

# Oracle thoughts: seg0 {slot1} seg1 {slot2} seg2 (same slot codes).
THOUGHTS = {
    "search": ("i need to find a", _S_XTYPE, ". i have not looked at the", _S_ODEST, "yet."),
    "open_search": ("the", _S_CUR, "is closed. i open it to look for a", _S_XTYPE, "."),
    "goto_obj": ("i saw the", _S_OOBJ, "at the", _S_ODEST, ", so i go there."),
    "take": ("here is the", _S_OOBJ, ". i take it from the", _S_CUR, "."),
    "goto_clean": ("now i need to clean the", _S_HELD, ". the", _S_ODEST, "can clean it."),
    "goto_heat": ("now i need to heat the", _S_HELD, ". the", _S_ODEST, "can heat it."),
    "goto_cool": ("now i need to cool the", _S_HELD, ". the", _S_ODEST, "can cool it."),
    "clean": ("i am at the", _S_CUR, ", so i clean the", _S_HELD, "."),
    "heat": ("i am at the", _S_CUR, ", so i heat the", _S_HELD, "."),
    "cool": ("i am at the", _S_CUR, ", so i cool the", _S_HELD, "."),
    "goto_target": ("i have the", _S_HELD, ". i go to the", _S_ODEST, "to put it there."),
    "open_target": ("the", _S_CUR, "is closed. i open it before i put the", _S_HELD, "in."),
    "move": ("i am at the", _S_CUR, ", so i put the", _S_HELD, "here."),
    "goto_lamp": ("i have the", _S_HELD, ". the desklamp is at the", _S_ODEST, "."),
    "use": ("i hold the", _S_HELD, "and the", _S_LAMP, "is here, so i turn it on."),
    "drop": ("i do not need the", _S_HELD, ". i put it down at the", _S_CUR, "."),
    "leave": ("i cannot put the", _S_HELD, "here. i go to the", _S_ODEST, "."),
    "look": ("i look around.", _S_NONE, "", _S_NONE, ""),
}
THOUGHT_NAMES = tuple(THOUGHTS)
TH = {n: i for i, n in enumerate(THOUGHT_NAMES)}

# Fixed action rows after the R go-to rows and the O take rows.
FIXED_ACTIONS = (
    "open",
    "close",
    "move",
    "heat",
    "cool",
    "clean",
    "use",
    "examine_cur",
    "examine_held",
    "look",
    "inventory",
)
FA = {n: i for i, n in enumerate(FIXED_ACTIONS)}
ACTION_WORDS = ("go", "to", "take", "from", "open", "close", "move", "heat", "cool", "clean",
                "with", "use", "examine", "look", "inventory")  # fmt: skip


def _plausible_table() -> np.ndarray:
    table = np.zeros((len(O_NAMES), len(R_NAMES)), bool)
    for i, (_, _, places, _) in enumerate(OBJECTS):
        for p in places:
            table[i, R_ID[p]] = True
    return table


def _room_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lo = np.zeros((len(ROOM_NAMES), len(R_NAMES)), np.int32)
    hi = np.zeros_like(lo)
    for k, room in enumerate(ROOM_NAMES):
        for name, (a, b) in ROOMS[room].items():
            lo[k, R_ID[name]], hi[k, R_ID[name]] = a, b
    obj_room = np.zeros((len(ROOM_NAMES), len(O_NAMES)), bool)
    for i, (_, rooms, _, _) in enumerate(OBJECTS):
        for room in rooms:
            obj_room[ROOM_NAMES.index(room), i] = True
    return lo, hi, obj_room


def task_combinations() -> tuple[np.ndarray, np.ndarray]:
    """All feasible (task type, object type, receptacle type) triples and their rooms.

    Returns `(combos_Cx3, rooms_CxM)`: a triple is feasible in a room when the object occurs there
    with a starting place other than the goal receptacle, the goal receptacle type can exist
    there, and so can the tool (sink basin, microwave, fridge, or a desk lamp for look tasks).
    """
    plaus = _plausible_table()
    lo, hi, obj_room = _room_tables()
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


class Household(Environment):
    """The ALFWorld-like environment (see the module docstring).

    Args:
      tokenizer: the word tokenizer (must contain `Household.words()`).
      max_receptacles: receptacle slots R (>= 20: the largest room has up to 20).
      max_objects: object slots O (>= 6), including the desk lamp.
      obs_len: observation length in tokens (>= 160 fits every observation).
      unseen_fraction: share of each task type's triples held out for `valid_unseen`.
      task_types: names of the task types to generate (default: all six). The seen/unseen split
        of the triples is made over all types first, so a subset keeps the same held-out
        triples; a curriculum knob for small models (the CPU default experiment).
      rooms: names of the rooms scenes may use (default: all four); same split rule.
    """

    name = "household"
    splits = SPLITS
    task_types = TASK_TYPES

    def __init__(
        self,
        tokenizer: WordTokenizer,
        max_receptacles: int = 20,
        max_objects: int = 12,
        obs_len: int = 160,
        unseen_fraction: float = 0.15,
        task_types: tuple[str, ...] | None = None,
        rooms: tuple[str, ...] | None = None,
    ):
        super().__init__(tokenizer)
        chosen = TASK_TYPES if task_types is None else tuple(task_types)
        bad = sorted(set(chosen) - set(TASK_TYPES))
        if bad or not chosen:
            raise ValueError(f"task_types {bad or list(chosen)}: want a subset of {TASK_TYPES}")
        lo, hi, obj_room = _room_tables()
        if max_receptacles < int(hi.sum(1).max()):
            raise ValueError(
                f"max_receptacles={max_receptacles} < {int(hi.sum(1).max())}, the largest room"
            )
        if max_objects < 6:
            raise ValueError(f"max_objects={max_objects} must be >= 6")
        if obs_len < 32:
            raise ValueError(f"obs_len={obs_len} must be >= 32")
        self.R, self.O = max_receptacles, max_objects
        self.obs_len = obs_len
        self.action_len = 8
        self.max_admissible = self.R + self.O + len(FIXED_ACTIONS)
        self.task_len = 12
        self.thought_len = 24
        self.unseen_fraction = unseen_fraction
        tok = tokenizer
        self._pad = tok.pad_id

        combos, room_mask = task_combinations()
        unseen = split_combinations(unseen_fraction)
        keep = np.isin(combos[:, 0], [TASK_TYPES.index(t) for t in chosen])
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
                    f"task_types={list(chosen)}, rooms={rooms} leave no seen or no unseen triple"
                )
        self.active_task_types = chosen
        self.combos = {"seen": combos[~unseen], "unseen": combos[unseen]}
        # [2, C_max, ...] tables (0 = seen, 1 = unseen) so the split can be a traced index.
        c_max = max(len(v) for v in self.combos.values())
        pad = lambda a: np.pad(a, [(0, c_max - len(a))] + [(0, 0)] * (a.ndim - 1))  # noqa: E731
        self._combos = jnp.asarray(np.stack([pad(combos[~unseen]), pad(combos[unseen])]))
        self._combo_rooms = jnp.asarray(np.stack([pad(room_mask[~unseen]), pad(room_mask[unseen])]))
        self._num_combos = jnp.asarray([int((~unseen).sum()), int(unseen.sum())], jnp.int32)
        self._split_seeds = jnp.asarray([SPLIT_SEEDS[k] for k in SPLITS], jnp.uint32)
        self._lo, self._hi = jnp.asarray(lo), jnp.asarray(hi)
        self._obj_room = jnp.asarray(obj_room)
        self._plaus = jnp.asarray(_plausible_table())
        self._openable = jnp.asarray([r[1] for r in RECEPTACLES] + [False])
        self._lamp_host = jnp.asarray(np.isin(R_NAMES, LAMP_HOSTS))
        self._lamp_room = jnp.asarray(np.isin(ROOM_NAMES, LAMP_ROOMS))
        self._r_word = jnp.asarray([tok.token_to_id(n) for n in R_NAMES] + [self._pad], jnp.int32)
        self._o_word = jnp.asarray([tok.token_to_id(n) for n in O_NAMES] + [self._pad], jnp.int32)
        self._digit = jnp.asarray(tok.digit_ids)
        w = {x: tok.token_to_id(x) for x in ACTION_WORDS}
        self._w = w

        # Task text table [6 * 2 phrasings * (#objects) * (#recep + 1)] is large; assemble
        # instead from a per-(type, phrasing) template with object / receptacle / prep slots.
        seg_texts = {}
        for ty, phr in enumerate(TASK_TEMPLATES):
            for v, text in enumerate(phr):
                head, rest = text.split("{o}")
                mid, tail = (rest.split("{r}") + [""])[:2] if "{r}" in rest else (rest, "")
                seg_texts[f"{ty}_{v}_0"] = head
                seg_texts[f"{ty}_{v}_1"] = mid.replace("{p}", "").strip()
                seg_texts[f"{ty}_{v}_2"] = tail
        self._task_segs = TextTable(tok, seg_texts)
        self._task_has_prep = jnp.asarray(
            [["{p}" in t for t in phr] for phr in TASK_TEMPLATES], bool
        )
        self._prep_word = jnp.asarray(
            [tok.token_to_id(r[2]) for r in RECEPTACLES] + [self._pad], jnp.int32
        )

        def seg_table(variants):
            texts = {}
            for name, (s0, _, s1, _, s2, *_) in variants.items():
                texts[f"{name}_0"], texts[f"{name}_1"], texts[f"{name}_2"] = s0, s1, s2
            table = TextTable(tok, texts)
            ids = table.ids.reshape(len(variants), 3, -1)
            slots = np.array([[v[1], v[3]] for v in variants.values()], np.int32)
            return jnp.asarray(ids), jnp.asarray(slots)

        self._obs_segs, self._obs_slots = seg_table(OBS_VARIANTS)
        self._obs_list = jnp.asarray([v[5] for v in OBS_VARIANTS.values()])
        self._th_segs, self._th_slots = seg_table(THOUGHTS)
        intro = TextTable(
            tok,
            {
                "head": "-= welcome to textworld, alfred! =-\n\nyou are in the middle of a room. "
                "looking quickly around you, you see",
                "task": "\n\nyour task is to:",
                "and": "and a",
                "a": "a",
                "comma": ",",
                "period": ".",
                "nothing": "nothing.",
            },
        )
        self._intro = {k: jnp.asarray(intro.row(k)) for k in intro.names}
        self._intro_tok = {k: int(intro.row(k)[0]) for k in ("a", "comma", "period")}
        self._and_tok = tok.token_to_id("and")
        self._max_obs_raw = None

    # ----- vocabulary and params -------------------------------------------------------------
    @classmethod
    def words(cls) -> tuple[str, ...]:
        texts = list(R_NAMES) + list(O_NAMES) + list(ROOM_NAMES) + list(ACTION_WORDS)
        texts += [r[2] for r in RECEPTACLES]
        texts += [t for phr in TASK_TEMPLATES for t in phr]
        texts += [" ".join(str(s) for s in v if isinstance(s, str)) for v in OBS_VARIANTS.values()]
        texts += [" ".join(s for s in v if isinstance(s, str)) for v in THOUGHTS.values()]
        texts += ["welcome to textworld alfred your task is to and a nothing"]
        words = {w for t in texts for w in split_words(t) if w.isalpha()}
        return tuple(sorted(words))

    def default_params(self, split: str = "train") -> HouseholdParams:
        if split not in SPLITS:
            raise ValueError(f"split {split!r} not in {SPLITS}")
        return HouseholdParams(horizon=50, num_tasks=SPLIT_SIZES[split], split=split)

    # ----- names -------------------------------------------------------------------------
    def _name(self, word_ids: jax.Array, num: jax.Array, valid: jax.Array) -> jax.Array:
        """`[..., 2]` tokens "type number" (numbers are 1..9), all pad where not valid."""
        name = jnp.stack([word_ids, self._digit[jnp.clip(num, 0, 9)]], axis=-1)
        return jnp.where(valid[..., None], name, self._pad)

    def _recep_names(self, s: HouseholdState) -> jax.Array:
        valid = s.recep_type >= 0
        return self._name(self._r_word[s.recep_type], s.recep_num, valid)

    def _obj_names(self, s: HouseholdState) -> jax.Array:
        valid = s.obj_type >= 0
        return self._name(self._o_word[s.obj_type], s.obj_num, valid)

    # ----- scene generation ------------------------------------------------------------------
    def _reset_task(self, task_id: jax.Array, params: HouseholdParams):
        return self.reset_in_split(task_id, SPLITS.index(params.split))

    def reset_in_split(self, task_id: jax.Array, split_id: jax.Array):
        """`reset_to_task` with the split as an index into `SPLITS` that may be traced, so one
        compiled (and vmapped) reset serves every split."""
        R, O = self.R, self.O
        nt = len(R_NAMES)
        split_id = jnp.asarray(split_id, jnp.int32)
        group = (split_id == SPLITS.index("valid_unseen")).astype(jnp.int32)
        key = jax.random.fold_in(jax.random.PRNGKey(self._split_seeds[split_id]), task_id)
        # One draw of uniforms for the whole scene: categorical samples use the Gumbel-max trick
        # on slices of it (far less code to compile than one threefry call per sample).
        sizes = (1, len(ROOM_NAMES), nt, nt, nt, O * len(O_NAMES), 1, O * R, 1)
        u = jax.random.uniform(key, (sum(sizes),), minval=1e-6, maxval=1.0 - 1e-6)
        u = jnp.split(u, np.cumsum(sizes)[:-1])
        gumbel = lambda v: -jnp.log(-jnp.log(v))  # noqa: E731

        def categorical(v, ok):
            return jnp.argmax(jnp.where(ok, gumbel(v.reshape(ok.shape)), -jnp.inf), axis=-1)

        c = jnp.minimum(
            jnp.floor(u[0][0] * self._num_combos[group]).astype(jnp.int32),
            self._num_combos[group] - 1,
        )
        combo = self._combos[group, c]
        task_type, x, y = combo[0], combo[1], combo[2]
        room = categorical(u[1], self._combo_rooms[group, c])
        lo, hi = self._lo[room], self._hi[room]
        counts = lo + jnp.floor(u[2] * (hi - lo + 1).astype(jnp.float32)).astype(jnp.int32)
        types = jnp.arange(nt)
        # Force what the task needs: the goal receptacle, the tool, a start place for the object.
        start_ok = self._plaus[x] & (hi > 0) & (types != y)
        start_t = categorical(u[3], start_ok)
        tool = jnp.select(
            [task_type == CLEAN, task_type == HEAT, task_type == COOL],
            [TOOL[CLEAN], TOOL[HEAT], TOOL[COOL]],
            -1,
        )
        has_lamp = self._lamp_room[room]
        host_ok = self._lamp_host & (hi > 0)
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
        type_ok = self._obj_room[room] & jnp.any(self._plaus & present_t[None, :], axis=1)
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
        place_ok = self._plaus[o_type][:, rt] & r_valid[None, :]  # [O, R]
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
        task_K = self._task_text(task_type, variant, x, y)
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
            adm_AxL=jnp.zeros((self.max_admissible, self.action_len), jnp.int32),
            adm_row_A=jnp.zeros((self.max_admissible,), jnp.int32),
            num_adm=jnp.int32(0),
        )
        s = self._with_admissible(s)
        return s, self._intro_obs(s)

    def _task_text(self, task_type, variant, x, y) -> jax.Array:
        segs = jnp.asarray(self._task_segs.ids).reshape(len(TASK_TYPES), 2, 3, -1)
        segs = segs[task_type, variant]
        prep = jnp.where(self._task_has_prep[task_type, variant], self._prep_word[y], self._pad)
        raw = jnp.concatenate(
            [segs[0], self._o_word[x][None], segs[1], prep[None], self._r_word[y][None], segs[2]]
        )
        return compact_tokens(raw, self.task_len, self._pad)

    def _item_list(self, names_Nx2: jax.Array, show_N: jax.Array) -> jax.Array:
        """ "a x 1, a y 2, and a z 1." (or "nothing.") as raw tokens with pads, `[N*5 + 2]`."""
        rank = jnp.cumsum(show_N) - 1
        count = jnp.sum(show_N)
        is_last = rank == count - 1
        lead = jnp.where(is_last & (count > 1), self._and_tok, self._pad)
        end = jnp.where(is_last, self._intro_tok["period"], self._intro_tok["comma"])
        a = jnp.full_like(lead, self._intro_tok["a"])
        items = jnp.concatenate(
            [lead[:, None], a[:, None], names_Nx2, end[:, None]], axis=1
        )  # [N, 5]
        items = jnp.where(show_N[:, None], items, self._pad).reshape(-1)
        nothing = jnp.where(count == 0, self._intro["nothing"], self._pad)
        return jnp.concatenate([items, nothing])

    def _intro_obs(self, s: HouseholdState) -> jax.Array:
        recep_list = self._item_list(self._recep_names(s), s.recep_type >= 0)
        raw = jnp.concatenate([self._intro["head"], recep_list, self._intro["task"], s.task_K])
        return compact_tokens(raw, self.obs_len, self._pad)

    # ----- admissible actions ------------------------------------------------------------
    def _full_table(self, s: HouseholdState) -> tuple[jax.Array, jax.Array]:
        """All candidate actions `[R + O + 11, L]` and which are admissible now."""
        R, O, L, p, w = self.R, self.O, self.action_len, self._pad, self._w
        rnames = self._recep_names(s)  # [R, 2]
        onames = self._obj_names(s)  # [O, 2]
        at = s.cur >= 0
        cur = jnp.clip(s.cur, 0)
        cur_type = jnp.where(at, s.recep_type[cur], -1)
        cur_name = jnp.where(at, rnames[cur], p)
        holding = s.held >= 0
        held_name = jnp.where(holding, onames[jnp.clip(s.held, 0)], p)
        accessible = at & (~self._openable[jnp.clip(cur_type, 0)] | s.recep_open[cur])

        go = jnp.concatenate(
            [jnp.full((R, 1), w["go"]), jnp.full((R, 1), w["to"]), rnames,
             jnp.full((R, L - 4), p)], axis=1,
        )  # fmt: skip
        go_ok = (s.recep_type >= 0) & (jnp.arange(R) != s.cur)
        lamp_slot = self.O - 1
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
        openable = at & self._openable[jnp.clip(cur_type, 0)]
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

    def _with_admissible(self, s: HouseholdState) -> HouseholdState:
        table, ok = self._full_table(s)
        adm, n = compact_rows(table, ok, self._pad)
        rows = jnp.arange(table.shape[0], dtype=jnp.int32)
        pos = jnp.where(ok, jnp.cumsum(ok) - 1, table.shape[0])
        adm_row = jnp.zeros(table.shape[0] + 1, jnp.int32).at[pos].set(rows, mode="drop")
        return s.replace(adm_AxL=adm, adm_row_A=adm_row[:-1], num_adm=n)

    # ----- transition -------------------------------------------------------------------
    def _won(self, s: HouseholdState) -> jax.Array:
        on_y = (s.obj_type == s.target_obj) & (s.obj_loc >= 0)
        on_y &= s.recep_type[jnp.clip(s.obj_loc, 0)] == s.target_recep
        cond = jnp.select(
            [s.task_type == CLEAN, s.task_type == HEAT, s.task_type == COOL],
            [s.obj_clean, s.obj_hot, s.obj_cool],
            jnp.ones_like(s.obj_clean),
        )
        n = jnp.sum(on_y & cond)
        lamp = self.O - 1
        held_x = (s.held >= 0) & (s.obj_type[jnp.clip(s.held, 0)] == s.target_obj)
        looked = held_x & s.lamp_on & (s.obj_loc[lamp] == s.cur) & (s.cur >= 0)
        return jnp.select([s.task_type == LOOK, s.task_type == PICK2], [looked, n >= 2], n >= 1)

    def _step(self, key, s: HouseholdState, action_L, ok, params):
        del key, params
        R, O = self.R, self.O
        idx, found = match_action(action_L, s.adm_AxL, jnp.arange(self.max_admissible) < s.num_adm)
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
        openable_new = self._openable[jnp.clip(s.recep_type[nc], 0)]
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
        won = self._won(ns)
        ns = ns.replace(won=won)
        ns = self._with_admissible(ns)

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
        obs = self._render_text(
            self._obs_segs, self._obs_slots, variant, ns, held_before=s.held, list_at=new_cur,
            show_list=self._obs_list[variant], length=self.obs_len,
        )  # fmt: skip
        reward = jnp.where(won, 10.0, 0.0)
        return ns, obs, reward, won, ~valid

    def _slot_names(self, s: HouseholdState, held_before, dest, obj) -> jax.Array:
        """Names for slot codes 0..6, `[7, 2]`."""
        p = self._pad
        rnames, onames = self._recep_names(s), self._obj_names(s)
        at = s.cur >= 0
        cur = jnp.where(at, rnames[jnp.clip(s.cur, 0)], p)
        hb = jnp.where(held_before >= 0, onames[jnp.clip(held_before, 0)], p)
        held = jnp.where(s.held >= 0, onames[jnp.clip(s.held, 0)], hb)
        lamp = onames[self.O - 1]
        xtype = jnp.stack([self._o_word[s.target_obj], jnp.int32(p)])
        dname = jnp.where(dest >= 0, rnames[jnp.clip(dest, 0)], p)
        oname = jnp.where(obj >= 0, onames[jnp.clip(obj, 0)], hb)
        return jnp.stack([jnp.full(2, p), cur, held, lamp, xtype, dname, oname]).astype(jnp.int32)

    def _render_text(
        self, segs, slots, variant, s, *, held_before, list_at=None, show_list=False,
        dest=-1, obj=-1, length,
    ) -> jax.Array:  # fmt: skip
        names = self._slot_names(s, held_before, jnp.asarray(dest), jnp.asarray(obj))
        seg = segs[variant]
        slot = slots[variant]
        parts = [seg[0], names[slot[0]], seg[1], names[slot[1]], seg[2]]
        if list_at is not None:
            show = (s.obj_type >= 0) & (s.obj_loc == list_at) & (list_at >= 0) & show_list
            items = self._item_list(self._obj_names(s), show)
            items = jnp.where(show_list, items, self._pad)
            parts.append(items)
        return compact_tokens(jnp.concatenate(parts), length, self._pad)

    # ----- info -------------------------------------------------------------------------
    def info_for_state(self, state: HouseholdState, params, invalid) -> dict[str, jax.Array]:
        return {
            "invalid": jnp.asarray(invalid, bool),
            "won": state.won,
            "task_type": state.task_type,
            "admissible": state.adm_AxL,
            "num_admissible": state.num_adm,
            "score": state.won.astype(jnp.float32),
            "task": state.task_K,
        }

    # ----- oracle -------------------------------------------------------------------------
    def _oracle_plan(self, key, s: HouseholdState):
        """Returns `(row, thought_variant, dest_slot, obj_slot)`; see the module docstring."""
        R, O = self.R, self.O
        x, y, tt = s.target_obj, s.target_recep, s.task_type
        r_slot = jnp.arange(R)
        r_valid = s.recep_type >= 0
        rt = jnp.clip(s.recep_type, 0)
        at = s.cur >= 0
        cur = jnp.clip(s.cur, 0)
        cur_type = jnp.where(at, s.recep_type[cur], -1)
        is_open = s.recep_open[cur]
        cur_openable = at & self._openable[jnp.clip(cur_type, 0)]
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
        plaus = jnp.where(want_lamp, self._lamp_host[rt], self._plaus[x][rt])
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

    def oracle(self, key, state: HouseholdState, params) -> jax.Array:
        del params
        row, *_ = self._oracle_plan(key, state)
        table, _ = self._full_table(state)
        return table[row]

    def oracle_thought(self, key, state: HouseholdState, params) -> jax.Array:
        del params
        _, th, dest, obj = self._oracle_plan(key, state)
        return self._render_text(
            self._th_segs, self._th_slots, th, state, held_before=state.held, dest=dest,
            obj=obj, length=self.thought_len,
        )  # fmt: skip

    # ----- host-side rendering ----------------------------------------------------------
    def render(self, state: HouseholdState) -> str:
        s = jax.tree.map(np.asarray, state)
        if s.recep_type.ndim != 1:
            raise ValueError("render takes one unbatched state")
        rname = lambda r: f"{R_NAMES[s.recep_type[r]]} {s.recep_num[r]}"  # noqa: E731
        oname = lambda o: f"{O_NAMES[s.obj_type[o]]} {s.obj_num[o]}"  # noqa: E731
        lines = [
            f"task {int(s.task_id)} [{TASK_TYPES[int(s.task_type)]}] in the "
            f"{ROOM_NAMES[int(s.room)]}: {self.decode(s.task_K)}",
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


register("household", Household)


@functools.lru_cache(maxsize=4)
def household_env(tokenizer: WordTokenizer | None = None, **kwargs) -> Household:
    """A cached `Household` (own vocabulary unless a tokenizer is given)."""
    return Household(tokenizer or Household.own_tokenizer(), **kwargs)


def check_state(state: HouseholdState) -> None:
    """Shape checks of an (unbatched) state, for tests and debugging."""
    chex.assert_rank([state.recep_type, state.obj_type, state.adm_AxL], [1, 1, 2])
    chex.assert_type([state.recep_type, state.obj_loc], [jnp.int32, jnp.int32])
