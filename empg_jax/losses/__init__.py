"""Advantage estimators and policy losses as pure array functions (jax, chex and `empg_jax.ops`).

Copy this package (with `empg_jax/ops`) into another JAX project: arrays in, arrays out, no model,
no config objects. This is the code the trainer (`empg_jax.training.rl`) runs; one RL iteration
over B groups of G episodes of up to T steps (S = B*G*T step rows):

    adv_BxGxT = step_outcome_advantages(return_BxG, invalid_BxGxT, valid_BxGxT)  # GRPO
    keep_B = dynamic_sampling_mask(return_BxG)                    # DAPO (optional)
    step_entropy_S = step_entropy_from_tokens(token_entropy_SxL, answer_mask_SxL)
    adv_S, aux = empg_advantages(step_entropy_S, adv_S, next_step_S, train_S)   # EMPG
    loss, aux = ppo_policy_loss(logp_SxL, old_logp_SxL, adv_S, answer_mask_SxL)

Preference optimisation from the same groups (OWL's DPO phase, `training.dpo`):

    pairs_BxGxG = success_failure_pairs(won_BxG)                   # (success, failure) pairs
    loss_BxGxG, aux = dpo_loss(logp_w, logp_l, ref_logp_w, ref_logp_l, pairs_BxGxG, beta=0.1)
"""

from empg_jax.losses._masked import AGGREGATIONS, aggregate_loss
from empg_jax.losses.advantages import (
    ESTIMATORS,
    SCOPES,
    dynamic_sampling_mask,
    group_advantages,
    outcome_advantages,
    overlong_penalty,
    pass_rate_mask,
    rloo_advantages,
    step_outcome_advantages,
)
from empg_jax.losses.divergence import (
    divergence_augmented_advantages,
    divergence_returns,
    pgis_loss,
)
from empg_jax.losses.dpo import DPO_SMOOTHING, dpo_loss, success_failure_pairs
from empg_jax.losses.empg import empg_advantages, empg_token_advantages, step_entropy_from_tokens
from empg_jax.losses.policy import KL_KINDS, entropy_bonus, kl_penalty, ppo_policy_loss

__all__ = [
    "AGGREGATIONS",
    "DPO_SMOOTHING",
    "ESTIMATORS",
    "KL_KINDS",
    "SCOPES",
    "aggregate_loss",
    "divergence_augmented_advantages",
    "divergence_returns",
    "dpo_loss",
    "dynamic_sampling_mask",
    "empg_advantages",
    "empg_token_advantages",
    "entropy_bonus",
    "group_advantages",
    "kl_penalty",
    "outcome_advantages",
    "overlong_penalty",
    "pass_rate_mask",
    "pgis_loss",
    "ppo_policy_loss",
    "rloo_advantages",
    "step_entropy_from_tokens",
    "step_outcome_advantages",
    "success_failure_pairs",
]
