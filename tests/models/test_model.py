"""Decoder forward pass: masks, positions, padding and packing, GQA, partial RoPE, QK-norm."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax import models
from empg_jax.models import layers
from empg_jax.testing import run_variants

CFG = models.ModelConfig(
    vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64
)


def _model(cfg=CFG, seed=0):
    model = models.Transformer(cfg, rngs=nnx.Rngs(seed))
    # Non-trivial norms and biases so the tests exercise them.
    state = nnx.state(model, nnx.Param)
    rng = np.random.default_rng(seed + 100)
    state = jax.tree.map(lambda x: x + 0.1 * rng.standard_normal(x.shape, np.float32), state)
    nnx.update(model, state)
    return model


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, tokens, positions, segment_ids):
    return nnx.merge(graphdef, state)(tokens, positions, segment_ids)


@functools.partial(jax.jit, static_argnums=0)
def _hidden(graphdef, state, tokens):
    return nnx.merge(graphdef, state).hidden_states(tokens)


@functools.partial(jax.jit, static_argnums=0)
def _head(graphdef, state, hidden):
    return nnx.merge(graphdef, state).logits_from_hidden(hidden)


def _logits(model, tokens, positions=None, segment_ids=None):
    graphdef, state = nnx.split(model)
    return np.asarray(_forward(graphdef, state, tokens, positions, segment_ids))


MODEL = _model()
TOKENS = jax.random.randint(jax.random.key(1), (2, 12), 1, CFG.vocab_size)


@pytest.mark.slow
def test_shapes_and_default_positions():
    logits = _logits(MODEL, TOKENS)
    assert logits.shape == (2, 12, CFG.vocab_size)
    assert logits.dtype == np.float32
    pos = jnp.broadcast_to(jnp.arange(12), (2, 12))
    np.testing.assert_array_equal(logits, _logits(MODEL, TOKENS, pos))
    graphdef, state = nnx.split(MODEL)
    hidden = _hidden(graphdef, state, TOKENS)
    assert hidden.shape == (2, 12, CFG.hidden_size)
    np.testing.assert_allclose(_head(graphdef, state, hidden), logits, atol=1e-5)


def test_causal():
    changed = TOKENS.at[:, 8:].set(3)
    a, b = _logits(MODEL, TOKENS), _logits(MODEL, changed)
    np.testing.assert_allclose(a[:, :8], b[:, :8], atol=1e-6)
    assert np.abs(a[:, 8:] - b[:, 8:]).max() > 1e-3


@pytest.mark.slow
def test_packed_segments_equal_separate_sequences():
    # Row 0 packs a 5-token and a 7-token sequence; positions restart per segment by default.
    seg = jnp.array([[1] * 5 + [2] * 7, [1] * 12])
    packed = _logits(MODEL, TOKENS, segment_ids=seg)
    first = _logits(MODEL, TOKENS[:, :5])
    second = _logits(MODEL, TOKENS[:, 5:])
    np.testing.assert_allclose(packed[0, :5], first[0], atol=1e-5)
    np.testing.assert_allclose(packed[0, 5:], second[0], atol=1e-5)
    np.testing.assert_allclose(packed[1], _logits(MODEL, TOKENS)[1], atol=1e-5)


@pytest.mark.parametrize("side", ["left", "right"])
def test_padding_is_ignored(side):
    real = TOKENS[:, :8]
    pad = jnp.zeros((2, 4), jnp.int32)
    tokens = jnp.concatenate([pad, real], 1) if side == "left" else jnp.concatenate([real, pad], 1)
    valid = jnp.broadcast_to(jnp.arange(12) >= 4 if side == "left" else jnp.arange(12) < 8, (2, 12))
    seg = valid.astype(jnp.int32)
    positions = jnp.maximum(jnp.cumsum(seg, axis=1) - 1, 0)
    out = _logits(MODEL, tokens, positions, seg)
    ref = _logits(MODEL, jnp.concatenate([real, real[:, :4]], 1))[:, :8]
    got = out[:, 4:] if side == "left" else out[:, :8]
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_default_positions_restart_per_segment():
    seg = jnp.array([[0, 0, 1, 1, 1, 2, 2, 0]])
    np.testing.assert_array_equal(models.default_positions(seg, 1, 8), [[0, 1, 0, 1, 2, 0, 1, 0]])
    mask = models.attention_mask(seg, 1, 8)[0]
    assert not mask[:, :2].any() and not mask[:, 7].any()
    assert mask[4, 2] and not mask[5, 4] and mask[6, 5]


def test_gqa_with_repeated_kv_equals_mha():
    """GQA with K < H equals MHA whose KV weights repeat each KV head H/K times (system (i))."""
    mha_cfg = CFG.replace(num_kv_heads=CFG.num_heads)
    mha = _model(mha_cfg)
    groups = CFG.num_heads // CFG.num_kv_heads
    state = nnx.state(mha, nnx.Param)
    gqa_state = nnx.state(MODEL, nnx.Param)
    pure = nnx.to_pure_dict(gqa_state)
    for layer in pure["layers"].values():
        for name in ("k", "v"):
            layer["attn"][name] = jnp.repeat(layer["attn"][name], groups, axis=1)
            layer["attn"][name + "_bias"] = jnp.repeat(layer["attn"][name + "_bias"], groups, 0)
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(mha, state)
    np.testing.assert_allclose(_logits(mha, TOKENS), _logits(MODEL, TOKENS), atol=1e-6)


def test_partial_rope_relative_and_invariant():
    """Rotated features' q.k depends only on relative position; the rest is position-free."""
    dh, rotary = 16, 8
    q = jax.random.normal(jax.random.key(2), (1, 1, 1, dh))
    k = jax.random.normal(jax.random.key(3), (1, 1, 1, dh))

    @jax.jit
    def rotated(x, pos):
        sin, cos = layers.rope_tables(jnp.reshape(pos, (1, 1)), rotary, 10_000.0)
        return layers.apply_rope(x, sin, cos)[0, 0, 0]

    def dots(pq, pk):
        a, b = rotated(q, pq), rotated(k, pk)
        return float(a[:rotary] @ b[:rotary]), float(a[rotary:] @ b[rotary:])

    rot_a, pass_a = dots(3, 1)
    rot_b, pass_b = dots(10, 8)
    rot_c, _ = dots(10, 1)
    np.testing.assert_allclose(rot_a, rot_b, rtol=1e-4)
    assert abs(rot_a - rot_c) > 1e-3
    np.testing.assert_allclose(pass_a, pass_b, rtol=1e-6)
    np.testing.assert_allclose(pass_a, float(q[0, 0, 0, rotary:] @ k[0, 0, 0, rotary:]), rtol=1e-6)


@pytest.mark.slow
def test_qk_norm_bounds_attention_logits():
    """With QK-norm (unit weights) |q.k| <= Dh however large the activations are."""
    dh = 16

    @jax.jit
    def max_score(x):
        q = layers.rms_norm(x, jnp.ones(dh), 1e-6)
        sin, cos = layers.rope_tables(jnp.broadcast_to(jnp.arange(8), (2, 8)), dh, 1e4)
        q = layers.apply_rope(q, sin, cos)
        return jnp.abs(jnp.einsum("bthd,bshd->bhts", q, q)).max()

    x = 1e4 * jax.random.normal(jax.random.key(4), (2, 8, 4, dh))
    assert float(max_score(x)) <= dh * (1 + 1e-4)
    assert float(max_score(x / 1e4)) <= dh * (1 + 1e-4)


def test_rms_norm_variants():
    x = jax.random.normal(jax.random.key(5), (3, 8))
    w = jnp.linspace(0.5, 1.5, 8)
    want = w * x / np.sqrt(np.mean(np.square(x), -1, keepdims=True) + 1e-6)
    for name, out in run_variants(layers.rms_norm, x, w, eps=1e-6):
        np.testing.assert_allclose(out, want, rtol=1e-5, err_msg=name)


def test_tied_embeddings_share_matrix():
    model = _model(CFG.replace(tie_embeddings=True))
    assert not hasattr(model, "lm_head")
    hidden = _hidden(*nnx.split(model), TOKENS)
    want = np.einsum("btd,vd->btv", hidden, model.embed[...])
    np.testing.assert_allclose(_logits(model, TOKENS), want, atol=1e-5)


def test_config_errors():
    with pytest.raises(ValueError, match="num_kv_heads"):
        models.ModelConfig(num_heads=4, num_kv_heads=3)
    with pytest.raises(ValueError, match="partial_rotary_factor"):
        models.ModelConfig(partial_rotary_factor=0.0)
    with pytest.raises(ValueError, match="moe_impl"):
        models.ModelConfig(moe_impl="sparse")
    with pytest.raises(ValueError, match="num_experts_per_tok"):
        models.ModelConfig(num_experts=4, num_experts_per_tok=5)


def test_named_shapes_parameter_counts():
    def count(cfg):
        abstract = nnx.eval_shape(lambda: models.Transformer(cfg, rngs=nnx.Rngs(0)))
        return sum(x.size for x in jax.tree.leaves(nnx.state(abstract, nnx.Param)))

    assert count(models.tiny_config()) == 188_992
    assert 5.9e6 < count(models.small_config()) < 6.1e6
