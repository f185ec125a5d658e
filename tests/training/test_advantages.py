"""Step advantages (episode / cross-step GRPO, Dr.GRPO, RLOO, DAPO mask, EMPG) vs numpy."""

import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.losses import empg_advantages
from empg_jax.testing import run_variants
from empg_jax.training import step_advantages

# 2 groups x 2 episodes x 3 steps; episode lengths 3, 1, 2, 2.
VALID = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0], [1, 1, 0]], bool)
RET = np.array([10.0, 0.0, 10.0, 10.0], np.float32)
BAD = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]], bool) & VALID
N, T = VALID.shape


def _batch():
    s = N * T
    ent = np.linspace(0.1, 2.0, s * 2).reshape(s, 2).astype(np.float32)
    nxt = np.full(s, -1, np.int32)
    for e in range(N):
        for t in range(T - 1):
            if VALID[e, t] and VALID[e, t + 1]:
                nxt[e * T + t] = e * T + t + 1
    return {
        "valid": jnp.asarray(VALID.reshape(-1)),
        "reward": jnp.asarray(np.repeat(RET, T)),
        "won": jnp.asarray(np.repeat(RET > 0, T)),
        "invalid_format": jnp.asarray(BAD.reshape(-1)),
        "episode_id": jnp.asarray(np.repeat(np.arange(N), T).astype(np.int32)),
        "group_id": jnp.asarray(np.repeat(np.arange(N) // 2, T).astype(np.int32)),
        "step_index": jnp.asarray(np.tile(np.arange(T), N).astype(np.int32)),
        "next_step": jnp.asarray(nxt),
        "token_entropy": jnp.asarray(ent),
        "answer_mask": jnp.ones((s, 2), bool),
    }


def _z(x):
    sd = np.std(x, ddof=1) if len(x) > 1 else 0.0
    return (x - x.mean()) / (sd + 1e-6)


def _reference(scope, estimator):
    adv = np.zeros((N, T), np.float32)
    for g in range(2):
        eps = [2 * g, 2 * g + 1]
        if scope == "episode":
            score = np.array([RET[e] - 0.1 * BAD[e].sum() for e in eps])
            if estimator == "grpo":
                a = _z(score)
            elif estimator == "drgrpo":
                a = score - score.mean()
            else:
                a = score - (score.sum() - score) / (len(score) - 1)
            for e, ae in zip(eps, a, strict=True):
                adv[e] = np.where(VALID[e], ae, 0.0)
        else:
            vals = [(e, t, RET[e] - 0.1 * BAD[e, t]) for e in eps for t in range(T) if VALID[e, t]]
            x = np.array([v[2] for v in vals])
            a = _z(x) if estimator == "grpo" else x - x.mean()
            for (e, t, _), av in zip(vals, a, strict=True):
                adv[e, t] = av
    return adv.reshape(-1)


@pytest.mark.parametrize(
    "scope,estimator",
    [
        ("episode", "grpo"),
        ("episode", "drgrpo"),
        ("episode", "rloo"),
        ("cross_step", "grpo"),
        ("cross_step", "drgrpo"),
    ],
)
def test_outcome_advantages_match_numpy(scope, estimator):
    batch = _batch()

    def fn(b):
        return step_advantages(b, estimator=estimator, scope=scope)[0]

    for name, out in run_variants(fn, batch):
        np.testing.assert_allclose(
            np.asarray(out), _reference(scope, estimator), atol=1e-5, err_msg=name
        )


def test_dynamic_sampling_and_pass_rate_masks():
    batch = _batch()
    _, train, _ = step_advantages(batch, dynamic_sampling=True)
    # Group 1 (episodes 2, 3) has equal returns: dropped.
    np.testing.assert_array_equal(np.asarray(train).reshape(N, T)[2:], False)
    np.testing.assert_array_equal(np.asarray(train).reshape(N, T)[:2], VALID[:2])
    _, train, _ = step_advantages(batch, pass_rate_range=(0.0, 0.9))
    np.testing.assert_array_equal(np.asarray(train).reshape(N, T)[2:], False)


def test_empg_on_top_of_grpo():
    batch = _batch()
    empg = {"k": 1.0, "k_future": 1.0, "zeta": 0.1}
    adv, train, aux = step_advantages(batch, empg=empg)
    base, _, _ = step_advantages(batch)
    ent = np.asarray(batch["token_entropy"]).mean(-1)
    expect, _ = empg_advantages(jnp.asarray(ent), base, batch["next_step"], train, **empg)
    np.testing.assert_allclose(np.asarray(adv), np.asarray(expect), atol=1e-6)
    assert abs(float(np.asarray(aux["g"])[np.asarray(train)].mean()) - 1.0) < 1e-5


def test_bad_names_raise():
    with pytest.raises(ValueError, match="estimator"):
        step_advantages(_batch(), estimator="ppo")
    with pytest.raises(ValueError, match="scope"):
        step_advantages(_batch(), scope="token")


def test_cross_step_rows_sum_to_zero_per_group_episode_rows_do_not():
    """The default experiment's choice (README, "make run"): a group with one 2-step win and
    three 6-step losses. Episode statistics give every row its episode's z-score, so the losing
    rows outweigh the winning ones and the group's row advantages sum below zero; cross-step
    statistics centre over the rows (sum zero per group). An all-failed group gets 0 either way."""
    t = 6
    lengths = [2, 6, 6, 6, 6, 6, 6, 6]  # group 0: one win + three losses; group 1: all fail
    ret = np.array([10.0, 0, 0, 0, 0, 0, 0, 0], np.float32)
    n = len(lengths)
    valid = np.arange(t)[None, :] < np.array(lengths)[:, None]
    batch = {
        "valid": jnp.asarray(valid.reshape(-1)),
        "reward": jnp.asarray(np.repeat(ret, t)),
        "won": jnp.asarray(np.repeat(ret > 0, t)),
        "invalid_format": jnp.zeros(n * t, bool),
        "episode_id": jnp.asarray(np.repeat(np.arange(n), t).astype(np.int32)),
        "group_id": jnp.asarray(np.repeat(np.arange(n) // 4, t).astype(np.int32)),
        "step_index": jnp.asarray(np.tile(np.arange(t), n).astype(np.int32)),
        "next_step": jnp.full(n * t, -1, jnp.int32),
        "token_entropy": jnp.ones((n * t, 2), jnp.float32),
        "answer_mask": jnp.ones((n * t, 2), bool),
    }
    group = np.repeat(np.arange(n) // 4, t)
    for scope in ("episode", "cross_step"):
        adv = np.asarray(step_advantages(batch, scope=scope)[0])
        sums = [adv[group == g].sum() for g in (0, 1)]
        assert abs(sums[1]) < 1e-6 and np.abs(adv[group == 1]).max() < 1e-6, scope
        if scope == "episode":
            assert sums[0] < -1.0, sums  # 2 x 1.5 - 18 x 0.5
        else:
            assert abs(sums[0]) < 1e-4, sums
            assert adv[:2].min() > 2.0 * np.abs(adv[t : 4 * t][valid[1:4].reshape(-1)]).max()
