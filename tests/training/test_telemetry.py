"""The logit-dynamics telemetry against a NumPy computation from the reference forward."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.training.telemetry import NUM_BINS, logit_dynamics
from tests.training import rl_reference as ref


@pytest.mark.parametrize("num_rows", [8, ref.S])
def test_logit_dynamics_matches_numpy(num_rows):
    """num_rows = S: the probe holds more rows than have an advantage, so unweighted rows fill it
    and must not move the bin edges."""
    graphdef, params = ref.model()
    batch = ref.rollout_batch(graphdef, params)
    after = jax.tree.map(lambda x: x + 0.05 * jnp.cos(jnp.arange(x.size).reshape(x.shape)), params)
    adv, train = ref.advantages(batch)
    adv = np.asarray(adv, np.float32).copy()
    adv[np.flatnonzero(train)[[0, 3]]] = 0.0  # trained rows without a step of their own
    rng = np.random.default_rng(0)
    entropy = rng.uniform(0.0, 3.0, ref.S).astype(np.float32)
    rows = {
        "prompt": batch.flat(batch.prompt_NxTxP),
        "prompt_mask": batch.flat(batch.prompt_mask_NxTxP),
        "answer": batch.flat(batch.answer_NxTxL),
        "answer_mask": batch.flat(batch.answer_mask_NxTxL),
    }
    got = jax.jit(
        lambda p, q: logit_dynamics(
            graphdef, p, q, rows, jnp.asarray(train), jnp.asarray(adv, jnp.float32),
            jnp.asarray(entropy), jnp.float32(ref.TEMPERATURE), num_rows,
        )
    )(params, after)  # fmt: skip

    # The probe: trained rows whose outcome advantage is nonzero (here some trained rows have
    # A = 0, so a probe over all trained rows would differ).
    informative = np.asarray(train) & (adv != 0)
    probe = np.flatnonzero(informative)[:num_rows]
    assert informative.sum() < ref.S  # so num_rows = S fills the probe with unweighted rows
    assert float(got["telemetry/probe_rows"]) == len(probe)
    _, before_logits = ref.log_probs(graphdef, params, batch)
    _, after_logits = ref.log_probs(graphdef, after, batch)
    z0, z1 = np.asarray(before_logits)[probe], np.asarray(after_logits)[probe]
    mask = np.asarray(batch.flat(batch.answer_mask_NxTxL))[probe]
    d = z1 - z0
    d -= d.mean(-1, keepdims=True)
    measured = np.sqrt((d**2).sum(-1))
    p = np.exp(z0 - z0.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    answer = np.asarray(batch.flat(batch.answer_NxTxL))[probe]
    pc = np.take_along_axis(p, answer[..., None], -1)[..., 0]
    formula = np.abs(adv[probe])[:, None] * np.sqrt(1 - 2 * pc + (p**2).sum(-1))
    row_m = (measured * mask).sum(1) / mask.sum(1)
    row_f = (formula * mask).sum(1) / mask.sum(1)
    h = entropy[probe]
    edges = np.quantile(h, np.linspace(0, 1, NUM_BINS + 1))
    bins = np.clip(np.searchsorted(edges[1:-1], h, side="right"), 0, NUM_BINS - 1)
    for k in range(NUM_BINS):
        sel = bins == k
        want_m = row_m[sel].mean() if sel.any() else 0.0
        want_f = row_f[sel].mean() if sel.any() else 0.0
        np.testing.assert_allclose(float(got[f"telemetry/measured_q{k + 1}"]), want_m, rtol=2e-4)
        np.testing.assert_allclose(float(got[f"telemetry/formula_q{k + 1}"]), want_f, rtol=2e-4)
    assert row_m.min() > 0 and np.ptp(row_f) > 0 and row_f.min() > 0
    for k in range(NUM_BINS):
        m, f = float(got[f"telemetry/measured_q{k + 1}"]), float(got[f"telemetry/formula_q{k + 1}"])
        np.testing.assert_allclose(float(got[f"telemetry/ratio_q{k + 1}"]), m / f, rtol=1e-5)
