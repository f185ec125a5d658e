"""KV-cache sampler: agreement with the full forward pass, padding sides, stop sets, filters."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax import models
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
