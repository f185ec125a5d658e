"""Step outcome advantages (episode / cross-step GRPO, Dr.GRPO, RLOO) and the group filters
(DAPO's dynamic-sampling mask, the pass-rate mask) against NumPy references."""

import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.losses import (
    dynamic_sampling_mask,
    outcome_advantages,
    pass_rate_mask,
    step_outcome_advantages,
)
from empg_jax.testing import run_variants

# 2 groups x 2 episodes x 3 steps; episode lengths 3, 1, 2, 2.
VALID = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 0]], bool)
RET = np.array([10.0, 0.0, 10.0, 10.0], np.float32)
BAD = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 1]], bool)  # [3, 2] is padding
N, T = VALID.shape
B, G = 2, 2


def _z(x):
    sd = np.std(x, ddof=1) if len(x) > 1 else 0.0
    return (x - x.mean()) / (sd + 1e-6)


def _reference(scope, estimator):
    adv = np.zeros((N, T), np.float32)
    bad = BAD & VALID
    for g in range(B):
        eps = [2 * g, 2 * g + 1]
        if scope == "episode":
            score = np.array([RET[e] - 0.1 * bad[e].sum() for e in eps])
            if estimator == "grpo":
                a = _z(score)
            elif estimator == "drgrpo":
                a = score - score.mean()
            else:
                a = score - (score.sum() - score) / (len(score) - 1)
            for e, ae in zip(eps, a, strict=True):
                adv[e] = np.where(VALID[e], ae, 0.0)
        else:
            vals = [(e, t, RET[e] - 0.1 * bad[e, t]) for e in eps for t in range(T) if VALID[e, t]]
            x = np.array([v[2] for v in vals])
            if estimator == "grpo":
                a = _z(x)
            elif estimator == "drgrpo":
                a = x - x.mean()
            else:
                a = x - (x.sum() - x) / (len(x) - 1)
            for (e, t, _), av in zip(vals, a, strict=True):
                adv[e, t] = av
    return adv.reshape(B, G, T)


@pytest.mark.parametrize("scope", ["episode", "cross_step"])
@pytest.mark.parametrize("estimator", ["grpo", "drgrpo", "rloo"])
def test_step_outcome_advantages_match_numpy(scope, estimator):
    args = (
        jnp.asarray(RET.reshape(B, G)),
        jnp.asarray(BAD.reshape(B, G, T)),
        jnp.asarray(VALID.reshape(B, G, T)),
    )
    for name, out in run_variants(step_outcome_advantages, *args, scope=scope, estimator=estimator):
        np.testing.assert_allclose(
            np.asarray(out), _reference(scope, estimator), atol=1e-5, err_msg=name
        )


def test_outcome_advantages_dispatch_by_name():
    r = jnp.asarray([[1.0, 0.0, 0.0, 3.0]])
    x = np.asarray(r[0])
    np.testing.assert_allclose(outcome_advantages(r, estimator="grpo")[0], _z(x), atol=1e-6)
    np.testing.assert_allclose(outcome_advantages(r, estimator="drgrpo")[0], x - x.mean())
    np.testing.assert_allclose(
        outcome_advantages(r, estimator="rloo")[0], x - (x.sum() - x) / 3, atol=1e-6
    )


def test_group_filters():
    ret = jnp.asarray(RET.reshape(B, G))
    # Group 1 (episodes 2, 3) has equal returns: no signal, dropped by DAPO's filter.
    np.testing.assert_array_equal(dynamic_sampling_mask(ret), [True, False])
    won = ret > 0
    np.testing.assert_array_equal(pass_rate_mask(won, low=0.0, high=0.9), [True, False])
    np.testing.assert_array_equal(pass_rate_mask(won, low=0.6, high=1.0), [False, True])
    np.testing.assert_array_equal(pass_rate_mask(won, low=0.5, high=0.5), [True, False])


def test_bad_names_raise():
    args = (jnp.zeros((B, G)), jnp.zeros((B, G, T), bool), jnp.ones((B, G, T), bool))
    with pytest.raises(ValueError, match="estimator"):
        step_outcome_advantages(*args, estimator="ppo")
    with pytest.raises(ValueError, match="scope"):
        step_outcome_advantages(*args, scope="token")
    with pytest.raises(ValueError, match="low <= high"):
        pass_rate_mask(jnp.zeros((B, G), bool), low=0.9, high=0.1)


def test_cross_step_rows_sum_to_zero_per_group_episode_rows_do_not():
    """A group with one 2-step win and three 6-step losses. Episode statistics give every row
    its episode's z-score, so the losing rows outweigh the winning ones and the group's row
    advantages sum below zero; cross-step statistics centre over the rows (sum zero per group).
    An all-failed group gets 0 either way."""
    t = 6
    lengths = [2, 6, 6, 6, 6, 6, 6, 6]  # group 0: one win + three losses; group 1: all fail
    ret = np.array([10.0, 0, 0, 0, 0, 0, 0, 0], np.float32).reshape(2, 4)
    valid = (np.arange(t)[None, :] < np.array(lengths)[:, None]).reshape(2, 4, t)
    for scope in ("episode", "cross_step"):
        adv = np.asarray(
            step_outcome_advantages(
                jnp.asarray(ret), jnp.zeros((2, 4, t), bool), jnp.asarray(valid), scope=scope
            )
        )
        sums = adv.sum(axis=(1, 2))
        assert abs(sums[1]) < 1e-6 and np.abs(adv[1]).max() < 1e-6, scope
        if scope == "episode":
            assert sums[0] < -1.0, sums  # 2 x 1.5 - 18 x 0.5
        else:
            assert abs(sums[0]) < 1e-4, sums
            assert adv[0, 0, :2].min() > 2.0 * np.abs(adv[0, 1:][valid[0, 1:]]).max()
