"""One frozen dataclass describing every decoder this package builds (Qwen2/Qwen2.5/Qwen3 dense and
GLM-4.5-style MoE), plus the named benchmark shapes."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

MOE_IMPLS = ("dense", "ragged")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Shape and options of a Qwen2-style decoder, optionally with GLM-4.5-style MoE blocks.

    Dense fields follow Hugging Face's Qwen2 naming where one exists (`hidden_size`,
    `intermediate_size`, `rms_norm_eps`, `rope_theta`). MoE fields follow GLM-4.5
    (arXiv:2508.06471): `num_experts` routed experts with sigmoid
    scores, top-`num_experts_per_tok` selection, `num_shared_experts` always-on experts and the
    first `first_k_dense` layers dense. `num_experts = 0` means every layer is dense.

    `moe_impl` picks how routed experts run: "dense" evaluates every expert on every token and
    zero-weights the unselected ones (exact, simple to shard on the `expert` axis, E/k times the
    routed FLOPs); "ragged" sorts token-slots by expert and uses `jax.lax.ragged_dot` (only the
    selected experts' FLOPs). `moe_aux_loss_coef` scales the sequence-level balance loss that
    the model reports as `aux["moe_aux_loss"]` (GLM-4.5: 1e-4; 0 disables it).
    """

    vocab_size: int = 512
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int | None = None
    intermediate_size: int = 256
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10_000.0
    partial_rotary_factor: float = 1.0
    tie_embeddings: bool = False
    qkv_bias: bool = True
    qk_norm: bool = False
    max_position_embeddings: int = 32_768
    # MoE (GLM-4.5 style); num_experts == 0 disables it.
    num_experts: int = 0
    num_experts_per_tok: int = 2
    moe_intermediate_size: int = 64
    num_shared_experts: int = 1
    first_k_dense: int = 0
    routed_scaling_factor: float = 1.0
    norm_topk_prob: bool = True
    moe_impl: str = "dense"
    moe_aux_loss_coef: float = 0.0
    # numerics
    dtype: str = "float32"
    param_dtype: str = "float32"
    init_std: float = 0.02

    def __post_init__(self) -> None:
        positive = ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads")
        for name in positive + ("intermediate_size",):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_heads={self.num_heads} must be a multiple of num_kv_heads={self.num_kv_heads}"
            )
        if self.head_dim is None and self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}; "
                "set head_dim explicitly"
            )
        if not 0.0 < self.partial_rotary_factor <= 1.0:
            raise ValueError(
                f"partial_rotary_factor must be in (0, 1]; got {self.partial_rotary_factor}"
            )
        if self.rotary_dim % 2:
            raise ValueError(
                f"rotary dimension head_dim*partial_rotary_factor={self.rotary_dim} must be even"
            )
        if self.num_experts < 0:
            raise ValueError(f"num_experts must be >= 0; got {self.num_experts}")
        if self.num_experts and not 0 < self.num_experts_per_tok <= self.num_experts:
            raise ValueError(
                f"num_experts_per_tok={self.num_experts_per_tok} must be in "
                f"[1, num_experts={self.num_experts}]"
            )
        if self.moe_impl not in MOE_IMPLS:
            raise ValueError(f"moe_impl must be one of {MOE_IMPLS}; got {self.moe_impl!r}")
        for name in ("dtype", "param_dtype"):
            jnp.dtype(getattr(self, name))  # raises TypeError on a bad name

    @property
    def resolved_head_dim(self) -> int:
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_heads

    @property
    def rotary_dim(self) -> int:
        return int(self.resolved_head_dim * self.partial_rotary_factor)

    @property
    def compute_dtype(self) -> Any:
        return jnp.dtype(self.dtype)

    @property
    def weight_dtype(self) -> Any:
        return jnp.dtype(self.param_dtype)

    def is_moe_layer(self, layer: int) -> bool:
        return self.num_experts > 0 and layer >= self.first_k_dense

    @property
    def num_moe_layers(self) -> int:
        return sum(self.is_moe_layer(i) for i in range(self.num_layers))

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def tiny_config(**changes: Any) -> ModelConfig:
    """The tiny test shape: 2 layers, d=64, 4 heads, 2 KV heads, V=512 (188,992 parameters)."""
    return ModelConfig(
        vocab_size=512,
        hidden_size=64,
        num_layers=2,
        num_heads=4,
        num_kv_heads=2,
        intermediate_size=256,
    ).replace(**changes)


def small_config(**changes: Any) -> ModelConfig:
    """The small CPU shape: 4 layers, d=256, 8 heads, 4 KV heads, V=4096 (about 6.0M)."""
    return ModelConfig(
        vocab_size=4096,
        hidden_size=256,
        num_layers=4,
        num_heads=8,
        num_kv_heads=4,
        intermediate_size=1024,
    ).replace(**changes)


def small_moe_config(**changes: Any) -> ModelConfig:
    """MoE variant of the small shape: first layer dense, then 8 routed experts (top-2) of width
    256 plus one shared expert, so active MLP FLOPs per token equal 3/4 of the dense small shape."""
    return small_config(
        num_experts=8,
        num_experts_per_tok=2,
        moe_intermediate_size=256,
        num_shared_experts=1,
        first_k_dense=1,
    ).replace(**changes)
