"""Typed options of the train steps, built once from the run config.

They are frozen (hashable) dataclasses, so a jitted step takes them as static arguments; option
names are the `empg_jax.losses` names (`ESTIMATORS`, `SCOPES`, `AGGREGATIONS`, `KL_KINDS`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections


@dataclasses.dataclass(frozen=True)
class EMPGOptions:
    """Keyword arguments of `losses.empg_advantages` (k = k' = 1 and zeta = 0.1 in the paper)."""

    k: float = 1.0
    k_future: float = 1.0
    zeta: float = 0.1
    use_scaling: bool = True
    use_bonus: bool = True

    def kwargs(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RLOptions:
    """What one RL update does with a rollout batch (`training.rl.rl_update`).

    Attributes:
      estimator, scope, invalid_penalty: the outcome advantage (`losses.step_outcome_advantages`).
      dynamic_sampling: drop groups whose returns are all equal (DAPO,
        `losses.dynamic_sampling_mask`).
      pass_rate_range: keep groups whose success rate lies in `[lo, hi]` (`losses.pass_rate_mask`);
        None: off.
      empg: EMPG on top of the outcome advantage; None: off.
      clip_low, clip_high, dual_clip, aggregation: the PPO-clip surrogate
        (`losses.ppo_policy_loss`); `aggregation` also reduces the KL and entropy terms.
      kl_coef, kl_kind: KL penalty to the frozen reference (`losses.kl_penalty`); 0 disables it.
      entropy_coef: weight of the entropy bonus (`losses.entropy_bonus`).
      epochs, minibatch_rows: passes over the batch, rows per optimiser step.
      moe_bias_rate: the loss-free balance step of MoE router biases after each optimiser step.
      skip_nonfinite: discard an optimiser step whose loss or gradient norm is not finite.
      pack, pack_len, pack_chunk, share_prefixes: pack each mini-batch's rows into streams of
        `pack_len` tokens (0: `training.packing.auto_pack_len`), attention in chunks of
        `pack_chunk` tokens, shared prompt prefixes computed once (`training.packing`); dense
        models only (MoE models run the padded rows).
      telemetry_rows: rows of the logit-dynamics probe (`training.telemetry`); 0 disables it.
    """

    estimator: str = "grpo"
    scope: str = "episode"
    invalid_penalty: float = 0.1
    dynamic_sampling: bool = False
    pass_rate_range: tuple[float, float] | None = None
    empg: EMPGOptions | None = None
    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: float | None = 3.0
    aggregation: str = "token-mean"
    kl_coef: float = 0.0
    kl_kind: str = "k3"
    entropy_coef: float = 0.0
    epochs: int = 1
    minibatch_rows: int = 128
    moe_bias_rate: float = 0.0
    skip_nonfinite: bool = False
    pack: bool = False
    pack_len: int = 0
    pack_chunk: int = 32
    share_prefixes: bool = False
    telemetry_rows: int = 0

    @classmethod
    def from_config(cls, c: ml_collections.ConfigDict) -> RLOptions:
        r = c.rl
        empg = None
        if r.empg.enabled:
            empg = EMPGOptions(
                k=float(r.empg.k),
                k_future=float(r.empg.k_future),
                zeta=float(r.empg.zeta),
                use_scaling=bool(r.empg.use_scaling),
                use_bonus=bool(r.empg.use_bonus),
            )
        return cls(
            estimator=r.estimator,
            scope=r.scope,
            invalid_penalty=float(r.invalid_penalty),
            dynamic_sampling=bool(r.dynamic_sampling),
            pass_rate_range=(
                (float(r.pass_rate_lo), float(r.pass_rate_hi)) if r.pass_rate_filter else None
            ),
            empg=empg,
            clip_low=float(r.clip_low),
            clip_high=float(r.clip_high),
            dual_clip=float(r.dual_clip) if r.dual_clip else None,
            aggregation=r.aggregation,
            kl_coef=float(r.kl_coef),
            kl_kind=r.kl_kind,
            entropy_coef=float(r.entropy_coef),
            epochs=int(r.epochs),
            minibatch_rows=int(r.minibatch_rows),
            moe_bias_rate=float(c.model.moe_bias_rate),
            skip_nonfinite=c.nonfinite == "skip",
            pack=bool(r.pack),
            pack_len=int(r.pack_len),
            share_prefixes=bool(r.share_prefixes),
            telemetry_rows=int(r.telemetry_rows),
        )


@dataclasses.dataclass(frozen=True)
class DPOOptions:
    """What one DPO update does (`training.dpo.dpo_update`, `rl.algorithm="dpo"`).

    Attributes:
      beta, label_smoothing, smoothing: `losses.dpo_loss`'s arguments.
      epochs: optimiser steps per rollout batch (each on the whole batch of pairs).
      minibatch_rows: step rows per forward / backward pass.
      skip_nonfinite: discard an optimiser step whose loss or gradient norm is not finite.
    """

    beta: float = 0.1
    label_smoothing: float = 0.0
    smoothing: str = "conservative"
    epochs: int = 1
    minibatch_rows: int = 128
    skip_nonfinite: bool = False

    @classmethod
    def from_config(cls, c: ml_collections.ConfigDict) -> DPOOptions:
        r = c.rl
        return cls(
            beta=float(r.dpo_beta),
            label_smoothing=float(r.dpo_label_smoothing),
            smoothing=r.dpo_smoothing,
            epochs=int(r.epochs),
            minibatch_rows=int(r.minibatch_rows),
            skip_nonfinite=c.nonfinite == "skip",
        )


@dataclasses.dataclass(frozen=True)
class SFTOptions:
    """What one SFT step does (`training.sft.sft_step`).

    Attributes:
      prompt_weight: weight of the prompt tokens' next-token NLL added to the answer NLL
        ("train on inputs"); 0 is standard answer-only SFT.
      moe_bias_rate: the loss-free balance step of MoE router biases after each step.
      skip_nonfinite: discard a step whose loss or gradient norm is not finite.
    """

    prompt_weight: float = 0.0
    moe_bias_rate: float = 0.0
    skip_nonfinite: bool = False

    @classmethod
    def from_config(cls, c: ml_collections.ConfigDict) -> SFTOptions:
        return cls(float(c.sft.prompt_weight), float(c.model.moe_bias_rate), c.nonfinite == "skip")
