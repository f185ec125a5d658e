"""Non-finite guards: a NaN or inf in a loss, gradient norm, reward or step entropy stops the run
(`nonfinite="stop"`, the default) with a message naming the step and the quantity, before any
checkpoint of the damaged state is written; or (`nonfinite="skip"`) the update that met it is
skipped and training goes on.

Inside the jitted steps, `keep_finite_update` discards an optimiser update whose loss or gradient
norm is not finite (the skip mode); on the host, `check_rollout` and `check_metrics` find the
quantity to name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.training.distributed import to_host

NONFINITE_MODES = ("stop", "skip")


class NonFiniteError(RuntimeError):
    """Training met a NaN or inf (the message names where and what)."""


def keep_finite_update(ok: jax.Array, new, old):
    """`new` where `ok` (a scalar bool), else `old`, leaf by leaf (inside jit)."""
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def check_rollout(reward_N, token_entropy_NxTxL, answer_mask_NxTxL) -> list[str]:
    """Names of the rollout quantities with a non-finite value (episode reward, step entropy)."""
    bad = []
    reward = to_host(reward_N)
    if not np.isfinite(reward).all():
        bad.append(f"reward ({int((~np.isfinite(reward)).sum())} of {reward.size} episodes)")
    ent = to_host(token_entropy_NxTxL)[to_host(answer_mask_NxTxL).astype(bool)]
    if not np.isfinite(ent).all():
        bad.append(f"token entropy ({int((~np.isfinite(ent)).sum())} generated tokens)")
    return bad


def check_metrics(metrics: Mapping[str, float], names: Iterable[str]) -> list[str]:
    """The names among `names` whose metric is present and not finite."""
    return [f"{k} = {metrics[k]}" for k in names if k in metrics and not math.isfinite(metrics[k])]
