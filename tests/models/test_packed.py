"""Block-sparse attention over packed streams and token trees (`models.packed`), against dense
NumPy attention over explicitly listed ancestors, and the packed forward against each sequence
run alone."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax import models
from empg_jax.models.packed import block_sparse_attention, chunk_pairs, make_plan

CFG = models.ModelConfig(
    vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64
)


def _random_forest(rng, n_real, n_total):
    """A random forest in depth-first order: parent index (-1 for roots) of each token, then
    padding up to n_total. Returns (parent, ancestors-or-self lists, depth)."""
    parent, depth, path = [], [], []
    for i in range(n_real):
        # Pop a random number of levels (0 = continue the current branch), sometimes start over.
        if path and rng.random() < 0.15:
            path = []
        elif path:
            del path[len(path) - rng.integers(0, min(len(path), 3) + 1) :]
        parent.append(path[-1] if path else -1)
        depth.append(len(path))
        path.append(i)
    anc = []
    for i in range(n_total):
        chain, j = [], i
        while i < n_real and j >= 0:
            chain.append(j)
            j = parent[j]
        anc.append(chain if i < n_real else [i])
    return (
        np.array(parent + [-1] * (n_total - n_real)),
        anc,
        np.array(depth + [0] * (n_total - n_real)),
    )


def _visible_end(anc, n_total):
    """End of each token's subtree, from the ancestor lists (depth-first order)."""
    end = np.arange(n_total) + 1
    for q, chain in enumerate(anc):
        for k in chain:
            end[k] = max(end[k], q + 1)
    return end


def _dense_reference(q, k, v, anc, scale):
    """softmax over each query's ancestors-or-self, in float64 NumPy (GQA: head h uses KV head
    h // G)."""
    n, h, dh = q.shape
    g = h // k.shape[1]
    out = np.zeros((n, h, dh))
    for i, keys in enumerate(anc):
        keys = sorted(keys)
        for head in range(h):
            s = (k[keys, head // g] @ q[i, head]) * scale
            p = np.exp(s - s.max())
            out[i, head] = (p / p.sum()) @ v[keys, head // g]
    return out


@pytest.mark.parametrize("chunk", [4, 8])
def test_block_sparse_attention_matches_dense_attention_over_ancestors(chunk):
    rng = np.random.default_rng(chunk)
    n_real, n = 45, 48
    _, anc, _ = _random_forest(rng, n_real, n)
    end = _visible_end(anc, n)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in [(n, 4, 8), (n, 2, 8), (n, 2, 8)])
    query, key, total = chunk_pairs(jnp.asarray(end), chunk, 200, jnp.int32(n_real))
    # Exactly the chunk pairs with some visible (query, key): counted from the ancestor lists.
    want_pairs = {(i // chunk, j // chunk) for i in range(n_real) for j in anc[i]}
    got_pairs = {(int(a), int(b)) for a, b in zip(query[:total], key[:total], strict=True)}
    assert got_pairs == want_pairs and int(total) == len(want_pairs)
    assert (np.asarray(query[total:]) == n // chunk).all()
    plan = make_plan(jnp.asarray(end), query, key, chunk)
    fn = jax.jit(lambda q, k, v: block_sparse_attention(q, k, v, plan, 0.3))
    got = np.asarray(fn(q, k, v))
    want = _dense_reference(q, k, v, anc, 0.3)
    np.testing.assert_allclose(got[:n_real], want[:n_real], atol=2e-5)

    # Gradients: against plain JAX softmax attention with the ancestor mask.
    mask = np.zeros((n, n), bool)
    for i, keys in enumerate(anc):
        mask[i, keys] = True
    w = rng.standard_normal((n, 4, 8)).astype(np.float32) * (np.arange(n) < n_real)[:, None, None]

    def dense(q, k, v):
        kk, vv = jnp.repeat(k, 2, axis=1), jnp.repeat(v, 2, axis=1)
        s = jnp.einsum("qhd,khd->hqk", q, kk) * 0.3
        p = jax.nn.softmax(jnp.where(mask[None], s, -1e30), axis=-1)
        return jnp.sum(jnp.einsum("hqk,khd->qhd", p, vv) * w)

    sparse = lambda q, k, v: jnp.sum(block_sparse_attention(q, k, v, plan, 0.3) * w)  # noqa: E731
    g_want = jax.jit(jax.grad(dense, (0, 1, 2)))(q, k, v)
    g_got = jax.jit(jax.grad(sparse, (0, 1, 2)))(q, k, v)
    for a, b in zip(g_got, g_want, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5)


def test_chunk_pairs_drops_pairs_beyond_the_budget_and_reports_the_count():
    end = jnp.full((16,), 16)  # one sequence: every later chunk sees every earlier one
    query, key, total = chunk_pairs(end, 4, 6)
    assert int(total) == 10  # 4 + 3 + 2 + 1 pairs; only 6 fit
    assert np.all(np.diff(np.asarray(query)) >= 0)


def _trie_stream(rows, n_total):
    """Rows as a token trie in depth-first order (Python dicts): tokens, positions, visible end,
    and for each row the stream index of each of its tokens."""
    tokens, positions, anc, index = [], [], [], []
    nodes = {}
    for row in sorted(rows, key=list):
        chain = []
        for d, t in enumerate(row):
            key = tuple(row[: d + 1])
            if key not in nodes:
                nodes[key] = len(tokens)
                tokens.append(t)
                positions.append(d)
                anc.append([nodes[tuple(row[: e + 1])] for e in range(d + 1)])
            chain.append(nodes[key])
    for row in rows:
        index.append([nodes[tuple(row[: d + 1])] for d in range(len(row))])
    n = len(tokens)
    pad = n_total - n
    anc += [[i] for i in range(n, n_total)]
    return (
        np.array(tokens + [0] * pad, np.int32),
        np.array(positions + [0] * pad, np.int32),
        _visible_end(anc, n_total),
        index,
        n,
    )


@pytest.mark.parametrize("shared", [False, True])
def test_packed_forward_equals_each_sequence_alone(shared):
    """Hidden states of packed sequences (or of a trie of shared prefixes, positions continuing
    from the prefix) equal the model run on each sequence alone."""
    rng = np.random.default_rng(3)
    model = models.Transformer(CFG, rngs=nnx.Rngs(0))
    head = list(rng.integers(0, 64, 9))
    rows = [head + list(rng.integers(0, 64, n)) for n in (3, 7, 1)]
    rows += [head[:4] + list(rng.integers(0, 64, 5)), list(rng.integers(0, 64, 11))]
    rows += [rows[1][:12] + [5, 6]]
    chunk, n_total = 8, 96
    if shared:
        tokens, positions, end, index, n_used = _trie_stream(rows, n_total)
        assert n_used < sum(map(len, rows))
    else:  # back to back, each its own path
        tokens, positions, end = np.zeros(n_total, np.int32), np.zeros(n_total, np.int32), None
        end, index, o = np.arange(n_total) + 1, [], 0
        for row in rows:
            tokens[o : o + len(row)], positions[o : o + len(row)] = row, np.arange(len(row))
            end[o : o + len(row)] = o + len(row)
            index.append(list(range(o, o + len(row))))
            o += len(row)
        n_used = o
    query, key, total = chunk_pairs(jnp.asarray(end), chunk, 120, jnp.int32(n_used))
    assert int(total) <= 120
    plan = make_plan(jnp.asarray(end), query, key, chunk)
    graphdef, state = nnx.split(model)
    fn = jax.jit(lambda s, t, p, pl: nnx.merge(graphdef, s).hidden_states_packed(t, p, pl))
    hidden = np.asarray(fn(state, jnp.asarray(tokens), jnp.asarray(positions), plan))
    alone = jax.jit(lambda s, t: nnx.merge(graphdef, s).hidden_states(t))
    for row, idx in zip(rows, index, strict=True):
        want = np.asarray(alone(state, jnp.asarray(row, jnp.int32)[None]))[0]
        np.testing.assert_allclose(hidden[idx], want, atol=3e-5)


def test_packed_forward_refuses_moe_models():
    cfg = models.small_moe_config(vocab_size=64, hidden_size=32, num_layers=2, num_heads=4,
                                  num_kv_heads=2, intermediate_size=64)  # fmt: skip
    model = models.Transformer(cfg, rngs=nnx.Rngs(0))
    end = jnp.arange(8) + 1
    q, k, _ = chunk_pairs(end, 4, 4)
    with pytest.raises(ValueError, match="dense models only"):
        model.hidden_states_packed(jnp.zeros(8, jnp.int32), jnp.zeros(8, jnp.int32),
                                   make_plan(end, q, k, 4))  # fmt: skip
