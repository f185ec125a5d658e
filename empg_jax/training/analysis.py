"""Analyses of a trained policy on recorded steps (the comparison harness's entropy figure)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.agents import Rollout
from empg_jax.models import to_host
from empg_jax.ops import entropy_from_logits, masked_mean
from empg_jax.training.forward import answer_log_probs


@functools.lru_cache(maxsize=8)
def _entropy_fn(graphdef):
    def fn(params, prompt, pmask, answer, amask, temperature):
        _, logits, _ = answer_log_probs(graphdef, params, prompt, pmask, answer, amask, temperature)
        ent = entropy_from_logits(logits, where=amask)
        return masked_mean(ent, amask, axis=-1)

    return jax.jit(fn)


def step_entropy_of(exp, params, ro: Rollout, chunk: int = 64):
    """The step entropy (mean token entropy over each step's answer) of the policy `params` on
    the recorded steps of `ro`, at the rollout's temperature (1 for a greedy rollout); returns
    host arrays `(entropy_S, valid_S)` over the S = N x T rows."""
    fn = _entropy_fn(exp.graphdef)
    t = float(to_host(ro.temperature))
    temperature = jnp.float32(t if t > 0 else 1.0)
    fields = [ro.prompt_NxTxP, ro.prompt_mask_NxTxP, ro.answer_NxTxL, ro.answer_mask_NxTxL]
    rows = [to_host(ro.flat(x)) for x in fields]
    out = []
    for start in range(0, rows[0].shape[0], chunk):
        part = [jnp.asarray(x[start : start + chunk]) for x in rows]
        out.append(np.asarray(fn(params, *part, temperature)))
    return np.concatenate(out), to_host(ro.flat(ro.valid_NxT)).astype(bool)
