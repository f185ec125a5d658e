"""The search environment's text and tasks compiled to id arrays for one tokenizer (host side).

Name pools, passage templates (literal pieces and the relation that fills each slot), relation
phrases, the relation paths of every split, the fixed texts and the oracle's thoughts. The jitted
code (`episode`, `dynamics`, `oracle`) only gathers from these arrays.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.core import NOTHING_HAPPENS
from empg_jax.envs.search.text import THOUGHTS
from empg_jax.envs.search.world import (
    CITY_NAMES,
    COMPANY_STEMS,
    COMPANY_SUFFIXES,
    COUNTRY_NAMES,
    FILM_ADJECTIVES,
    FILM_NOUNS,
    FIRST_NAMES,
    LAST_NAMES,
    PASSAGES,
    REL,
    RELATIONS,
    TYPES,
    UNIVERSITY_STEMS,
)
from empg_jax.text.word import WordTokenizer


@dataclasses.dataclass(frozen=True, eq=False)
class SearchTables:
    """Sizes and constant arrays of one search environment (R relations, S splits, C_max
    relation paths per split; names are two tokens, right-padded)."""

    tokenizer: WordTokenizer
    seed: int
    action_len: int
    thought_len: int
    passage_len: int
    task_len: int
    obs_len: int
    top_k: int
    pools: dict[str, jax.Array]  # [pool size, 2] name tokens per pool
    template_lits: jax.Array  # [len(TYPES), slots, W] literal pieces between the slots
    template_slots: jax.Array  # [len(TYPES), slots] relation filling a slot (-1 self, -2 none)
    phrases: jax.Array  # [R, 4] "the birthplace of", ...
    rel_subject: jax.Array  # [R] subject type of each relation
    comps: jax.Array  # [S, C_max, 4] relation paths, -1 padded
    comp_hops: jax.Array  # [S, C_max] path lengths
    num_comps: jax.Array  # [S]
    texts: dict[str, jax.Array]
    thoughts: dict[str, tuple[jax.Array, jax.Array]]
    examples: jax.Array  # [2, L] "search [ ... ]", "answer [ ... ]"
    ids: dict[str, int]  # "search", "answer", "[", "]"
    digit_ids: jax.Array  # [10]


def build_tables(
    tok: WordTokenizer,
    splits: tuple[str, ...],
    split_compositions: dict[str, list[tuple[int, ...]]],
    seed: int,
    action_len: int,
    thought_len: int,
    passage_len: int,
    task_len: int,
    top_k: int,
) -> SearchTables:
    """All tables of the search environment (see `SearchTables`)."""

    def enc(text):
        ids = tok.encode(text)
        if tok.unk_id in ids:
            raise ValueError(f"search text has words outside the vocabulary: {text!r}")
        return ids

    def name_table(names_2):
        rows = np.zeros((len(names_2), 2), np.int32)
        for i, words in enumerate(names_2):
            ids = [tok.token_to_id(w) for w in words]
            rows[i, : len(ids)] = ids
        return jnp.asarray(rows)

    pools = {
        "first": name_table([[w] for w in FIRST_NAMES]),
        "last": name_table([[w] for w in LAST_NAMES]),
        "city": name_table([[w] for w in CITY_NAMES]),
        "country": name_table([[w] for w in COUNTRY_NAMES]),
        "company": name_table([[w] for w in COMPANY_STEMS]),
        "suffix": name_table([[w] for w in COMPANY_SUFFIXES]),
        "university": name_table([[w, "university"] for w in UNIVERSITY_STEMS]),
        "adjective": name_table([[w] for w in FILM_ADJECTIVES]),
        "noun": name_table([[w] for w in FILM_NOUNS]),
    }
    # Passage templates as (literal tokens [S, W], slot relation [S] (-1 self, -2 none)).
    templates = {}
    for etype, text in PASSAGES.items():
        lits, slots, cur = [], [], []
        for word in text.split():
            if word.startswith("@"):
                lits.append(cur)
                slots.append(-1 if word == "@self" else REL[word[1:]])
                cur = []
            else:
                cur += enc(word)
        lits.append(cur)
        slots.append(-2)
        width = max(len(x) for x in lits) or 1
        lit = np.zeros((len(lits), width), np.int32)
        for i, x in enumerate(lits):
            lit[i, : len(x)] = x
        templates[etype] = (lit, slots)
    num_slots = max(len(v[1]) for v in templates.values())
    width = max(v[0].shape[1] for v in templates.values())
    lits = np.zeros((len(TYPES), num_slots, width), np.int32)
    slot_arr = np.full((len(TYPES), num_slots), -2, np.int32)
    for etype, (lit, slots) in templates.items():
        lits[etype, : lit.shape[0], : lit.shape[1]] = lit
        slot_arr[etype, : len(slots)] = slots
    phrases = [enc(r[3]) for r in RELATIONS]
    most = max(len(v) for v in split_compositions.values())
    comps = np.full((len(splits), most, 4), -1, np.int32)
    lengths = np.full((len(splits), most), 2, np.int32)
    for i, split in enumerate(splits):
        for j, path in enumerate(split_compositions[split]):
            comps[i, j, : len(path)] = path
            lengths[i, j] = len(path)
    return SearchTables(
        tokenizer=tok,
        seed=seed,
        action_len=action_len,
        thought_len=thought_len,
        passage_len=passage_len,
        task_len=task_len,
        obs_len=4 + top_k * (passage_len + 3),
        top_k=top_k,
        pools=pools,
        template_lits=jnp.asarray(lits),
        template_slots=jnp.asarray(slot_arr),
        phrases=jnp.asarray(np.array([p + [0] * (4 - len(p)) for p in phrases], np.int32)),
        rel_subject=jnp.asarray([r[1] for r in RELATIONS], jnp.int32),
        comps=jnp.asarray(comps),
        comp_hops=jnp.asarray(lengths),
        num_comps=jnp.asarray([len(split_compositions[x]) for x in splits], jnp.int32),
        texts={
            "question": jnp.asarray(enc("question :"), jnp.int32),
            "what": jnp.asarray(enc("what is"), jnp.int32),
            "qmark": jnp.asarray(enc("?"), jnp.int32),
            "nothing": jnp.asarray(enc(NOTHING_HAPPENS), jnp.int32),
            "sep": jnp.asarray(enc("|"), jnp.int32),
            "answered": jnp.asarray(enc("your answer has been submitted ."), jnp.int32),
        },
        thoughts={
            k: (jnp.asarray(enc(a), jnp.int32), jnp.asarray(enc(b), jnp.int32))
            for k, (a, b) in THOUGHTS.items()
        },
        examples=jnp.asarray(
            [
                np.pad(enc(x), (0, action_len - len(enc(x))))
                for x in ("search [ ... ]", "answer [ ... ]")
            ],
            jnp.int32,
        ),
        ids={w: tok.token_to_id(w) for w in ("search", "answer", "[", "]")},
        digit_ids=jnp.asarray(tok.digit_ids),
    )
