"""Hugging Face checkpoint import and export: Qwen2 / Qwen2.5 (`Qwen2ForCausalLM`), Qwen3 dense
(`Qwen3ForCausalLM`) and GLM-4.5 MoE (`Glm4MoeForCausalLM`).

A checkpoint directory holds `config.json` and one `model.safetensors` or several shards listed by
`model.safetensors.index.json`, and optionally the tokenizer files (`tokenizer.json`,
`tokenizer_config.json`, `generation_config.json`; `text.chat.ChatTokenizer` reads and writes them).
No torch or transformers import is needed here: safetensors files are read and written directly
(float32, float16 and bfloat16 tensors; bfloat16 through `ml_dtypes`), so that a damaged file is
one clear error naming it.

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
import ml_dtypes
import numpy as np
from flax import nnx

from empg_jax.models.config import ModelConfig
from empg_jax.models.transformer import Transformer
from empg_jax.text.chat import ChatTokenizer

ARCHITECTURES = {
    "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM",
    "glm4_moe": "Glm4MoeForCausalLM",
}


def _rope(hf: dict, source: str) -> tuple[float, float]:
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    if not isinstance(rope, dict):
        raise ValueError(f"{source}: field 'rope_parameters' must be an object, got {rope!r}")
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ValueError(f"unsupported config field rope_type={rope_type!r} (only 'default' RoPE)")
    get = _fields({**hf, **rope}, source)
    return get("rope_theta", float, 10_000.0), get("partial_rotary_factor", float, 1.0)


def float_dtype(dtype: Any) -> str:
    """The name of a floating-point dtype (`"bfloat16"`, `jnp.float32`, ...); ValueError else."""
    try:
        name = jnp.dtype(dtype).name
    except TypeError as err:
        raise ValueError(f"unknown dtype {dtype!r}") from err
    if not jnp.issubdtype(jnp.dtype(name), jnp.floating):
        raise ValueError(f"dtype {name!r} is not a floating-point type")
    return name


def _fields(hf: dict, source: str):
    """Accessor for required / optional config fields that names `source` and the field."""

    def get(key: str, kind: type = int, default: Any = ..., positive: bool = True) -> Any:
        if key not in hf or hf[key] is None:
            if default is ...:
                raise ValueError(f"{source}: missing required field {key!r}")
            return default
        value = hf[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (kind is float or isinstance(value, int))
        ok = ok and np.isfinite(value) and (not positive or value > 0)
        if not ok:
            what = "a positive " if positive else "a "
            what += "integer" if kind is int else "number"
            raise ValueError(f"{source}: field {key!r} must be {what}, got {value!r}")
        return kind(value)

    return get


def config_from_hf(hf: dict, dtype: Any = jnp.float32, source: str = "config.json") -> ModelConfig:
    """Builds a `ModelConfig` from a Hugging Face `config.json` dict; ValueError names `source`
    and any missing, mistyped or unsupported field."""
    if not isinstance(hf, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(hf).__name__}")
    dtype = float_dtype(dtype)
    get = _fields(hf, source)
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
    theta, rotary = _rope(hf, source)
    heads = get("num_attention_heads")
    common = dict(
        vocab_size=get("vocab_size"),
        hidden_size=get("hidden_size"),
        num_layers=get("num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=get("num_key_value_heads", default=heads),
        head_dim=get("head_dim", default=None),
        intermediate_size=get("intermediate_size"),
        rms_norm_eps=get("rms_norm_eps", float, 1e-6),
        rope_theta=theta,
        partial_rotary_factor=rotary,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        max_position_embeddings=get("max_position_embeddings", default=32_768),
        dtype=dtype,
        param_dtype=dtype,
    )
    if model_type == "qwen2":
        return ModelConfig(qkv_bias=True, qk_norm=False, **common)
    if model_type == "qwen3":
        return ModelConfig(qkv_bias=bool(hf.get("attention_bias", False)), qk_norm=True, **common)
    n_group, topk_group = get("n_group", default=1), get("topk_group", default=1)
    if topk_group < n_group:
        raise ValueError(
            f"unsupported config fields n_group={n_group}, topk_group={topk_group}: group-limited "
            "routing is not implemented (GLM-4.5 uses n_group=1)"
        )
    return ModelConfig(
        qkv_bias=bool(hf.get("attention_bias", False)),
        qk_norm=bool(hf.get("use_qk_norm", False)),
        num_experts=get("n_routed_experts"),
        num_experts_per_tok=get("num_experts_per_tok"),
        moe_intermediate_size=get("moe_intermediate_size"),
        num_shared_experts=get("n_shared_experts", default=1, positive=False),
        first_k_dense=get("first_k_dense_replace", default=0, positive=False),
        routed_scaling_factor=get("routed_scaling_factor", float, 1.0),
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


# -- safetensors I/O ----------------------------------------------------------------------------
_FLOAT_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
}
_DTYPE_NAMES = {v: k for k, v in _FLOAT_DTYPES.items()}


class SafetensorsFile:
    """One `.safetensors` file, memory-mapped; every defect is a ValueError naming the file.

    Layout: an 8-byte little-endian header size N, N bytes of JSON
    `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`, then the
    data, offsets relative to its start. A file cut short is reported when opened.
    """

    def __init__(self, file: str):
        self.file = file
        size = os.path.getsize(file)
        with open(file, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise ValueError(f"{file}: truncated ({size} bytes), not a safetensors file")
            n = int.from_bytes(head, "little")
            if 8 + n > size:
                raise ValueError(
                    f"{file}: truncated or not a safetensors file (its header claims {n} bytes, "
                    f"the file has {size})"
                )
            try:
                header = json.loads(f.read(n))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise ValueError(f"{file}: damaged safetensors header ({err})") from err
        if not isinstance(header, dict):
            raise ValueError(f"{file}: damaged safetensors header (not a JSON object)")
        header.pop("__metadata__", None)
        self._data_start, self._size = 8 + n, size
        self.entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
        for name, info in header.items():
            try:
                dtype, shape = str(info["dtype"]), tuple(int(d) for d in info["shape"])
                begin, end = (int(x) for x in info["data_offsets"])
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"{file}: damaged header entry for tensor {name!r}") from err
            if self._data_start + end > size:
                raise ValueError(
                    f"{file}: truncated: tensor {name!r} ends at byte {self._data_start + end}, "
                    f"the file has {size} bytes"
                )
            if dtype in _FLOAT_DTYPES:
                want = int(np.prod(shape, dtype=np.int64)) * _FLOAT_DTYPES[dtype].itemsize
                if end - begin != want or begin < 0:
                    raise ValueError(f"{file}: tensor {name!r} has {end - begin} bytes, not {want}")
            self.entries[name] = (dtype, shape, begin, end)

    def keys(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> np.ndarray:
        """The tensor as a read-only array; refuses non-float and non-finite tensors."""
        dtype, shape, begin, end = self.entries[name]
        if dtype not in _FLOAT_DTYPES:
            kind = "integer" if dtype[0] in "IU" or dtype == "BOOL" else "unsupported"
            raise ValueError(
                f"{self.file}: tensor {name!r} has {kind} dtype {dtype}; model weights must be "
                f"one of {sorted(_FLOAT_DTYPES)}"
            )
        data = (
            np.memmap(
                self.file, np.uint8, "r", offset=self._data_start + begin, shape=(end - begin,)
            )
            if end > begin
            else np.zeros((0,), np.uint8)
        )
        array = data.view(_FLOAT_DTYPES[dtype]).reshape(shape)
        if not np.isfinite(array).all():
            raise ValueError(f"{self.file}: tensor {name!r} has NaN or infinite values")
        return array


def save_safetensors(tensors: dict[str, np.ndarray], file: str, metadata: dict | None = None):
    """Writes float tensors (float64/32/16, bfloat16) as a `.safetensors` file, atomically."""
    header: dict[str, Any] = {"__metadata__": dict(metadata or {})}
    offset = 0
    arrays = []
    for name, value in tensors.items():
        array = np.ascontiguousarray(value)
        if array.dtype.newbyteorder("<") not in _DTYPE_NAMES:
            raise ValueError(f"tensor {name!r} has dtype {array.dtype}; expected a float type")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        header[name] = {
            "dtype": _DTYPE_NAMES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + array.nbytes],
        }
        offset += array.nbytes
        arrays.append(array)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = file + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for array in arrays:
            f.write(array.tobytes())
    os.replace(tmp, file)


def _checkpoint_files(path: str) -> dict[str, SafetensorsFile]:
    """HF tensor name -> its opened safetensors file."""
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        try:
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]
            names = {str(k): str(v) for k, v in weight_map.items()}
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{index}: damaged index ({err!r})") from err
        files = sorted(set(names.values()))
    else:
        files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
        if not files:
            raise ValueError(f"no *.safetensors files in checkpoint directory {path!r}")
        names = None
    opened = {}
    for file in files:
        full = os.path.join(path, file)
        if not os.path.isfile(full):
            raise ValueError(f"{index}: lists {file!r}, which is not in {path!r}")
        opened[file] = SafetensorsFile(full)
    out = {}
    for file, handle in opened.items():
        for name in handle.keys():
            if names is None or names.get(name) == file:
                out[name] = handle
    missing = sorted(set(names or ()) - set(out))
    if missing:
        raise ValueError(f"{index}: tensor {missing[0]!r} is not in its file {names[missing[0]]!r}")
    return out


_IGNORED = re.compile(r".*rotary_emb\.inv_freq$")


def from_hf(path: str, dtype: Any = jnp.float32) -> tuple[Transformer, ModelConfig]:
    """Loads a Hugging Face checkpoint directory into a `Transformer`; returns (model, config).

    Parameters are stored (and computed) in `dtype` (e.g. "bfloat16"; the checkpoint may hold
    float32, float16 or bfloat16). Errors are ValueErrors naming the file and the field or tensor:
    a missing or mistyped `config.json` field, a damaged or truncated safetensors file, an integer
    or non-finite tensor, a missing tensor, a shape mismatch, or an unexpected tensor (a feature
    this model does not have). Layers at index >= num_hidden_layers (GLM-4.5's
    multi-token-prediction layer) and, for tied embeddings, a saved `lm_head.weight` are skipped.
    The tokenizer files are read separately (`text.chat.ChatTokenizer.from_pretrained`).
    """
    if not os.path.isdir(path):
        raise ValueError(f"checkpoint directory {path!r} does not exist")
    config_path = os.path.join(path, "config.json")
    if not os.path.exists(config_path):
        raise ValueError(f"no config.json in checkpoint directory {path!r}")
    try:
        with open(config_path) as f:
            hf_cfg = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{config_path}: not valid JSON ({err})") from err
    cfg = config_from_hf(hf_cfg, dtype, source=config_path)
    files = _checkpoint_files(path)
    model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(0)))
    used = set()
    for get, names, to_ours, _ in _entries(cfg):
        arrays = []
        for name in names:
            if name not in files:
                raise ValueError(f"checkpoint {path!r} is missing tensor {name!r}")
            arrays.append(files[name].get(name))
            used.add(name)
        var = get(model)
        value = np.asarray(to_ours(arrays))
        want = tuple(var.get_value().shape)
        if value.shape != want:
            raise ValueError(
                f"tensor {names[0]!r} has shape {arrays[0].shape}, which converts to "
                f"{value.shape}; the config implies {want}"
            )
        var.set_value(jnp.asarray(value, var.get_value().dtype))
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


def to_hf(model: Transformer, config: ModelConfig, path: str, tokenizer: Any = None) -> None:
    """Writes `config.json` and `model.safetensors` that `transformers` loads with
    `AutoModelForCausalLM.from_pretrained(path)`, plus the tokenizer files when a tokenizer is
    given.

    Args:
      tokenizer: a `text.chat.ChatTokenizer` (written with its chat template and stop ids), or an
        `HFTokenizer` / `tokenizers.Tokenizer` (written with the built-in ChatML template and
        ChatML stop ids). Its vocabulary must fit the model's `vocab_size` embedding rows.
    """
    chat = None
    if tokenizer is not None:
        chat = tokenizer
        if not isinstance(chat, ChatTokenizer):
            chat = ChatTokenizer.from_tokenizer(tokenizer)
        if chat.tokenizer.vocab_size > config.vocab_size:
            raise ValueError(
                f"the tokenizer has {chat.tokenizer.vocab_size} ids but the model only "
                f"{config.vocab_size} embedding rows"
            )
    hf_cfg = config_to_hf(config)
    if chat is not None:
        hf_cfg["eos_token_id"] = chat.stop_ids[0]
        hf_cfg["pad_token_id"] = chat.pad_id
    os.makedirs(path, exist_ok=True)
    tensors = {}
    for get, names, _, to_hf_fn in _entries(config):
        value = np.asarray(get(model).get_value())
        for name, array in zip(names, to_hf_fn(value), strict=True):
            tensors[name] = array
    save_safetensors(tensors, os.path.join(path, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(hf_cfg, f, indent=2)
    if chat is not None:
        chat.save_pretrained(path, model_max_length=config.max_position_embeddings)
