"""Search tasks and splits: multi-hop questions as relation paths, split by held-out pairs.

A question composes 2 to 4 relations ("what is the country of the birthplace of the founder of
zentrix labs ?"); its answer is the entity at the end of the chain. [reconstructed] The relation
paths are split by held-out adjacent relation pairs: `train` and `test_id` use paths without a
held-out pair (in-distribution templates; disjoint episode seeds), `test_ood` only paths that
contain one, so no `test_ood` composition occurs in training. Task types are the hop counts.
"""

from __future__ import annotations

import itertools

from empg_jax.envs.search.world import REL, RELATIONS

# Adjacent relation pairs (inner, outer) never used in training [reconstructed]: compositions
# containing one of them form the out-of-distribution split.
HELD_OUT_PAIRS = (
    ("works_for", "based_in"),
    ("born_in", "mayor"),
    ("directed_by", "studied_at"),
    ("campus_in", "in_country"),
)
# A composition whose answer is trivially its own subject (the country of the capital of X) is left
# out of every split.
DEGENERATE_PAIRS = (("capital", "in_country"),)


def compositions() -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """All type-correct relation paths of 2 to 4 hops, split into (in-distribution, OOD)."""
    held = {(REL[a], REL[b]) for a, b in HELD_OUT_PAIRS}
    degenerate = {(REL[a], REL[b]) for a, b in DEGENERATE_PAIRS}
    ind, ood = [], []
    for hops in (2, 3, 4):
        for path in itertools.product(range(len(RELATIONS)), repeat=hops):
            if any(RELATIONS[x][2] != RELATIONS[y][1] for x, y in itertools.pairwise(path)):
                continue
            pairs = set(itertools.pairwise(path))
            if pairs & degenerate:
                continue
            (ood if pairs & held else ind).append(path)
    return ind, ood


def split_compositions() -> dict[str, list[tuple[int, ...]]]:
    """The relation paths each split draws from: `train` and `test_id` the in-distribution
    ones, `test_ood` the held-out ones."""
    ind, ood = compositions()
    return {"train": ind, "test_id": ind, "test_ood": ood}
