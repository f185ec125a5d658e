"""Okapi BM25 retrieval as array operations, shared by the `shop` and `search` environments.

The WebShop search engine is Pyserini's Lucene BM25 over the product catalogue; the
Deep-Search-like environment retrieves passages the same way. Both call the one scoring formula
here:

    score(q, d) = sum_{t in q} idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * norm(d))
    norm(d)     = 1 - b + b * |d| / avgdl
    idf(t)      = log(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

(Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009; the
non-negative idf is Lucene's.) Defaults k1 = 0.9, b = 0.4 are Pyserini's. A query term that occurs
several times in the query counts once per occurrence (a bag-of-words query, as in Lucene's boolean
query over analysed tokens).

Two ways to obtain the term frequencies, one formula:
- a fixed corpus (the shop catalogue) precomputes the whole term-by-document weight matrix once with
  `build_index`; a query is then one gather of rows and a sum (`index_scores`), O(Q * D);
- a corpus that changes per episode (the search environment's knowledge base) counts the query terms
  in the padded document tokens inside `jit` (`token_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

K1 = 0.9
B = 0.4


def term_weight(tf, df, doc_len, num_docs, avg_doc_len, k1: float = K1, b: float = B):
    """BM25 contribution of one term to one document (broadcasts over any shapes).

    Args:
      tf: occurrences of the term in the document.
      df: number of documents containing the term.
      doc_len: document length in tokens.
      num_docs: number of documents N in the corpus.
      avg_doc_len: mean document length avgdl.
      k1, b: BM25 saturation and length-normalisation constants.

    Returns:
      idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * |d| / avgdl)), zero where tf = 0.
    Works with NumPy or JAX arrays (it only uses operators and `log` of the matching module).
    """
    xp = jnp if any(isinstance(x, jax.Array) for x in (tf, df, doc_len)) else np
    tf = xp.asarray(tf, dtype=xp.float32)
    df = xp.asarray(df, dtype=xp.float32)
    idf = xp.log(1.0 + (num_docs - df + 0.5) / (df + 0.5))
    norm = k1 * (1.0 - b + b * xp.asarray(doc_len, dtype=xp.float32) / avg_doc_len)
    return idf * tf * (k1 + 1.0) / (tf + norm)


class BM25Index(NamedTuple):
    """Precomputed BM25 weights of a fixed corpus.

    weight_TxD: BM25 contribution of term t to document d (float32), so a query's scores are a sum
      of gathered rows.
    """

    weight_TxD: jax.Array


def build_index(
    docs: Sequence[Sequence[int]], num_terms: int, k1: float = K1, b: float = B
) -> BM25Index:
    """Builds the term-by-document weight matrix of a fixed corpus (host side, NumPy).

    Args:
      docs: one sequence of term ids in [0, num_terms) per document.
      num_terms: size T of the term vocabulary.
    """
    if num_terms <= 0:
        raise ValueError(f"num_terms must be positive, got {num_terms}")
    num_docs = len(docs)
    if num_docs == 0:
        raise ValueError("build_index needs at least one document")
    tf_TxD = np.zeros((num_terms, num_docs), np.float32)
    for d, doc in enumerate(docs):
        ids = np.asarray(doc, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= num_terms):
            raise ValueError(f"document {d} has a term id outside [0, {num_terms})")
        np.add.at(tf_TxD[:, d], ids, 1.0)
    doc_len_D = tf_TxD.sum(0)
    df_T = (tf_TxD > 0).sum(1)
    weight = term_weight(
        tf_TxD, df_T[:, None], doc_len_D[None, :], num_docs, doc_len_D.mean(), k1=k1, b=b
    )
    return BM25Index(weight_TxD=jnp.asarray(weight, jnp.float32))


def index_scores(index: BM25Index, query_Q: jax.Array, query_mask_Q: jax.Array) -> jax.Array:
    """BM25 scores of every document of a precomputed index for one query.

    Args:
      index: from `build_index`.
      query_Q: term ids of the query (entries outside [0, T) and masked entries are ignored).
      query_mask_Q: which query positions are real terms.

    Returns:
      scores_D float32.
    """
    chex.assert_rank([query_Q, query_mask_Q], 1)
    num_terms = index.weight_TxD.shape[0]
    valid_Q = query_mask_Q & (query_Q >= 0) & (query_Q < num_terms)
    rows_QxD = index.weight_TxD[jnp.clip(query_Q, 0, num_terms - 1)]
    return jnp.sum(jnp.where(valid_Q[:, None], rows_QxD, 0.0), axis=0)


def token_scores(
    query_Q: jax.Array,
    query_mask_Q: jax.Array,
    docs_DxL: jax.Array,
    docs_mask_DxL: jax.Array,
    k1: float = K1,
    b: float = B,
) -> jax.Array:
    """BM25 scores of padded token documents for one query, counted inside `jit`.

    Args:
      query_Q: query token ids; query_mask_Q marks real tokens.
      docs_DxL: document token ids; docs_mask_DxL marks real tokens (padding is ignored). Documents
        whose mask is all False are empty: they score 0 and do not count in N or avgdl.

    Returns:
      scores_D float32.
    """
    chex.assert_rank([query_Q, query_mask_Q], 1)
    chex.assert_rank([docs_DxL, docs_mask_DxL], 2)
    chex.assert_equal_shape([docs_DxL, docs_mask_DxL])
    hits_QxDxL = (query_Q[:, None, None] == docs_DxL[None]) & docs_mask_DxL[None]
    tf_QxD = jnp.sum(hits_QxDxL, axis=-1).astype(jnp.float32)
    doc_len_D = jnp.sum(docs_mask_DxL, axis=-1).astype(jnp.float32)
    live_D = doc_len_D > 0
    num_docs = jnp.maximum(jnp.sum(live_D), 1).astype(jnp.float32)
    avg_doc_len = jnp.sum(doc_len_D) / num_docs
    df_Q = jnp.sum(tf_QxD > 0, axis=-1)
    weight_QxD = term_weight(
        tf_QxD, df_Q[:, None], doc_len_D[None, :], num_docs, avg_doc_len, k1=k1, b=b
    )
    return jnp.sum(jnp.where(query_mask_Q[:, None], weight_QxD, 0.0), axis=0)


def top_k(scores_D: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """The k best documents, best first, ties to the lower index; only positive scores count.

    Returns:
      (indices_K int32, count) where count <= k is how many of them scored above zero (documents
      sharing no term with the query are not retrieved, as in Lucene).
    """
    chex.assert_rank(scores_D, 1)
    k = min(k, scores_D.shape[0])
    values_K, indices_K = jax.lax.top_k(scores_D, k)
    return indices_K.astype(jnp.int32), jnp.sum(values_K > 0).astype(jnp.int32)


def reference_scores(
    query: Sequence[int], docs: Sequence[Sequence[int]], k1: float = K1, b: float = B
) -> np.ndarray:
    """Straightforward per-document, per-term NumPy/Python BM25, the oracle for the tests."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / max(sum(1 for d in docs if len(d)), 1)
    n_live = max(sum(1 for d in docs if len(d)), 1)
    out = np.zeros(n, np.float64)
    for i, doc in enumerate(docs):
        for t in query:
            tf = doc.count(t)
            if tf == 0:
                continue
            df = sum(1 for d in docs if t in d)
            idf = np.log(1.0 + (n_live - df + 0.5) / (df + 0.5))
            out[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avgdl))
    return out
