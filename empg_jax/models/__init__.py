"""Qwen2-style decoder (dense and GLM-4.5-style MoE) in Flax NNX, KV-cache sampler, logical-axis
sharding and Hugging Face checkpoint import/export."""

from empg_jax.models.config import (
    ModelConfig,
    small_config,
    small_moe_config,
    tiny_config,
)
from empg_jax.models.hf import config_from_hf, config_to_hf, from_hf, to_hf
from empg_jax.models.moe import (
    RouterBias,
    Routing,
    balance_router_biases,
    expert_load,
    load_balance_metrics,
    num_router_biases,
    route,
    sequence_balance_loss,
    update_router_bias,
)
from empg_jax.models.sampler import SampleOutput, filter_logits, make_sampler, sample
from empg_jax.models.sharding import (
    AXIS_RULES,
    MESH_AXES,
    constrain,
    logical_to_spec,
    make_mesh,
    shard_module,
    shard_state,
    state_shardings,
    to_host,
)
from empg_jax.models.transformer import (
    KVCache,
    Transformer,
    attention_mask,
    default_positions,
)

__all__ = [
    "AXIS_RULES",
    "KVCache",
    "MESH_AXES",
    "ModelConfig",
    "RouterBias",
    "Routing",
    "SampleOutput",
    "Transformer",
    "attention_mask",
    "balance_router_biases",
    "config_from_hf",
    "config_to_hf",
    "constrain",
    "default_positions",
    "expert_load",
    "filter_logits",
    "from_hf",
    "load_balance_metrics",
    "logical_to_spec",
    "make_mesh",
    "make_sampler",
    "num_router_biases",
    "route",
    "sample",
    "sequence_balance_loss",
    "shard_module",
    "shard_state",
    "small_config",
    "small_moe_config",
    "state_shardings",
    "tiny_config",
    "to_hf",
    "to_host",
    "update_router_bias",
]
