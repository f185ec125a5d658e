"""KV-cache sampler: agreement with the full forward pass, padding sides, stop sets, filters,
the fast paths against the previous implementation, and the greedy edge cases."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax import models
from empg_jax.models import sampler as sampler_mod
from empg_jax.ops import entropy_from_logits, token_log_probs
from empg_jax.testing import run_variants

CFG = models.ModelConfig(
    vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64
)
MODEL = models.Transformer(CFG, rngs=nnx.Rngs(0))
GRAPHDEF, STATE = nnx.split(MODEL)
P, N = 6, 8
SAMPLE = models.make_sampler(GRAPHDEF, max_new_tokens=N, pad_id=0)
SAMPLE_TOP1 = models.make_sampler(GRAPHDEF, max_new_tokens=N, top_k=1, pad_id=0)
NO_STOP = jnp.full((2, 2), -1)  # same shape as the stop sets below: one compile

# Row 0 has 6 real tokens, row 1 has 4 (padded on the left here).
REAL = [[5, 9, 13, 2, 7, 30], [11, 3, 8, 21]]
LEFT = jnp.array([REAL[0], [0, 0, *REAL[1]]])
LEFT_MASK = jnp.array([[True] * 6, [False, False] + [True] * 4])
RIGHT = jnp.array([REAL[0], [*REAL[1], 0, 0]])
RIGHT_MASK = jnp.array([[True] * 6, [True] * 4 + [False, False]])


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, tokens, segment_ids):
    return nnx.merge(graphdef, state)(tokens, segment_ids=segment_ids)


def _teacher_forced(prompt, mask, out, temperature):
    """Log-probs and entropies of the generated tokens recomputed by one full forward pass."""
    tokens = jnp.concatenate([prompt, out.tokens], 1)
    seg = jnp.concatenate([mask, out.mask], 1).astype(jnp.int32)
    logits = _forward(GRAPHDEF, STATE, tokens, seg) / temperature
    # The logits predicting generated token n sit at the position just before it.
    rows = []
    for b in range(prompt.shape[0]):
        positions = np.nonzero(np.asarray(seg[b]))[0]
        prev = positions[np.asarray(mask[b]).sum() - 1 : -1]
        rows.append(np.asarray(logits[b, prev]))
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_matches_full_forward(temperature):
    out = SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(0), NO_STOP, temperature)
    assert out.tokens.shape == (2, N) and out.tokens.dtype == jnp.int32
    np.testing.assert_array_equal(out.lengths, [N, N])
    t = temperature if temperature > 0 else 1.0
    for b, logits in enumerate(_teacher_forced(LEFT, LEFT_MASK, out, t)):
        gen = np.asarray(out.tokens[b])
        if temperature == 0.0:
            np.testing.assert_array_equal(gen, logits.argmax(-1))
        want_lp = token_log_probs(jnp.asarray(logits), jnp.asarray(gen))
        np.testing.assert_allclose(out.log_probs[b], want_lp, atol=2e-5)
        np.testing.assert_allclose(out.entropies[b], entropy_from_logits(logits), atol=2e-5)


@pytest.mark.slow
def test_left_and_right_padding_agree_and_determinism():
    key = jax.random.key(1)
    left = SAMPLE(STATE, LEFT, LEFT_MASK, key, NO_STOP, 0.0)
    right = SAMPLE(STATE, RIGHT, RIGHT_MASK, key, NO_STOP, 0.0)
    np.testing.assert_array_equal(left.tokens, right.tokens)
    np.testing.assert_allclose(left.log_probs, right.log_probs, atol=1e-5)
    a = SAMPLE(STATE, LEFT, LEFT_MASK, key, NO_STOP, 1.0)
    b = SAMPLE(STATE, LEFT, LEFT_MASK, key, NO_STOP, 1.0)
    c = SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(2), NO_STOP, 1.0)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, c.tokens)


@pytest.mark.slow
def test_per_row_stop_sets():
    free = SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(3), NO_STOP, 1.0)
    # Row 0 stops at its 3rd token, row 1 at its 5th; -1 pads the shorter stop set.
    stops = jnp.array([[int(free.tokens[0, 2]), -1], [int(free.tokens[1, 4]), -1]])
    first0 = int(np.argmax(np.asarray(free.tokens[0]) == int(stops[0, 0])))
    first1 = int(np.argmax(np.asarray(free.tokens[1]) == int(stops[1, 0])))
    out = SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(3), stops, 1.0)
    np.testing.assert_array_equal(out.lengths, [first0 + 1, first1 + 1])
    assert bool(out.stopped.all())
    for b, n in enumerate([first0 + 1, first1 + 1]):
        np.testing.assert_array_equal(out.tokens[b, :n], free.tokens[b, :n])
        np.testing.assert_array_equal(out.tokens[b, n:], 0)
        np.testing.assert_array_equal(out.log_probs[b, n:], 0.0)
        np.testing.assert_array_equal(out.mask[b], np.arange(N) < n)


@pytest.mark.slow
def test_top_k_one_is_greedy():
    greedy = SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 0.0)
    top1 = SAMPLE_TOP1(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 1.0)
    np.testing.assert_array_equal(greedy.tokens, top1.tokens)
    tiny_p = SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 1.0, 1e-6)
    np.testing.assert_array_equal(greedy.tokens, tiny_p.tokens)


def test_filter_logits():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    neg = -np.inf
    for name, out in run_variants(models.filter_logits, logits, top_k=2):
        np.testing.assert_array_equal(np.isinf(out), [[False, False, True, True]], name)
    for name, out in run_variants(lambda z: models.filter_logits(z, top_p=0.7), logits):
        np.testing.assert_array_equal(np.isinf(out), [[False, False, True, True]], name)
    out = models.filter_logits(logits, top_p=0.85)
    np.testing.assert_array_equal(np.asarray(out)[0, 3], neg)
    np.testing.assert_array_equal(models.filter_logits(logits, top_p=1.0), logits)
    with pytest.raises(ValueError, match="top_k"):
        models.filter_logits(logits, top_k=5)


@pytest.mark.slow
def test_sampler_inside_scan():
    """The trainer calls `sample` inside a `lax.scan` over environment steps: a pure function of
    (state, prompts, key) with static shapes."""

    @jax.jit
    def rollout(state, key):
        def step(prompt, key):
            out = models.sample(
                GRAPHDEF,
                state,
                prompt,
                jnp.ones_like(prompt, bool),
                key,
                NO_STOP,
                max_new_tokens=2,
                temperature=1.0,
            )
            return jnp.concatenate([prompt[:, 2:], out.tokens], 1), out.lengths

        return jax.lax.scan(step, LEFT, jax.random.split(key, 3))

    final, lengths = rollout(STATE, jax.random.key(5))
    assert final.shape == LEFT.shape
    np.testing.assert_array_equal(lengths, np.full((3, 2), 2))


# -- the previous implementation, kept verbatim as an independent reference ---------------------
# Every token was chosen by sorting the full vocabulary (`_reference_filter_logits`), also when
# top-k and top-p were off; log-probs and entropies came from two separate ops.


def _reference_filter_logits(logits_BxV, top_k=0, top_p=1.0):
    neg_inf = jnp.array(-jnp.inf, logits_BxV.dtype)
    if top_k:
        kth = jax.lax.top_k(logits_BxV, top_k)[0][:, -1:]
        logits_BxV = jnp.where(logits_BxV < kth, neg_inf, logits_BxV)
    sorted_desc = -jnp.sort(-logits_BxV, axis=-1)
    probs = jax.nn.softmax(sorted_desc.astype(jnp.float32), axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    keep_sorted = mass_before < top_p
    cutoff = jnp.min(jnp.where(keep_sorted, sorted_desc, jnp.inf), axis=-1, keepdims=True)
    filtered = jnp.where(logits_BxV < cutoff.astype(logits_BxV.dtype), neg_inf, logits_BxV)
    return jnp.where(jnp.asarray(top_p) >= 1.0, logits_BxV, filtered)


def _reference_next_tokens(key, logits_BxV, temperature, top_k, top_p):
    temperature = jnp.asarray(temperature, jnp.float32)
    greedy = temperature <= 0.0
    scaled = logits_BxV.astype(jnp.float32) / jnp.where(greedy, 1.0, temperature)
    sampled = jax.random.categorical(key, _reference_filter_logits(scaled, top_k, top_p), axis=-1)
    tokens = jnp.where(greedy, jnp.argmax(scaled, axis=-1), sampled).astype(jnp.int32)
    return tokens, token_log_probs(scaled, tokens), entropy_from_logits(scaled)


V = 200  # > NUCLEUS_CANDIDATES, so both the partial and the full-sort top-p paths run
assert V > sampler_mod.NUCLEUS_CANDIDATES


def _logit_rows(kind, seed=0, rows=6):
    rng = np.random.default_rng(seed)
    if kind == "ties":  # few distinct values: ties at the top-k and top-p boundaries
        return jnp.asarray(rng.integers(0, 4, (rows, V)).astype(np.float32))
    scale = {"sharp": 4.0, "flat": 0.05, "masked": 2.0}[kind]
    z = (rng.standard_normal((rows, V)) * scale).astype(np.float32)
    if kind == "masked":
        z[rng.random((rows, V)) < 0.5] = -np.inf
        z[:, 0] = 1.0
    return jnp.asarray(z)


FILTERS = [(0, 0.3), (0, 0.9), (0, 0.99), (7, 1.0), (7, 0.6), (100, 0.95), (0, 1.0), (1, 1.0)]


@pytest.mark.parametrize("kind", ["sharp", "flat", "ties", "masked"])
def test_filter_logits_equals_previous_implementation(kind):
    z = _logit_rows(kind)
    traced = jax.jit(models.filter_logits, static_argnums=1)
    for top_k, top_p in FILTERS:
        want = _reference_filter_logits(z, top_k, top_p)
        np.testing.assert_array_equal(models.filter_logits(z, top_k, top_p), want)
        np.testing.assert_array_equal(traced(z, top_k, jnp.float32(top_p)), want)


def test_top_p_takes_both_paths():
    """The flat rows' nuclei exceed the candidate count (full sort), the sharp rows' do not."""
    for kind, larger in (("flat", True), ("sharp", False)):
        kept = np.isfinite(models.filter_logits(_logit_rows(kind), 0, 0.9)).sum(-1)
        assert np.all((kept > sampler_mod.NUCLEUS_CANDIDATES) == larger), (kind, kept)


def test_filter_logits_keeps_the_top_token_for_top_p_zero_or_nan():
    z = _logit_rows("sharp")  # no ties at the top
    top = np.asarray(z).argmax(-1)
    for top_p in (0.0, -1.0, float("nan")):
        for out in (models.filter_logits(z, 0, top_p), models.filter_logits(z, 3, top_p)):
            np.testing.assert_array_equal(np.isfinite(out), np.eye(V, dtype=bool)[top])
        traced = jax.jit(models.filter_logits, static_argnums=1)(z, 0, jnp.float32(top_p))
        np.testing.assert_array_equal(np.isfinite(traced), np.eye(V, dtype=bool)[top])
    with pytest.raises(ValueError, match="top_k"):
        models.filter_logits(z, -1)


def _choices(fn, z, temperature, top_k, top_p, seeds=range(4)):
    run = jax.jit(fn, static_argnums=3)
    return [run(jax.random.key(s), z, temperature, top_k, top_p) for s in seeds]


@pytest.mark.parametrize("temperature", [0.7, 1.3, 0.0])
def test_token_choice_equals_previous_implementation(temperature):
    """Same key -> same tokens, with the filters on (static and traced top-p) and off (the
    fast path against the previous sort-everything path with top_p = 1, top_k = 0)."""
    z = _logit_rows("sharp", seed=1, rows=8) * 0.4
    for top_k, top_p in [(0, 1.0), (0, 0.9), (5, 0.8), (5, 1.0), (0, 0.5)]:
        want = _choices(_reference_next_tokens, z, temperature, top_k, jnp.float32(top_p))
        for p in (top_p, jnp.float32(top_p)):  # static, traced
            got = _choices(sampler_mod._next_tokens, z, temperature, top_k, p)
            for (gt, glp, gent), (wt, wlp, went) in zip(got, want, strict=True):
                np.testing.assert_array_equal(gt, wt, err_msg=f"{top_k} {top_p} {p!r}")
                np.testing.assert_allclose(glp, wlp, atol=2e-6, rtol=2e-6)
                np.testing.assert_allclose(gent, went, atol=2e-6, rtol=2e-6)
    if temperature > 0:  # the draws really are random: different keys, different tokens
        tokens = [
            np.asarray(t) for t, _, _ in _choices(sampler_mod._next_tokens, z, temperature, 0, 1.0)
        ]
        assert any(not np.array_equal(tokens[0], t) for t in tokens[1:])


def _np_stats(z, temperature, tokens):
    zt = np.asarray(z, np.float64) / temperature
    lp = zt - zt.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    ent = -(np.exp(lp) * lp).sum(-1)
    return np.take_along_axis(lp, np.asarray(tokens)[:, None], -1)[:, 0], ent


def test_greedy_edge_cases():
    """top_p <= 0 or NaN, top_k = 1, temperature 0 or NaN and T -> 0 all decode greedily, with
    finite log-probs and entropies (at T = 1 when T is not > 0; near 0 as T -> 0)."""
    z = _logit_rows("sharp", seed=2, rows=8) * 0.3
    top = np.asarray(z).argmax(-1)
    key = jax.random.key(0)
    nt = jax.jit(sampler_mod._next_tokens, static_argnums=3)
    want_lp, want_ent = _np_stats(z, 1.0, top)
    cases = [
        (1.0, 0, 0.0),  # static top_p = 0
        (1.0, 0, jnp.float32(0.0)),  # traced
        (1.0, 0, float("nan")),
        (1.0, 0, jnp.float32(jnp.nan)),
        (1.0, 1, 1.0),  # top_k = 1
        (0.0, 0, 1.0),
        (float("nan"), 0, 1.0),
        (float("nan"), 5, jnp.float32(0.9)),
    ]
    for temperature, top_k, top_p in cases:
        tokens, lp, ent = nt(key, z, temperature, top_k, top_p)
        np.testing.assert_array_equal(tokens, top, err_msg=f"{temperature} {top_k} {top_p}")
        t = temperature if temperature > 0 else 1.0
        if t == 1.0:
            np.testing.assert_allclose(lp, want_lp, atol=1e-5)
            np.testing.assert_allclose(ent, want_ent, atol=1e-5)
    # At 1e-30, z / T ~ 1e30: shifting by the max after dividing lost every digit (NaN before);
    # 1e-45 is a denormal that XLA:CPU flushes to 0, i.e. greedy decoding at T = 1.
    for temperature in (1e-6, 1e-30, 1e-45):
        tokens, lp, ent = nt(key, z, temperature, 0, 1.0)
        np.testing.assert_array_equal(tokens, top, err_msg=str(temperature))
        assert np.all(np.isfinite(lp)) and np.all(np.isfinite(ent)), temperature
        if temperature > 1e-40:
            np.testing.assert_allclose(lp, 0.0, atol=1e-6)
            np.testing.assert_allclose(ent, 0.0, atol=1e-6)


@pytest.mark.slow
def test_sampler_equals_previous_implementation(monkeypatch):
    """The whole decode loop, fast path and filtered path, against the previous token choice."""
    key = jax.random.key(7)
    fast = SAMPLE(STATE, LEFT, LEFT_MASK, key, NO_STOP, 0.8)
    filtered = models.make_sampler(GRAPHDEF, max_new_tokens=N, top_k=5)
    top_p = jnp.float32(0.7)
    new_filtered = filtered(STATE, LEFT, LEFT_MASK, key, NO_STOP, 0.8, top_p)
    monkeypatch.setattr(sampler_mod, "_next_tokens", _reference_next_tokens)
    ref = functools.partial(models.sample, GRAPHDEF, max_new_tokens=N, pad_id=0)
    ref_fast = jax.jit(lambda *a: ref(*a, temperature=0.8, top_p=jnp.float32(1.0)))
    ref_filtered = jax.jit(lambda *a: ref(*a, temperature=0.8, top_k=5, top_p=top_p))
    for got, run in ((fast, ref_fast), (new_filtered, ref_filtered)):
        want = run(STATE, LEFT, LEFT_MASK, key, NO_STOP)
        np.testing.assert_array_equal(got.tokens, want.tokens)
        np.testing.assert_allclose(got.log_probs, want.log_probs, atol=2e-6)
        np.testing.assert_allclose(got.entropies, want.entropies, atol=2e-6)
    assert not np.array_equal(fast.tokens, new_filtered.tokens)


@pytest.mark.slow
def test_sampler_greedy_edge_cases():
    greedy = SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 0.0)
    runs = {
        "top_p=0 static": models.make_sampler(GRAPHDEF, max_new_tokens=N, top_p=0.0)(
            STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 1.0
        ),
        "top_p=0 traced": SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 1.0, 0.0),
        "top_p=nan": SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 1.0, np.nan),
        "T=nan": SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, np.nan),
        "T=1e-30": SAMPLE(STATE, LEFT, LEFT_MASK, jax.random.key(4), NO_STOP, 1e-30),
    }
    for name, out in runs.items():
        np.testing.assert_array_equal(out.tokens, greedy.tokens, err_msg=name)
        assert np.all(np.isfinite(out.log_probs)) and np.all(np.isfinite(out.entropies)), name
    np.testing.assert_allclose(runs["T=nan"].entropies, greedy.entropies, atol=1e-6)
    np.testing.assert_allclose(runs["T=1e-30"].entropies, 0.0, atol=1e-6)
    np.testing.assert_allclose(runs["T=1e-30"].log_probs, 0.0, atol=1e-6)


# Chunked prefill with shared group prefixes (groups of 2 rows, chunks of 2, P = 8).
def _layout(rows, pads):
    """Rows of real tokens placed in P = 8 slots: "left" / "right" padding, or "gappy"
    (padding after the first token, then the rest)."""
    toks, mask = np.zeros((len(rows), 8), np.int32), np.zeros((len(rows), 8), bool)
    for i, (r, pad) in enumerate(zip(rows, pads, strict=True)):
        gap = 8 - len(r)
        slots = {"left": range(gap, 8), "right": range(len(r))}.get(pad, [0, *range(1 + gap, 8)])
        toks[i, list(slots)], mask[i, list(slots)] = r, True
    return jnp.asarray(toks), jnp.asarray(mask)


# Both groups share long prefixes: 5 tokens (rows of 7 and 6), and identical rows of 8.
SHARING = _layout(
    [[5, 9, 13, 2, 7, 30, 1], [5, 9, 13, 2, 7, 21], [11, 3, 8, 21, 4, 4, 6, 2]]
    + [[11, 3, 8, 21, 4, 4, 6, 2]],
    ["left", "right", "left", "left"],
)
# Edge cases: a shared prefix of 3 with the first row longer; identical short rows; no common
# token at all; gappy and right-padded layouts.
EDGES = _layout(
    [[5, 9, 13, 2, 7, 30], [5, 9, 13, 21, 4], [11, 3, 8], [11, 3, 8], [17, 6], [40, 6, 12, 19, 33]],
    ["left", "gappy", "right", "left", "gappy", "left"],
)


def test_shared_prefix_lengths_by_hand():
    def lengths(layout):
        toks, mask = layout
        aligned = sampler_mod._left_align(toks, mask, 0)
        return sampler_mod.shared_prefix_lengths(aligned, mask.sum(1), 2)

    # Common prefix 5 (capped at the shorter row's 6 - 1); identical rows of 8 keep their last.
    np.testing.assert_array_equal(lengths(SHARING), [5, 5, 7, 7])
    np.testing.assert_array_equal(lengths(EDGES), [3, 3, 2, 2, 0, 0])


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["sharing", "edges"])
def test_chunked_and_shared_prefill_equal_the_one_shot_prefill(layout):
    toks, mask = {"sharing": SHARING, "edges": EDGES}[layout]
    stops = jnp.full((toks.shape[0], 2), -1)
    key = jax.random.key(3)
    variants = {
        "one shot": models.make_sampler(GRAPHDEF, max_new_tokens=N, pad_id=0),
        "chunked": models.make_sampler(GRAPHDEF, max_new_tokens=N, pad_id=0, prefill_chunk=2),
        "shared": models.make_sampler(
            GRAPHDEF, max_new_tokens=N, pad_id=0, prefill_chunk=2, group_size=2
        ),
        "shared, chunk 3": models.make_sampler(
            GRAPHDEF, max_new_tokens=N, pad_id=0, prefill_chunk=3, group_size=2
        ),
    }
    outs = {name: fn(STATE, toks, mask, key, stops, 0.7) for name, fn in variants.items()}
    ref = outs["one shot"]
    for name, out in outs.items():
        np.testing.assert_array_equal(out.tokens, ref.tokens, err_msg=name)
        np.testing.assert_array_equal(out.lengths, ref.lengths, err_msg=name)
        np.testing.assert_allclose(out.log_probs, ref.log_probs, atol=2e-6, err_msg=name)
        np.testing.assert_allclose(out.entropies, ref.entropies, atol=2e-6, err_msg=name)
    b = toks.shape[0]
    computed = {name: int(out.prefill_positions) for name, out in outs.items()}
    if layout == "sharing":
        # One shot: 4 rows x 8 slots. Chunked: 4 chunks of 2 for the longest row, every row.
        # Shared: the trunks (longest 7) run 4 chunks for the 2 groups' first rows, then every
        # row runs its own 1-2 tokens in one chunk: 16 + 8. Chunks of 3: 3 x 3 x 2 + 3 x 4.
        assert computed == {"one shot": 32, "chunked": 32, "shared": 24, "shared, chunk 3": 30}
    else:
        # Chunked: 3 chunks of 2 (longest row 6) x 6 rows. Shared: trunks of 3 take 2 chunks
        # (x 3 groups), the longest branch (5) 3 chunks x 6 rows: 12 + 36; chunks of 3: 9 + 36.
        assert computed == {"one shot": b * 8, "chunked": 36, "shared": 48, "shared, chunk 3": 45}


def test_prefill_options_are_checked():
    with pytest.raises(ValueError, match="prefill_chunk must be >= 0"):
        models.sample(
            GRAPHDEF, STATE, LEFT, LEFT_MASK, jax.random.key(0), NO_STOP, max_new_tokens=N,
            prefill_chunk=-1,
        )  # fmt: skip
