"""PPO clipped surrogate, KL estimators and the entropy bonus."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax import ops
from empg_jax.losses import entropy_bonus, kl_penalty, ppo_policy_loss
from empg_jax.testing import run_variants

# Two real rows and one fully padded row (NaN log-probs: padding must not leak).
RATIOS = np.array([[1.5, 0.5, 1.0], [1.1, 0.7, 4.0], [1.0, 1.0, 1.0]])
OLD_LOGP = np.array([[-1.0, -2.0, -0.5], [-0.3, -1.2, -2.5], [np.nan] * 3], np.float32)
LOGP = (OLD_LOGP + np.log(RATIOS)).astype(np.float32)
ADV = np.array([[1.0, 1.0, -1.0], [-1.0, -1.0, -2.0], [7.0, 7.0, 7.0]], np.float32)
MASK = np.array([[1, 1, 0], [1, 1, 1], [0, 0, 0]], bool)
# Per-token losses with clip 0.2 / 0.28 (by hand): r 1.5, A 1 -> max(-1.5, -1.28) = -1.28;
# r 0.5, A 1 -> -0.5; r 1.1, A -1 -> 1.1; r 0.7, A -1 -> max(0.7, 0.8) = 0.8;
# r 4, A -2 -> max(8, 2.56) = 8, or 6 with dual clip 3.
ROW0, ROW1 = [-1.28, -0.5], [1.1, 0.8, 8.0]
KW = dict(clip_low=0.2, clip_high=0.28)


@pytest.mark.parametrize(
    "aggregation,want",
    [
        ("token-mean", (-1.28 - 0.5 + 1.1 + 0.8 + 8.0) / 5),
        ("seq-mean-token-mean", (np.mean(ROW0) + np.mean(ROW1)) / 2),
        ("seq-mean-token-sum", (np.sum(ROW0) + np.sum(ROW1)) / 2),
        ("seq-mean-token-sum-norm", (np.sum(ROW0) / 3 + np.sum(ROW1) / 3) / 2),
    ],
)
def test_ppo_loss_hand_computed_aggregations(aggregation, want):
    for name, (loss, aux) in run_variants(
        ppo_policy_loss, LOGP, OLD_LOGP, ADV, MASK, aggregation=aggregation, **KW
    ):
        np.testing.assert_allclose(loss, want, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(aux["clip_fraction"], 0.4, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["clip_fraction_high"], 0.2, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["clip_fraction_low"], 0.2, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(aux["dual_clip_fraction"], 0.0, err_msg=name)
        r = np.array([1.5, 0.5, 1.1, 0.7, 4.0])
        np.testing.assert_allclose(aux["approx_kl"], np.mean(r - 1 - np.log(r)), rtol=1e-5)
        np.testing.assert_allclose(aux["ratio_mean"], r.mean(), rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(aux["ratio_min"], 0.5, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(aux["ratio_max"], 4.0, rtol=1e-5, err_msg=name)


def test_ppo_dual_clip_and_row_advantages():
    loss, aux = ppo_policy_loss(LOGP, OLD_LOGP, ADV, MASK, dual_clip=3.0, **KW)
    np.testing.assert_allclose(loss, (-1.28 - 0.5 + 1.1 + 0.8 + 6.0) / 5, rtol=1e-5)
    np.testing.assert_allclose(aux["dual_clip_fraction"], 0.2, rtol=1e-6)
    # A per-row [B] advantage is broadcast over the row's tokens.
    row_adv = np.array([1.0, -1.0, 0.0], np.float32)
    loss, _ = ppo_policy_loss(LOGP, OLD_LOGP, row_adv, MASK, **KW)
    np.testing.assert_allclose(loss, (-1.28 - 0.5 + 1.1 + 0.8 + 4.0) / 5, rtol=1e-5)


def test_ppo_padding_leaks_into_neither_loss_nor_gradient():
    grad = jax.jit(jax.grad(lambda lp: ppo_policy_loss(lp, OLD_LOGP, ADV, MASK, **KW)[0]))(LOGP)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(np.asarray(grad)[~MASK], 0.0)
    empty, aux = ppo_policy_loss(LOGP, OLD_LOGP, ADV, np.zeros_like(MASK))
    assert float(empty) == 0.0 and float(aux["ratio_max"]) == 1.0


def test_ppo_rejects_bad_arguments():
    with pytest.raises(ValueError, match="aggregation"):
        ppo_policy_loss(LOGP, OLD_LOGP, ADV, MASK, aggregation="sum")
    with pytest.raises(ValueError, match="dual_clip"):
        ppo_policy_loss(LOGP, OLD_LOGP, ADV, MASK, dual_clip=0.5)
    with pytest.raises(ValueError, match="clip_low"):
        ppo_policy_loss(LOGP, OLD_LOGP, ADV, MASK, clip_low=1.5)


@pytest.mark.parametrize("aggregation", ["token-mean", "seq-mean-token-mean"])
def test_ppo_gradient_at_ratio_one_is_the_logit_update(aggregation):
    """d loss / d z_t = -A_t (e_{y_t} - softmax(z_t)) / N = -ops.logit_update(z_t, y_t, A_t) / N."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 7)).astype(np.float32)
    tokens = rng.integers(0, 7, size=(3, 4)).astype(np.int32)
    adv = rng.normal(size=(3, 4)).astype(np.float32)
    mask = jnp.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], bool)

    def loss_fn(z):
        logp = ops.token_log_probs(z, tokens)
        return ppo_policy_loss(
            logp, jax.lax.stop_gradient(logp), adv, mask, aggregation=aggregation
        )[0]

    grad = jax.jit(jax.grad(loss_fn))(logits)
    if aggregation == "token-mean":
        norm = jnp.full((3, 4), 4.0)  # N = 4 valid tokens
    else:
        norm = jnp.array([[2 * 3.0] * 4, [2 * 1.0] * 4, [1.0] * 4])  # rows x tokens of the row
    want = -ops.logit_update(logits, tokens, advantage=adv) / norm[..., None]
    want = jnp.where(mask[..., None], want, 0.0)
    np.testing.assert_allclose(grad, want, atol=1e-6)
    assert np.max(np.abs(want)) > 1e-2


def test_kl_penalty_estimators_hand_computed():
    logp = np.array([0.0, -1.0, -2.0], np.float32)
    ref = np.array([-0.5, -1.0, -1.0], np.float32)  # delta = ref - logp = [-0.5, 0, 1]
    want = {
        "k1": [0.5, 0.0, -1.0],
        "k2": [0.125, 0.0, 0.5],
        "k3": [np.exp(-0.5) - 0.5, 0.0, np.e - 2.0],
    }
    for kind, expected in want.items():
        for name, out in run_variants(kl_penalty, logp, ref, kind=kind):
            np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7, err_msg=name)
    np.testing.assert_allclose(want["k3"], [0.10653066, 0.0, 0.71828183], rtol=1e-6)
    out = kl_penalty(logp, ref, "k3", np.array([True, False, True]))
    np.testing.assert_allclose(out, [0.10653066, 0.0, 0.71828183], rtol=1e-6)
    # A huge log-ratio is clamped (exp(20) - 21 > 10), padding with -inf gives 0.
    out = kl_penalty(np.array([-40.0, -np.inf]), np.array([0.0, 0.0]), "k3", np.array([1, 0]))
    np.testing.assert_allclose(out, [10.0, 0.0])
    with pytest.raises(ValueError, match="kind"):
        kl_penalty(logp, ref, "k4")


def test_kl_k3_is_unbiased_for_the_kl():
    pi = np.array([0.5, 0.3, 0.2])
    ref = np.array([0.2, 0.2, 0.6])
    kl = np.sum(pi * np.log(pi / ref))
    for kind in ("k1", "k3"):
        est = kl_penalty(np.log(pi).astype(np.float32), np.log(ref).astype(np.float32), kind)
        np.testing.assert_allclose(np.sum(pi * np.asarray(est)), kl, rtol=1e-5)


def test_entropy_bonus_matches_masked_mean_entropy():
    logits = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 0]], bool)
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    entropy = -(p * np.log(p)).sum(-1)
    want = entropy[mask].mean()
    for name, out in run_variants(entropy_bonus, logits, mask):
        np.testing.assert_allclose(out, want, rtol=1e-6, err_msg=name)
    rows = entropy_bonus(logits, mask, aggregation="seq-mean-token-mean")
    np.testing.assert_allclose(rows, (entropy[0, :2].mean() + entropy[1, 0]) / 2, rtol=1e-6)
    grad = jax.jit(jax.grad(entropy_bonus))(logits, mask)
    assert np.max(np.abs(grad)) > 1e-3 and np.all(np.asarray(grad)[~mask] == 0)
