"""Online logit dynamics: how far an RL update really moves the sampled tokens' logits, against
the softmax policy-gradient formula, by step entropy.

For a softmax policy P = softmax(z), a sampled token c, an advantage A and a step size eta, the
logit-space policy-gradient step is eta A (e_c - P), of norm

    |eta A| sqrt(1 - 2 P_c + C(P)),   C(P) = sum_j P_j^2

(Y. Li, "Logit Dynamics in Softmax Policy Gradient Methods", arXiv 2506.12912). EMPG (Wang et al.,
arXiv 2509.09265) re-scales each step's advantage by a function of its step entropy. Measuring,
on a fixed probe of trained rows, the change of the tempered logits between the parameters
before and after an update (with the softmax-invariant mean removed) and comparing it with the
formula evaluated with the OUTCOME advantage (before EMPG) shows, per step-entropy bin, the
effective step size the update applied: flat across bins for plain policy gradient on logits,
larger on low-entropy steps under EMPG's scaling.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.ops import collision_probability, masked_mean
from empg_jax.training.forward import answer_log_probs

#: Step-entropy bins (quantiles of the probe rows' step entropies).
NUM_BINS = 5


def logit_dynamics(
    graphdef,
    params_before,
    params_after,
    rows: dict[str, jax.Array],
    train_S: jax.Array,
    outcome_adv_S: jax.Array,
    step_entropy_S: jax.Array,
    temperature: jax.Array,
    num_rows: int,
) -> dict[str, jax.Array]:
    """Per step-entropy bin: the mean measured logit change and the mean formula value of the
    probe's answer tokens, and their ratio (`telemetry/measured_q{k}`, `.../formula_q{k}`,
    `.../ratio_q{k}`, k = 1 (lowest entropy) .. NUM_BINS), and how many probe rows carry an
    advantage (`telemetry/probe_rows`; the bins split those rows into quantiles).

    The probe is the first `num_rows` trained rows with a nonzero outcome advantage (in row
    order), so it is the same for every arm trained on the same batch: the formula describes a
    sample's own step, and a row with A = 0 has none (its logits move only through the other
    rows). Other rows fill the probe unweighted. A bin without a probe row has ratio 0.
    """
    s = train_S.shape[0]
    r = min(num_rows, s)
    informative_S = train_S & (outcome_adv_S != 0)
    probe = jnp.argsort(~informative_S, stable=True)[:r]
    take = lambda x: jnp.take(x, probe, axis=0)  # noqa: E731
    weight = take(informative_S)
    mask = take(rows["answer_mask"]) & weight[:, None]
    args = (take(rows["prompt"]), take(rows["prompt_mask"]), take(rows["answer"]), mask)
    _, before, _ = answer_log_probs(graphdef, params_before, *args, temperature)
    _, after, _ = answer_log_probs(graphdef, params_after, *args, temperature)
    delta = after - before
    delta = delta - jnp.mean(delta, axis=-1, keepdims=True)  # softmax-invariant direction
    measured = jnp.sqrt(jnp.sum(jnp.square(delta), axis=-1))
    p_before = jax.nn.softmax(before, axis=-1)
    p_chosen = jnp.take_along_axis(p_before, take(rows["answer"])[..., None], axis=-1)[..., 0]
    collision = collision_probability(before)
    unit = jnp.sqrt(jnp.maximum(1.0 - 2.0 * p_chosen + collision, 0.0))
    formula = jnp.abs(take(outcome_adv_S))[:, None] * unit
    row_measured = masked_mean(measured, mask, axis=-1)
    row_formula = masked_mean(formula, mask, axis=-1)
    entropy = take(step_entropy_S)
    # Quantiles of the weighted rows only: fill rows are NaN here and must not reach the edges
    # (with `quantile` one NaN made every edge 0 and put every row in the top bin).
    edges = jnp.nanquantile(
        jnp.where(weight, entropy, jnp.nan), jnp.linspace(0.0, 1.0, NUM_BINS + 1), method="linear"
    )
    edges = jnp.nan_to_num(edges)
    bins = jnp.clip(jnp.searchsorted(edges[1:-1], entropy, side="right"), 0, NUM_BINS - 1)
    out = {"telemetry/probe_rows": jnp.sum(weight).astype(jnp.float32)}
    for k in range(NUM_BINS):
        sel = weight & (bins == k)
        m, f = masked_mean(row_measured, sel), masked_mean(row_formula, sel)
        out[f"telemetry/measured_q{k + 1}"] = m
        out[f"telemetry/formula_q{k + 1}"] = f
        out[f"telemetry/ratio_q{k + 1}"] = jnp.where(f > 0, m / jnp.where(f > 0, f, 1.0), 0.0)
    return out
