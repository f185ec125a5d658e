"""Hugging Face import / export: tiny random Qwen2 and GLM-4.5-MoE models built with
`transformers` (torch extra) must give the same logits (1e-4, f32) and greedy generations."""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import load_file, save_file

from empg_jax import models

V = 96


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, tokens):
    return nnx.merge(graphdef, state)(tokens)


def _hf_model(kind, path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    common = dict(
        vocab_size=V,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    if kind == "qwen2":
        config = transformers.Qwen2Config(tie_word_embeddings=False, **common)
        model = transformers.Qwen2ForCausalLM(config)
    else:
        config = transformers.Glm4MoeConfig(
            moe_intermediate_size=16,
            n_routed_experts=4,
            num_experts_per_tok=2,
            first_k_dense_replace=1,
            n_group=1,
            topk_group=1,
            use_qk_norm=True,
            attention_bias=True,
            routed_scaling_factor=2.5,
            **common,
        )
        model = transformers.Glm4MoeForCausalLM(config)
    with torch.no_grad():
        # Randomise everything (norm weights, biases, the balance bias) so each is checked.
        for p in model.parameters():
            p.add_(0.2 * torch.randn_like(p))
        for name, buf in model.named_buffers():
            if "e_score_correction_bias" in name:
                buf.copy_(0.1 * torch.randn_like(buf))
    model.eval()
    model.save_pretrained(path, max_shard_size="40KB")  # several shards plus an index
    return torch, transformers, model


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["qwen2", "glm4_moe"])
def test_import_matches_transformers(kind, tmp_path):
    torch, transformers, hf = _hf_model(kind, tmp_path / "ckpt")
    assert os.path.exists(tmp_path / "ckpt" / "model.safetensors.index.json")
    model, cfg = models.from_hf(str(tmp_path / "ckpt"))
    assert cfg.num_experts == (4 if kind == "glm4_moe" else 0)
    tokens = np.random.default_rng(0).integers(0, V, (2, 9))
    with torch.no_grad():
        want = hf(torch.tensor(tokens)).logits.numpy()
    graphdef, state = nnx.split(model)
    np.testing.assert_allclose(_forward(graphdef, state, jnp.asarray(tokens)), want, atol=1e-4)

    # Identical greedy generations.
    n = 8
    with torch.no_grad():
        gen = hf.generate(
            torch.tensor(tokens),
            attention_mask=torch.ones_like(torch.tensor(tokens)),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=None,
            pad_token_id=0,
        )[:, tokens.shape[1] :].numpy()
    sample = models.make_sampler(graphdef, max_new_tokens=n)
    out = sample(
        state,
        jnp.asarray(tokens),
        jnp.ones(tokens.shape, bool),
        jax.random.key(0),
        jnp.array([-1]),
        0.0,
    )
    np.testing.assert_array_equal(out.tokens, gen)

    # Export, reload with transformers, same logits.
    models.to_hf(model, cfg, str(tmp_path / "export"))
    again = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "export")).eval()
    with torch.no_grad():
        np.testing.assert_allclose(again(torch.tensor(tokens)).logits.numpy(), want, atol=1e-4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cfg = models.ModelConfig(
        vocab_size=V,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        intermediate_size=48,
    )
    path = tmp_path_factory.mktemp("export")
    models.to_hf(models.Transformer(cfg, rngs=nnx.Rngs(0)), cfg, str(path))
    return path, cfg


def _copy(src, dst, edit_config=None, edit_tensors=None):
    os.makedirs(dst)
    config = json.loads((src / "config.json").read_text())
    tensors = load_file(str(src / "model.safetensors"))
    if edit_config:
        edit_config(config)
    if edit_tensors:
        edit_tensors(tensors)
    (dst / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(dst / "model.safetensors"))
    return str(dst)


def test_round_trip_without_torch(exported, tmp_path):
    path, cfg = exported
    model, cfg2 = models.from_hf(str(path))
    assert cfg2.replace(head_dim=None) == cfg and cfg2.resolved_head_dim == cfg.resolved_head_dim
    models.to_hf(model, cfg2, str(tmp_path / "again"))
    a = load_file(str(path / "model.safetensors"))
    b = load_file(str(tmp_path / "again" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_clear_errors(exported, tmp_path):
    path, _ = exported
    missing = _copy(
        path, tmp_path / "m", edit_tensors=lambda t: t.pop("model.layers.1.mlp.up_proj.weight")
    )
    with pytest.raises(ValueError, match=r"missing tensor 'model\.layers\.1\.mlp\.up_proj"):
        models.from_hf(missing)

    def wrong_width(c):
        c["intermediate_size"] = 40

    with pytest.raises(ValueError, match=r"tensor 'model\.layers\.0\.mlp\.gate_proj\.weight'"):
        models.from_hf(_copy(path, tmp_path / "s", edit_config=wrong_width))

    def gelu(c):
        c["hidden_act"] = "gelu"

    with pytest.raises(ValueError, match="hidden_act='gelu'"):
        models.from_hf(_copy(path, tmp_path / "u", edit_config=gelu))

    def extra(t):
        t["model.layers.0.self_attn.o_proj.bias"] = np.zeros(32, np.float32)

    with pytest.raises(ValueError, match=r"o_proj\.bias.*no counterpart"):
        models.from_hf(_copy(path, tmp_path / "e", edit_tensors=extra))

    def llama(c):
        c["model_type"] = "llama"

    with pytest.raises(ValueError, match="model_type='llama'"):
        models.from_hf(_copy(path, tmp_path / "l", edit_config=llama))
