"""Pure-functional core of empg_jax: entropies, collision probability and logit dynamics.

Depends only on jax, jax.numpy and chex, so any function here can be copied into another project.
Every function computes in float32, accepts bf16/f16/f32 logits, is `-inf`-safe, and works under
`jax.jit` and `jax.vmap`.
"""

from empg_jax.ops.distributions import (
    collision_probability,
    entropy_from_logits,
    log_softmax,
    renyi2_entropy,
    temperature_scaled_logits,
    token_log_probs,
)
from empg_jax.ops.logit_dynamics import logit_update, logit_update_norm
from empg_jax.ops.reductions import masked_mean, segment_mean

__all__ = [
    "collision_probability",
    "entropy_from_logits",
    "log_softmax",
    "logit_update",
    "logit_update_norm",
    "masked_mean",
    "renyi2_entropy",
    "segment_mean",
    "temperature_scaled_logits",
    "token_log_probs",
]
