"""BM25 as array operations (empg_jax.envs.bm25) against a straightforward Python reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.envs import bm25
from empg_jax.testing import run_variants

DOCS = [[0, 1, 2, 1], [2, 3], [4, 4, 4, 1, 0, 5], [5], [1, 2, 3, 4, 5, 6, 7]]
NUM_TERMS = 9


def _padded(docs, width=8):
    out = np.zeros((len(docs), width), np.int32)
    mask = np.zeros((len(docs), width), bool)
    for i, d in enumerate(docs):
        out[i, : len(d)] = d
        mask[i, : len(d)] = True
    return jnp.asarray(out), jnp.asarray(mask)


QUERIES = [[1], [2, 4], [1, 1, 5], [8], [3, 6, 0, 2]]


def _query_batch(shift=0):
    q = np.zeros((len(QUERIES), 6), np.int32)
    mask = np.zeros((len(QUERIES), 6), bool)
    for i, query in enumerate(QUERIES):
        q[i, : len(query)] = [t + shift for t in query]
        mask[i, : len(query)] = True
    return jnp.asarray(q), jnp.asarray(mask)


def test_index_scores_match_reference():
    index = bm25.build_index(DOCS, NUM_TERMS)
    q, mask = _query_batch()
    want = np.stack([bm25.reference_scores(query, DOCS) for query in QUERIES])
    for name, got in run_variants(bm25.index_scores, index, q[1], mask[1]):
        np.testing.assert_allclose(got, want[1], rtol=1e-5, atol=1e-6, err_msg=name)
    got = jax.jit(jax.vmap(bm25.index_scores, (None, 0, 0)))(index, q, mask)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_token_scores_match_reference():
    docs, dmask = _padded(DOCS)
    # Token ids shifted by 1 so 0 can be padding, as in the environments.
    q, mask = _query_batch(shift=1)
    want = np.stack([bm25.reference_scores(query, DOCS) for query in QUERIES])
    for name, got in run_variants(bm25.token_scores, q[2], mask[2], docs + 1, dmask):
        np.testing.assert_allclose(got, want[2], rtol=1e-5, atol=1e-6, err_msg=name)
    got = jax.jit(jax.vmap(bm25.token_scores, (0, 0, None, None)))(q, mask, docs + 1, dmask)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_token_scores_ignore_empty_documents():
    docs, mask = _padded(DOCS + [[]])
    q = jnp.asarray([3, 5, 0], jnp.int32)
    got = jax.jit(bm25.token_scores)(q, jnp.array([True, True, False]), docs + 1, mask)
    want = bm25.reference_scores([2, 4], DOCS + [[]])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert float(got[-1]) == 0.0


def test_random_corpus_matches_reference():
    rng = np.random.default_rng(0)
    docs = [list(rng.integers(0, 30, size=rng.integers(1, 20))) for _ in range(40)]
    index = bm25.build_index(docs, 30)
    for _ in range(5):
        query = list(rng.integers(0, 30, size=4))
        got = bm25.index_scores(index, jnp.asarray(query), jnp.ones(4, bool))
        np.testing.assert_allclose(got, bm25.reference_scores(query, docs), rtol=1e-4, atol=1e-5)


def test_top_k_orders_and_counts_positive_scores():
    scores = jnp.array([0.0, 2.0, 1.0, 2.0, 0.0, 3.0])
    idx, count = bm25.top_k(scores, 5)
    np.testing.assert_array_equal(idx, [5, 1, 3, 2, 0])  # ties: lower index first
    assert int(count) == 4
    idx, count = bm25.top_k(scores, 50)  # k larger than the corpus is clipped
    assert idx.shape == (6,) and int(count) == 4


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="num_terms"):
        bm25.build_index(DOCS, 0)
    with pytest.raises(ValueError, match="outside"):
        bm25.build_index([[0, 12]], 5)
    with pytest.raises(ValueError, match="at least one"):
        bm25.build_index([], 5)
