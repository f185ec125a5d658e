"""The workforce environment's text, requests and templates compiled to id arrays (host side).

A text with slots (`@c1`, `@arg`, ...) becomes literal pieces `[S, W]` and the slot after each
piece `[S]` (-1: none); jitted code fills the slots and compacts (`render`). Request shapes keep
their argument slots as the marker `ARG_CODE`, which no token id equals.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.core import NOTHING_HAPPENS
from empg_jax.envs.workforce.tasks import (
    MAX_TASKS,
    SLOTS,
    SPLIT_TEMPLATES,
    TEMPLATES,
    plan_text,
    spaced_tags,
)
from empg_jax.envs.workforce.text import SLOT, TEXTS, THOUGHTS
from empg_jax.envs.workforce.world import (
    ARG,
    CITY_NAMES,
    DESCRIPTIONS,
    DOCUMENT,
    NONE,
    OPS,
    PERSON_NAMES,
    REASONS,
    WORKERS,
)
from empg_jax.text.word import WordTokenizer

ARG_CODE = -7
PLAN_LEN = 56  # the planner's action length (the longest expert plan has 50 tokens)
CALL_LEN = 14  # the monolithic agent's action length
BODY_LEN = 10  # tokens of one request
SHAPE_W = 6  # tokens of a request shape
DOC_LEN = 12
VAL_W = 7  # tokens of a rendered value (sign and up to 6 digits, or a name)
MAX_KNOWN = 4
TASK_LEN = 20
#: Single tokens the parsers compare against.
SYMBOLS = ("<", ">", "/", "tasks", "task", ":", "#", "[", "]", "-", ";", ".", "answer")


@dataclasses.dataclass(frozen=True, eq=False)
class WorkforceTables:
    """Sizes and constant arrays of one workforce environment (T templates, S splits)."""

    tokenizer: WordTokenizer
    seed: int
    monolithic: bool
    action_len: int
    thought_len: int
    obs_len: int
    ids: dict[str, int]
    worker_ids: jax.Array  # [len(WORKERS)]
    city_pool: jax.Array  # [len(CITY_NAMES)]
    person_pool: jax.Array  # [len(PERSON_NAMES)]
    digit_ids: jax.Array  # [10]
    op_shapes: jax.Array  # [num_ops, SHAPE_W]
    op_worker: jax.Array  # [num_ops]
    op_args: jax.Array  # [num_ops, 2] argument kinds (NONE: no argument)
    op_result: jax.Array  # [num_ops]
    question: tuple[jax.Array, jax.Array]  # ([T, S, W] pieces, [T, S] slots)
    plan: tuple[jax.Array, jax.Array]
    num_steps: jax.Array  # [T] tasks of each template's plan
    split_templates: jax.Array  # [num_splits, max] template indices
    split_counts: jax.Array  # [num_splits]
    document: tuple[jax.Array, jax.Array]
    texts: dict[str, list[jax.Array]]  # literal pieces between the slots of each text
    thoughts: dict[str, list[jax.Array]]
    reasons: jax.Array  # [len(REASONS), 3]
    admissible: jax.Array  # [rows, action_len] worker descriptions (+ the answer row)


def _pieces(tok: WordTokenizer, text: str, slots: tuple[str, ...]):
    """`(pieces [S, W], slot [S])`: literal token pieces and the slot index after each."""
    lits, after, cur = [], [], []
    for word in text.split():
        if word.startswith("@"):
            lits.append(cur)
            after.append(slots.index(word))
            cur = []
        else:
            ids = tok.encode(word)
            if tok.unk_id in ids:
                raise ValueError(f"workforce text has words outside the vocabulary: {text!r}")
            cur += ids
    lits.append(cur)
    after.append(-1)
    width = max(1, max(len(x) for x in lits))
    arr = np.zeros((len(lits), width), np.int32)
    for i, x in enumerate(lits):
        arr[i, : len(x)] = x
    return arr, np.asarray(after, np.int32)


def _stack(items):
    """Pads `[(pieces, slots), ...]` to one `([N, S, W], [N, S])` pair."""
    s = max(p.shape[0] for p, _ in items)
    w = max(p.shape[1] for p, _ in items)
    lits = np.zeros((len(items), s, w), np.int32)
    slots = np.full((len(items), s), -1, np.int32)
    for i, (p, sl) in enumerate(items):
        lits[i, : p.shape[0], : p.shape[1]] = p
        slots[i, : len(sl)] = sl
    return jnp.asarray(lits), jnp.asarray(slots)


def _literal_pieces(tok: WordTokenizer, text: str) -> list[jax.Array]:
    """The literal pieces of a text between its slots (any `@name`)."""
    return [jnp.asarray(tok.encode(p), jnp.int32) for p in SLOT.split(text)]


def build_tables(
    tok: WordTokenizer, splits: tuple[str, ...], seed: int, monolithic: bool, thought_len: int
) -> WorkforceTables:
    """All tables of the workforce environment (see `WorkforceTables`)."""

    def enc(text: str) -> list[int]:
        ids = tok.encode(text)
        if tok.unk_id in ids:
            raise ValueError(f"workforce text has words outside the vocabulary: {text!r}")
        return ids

    def row(text: str, width: int) -> np.ndarray:
        ids = enc(text)
        if len(ids) > width:
            raise ValueError(f"{text!r} needs {len(ids)} > {width} tokens")
        return np.pad(np.asarray(ids, np.int32), (0, width - len(ids)))

    shapes = np.zeros((len(OPS), SHAPE_W), np.int32)
    op_args = np.full((len(OPS), 2), NONE, np.int32)
    for i, (_, _, shape, kinds, _) in enumerate(OPS):
        ids = [ARG_CODE if w == ARG else enc(w)[0] for w in shape.split()]
        shapes[i, : len(ids)] = ids
        op_args[i, : len(kinds)] = kinds
    steps = np.asarray([len(plan) for *_, plan in TEMPLATES], np.int32)
    if steps.max() > MAX_TASKS:
        raise ValueError(f"a template needs more than {MAX_TASKS} tasks")
    most = max(len(SPLIT_TEMPLATES[s]) for s in splits)
    split_templates = np.zeros((len(splits), most), np.int32)
    for i, s in enumerate(splits):
        split_templates[i, : len(SPLIT_TEMPLATES[s])] = SPLIT_TEMPLATES[s]
    action_len = CALL_LEN if monolithic else PLAN_LEN
    if monolithic:
        adm = [f"{w} [ {d} ]" for w, d in DESCRIPTIONS.items()] + [TEXTS["answer_row"]]
    else:
        adm = [f"{w} : {d}" for w, d in DESCRIPTIONS.items()]
    reasons = np.stack([row(r, 3) for r in REASONS])
    return WorkforceTables(
        tokenizer=tok,
        seed=seed,
        monolithic=monolithic,
        action_len=action_len,
        thought_len=thought_len,
        obs_len=32 if monolithic else 24,
        ids={s: tok.token_to_id(s) for s in SYMBOLS},
        worker_ids=jnp.asarray([tok.token_to_id(w) for w in WORKERS], jnp.int32),
        city_pool=jnp.asarray([tok.token_to_id(w) for w in CITY_NAMES], jnp.int32),
        person_pool=jnp.asarray([tok.token_to_id(w) for w in PERSON_NAMES], jnp.int32),
        digit_ids=jnp.asarray(tok.digit_ids),
        op_shapes=jnp.asarray(shapes),
        op_worker=jnp.asarray([WORKERS.index(o[1]) for o in OPS], jnp.int32),
        op_args=jnp.asarray(op_args),
        op_result=jnp.asarray([o[4] for o in OPS], jnp.int32),
        question=_stack([_pieces(tok, q, SLOTS) for _, q, _ in TEMPLATES]),
        plan=_stack([_pieces(tok, spaced_tags(plan_text(p)), SLOTS) for *_, p in TEMPLATES]),
        num_steps=jnp.asarray(steps),
        split_templates=jnp.asarray(split_templates),
        split_counts=jnp.asarray([len(SPLIT_TEMPLATES[s]) for s in splits], jnp.int32),
        document=_stack([_pieces(tok, DOCUMENT, ("@self", "@born", "@children"))]),
        texts={
            k: _literal_pieces(tok, v) for k, v in {**TEXTS, "nothing": NOTHING_HAPPENS}.items()
        },
        thoughts={k: _literal_pieces(tok, v) for k, v in THOUGHTS.items()},
        reasons=jnp.asarray(reasons),
        admissible=jnp.asarray(np.stack([row(a, action_len) for a in adm])),
    )
