"""The household world: receptacle types, rooms, object types and where objects plausibly lie.

Plain Python tables (no JAX), read by the task generator (`tasks`) and compiled to id arrays for
a tokenizer by `tables`.
"""

from __future__ import annotations

import numpy as np

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


def plausible_table() -> np.ndarray:
    """`[object types, receptacle types]` bool: the object may start on/in the receptacle."""
    table = np.zeros((len(O_NAMES), len(R_NAMES)), bool)
    for i, (_, _, places, _) in enumerate(OBJECTS):
        for p in places:
            table[i, R_ID[p]] = True
    return table


def room_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(lo_MxR, hi_MxR, obj_room_MxO)`: receptacle count range per room, objects per room."""
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
