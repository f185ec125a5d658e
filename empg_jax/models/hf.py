"""Hugging Face checkpoint import and export: Qwen2 / Qwen2.5 (`Qwen2ForCausalLM`), Qwen3 dense
(`Qwen3ForCausalLM`) and GLM-4.5 MoE (`Glm4MoeForCausalLM`).

A checkpoint directory holds `config.json` and one `model.safetensors` or several shards listed by
`model.safetensors.index.json`. No torch or transformers import is needed here.

Layout conversions (HF `nn.Linear` stores [out, in]):
  q/k/v_proj.weight [N*Dh, D] -> [D, N, Dh];  o_proj.weight [D, H*Dh] -> [H, Dh, D];
  gate/up_proj [F, D] -> [D, F];  down_proj [D, F] -> [F, D];  lm_head [V, D] -> [D, V];
  GLM-4.5 experts.{e}.*_proj are stacked on a leading expert axis; gate.weight [E, D] -> [D, E].
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx
from safetensors import safe_open

from empg_jax.models.config import ModelConfig
from empg_jax.models.transformer import Transformer

ARCHITECTURES = {
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "glm4_moe": "Glm4MoeForCausalLM",
}


def _rope(hf: dict) -> tuple[float, float]:
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"unsupported config field rope_type={rope_type!r} (only 'default' RoPE)")
    theta = rope.get("rope_theta", hf.get("rope_theta", 10_000.0))
    factor = rope.get("partial_rotary_factor", hf.get("partial_rotary_factor", 1.0))
    return float(theta), float(factor)


def config_from_hf(hf: dict, dtype: Any = jnp.float32) -> ModelConfig:
    """Builds a `ModelConfig` from a Hugging Face `config.json` dict; ValueError names any
    unsupported field value."""
    model_type = hf.get("model_type")
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"unsupported config field model_type={model_type!r}; "
            f"supported: {sorted(ARCHITECTURES)}"
        )
    act = hf.get("hidden_act", "silu")
    if act != "silu":
        raise ValueError(f"unsupported config field hidden_act={act!r} (only 'silu')")
    if hf.get("use_sliding_window", False):
        raise ValueError("unsupported config field use_sliding_window=True")
    theta, rotary = _rope(hf)
    heads = hf["num_attention_heads"]
    common = dict(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        num_layers=hf["num_hidden_layers"],
        num_heads=heads,
        num_kv_heads=hf.get("num_key_value_heads") or heads,
        head_dim=hf.get("head_dim"),
        intermediate_size=hf["intermediate_size"],
        rms_norm_eps=hf.get("rms_norm_eps", 1e-6),
        rope_theta=theta,
        partial_rotary_factor=rotary,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        max_position_embeddings=hf.get("max_position_embeddings", 32_768),
        dtype=jnp.dtype(dtype).name,
        param_dtype=jnp.dtype(dtype).name,
    )
    if model_type == "qwen2":
        return ModelConfig(qkv_bias=True, qk_norm=False, **common)
    if model_type == "qwen3":
        return ModelConfig(qkv_bias=bool(hf.get("attention_bias", False)), qk_norm=True, **common)
    n_group, topk_group = hf.get("n_group", 1), hf.get("topk_group", 1)
    if topk_group < n_group:
        raise ValueError(
            f"unsupported config fields n_group={n_group}, topk_group={topk_group}: group-limited "
            "routing is not implemented (GLM-4.5 uses n_group=1)"
        )
    return ModelConfig(
        qkv_bias=bool(hf.get("attention_bias", False)),
        qk_norm=bool(hf.get("use_qk_norm", False)),
        num_experts=hf["n_routed_experts"],
        num_experts_per_tok=hf["num_experts_per_tok"],
        moe_intermediate_size=hf["moe_intermediate_size"],
        num_shared_experts=hf.get("n_shared_experts", 1),
        first_k_dense=hf.get("first_k_dense_replace", 0),
        routed_scaling_factor=float(hf.get("routed_scaling_factor", 1.0)),
        norm_topk_prob=bool(hf.get("norm_topk_prob", True)),
        **common,
    )


def config_to_hf(cfg: ModelConfig) -> dict:
    """The Hugging Face `config.json` dict for `cfg` (architecture chosen from its features)."""
    rope = {"rope_type": "default", "rope_theta": cfg.rope_theta}
    common = {
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.resolved_head_dim,
        "intermediate_size": cfg.intermediate_size,
        "rms_norm_eps": cfg.rms_norm_eps,
        "tie_word_embeddings": cfg.tie_embeddings,
        "max_position_embeddings": cfg.max_position_embeddings,
        "hidden_act": "silu",
        "attention_dropout": 0.0,
        "dtype": cfg.param_dtype,
    }
    if cfg.num_experts > 0:
        rope["partial_rotary_factor"] = cfg.partial_rotary_factor
        model_type = "glm4_moe"
        extra = {
            "attention_bias": cfg.qkv_bias,
            "use_qk_norm": cfg.qk_norm,
            "n_routed_experts": cfg.num_experts,
            "num_experts_per_tok": cfg.num_experts_per_tok,
            "moe_intermediate_size": cfg.moe_intermediate_size,
            "n_shared_experts": cfg.num_shared_experts,
            "first_k_dense_replace": cfg.first_k_dense,
            "routed_scaling_factor": cfg.routed_scaling_factor,
            "norm_topk_prob": cfg.norm_topk_prob,
            "n_group": 1,
            "topk_group": 1,
            "num_nextn_predict_layers": 0,
        }
    else:
        if cfg.partial_rotary_factor != 1.0:
            raise ValueError(
                f"partial_rotary_factor={cfg.partial_rotary_factor} has no dense HF architecture"
            )
        if cfg.qk_norm:
            model_type, extra = "qwen3", {"attention_bias": cfg.qkv_bias}
        elif cfg.qkv_bias:
            model_type, extra = "qwen2", {"use_sliding_window": False}
        else:
            raise ValueError(
                "a dense model without QKV bias and without QK-norm matches neither Qwen2 "
                "(bias) nor Qwen3 (QK-norm)"
            )
    return {
        "architectures": [ARCHITECTURES[model_type]],
        "model_type": model_type,
        "rope_parameters": rope,
        **common,
        **extra,
    }


# -- tensor map ---------------------------------------------------------------------------------
# Each entry: (getter of our Variable, HF names, to_ours(list of HF arrays), to_hf(our array)).
Entry = tuple[Callable[[Transformer], Any], list[str], Callable, Callable]


def _qkv(n, dh):
    return (lambda ws: ws[0].T.reshape(-1, n, dh)), (lambda w: [w.reshape(w.shape[0], -1).T])


def _entries(cfg: ModelConfig) -> list[Entry]:
    h, k, dh = cfg.num_heads, cfg.num_kv_heads, cfg.resolved_head_dim
    one = (lambda ws: ws[0]), (lambda w: [w])
    tr = (lambda ws: ws[0].T), (lambda w: [w.T])
    out: list[Entry] = [(lambda m: m.embed, ["model.embed_tokens.weight"], *one)]
    out.append((lambda m: m.final_norm, ["model.norm.weight"], *one))
    if not cfg.tie_embeddings:
        out.append((lambda m: m.lm_head, ["lm_head.weight"], *tr))
    for i in range(cfg.num_layers):
        pre = f"model.layers.{i}."

        def add(attr_path, names, conv, i=i, pre=pre):
            def get(m, attr_path=attr_path, i=i):
                obj = m.layers[i]
                for a in attr_path.split("."):
                    obj = getattr(obj, a)
                return obj

            out.append((get, [pre + n for n in names], *conv))

        add("attn_norm", ["input_layernorm.weight"], one)
        add("mlp_norm", ["post_attention_layernorm.weight"], one)
        add("attn.q", ["self_attn.q_proj.weight"], _qkv(h, dh))
        add("attn.k", ["self_attn.k_proj.weight"], _qkv(k, dh))
        add("attn.v", ["self_attn.v_proj.weight"], _qkv(k, dh))
        add(
            "attn.o",
            ["self_attn.o_proj.weight"],
            ((lambda ws: ws[0].T.reshape(h, dh, -1)), (lambda w: [w.reshape(h * dh, -1).T])),
        )
        if cfg.qkv_bias:
            for name, n in (("q", h), ("k", k), ("v", k)):
                add(
                    f"attn.{name}_bias",
                    [f"self_attn.{name}_proj.bias"],
                    ((lambda ws, n=n: ws[0].reshape(n, dh)), (lambda w: [w.reshape(-1)])),
                )
        if cfg.qk_norm:
            add("attn.q_norm", ["self_attn.q_norm.weight"], one)
            add("attn.k_norm", ["self_attn.k_norm.weight"], one)
        if cfg.is_moe_layer(i):
            add("mlp.router", ["mlp.gate.weight"], tr)
            add("mlp.router_bias", ["mlp.gate.e_score_correction_bias"], one)
            e = cfg.num_experts
            stack = (
                (lambda ws: np.stack([w.T for w in ws])),
                (lambda w: [w[j].T for j in range(w.shape[0])]),
            )
            for proj in ("gate", "up", "down"):
                add(f"mlp.{proj}", [f"mlp.experts.{j}.{proj}_proj.weight" for j in range(e)], stack)
            if cfg.num_shared_experts > 0:
                for proj in ("gate", "up", "down"):
                    add(f"mlp.shared.{proj}", [f"mlp.shared_experts.{proj}_proj.weight"], tr)
        else:
            for proj in ("gate", "up", "down"):
                add(f"mlp.{proj}", [f"mlp.{proj}_proj.weight"], tr)
    return out


def _checkpoint_files(path: str) -> dict[str, str]:
    """HF tensor name -> safetensors file."""
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        return {name: os.path.join(path, file) for name, file in weight_map.items()}
    files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    if not files:
        raise ValueError(f"no *.safetensors files in checkpoint directory {path!r}")
    out = {}
    for file in files:
        with safe_open(os.path.join(path, file), "numpy") as f:
            for name in f.keys():
                out[name] = os.path.join(path, file)
    return out


_IGNORED = re.compile(r".*rotary_emb\.inv_freq$")


def from_hf(path: str, dtype: Any = jnp.float32) -> tuple[Transformer, ModelConfig]:
    """Loads a Hugging Face checkpoint directory into a `Transformer`; returns (model, config).

    Parameters are stored (and computed) in `dtype`. Errors name the offending tensor: a missing
    tensor, a shape mismatch, or an unexpected tensor (a feature this model does not have).
    Layers at index >= num_hidden_layers (GLM-4.5's multi-token-prediction layer) and, for tied
    embeddings, a saved `lm_head.weight` are skipped.
    """
    config_path = os.path.join(path, "config.json")
    if not os.path.exists(config_path):
        raise ValueError(f"no config.json in checkpoint directory {path!r}")
    with open(config_path) as f:
        hf_cfg = json.load(f)
    cfg = config_from_hf(hf_cfg, dtype)
    files = _checkpoint_files(path)
    model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    handles: dict[str, Any] = {}
    used = set()
    try:
        for get, names, to_ours, _ in _entries(cfg):
            arrays = []
            for name in names:
                if name not in files:
                    raise ValueError(f"checkpoint {path!r} is missing tensor {name!r}")
                file = files[name]
                if file not in handles:
                    handles[file] = safe_open(file, "numpy")
                arrays.append(handles[file].get_tensor(name))
                used.add(name)
            var = get(model)
            value = np.asarray(to_ours(arrays))
            want = tuple(var.get_value().shape)
            if value.shape != want:
                raise ValueError(
                    f"tensor {names[0]!r} has shape {arrays[0].shape}, which converts to "
                    f"{value.shape}; the config implies {want}"
                )
            var_dtype = var.get_value().dtype
            var.set_value(jnp.asarray(value, var_dtype))
    finally:
        handles.clear()
    layer_re = re.compile(r"model\.layers\.(\d+)\.")
    for name in files:
        if name in used or _IGNORED.match(name):
            continue
        m = layer_re.match(name)
        if m and int(m.group(1)) >= cfg.num_layers:
            continue
        if name == "lm_head.weight" and cfg.tie_embeddings:
            continue
        raise ValueError(
            f"checkpoint tensor {name!r} has no counterpart in this model (unsupported feature)"
        )
    return model, cfg


def to_hf(model: Transformer, config: ModelConfig, path: str) -> None:
    """Writes `config.json` and `model.safetensors` that `transformers` loads with
    `AutoModelForCausalLM.from_pretrained(path)`."""
    from safetensors.numpy import save_file

    hf_cfg = config_to_hf(config)
    os.makedirs(path, exist_ok=True)
    tensors = {}
    for get, names, _, to_hf_fn in _entries(config):
        value = np.asarray(get(model).get_value())
        for name, array in zip(names, to_hf_fn(value), strict=True):
            tensors[name] = np.ascontiguousarray(array)
    save_file(tensors, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(hf_cfg, f, indent=2)
