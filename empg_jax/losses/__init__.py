"""Advantage estimators and policy losses as pure array functions (jax, chex and `empg_jax.ops`).

Copy this package (with `empg_jax/ops`) into another JAX project: arrays in, arrays out, no model,
no config objects. Typical flow for one RL iteration (`architecture.md`, "The data that flows"):

    adv_NxG = group_advantages(rewards_NxG)                       # GRPO outcome advantage
    adv_S = adv_NxG.reshape(-1)[episode_of_step_S]                # broadcast to step rows
    adv_S, aux = empg_advantages(step_entropy_S, adv_S, next_step_S, valid_S)   # EMPG
    loss, aux = ppo_policy_loss(logp_SxL, old_logp_SxL, adv_S, answer_mask_SxL)
"""

from empg_jax.losses._masked import AGGREGATIONS, aggregate_loss
from empg_jax.losses.advantages import (
    dynamic_sampling_mask,
    group_advantages,
    overlong_penalty,
    rloo_advantages,
)
from empg_jax.losses.divergence import (
    divergence_augmented_advantages,
    divergence_returns,
    pgis_loss,
)
from empg_jax.losses.empg import empg_advantages, empg_token_advantages, step_entropy_from_tokens
from empg_jax.losses.policy import KL_KINDS, entropy_bonus, kl_penalty, ppo_policy_loss

__all__ = [
    "AGGREGATIONS",
    "KL_KINDS",
    "aggregate_loss",
    "divergence_augmented_advantages",
    "divergence_returns",
    "dynamic_sampling_mask",
    "empg_advantages",
    "empg_token_advantages",
    "entropy_bonus",
    "group_advantages",
    "kl_penalty",
    "overlong_penalty",
    "pgis_loss",
    "ppo_policy_loss",
    "rloo_advantages",
    "step_entropy_from_tokens",
]
