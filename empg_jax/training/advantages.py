"""Step advantages of one RL batch: GRPO / Dr.GRPO / RLOO outcome advantages (episode-level or
verl-agent's cross-step statistics), DAPO's dynamic-sampling mask, a pass-rate difficulty filter
and optional EMPG modulation, all over the flat step rows of `agents.rows`.

EMPG: Wang et al., "Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM
Agents", https://arxiv.org/abs/2509.09265 (`empg.md` §1, §3). Invalid-format penalty 0.1 per step
(`empg.md` §3 table, verl-agent).

Two scopes of the group statistics (`empg.md` §3, "GRPO normalisation across steps"):

* `episode`: one score per episode, R_e - penalty * (#invalid-format steps of e); z-scores over the
  G episodes of the group; each step row inherits its episode's advantage.
* `cross_step` (verl-agent's `compute_mean_std_cross_steps`): one score per valid step row,
  R_e - penalty * [row invalid]; mean and std over all valid step rows of the group.
"""

from __future__ import annotations

from typing import Any

import chex
import jax
import jax.numpy as jnp

from empg_jax.losses import empg_advantages
from empg_jax.ops import masked_mean

ESTIMATORS = ("grpo", "drgrpo", "rloo")
SCOPES = ("episode", "cross_step")


def _segment_stats(x_S, mask_S, seg_S, num_segments):
    """Per-segment count, sum and unbiased variance of `x` over masked rows, gathered back."""
    w = mask_S.astype(jnp.float32)
    x = jnp.where(mask_S, x_S, 0.0)
    count = jax.ops.segment_sum(w, seg_S, num_segments)
    total = jax.ops.segment_sum(x, seg_S, num_segments)
    mean = total / jnp.maximum(count, 1.0)
    sq = jax.ops.segment_sum(
        jnp.where(mask_S, jnp.square(x - mean[seg_S]), 0.0), seg_S, num_segments
    )
    var = jnp.where(count > 1.0, sq / jnp.maximum(count - 1.0, 1.0), 0.0)
    return count[seg_S], total[seg_S], mean[seg_S], jnp.sqrt(var)[seg_S]


def outcome_advantages(
    score_S: jax.Array,
    stat_mask_S: jax.Array,
    group_S: jax.Array,
    estimator: str,
    eps: float = 1e-6,
) -> jax.Array:
    """Group-relative advantages of row scores; statistics over `stat_mask_S` rows per group.

        grpo:   (x - mean_g) / (std_g + eps)       (DeepSeekMath, arXiv 2402.03300)
        drgrpo: x - mean_g                          (Dr. GRPO, arXiv 2503.20783)
        rloo:   x - (sum_g - x) / (count_g - 1)     (Ahmadian et al., arXiv 2402.14740)

    std is the unbiased (ddof = 1) std, as `losses.group_advantages` and verl's `torch.std`.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown advantage estimator {estimator!r}; expected one of {ESTIMATORS}")
    s = score_S.shape[0]
    count, total, mean, std = _segment_stats(score_S, stat_mask_S, group_S, s)
    if estimator == "grpo":
        adv = (score_S - mean) / (std + eps)
    elif estimator == "drgrpo":
        adv = score_S - mean
    else:
        adv = jnp.where(
            count > 1.0, score_S - (total - score_S) / jnp.maximum(count - 1.0, 1.0), 0.0
        )
    return adv


def step_advantages(
    batch: dict[str, jax.Array],
    *,
    estimator: str = "grpo",
    scope: str = "episode",
    invalid_penalty: float = 0.1,
    dynamic_sampling: bool = False,
    pass_rate_range: tuple[float, float] | None = None,
    empg: dict[str, Any] | None = None,
) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """Advantages `[S]` and the training mask `[S]` of a batch of step rows.

    Args:
      batch: rows of `agents.rows` (`valid`, `reward`, `won`, `invalid_format`, `episode_id`,
        `group_id`, `step_index`, `next_step`, `token_entropy`, `answer_mask`).
      estimator: `grpo`, `drgrpo` or `rloo`.
      scope: `episode` or `cross_step` (module docstring).
      invalid_penalty: subtracted per invalid-format step (0.1 in the paper).
      dynamic_sampling: DAPO (arXiv 2503.14476 §3.2): drop groups whose episode returns are all
        equal (no learning signal).
      pass_rate_range: GLM-4.5's difficulty filter: keep groups whose success rate lies in
        `[lo, hi]` (None: off).
      empg: keyword arguments of `losses.empg_advantages` (k, k_future, zeta, ...) to apply
        EMPG on top of the outcome advantage; None: plain outcome advantages.

    Returns:
      `(advantages_S, train_mask_S, aux)`; aux holds scalars (kept group fraction) and, with
      EMPG, the `[S]` arrays `g`, `f`, `step_entropy`.
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown advantage scope {scope!r}; expected one of {SCOPES}")
    valid = batch["valid"].astype(bool)
    s = valid.shape[0]
    chex.assert_shape([batch["episode_id"], batch["group_id"]], [(s,), (s,)])
    ep, grp = batch["episode_id"], batch["group_id"]
    ret = batch["reward"].astype(jnp.float32)
    bad = (batch["invalid_format"] & valid).astype(jnp.float32)
    first = valid & (batch["step_index"] == 0)  # one representative row per episode

    if scope == "episode":
        n_bad = jax.ops.segment_sum(bad, ep, s)[ep]
        score = ret - invalid_penalty * n_bad
        adv_ep = outcome_advantages(score, first, grp, estimator)
        adv = jax.ops.segment_sum(jnp.where(first, adv_ep, 0.0), ep, s)[ep]
    else:
        score = ret - invalid_penalty * bad
        adv = outcome_advantages(score, valid, grp, estimator)

    keep = jnp.ones((s,), bool)
    if dynamic_sampling:
        hi = jax.ops.segment_max(jnp.where(first, ret, -jnp.inf), grp, s)[grp]
        lo = jax.ops.segment_min(jnp.where(first, ret, jnp.inf), grp, s)[grp]
        keep = keep & (hi > lo)
    if pass_rate_range is not None:
        won = jnp.where(first, batch["won"].astype(jnp.float32), 0.0)
        n_ep = jax.ops.segment_sum(first.astype(jnp.float32), grp, s)[grp]
        rate = jax.ops.segment_sum(won, grp, s)[grp] / jnp.maximum(n_ep, 1.0)
        keep = keep & (rate >= pass_rate_range[0]) & (rate <= pass_rate_range[1])
    train = valid & keep
    adv = jnp.where(train, adv, 0.0)
    aux: dict[str, jax.Array] = {
        "kept_row_fraction": masked_mean(train, valid),
        "outcome_adv_abs_mean": masked_mean(jnp.abs(adv), train),
    }
    step_entropy = masked_mean(batch["token_entropy"], batch["answer_mask"].astype(bool), axis=-1)
    aux["step_entropy"] = step_entropy
    if empg is not None:
        adv, e_aux = empg_advantages(step_entropy, adv, batch["next_step"], train, **empg)
        aux["g"], aux["f"] = e_aux["g"], e_aux["f"]
    return adv, train, aux
