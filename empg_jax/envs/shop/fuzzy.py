"""Fuzzy string matching for the shop's score: WebShop's `token_set_ratio > 85` test.

WebShop uses `thefuzz.fuzz.token_set_ratio > 85`. That package is not a dependency here;
`token_set_ratios` reimplements the same definition [reconstructed] (token sets; intersection and
the two sorted remainders compared pairwise with the normalised Indel similarity
2 * LCS / (|a| + |b|), scaled to 0-100; 100 when one set contains the other). It runs once, on
the host, when the catalogue's match tables are built (`catalog.attribute_hits`,
`catalog.option_matches`).
"""

from __future__ import annotations

import numpy as np

from empg_jax.envs.shop.categories import BASE_COLOURS


def indel_ratios(pairs: list[tuple[str, str]]) -> np.ndarray:
    """Similarity 0-100 of each string pair, 100 * 2 * LCS(a, b) / (|a| + |b|) (normalised Indel
    similarity, the `ratio` of rapidfuzz that thefuzz wraps), vectorised over the pairs.

    The longest common subsequence is a dynamic programme over character positions, run for all
    pairs at once (one NumPy step per cell), so thousands of pairs take milliseconds.
    """
    if not pairs:
        return np.zeros((0,), np.float64)
    width = max(1, max(max(len(a), len(b)) for a, b in pairs))
    codes = np.zeros((2, len(pairs), width), np.int32)
    for k, (a, b) in enumerate(pairs):
        codes[0, k, : len(a)] = [ord(c) for c in a]
        codes[1, k, : len(b)] = [ord(c) for c in b]
    len_a = np.array([len(a) for a, _ in pairs])
    len_b = np.array([len(b) for _, b in pairs])
    prev = np.zeros((len(pairs), width + 1), np.int32)
    for i in range(width):
        cur = np.zeros_like(prev)
        live_i = i < len_a
        for j in range(width):
            same = (codes[0, :, i] == codes[1, :, j]) & live_i & (j < len_b)
            cur[:, j + 1] = np.where(same, prev[:, j] + 1, np.maximum(prev[:, j + 1], cur[:, j]))
        prev = np.where(live_i[:, None], cur, prev)
    lcs = prev[np.arange(len(pairs)), len_b]
    total = len_a + len_b
    return np.where(total > 0, 200.0 * lcs / np.maximum(total, 1), 100.0)


def token_set_ratios(pairs: list[tuple[str, str]], prune_at: float | None = None) -> np.ndarray:
    """Token-set similarity 0-100 of each pair: our own implementation of the published definition.

    Both strings are split into word sets; with I the sorted intersection and Da, Db the sorted
    differences, the score is the best `indel_ratios` among (I, I+Da), (I, I+Db), (I+Da, I+Db);
    it is 100 when the sets share a word and one contains the other.

    With `prune_at`, a comparison whose length bound 200 * min(|a|, |b|) / (|a| + |b|) is at most
    `prune_at` is not computed and reports that bound instead (enough to test `> prune_at`).
    """
    jobs, full = [], np.zeros((len(pairs),), bool)
    for k, (a, b) in enumerate(pairs):
        ta, tb = set(a.lower().split()), set(b.lower().split())
        inter = " ".join(sorted(ta & tb))
        only_a, only_b = " ".join(sorted(ta - tb)), " ".join(sorted(tb - ta))
        combo_a, combo_b = f"{inter} {only_a}".strip(), f"{inter} {only_b}".strip()
        full[k] = bool(inter) and (not only_a or not only_b)
        jobs += [(inter, combo_a), (inter, combo_b), (combo_a, combo_b)]
    lens = np.array([(len(x), len(y)) for x, y in jobs]).reshape(-1, 2)
    bound = 200.0 * lens.min(1) / np.maximum(lens.sum(1), 1)
    need = np.ones(len(jobs), bool) if prune_at is None else bound > prune_at
    need &= np.array([bool(x) for x, _ in jobs]) & ~np.repeat(full, 3)
    unique = sorted({jobs[k] for k in np.flatnonzero(need)})
    values = dict(zip(unique, indel_ratios(unique), strict=True))
    ratios = np.array([values.get(j, b) for j, b in zip(jobs, bound, strict=True)])
    ratios = ratios.reshape(len(pairs), 3)
    # An empty intersection compared with anything scores 0, as in the reference definition.
    empty = np.array(
        [[not a for a, _ in jobs[3 * k : 3 * k + 2]] + [False] for k in range(len(pairs))]
    )
    ratios = np.where(empty, 0.0, ratios)
    return np.where(full, 100.0, ratios.max(1))


def token_set_ratio(a: str, b: str) -> float:
    """`token_set_ratios` of one pair."""
    return float(token_set_ratios([(a, b)])[0])


def normalize_colour(text: str) -> str:
    """Maps an option text to its base colour when it names one (WebShop's colour normalisation)."""
    for colour in BASE_COLOURS:
        if colour in text.split():
            return colour
    return text


def fuzzy_match_table(left: list[str], right: list[str], threshold: float = 85.0) -> np.ndarray:
    """match_LxR[i, j] = token_set_ratio(left[i], right[j]) > threshold (WebShop's test)."""
    pairs = [(a, b) for a in left for b in right]
    return (token_set_ratios(pairs, prune_at=threshold) > threshold).reshape(len(left), len(right))
