"""Household text: observation and thought templates, the action grammar and the word list.

Templates are plain strings with slots filled inside `jit` (`render`); `tables` encodes them for
a tokenizer. The feedback follows ALFWorld ("You arrive at cabinet 1. The cabinet 1 is closed.").
"""

from __future__ import annotations

from empg_jax.envs.core import NOTHING_HAPPENS
from empg_jax.envs.household.tasks import TASK_TEMPLATES
from empg_jax.envs.household.world import O_NAMES, R_NAMES, RECEPTACLES, ROOM_NAMES
from empg_jax.text.word import split_words

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

# The first observation: the head, the numbered receptacles, then the task.
INTRO_TEXTS = {
    "head": "-= welcome to textworld, alfred! =-\n\nyou are in the middle of a room. "
    "looking quickly around you, you see",
    "task": "\n\nyour task is to:",
    "and": "and a",
    "a": "a",
    "comma": ",",
    "period": ".",
    "nothing": "nothing.",
}


def words() -> tuple[str, ...]:
    """Every letter word the household environment may emit or accept, sorted."""
    texts = list(R_NAMES) + list(O_NAMES) + list(ROOM_NAMES) + list(ACTION_WORDS)
    texts += [r[2] for r in RECEPTACLES]
    texts += [t for phr in TASK_TEMPLATES for t in phr]
    texts += [" ".join(str(s) for s in v if isinstance(s, str)) for v in OBS_VARIANTS.values()]
    texts += [" ".join(s for s in v if isinstance(s, str)) for v in THOUGHTS.values()]
    texts += ["welcome to textworld alfred your task is to and a nothing"]
    found = {w for t in texts for w in split_words(t) if w.isalpha()}
    return tuple(sorted(found))
