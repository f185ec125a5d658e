"""GRPO / Dr. GRPO / RLOO advantages and DAPO's dynamic-sampling and overlong filters."""

import numpy as np
import pytest

from empg_jax.losses import (
    dynamic_sampling_mask,
    group_advantages,
    overlong_penalty,
    rloo_advantages,
)
from empg_jax.testing import run_variants

# Three groups of G = 4: mixed outcomes, all equal, graded.
REWARDS = np.array([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0], [0.0, 1.0, 2.0, 3.0]], np.float32)
VALID = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]], bool)


def test_group_advantages_hand_computed():
    # Group 0: mean 0.5, unbiased std sqrt(1/3); group 2: mean 1.5, std sqrt(5/3).
    z0 = 0.5 / (np.sqrt(1 / 3) + 1e-6)
    z2 = np.array([-1.5, -0.5, 0.5, 1.5]) / (np.sqrt(5 / 3) + 1e-6)
    want = np.array([[z0, -z0, -z0, z0], [0.0] * 4, z2])
    for name, out in run_variants(group_advantages, REWARDS):
        np.testing.assert_allclose(out, want, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(want[2], [-1.161895, -0.387298, 0.387298, 1.161895], rtol=1e-5)


def test_group_advantages_masked_members_and_options():
    # Group 2 without its last member: [0, 1, 2], mean 1, unbiased std 1.
    z0 = 0.5 / (np.sqrt(1 / 3) + 1e-6)  # 0.866024
    want = np.array([[z0, -z0, -z0, z0], [0.0] * 4, [-1.0, 0.0, 1.0, 0.0]]) / [[1], [1], [1 + 1e-6]]
    for name, out in run_variants(group_advantages, REWARDS, VALID):
        np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-7, err_msg=name)
    # Dr. GRPO: mean-centred only.
    for name, out in run_variants(group_advantages, REWARDS, VALID, normalize_std=False):
        np.testing.assert_allclose(
            out, [[0.5, -0.5, -0.5, 0.5], [0] * 4, [-1, 0, 1, 0]], atol=1e-7, err_msg=name
        )
    # Population std (ddof = 0): group 0 has std 0.5.
    out = group_advantages(REWARDS, ddof=0, eps=0.0)
    np.testing.assert_allclose(out[0], [1.0, -1.0, -1.0, 1.0], rtol=1e-6)


def test_group_advantages_degenerate_groups_are_zero_and_finite():
    rewards = np.array([[3.0, 3.0, 3.0], [5.0, -1.0, 2.0]], np.float32)
    single = np.array([[True, True, True], [False, True, False]])
    for name, out in run_variants(group_advantages, rewards, single):
        np.testing.assert_array_equal(out, np.zeros((2, 3)), err_msg=name)
    # NaN in padded members must not leak into the group statistics.
    dirty = REWARDS.copy()
    dirty[2, 3] = np.nan
    clean = group_advantages(REWARDS, VALID)
    np.testing.assert_array_equal(group_advantages(dirty, VALID), clean)
    np.testing.assert_array_equal(rloo_advantages(dirty, VALID), rloo_advantages(REWARDS, VALID))
    nothing = np.zeros((2, 3), bool)
    np.testing.assert_array_equal(group_advantages(rewards, nothing), np.zeros((2, 3)))


def test_rloo_advantages_hand_computed():
    # R_i minus the mean of the other members: group 0 -> +-2/3; group 2 (3 valid) -> -1, 0, 1
    # times 3/2.
    want = np.array([[2 / 3, -2 / 3, -2 / 3, 2 / 3], [0.0] * 4, [-1.5, 0.0, 1.5, 0.0]], np.float32)
    for name, out in run_variants(rloo_advantages, REWARDS, VALID):
        np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-7, err_msg=name)
    single = np.array([[False, True, False, False]] * 3)
    np.testing.assert_array_equal(rloo_advantages(REWARDS, single), np.zeros((3, 4)))


def test_dynamic_sampling_mask():
    for name, out in run_variants(dynamic_sampling_mask, REWARDS):
        np.testing.assert_array_equal(out, [True, False, True], err_msg=name)
    # Only equal rewards valid in group 0; a single valid member in group 2.
    where = np.array([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 1, 0]], bool)
    for name, out in run_variants(dynamic_sampling_mask, REWARDS, where):
        np.testing.assert_array_equal(out, [False, False, False], err_msg=name)


def test_overlong_penalty():
    lengths = np.array([10, 16, 17, 18, 20, 21], np.int32)
    for name, out in run_variants(overlong_penalty, lengths, max_length=20, cache_length=4):
        np.testing.assert_allclose(out, [0.0, 0.0, -0.25, -0.5, -1.0, -1.0], err_msg=name)
    out = overlong_penalty(lengths, 20, 4, penalty_factor=0.5)
    np.testing.assert_allclose(out, [0.0, 0.0, -0.125, -0.25, -0.5, -0.5])


def test_overlong_penalty_rejects_bad_cache():
    with pytest.raises(ValueError, match="cache_length"):
        overlong_penalty(np.array([3]), max_length=4, cache_length=5)
    with pytest.raises(ValueError, match="cache_length"):
        overlong_penalty(np.array([3]), max_length=4, cache_length=0)
