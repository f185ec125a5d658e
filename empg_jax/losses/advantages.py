"""Outcome advantages of group-based LLM RL: GRPO, Dr. GRPO, RLOO and DAPO's filters.

Rewards come as `[groups, G]`: G rollouts of the same task per group. Advantages are per rollout
(broadcast them to the rollout's steps and tokens at the call site), except for
`step_outcome_advantages`, which forms them for the steps of multi-turn episodes directly, with
the group statistics over episodes or over all step rows of the group (verl-agent's two scopes).
"""

from __future__ import annotations

import chex
import jax.numpy as jnp

from empg_jax.losses._masked import as_mask

#: Outcome advantage estimators by name (`outcome_advantages`, `step_outcome_advantages`).
ESTIMATORS = ("grpo", "drgrpo", "rloo")
#: Where the group statistics of `step_outcome_advantages` run: one score per episode, or one per
#: step row (verl-agent's `compute_mean_std_cross_steps`).
SCOPES = ("episode", "cross_step")


def _group_stats(
    rewards: chex.Array, mask: chex.Array, ddof: int
) -> tuple[chex.Array, chex.Array, chex.Array]:
    """Per-group count, mean and std (with `ddof`) over valid members; std 0 if count <= ddof."""
    # where() rather than multiplying by the mask: padded members may hold NaN.
    rewards = jnp.where(mask, rewards, 0.0)
    count = jnp.sum(mask, axis=-1, keepdims=True, dtype=rewards.dtype)
    mean = jnp.sum(rewards, axis=-1, keepdims=True) / jnp.maximum(count, 1.0)
    sq_dev = jnp.sum(jnp.where(mask, jnp.square(rewards - mean), 0.0), axis=-1, keepdims=True)
    var = jnp.where(count > ddof, sq_dev / jnp.maximum(count - ddof, 1.0), 0.0)
    return count, mean, jnp.sqrt(var)


def group_advantages(
    rewards: chex.Array,
    where: chex.Array | None = None,
    *,
    normalize_std: bool = True,
    eps: float = 1e-6,
    ddof: int = 1,
) -> chex.Array:
    """GRPO group-relative advantages: (R_i - mean_G R) / (std_G R + eps).

    DeepSeekMath, "Pushing the Limits of Mathematical Reasoning", https://arxiv.org/abs/2402.03300
    (EMPG's trajectory-level outcome advantage A^(i)). With `normalize_std=False` it is Dr. GRPO's
    R_i - mean_G R ("Understanding R1-Zero-Like Training", https://arxiv.org/abs/2503.20783).
    The default `ddof=1` is the unbiased std (verl uses `torch.std`).

    Mean and std run over the valid members of each group only. Degenerate groups stay finite:
    equal rewards give 0; a group with at most `ddof` valid members has std 0 (so its single
    member gets R - R = 0); invalid members get 0.

    Args:
      rewards: episode rewards, `[groups, G]` (any leading group axes: the last axis is G).
      where: validity mask of the same shape (None: all valid).
      normalize_std: divide by the group std (GRPO) or not (Dr. GRPO).
      eps: added to the std.
      ddof: delta degrees of freedom of the std.

    Returns:
      Advantages of the same shape as `rewards`.
    """
    chex.assert_rank(rewards, {1, 2, 3})
    chex.assert_type(rewards, float)
    mask = as_mask(where, rewards.shape)
    _, mean, std = _group_stats(rewards, mask, ddof)
    centred = rewards - mean
    if normalize_std:
        centred = centred / (std + eps)
    return jnp.where(mask, centred, 0.0)


def rloo_advantages(rewards: chex.Array, where: chex.Array | None = None) -> chex.Array:
    """REINFORCE leave-one-out advantages: R_i - mean_{j != i} R_j within each group.

    Kool et al., "Buy 4 REINFORCE Samples, Get a Baseline for Free!" (ICLR 2019 workshop);
    Ahmadian et al., https://arxiv.org/abs/2402.14740. Equals G/(G-1) * (R_i - mean_G R) with G
    the number of valid members. Groups with fewer than two valid members, and invalid members,
    get 0.

    Args:
      rewards: `[groups, G]` (the last axis is G).
      where: validity mask of the same shape (None: all valid).

    Returns:
      Advantages of the same shape as `rewards`.
    """
    chex.assert_rank(rewards, {1, 2, 3})
    chex.assert_type(rewards, float)
    mask = as_mask(where, rewards.shape)
    rewards = jnp.where(mask, rewards, 0.0)
    count = jnp.sum(mask, axis=-1, keepdims=True, dtype=rewards.dtype)
    total = jnp.sum(rewards, axis=-1, keepdims=True)
    baseline = (total - rewards) / jnp.maximum(count - 1.0, 1.0)
    return jnp.where(mask & (count > 1.0), rewards - baseline, 0.0)


def dynamic_sampling_mask(rewards: chex.Array, where: chex.Array | None = None) -> chex.Array:
    """DAPO's dynamic-sampling filter: True for groups whose valid rewards are not all equal.

    Yu et al., "DAPO: An Open-Source LLM Reinforcement Learning System at Scale",
    https://arxiv.org/abs/2503.14476, §3.2. A group whose rollouts all succeed or all fail has
    zero GRPO advantage and hence no gradient; the caller drops (masks) such groups. A group with
    fewer than two valid members is also False.

    Args:
      rewards: `[groups, G]` (the last axis is G).
      where: validity mask of the same shape (None: all valid).

    Returns:
      Boolean `[groups]` (the group axes of `rewards`).
    """
    chex.assert_rank(rewards, {1, 2, 3})
    mask = as_mask(where, rewards.shape)
    high = jnp.max(jnp.where(mask, rewards, -jnp.inf), axis=-1)
    low = jnp.min(jnp.where(mask, rewards, jnp.inf), axis=-1)
    return (jnp.sum(mask, axis=-1) > 1) & (high > low)


def overlong_penalty(
    lengths: chex.Array,
    max_length: int,
    cache_length: int,
    *,
    penalty_factor: float = 1.0,
) -> chex.Array:
    """DAPO's soft overlong punishment, a reward term that is <= 0.

        R(y) = 0                                  if |y| <= L_max - L_cache
             = ((L_max - L_cache) - |y|) / L_cache   if L_max - L_cache < |y| <= L_max
             = -1                                 if |y| > L_max

    times `penalty_factor` (verl's `overlong_buffer.penalty_factor`). Yu et al., "DAPO",
    https://arxiv.org/abs/2503.14476, Eq. 13. Add it to the reward of each response.

    Args:
      lengths: response lengths |y| (any shape, int or float).
      max_length: L_max, the maximum response length.
      cache_length: L_cache, the soft punishment interval, 0 < L_cache <= L_max.
      penalty_factor: scale of the penalty.

    Returns:
      Float32 penalties of the same shape as `lengths`.
    """
    if not 0 < cache_length <= max_length:
        raise ValueError(
            f"need 0 < cache_length <= max_length; got cache_length={cache_length}, "
            f"max_length={max_length}"
        )
    lengths = jnp.asarray(lengths, dtype=jnp.float32)
    expected = max_length - cache_length
    ramp = (expected - lengths) / cache_length
    penalty = jnp.where(lengths <= expected, 0.0, jnp.where(lengths <= max_length, ramp, -1.0))
    return penalty_factor * penalty


def outcome_advantages(
    rewards: chex.Array,
    where: chex.Array | None = None,
    *,
    estimator: str = "grpo",
    eps: float = 1e-6,
) -> chex.Array:
    """Group-relative outcome advantages of `[groups, G]` rewards by estimator name.

        grpo:   (R_i - mean_G R) / (std_G R + eps)     (`group_advantages`, DeepSeekMath)
        drgrpo: R_i - mean_G R                         (`group_advantages`, Dr. GRPO)
        rloo:   R_i - mean_{j != i} R_j                (`rloo_advantages`)

    Args:
      rewards: `[groups, G]` (the last axis is G; any leading group axes).
      where: validity mask of the same shape (None: all valid).
      estimator: one of `ESTIMATORS`.
      eps: added to the std (grpo only).

    Returns:
      Advantages of the same shape as `rewards` (0 on invalid members).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown advantage estimator {estimator!r}; expected one of {ESTIMATORS}")
    if estimator == "rloo":
        return rloo_advantages(rewards, where)
    return group_advantages(rewards, where, normalize_std=estimator == "grpo", eps=eps)


def pass_rate_mask(
    successes: chex.Array,
    where: chex.Array | None = None,
    *,
    low: float = 0.0,
    high: float = 1.0,
) -> chex.Array:
    """Difficulty filter: True for groups whose success rate lies in `[low, high]`.

    GLM-4.5 (Zeng et al., arXiv 2508.06471) trains on prompts of intermediate difficulty; with
    `low > 0` and `high < 1` it drops groups that are always or never solved. A group without
    valid members has rate 0.

    Args:
      successes: `[groups, G]` booleans (or 0/1 floats), the last axis is G.
      where: validity mask of the same shape (None: all valid).
      low, high: the kept range of the rate, 0 <= low <= high <= 1.

    Returns:
      Boolean `[groups]` (the group axes of `successes`).
    """
    chex.assert_rank(successes, {1, 2, 3})
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1; got low={low}, high={high}")
    mask = as_mask(where, successes.shape)
    won = jnp.where(mask, jnp.asarray(successes, jnp.float32), 0.0)
    count = jnp.sum(mask, axis=-1, dtype=jnp.float32)
    rate = jnp.sum(won, axis=-1) / jnp.maximum(count, 1.0)
    return (rate >= low) & (rate <= high)


def step_outcome_advantages(
    episode_return_BxG: chex.Array,
    invalid_BxGxT: chex.Array,
    valid_BxGxT: chex.Array,
    *,
    scope: str = "episode",
    estimator: str = "grpo",
    invalid_penalty: float = 0.1,
    eps: float = 1e-6,
) -> chex.Array:
    """Outcome advantages of the steps of B groups of G multi-turn episodes of up to T steps.

    The score of a step row follows verl-agent (the EMPG paper's baseline recipe, Wang et al.,
    arXiv 2509.09265, training setup): the episode return minus an invalid-format penalty.

        episode:    s_e = R_e - penalty * #{invalid steps of e}; advantages over the G episode
                    scores of the group (`outcome_advantages`); every step of e gets e's value.
        cross_step: s_{e,t} = R_e - penalty * [step t invalid]; statistics over all valid step
                    rows of the group (verl-agent's `compute_mean_std_cross_steps`), so a long
                    losing episode weighs in with each of its steps.

    Args:
      episode_return_BxG: R_e, the return of each episode.
      invalid_BxGxT: the step broke the answer format (counted on valid steps only).
      valid_BxGxT: real steps (False after the episode ended).
      scope: one of `SCOPES`.
      estimator: one of `ESTIMATORS`.
      invalid_penalty: the penalty per invalid-format step (0.1 in verl-agent).
      eps: added to the group std (grpo).

    Returns:
      float32 `[B, G, T]` advantages, 0 on invalid (padding) steps.
    """
    chex.assert_rank([episode_return_BxG, invalid_BxGxT, valid_BxGxT], [2, 3, 3])
    chex.assert_equal_shape([invalid_BxGxT, valid_BxGxT])
    chex.assert_equal_shape_prefix([episode_return_BxG, valid_BxGxT], 2)
    if scope not in SCOPES:
        raise ValueError(f"unknown advantage scope {scope!r}; expected one of {SCOPES}")
    valid = valid_BxGxT.astype(bool)
    bad = (invalid_BxGxT.astype(bool) & valid).astype(jnp.float32)
    ret = jnp.asarray(episode_return_BxG, jnp.float32)
    b, g, t = valid.shape
    if scope == "episode":
        score_BxG = ret - invalid_penalty * jnp.sum(bad, axis=-1)
        adv_BxG = outcome_advantages(score_BxG, estimator=estimator, eps=eps)
        adv = jnp.broadcast_to(adv_BxG[..., None], (b, g, t))
    else:
        score = (ret[..., None] - invalid_penalty * bad).reshape(b, g * t)
        adv = outcome_advantages(
            score, valid.reshape(b, g * t), estimator=estimator, eps=eps
        ).reshape(b, g, t)
    return jnp.where(valid, adv, 0.0)
