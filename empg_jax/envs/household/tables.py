"""The household world and text compiled to id arrays for one tokenizer and size.

`build_tables` runs once on the host when the environment is built; the jitted code (`scene`,
`dynamics`, `render`, `oracle`) only gathers from these arrays, so a traced index (a template, a
task triple, a split) selects without branching.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.core import TextTable
from empg_jax.envs.household.tasks import SPLIT_SEEDS, SPLITS, TASK_TEMPLATES, TASK_TYPES
from empg_jax.envs.household.text import (
    ACTION_WORDS,
    FIXED_ACTIONS,
    INTRO_TEXTS,
    OBS_VARIANTS,
    THOUGHTS,
)
from empg_jax.envs.household.world import (
    LAMP_HOSTS,
    LAMP_ROOMS,
    O_NAMES,
    R_NAMES,
    RECEPTACLES,
    ROOM_NAMES,
    plausible_table,
    room_tables,
)
from empg_jax.text.word import WordTokenizer


@dataclasses.dataclass(frozen=True, eq=False)
class HouseholdTables:
    """Sizes and constant arrays of one household environment (R receptacle slots, O object
    slots, M rooms, T receptacle types, X object types; "+1" rows map -1 to `<pad>`)."""

    # sizes
    R: int
    O: int  # noqa: E741
    obs_len: int
    action_len: int
    task_len: int
    thought_len: int
    max_admissible: int
    pad: int  # the `<pad>` id
    # tasks: [2, C_max, ...] with 0 = seen triples, 1 = unseen, so the split can be traced
    combos: jax.Array  # int32 [2, C_max, 3] (task type, object type, receptacle type)
    combo_rooms: jax.Array  # bool [2, C_max, M] rooms where the triple is feasible
    num_combos: jax.Array  # int32 [2]
    split_seeds: jax.Array  # uint32 [len(SPLITS)]
    # world
    lo: jax.Array  # int32 [M, T] fewest receptacles of a type in a room
    hi: jax.Array  # int32 [M, T] most
    obj_room: jax.Array  # bool [M, X] the object type occurs in the room
    plaus: jax.Array  # bool [X, T] the object may start on/in the receptacle type
    openable: jax.Array  # bool [T + 1]
    lamp_host: jax.Array  # bool [T] a desk lamp may stand on it
    lamp_room: jax.Array  # bool [M] the room has a desk lamp
    # words
    r_word: jax.Array  # int32 [T + 1] receptacle type names
    o_word: jax.Array  # int32 [X + 1] object type names
    digit: jax.Array  # int32 [10]
    w: dict[str, int]  # ids of the action words
    and_tok: int
    # task text: per (type, phrasing) three segments around the object and receptacle slots
    task_segs: jax.Array  # int32 [6, 2, 3, W]
    task_has_prep: jax.Array  # bool [6, 2]
    prep_word: jax.Array  # int32 [T + 1] "in" / "on"
    # observation and thought templates (`text.OBS_VARIANTS`, `text.THOUGHTS`)
    obs_segs: jax.Array  # int32 [V, 3, W]
    obs_slots: jax.Array  # int32 [V, 2]
    obs_list: jax.Array  # bool [V] the variant ends with the object list
    th_segs: jax.Array  # int32 [V', 3, W']
    th_slots: jax.Array  # int32 [V', 2]
    intro: dict[str, jax.Array]  # rows of `text.INTRO_TEXTS`
    intro_tok: dict[str, int]  # "a", "comma", "period"


def _segment_table(tok: WordTokenizer, variants: dict) -> tuple[jax.Array, jax.Array]:
    """Templates `(seg0, slot1, seg1, slot2, seg2, ...)` -> segment ids `[V, 3, W]`, slots."""
    texts = {}
    for name, (s0, _, s1, _, s2, *_) in variants.items():
        texts[f"{name}_0"], texts[f"{name}_1"], texts[f"{name}_2"] = s0, s1, s2
    table = TextTable(tok, texts)
    ids = table.ids.reshape(len(variants), 3, -1)
    slots = np.array([[v[1], v[3]] for v in variants.values()], np.int32)
    return jnp.asarray(ids), jnp.asarray(slots)


def _task_segments(tok: WordTokenizer) -> TextTable:
    """The task templates cut at `{o}` and `{r}` (a full text table over every type, phrasing,
    object and receptacle would be large; the slots are filled inside `jit`)."""
    seg_texts = {}
    for ty, phr in enumerate(TASK_TEMPLATES):
        for v, text in enumerate(phr):
            head, rest = text.split("{o}")
            mid, tail = (rest.split("{r}") + [""])[:2] if "{r}" in rest else (rest, "")
            seg_texts[f"{ty}_{v}_0"] = head
            seg_texts[f"{ty}_{v}_1"] = mid.replace("{p}", "").strip()
            seg_texts[f"{ty}_{v}_2"] = tail
    return TextTable(tok, seg_texts)


def build_tables(
    tok: WordTokenizer,
    combos: np.ndarray,
    room_mask: np.ndarray,
    unseen: np.ndarray,
    max_receptacles: int,
    max_objects: int,
    obs_len: int,
    action_len: int,
    task_len: int,
    thought_len: int,
) -> HouseholdTables:
    """Tables for the active task triples `combos` (with their rooms and unseen flags)."""
    pad_id = tok.pad_id
    lo, hi, obj_room = room_tables()
    c_max = max(int((~unseen).sum()), int(unseen.sum()))
    pad = lambda a: np.pad(a, [(0, c_max - len(a))] + [(0, 0)] * (a.ndim - 1))  # noqa: E731
    obs_segs, obs_slots = _segment_table(tok, OBS_VARIANTS)
    th_segs, th_slots = _segment_table(tok, THOUGHTS)
    intro = TextTable(tok, INTRO_TEXTS)
    return HouseholdTables(
        R=max_receptacles,
        O=max_objects,
        obs_len=obs_len,
        action_len=action_len,
        task_len=task_len,
        thought_len=thought_len,
        max_admissible=max_receptacles + max_objects + len(FIXED_ACTIONS),
        pad=pad_id,
        combos=jnp.asarray(np.stack([pad(combos[~unseen]), pad(combos[unseen])])),
        combo_rooms=jnp.asarray(np.stack([pad(room_mask[~unseen]), pad(room_mask[unseen])])),
        num_combos=jnp.asarray([int((~unseen).sum()), int(unseen.sum())], jnp.int32),
        split_seeds=jnp.asarray([SPLIT_SEEDS[k] for k in SPLITS], jnp.uint32),
        lo=jnp.asarray(lo),
        hi=jnp.asarray(hi),
        obj_room=jnp.asarray(obj_room),
        plaus=jnp.asarray(plausible_table()),
        openable=jnp.asarray([r[1] for r in RECEPTACLES] + [False]),
        lamp_host=jnp.asarray(np.isin(R_NAMES, LAMP_HOSTS)),
        lamp_room=jnp.asarray(np.isin(ROOM_NAMES, LAMP_ROOMS)),
        r_word=jnp.asarray([tok.token_to_id(n) for n in R_NAMES] + [pad_id], jnp.int32),
        o_word=jnp.asarray([tok.token_to_id(n) for n in O_NAMES] + [pad_id], jnp.int32),
        digit=jnp.asarray(tok.digit_ids),
        w={x: tok.token_to_id(x) for x in ACTION_WORDS},
        and_tok=tok.token_to_id("and"),
        task_segs=jnp.asarray(_task_segments(tok).ids).reshape(len(TASK_TYPES), 2, 3, -1),
        task_has_prep=jnp.asarray([["{p}" in t for t in phr] for phr in TASK_TEMPLATES], bool),
        prep_word=jnp.asarray([tok.token_to_id(r[2]) for r in RECEPTACLES] + [pad_id], jnp.int32),
        obs_segs=obs_segs,
        obs_slots=obs_slots,
        obs_list=jnp.asarray([v[5] for v in OBS_VARIANTS.values()]),
        th_segs=th_segs,
        th_slots=th_slots,
        intro={k: jnp.asarray(intro.row(k)) for k in intro.names},
        intro_tok={k: int(intro.row(k)[0]) for k in ("a", "comma", "period")},
    )
