"""The train state, the optimiser, and the jit wrapper every train step goes through."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


@struct.dataclass
class TrainState:
    """Everything that changes during training (a pytree; checkpointed as a whole).

    `key` is the run's PRNG key (raw uint32 [2]); every random draw of a step or an iteration
    is `fold_in(key, counter)`, so resuming from a checkpoint reproduces the run exactly.
    `ref_params` is the frozen KL reference (None when KL is off): it is set once when RL starts
    and never updated.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    key: jax.Array
    ref_params: Any = None


def make_optimizer(
    lr: float,
    weight_decay: float,
    grad_clip: float,
    b2: float = 0.999,
    decay_steps: int = 0,
    warmup_steps: int = 0,
):
    """AdamW with global-norm clipping (the EMPG paper's verl-agent recipe: lr 1e-6, weight
    decay 0.01, clip 1.0).

    With `decay_steps` > 0 the learning rate warms up linearly from 0 over `warmup_steps`, then
    follows a cosine from `lr` down to `lr / 10` at `decay_steps` (and stays there): a short SFT
    run ends annealed instead of at the noise floor of a constant rate. The schedule reads the
    optimiser's own step count, so a resumed run continues it exactly.
    """
    if decay_steps > 0:
        lr = optax.warmup_cosine_decay_schedule(
            0.0, lr, max(warmup_steps, 1), max(decay_steps, warmup_steps + 1), end_value=lr / 10
        )
    parts = [optax.clip_by_global_norm(grad_clip)] if grad_clip > 0 else []
    parts.append(optax.adamw(lr, b2=b2, weight_decay=weight_decay))
    return optax.chain(*parts)


def create_state(params: Any, optimizer, key: jax.Array, with_reference: bool) -> TrainState:
    """A fresh state; `with_reference` freezes a copy of `params` as the KL reference."""
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=optimizer.init(params),
        key=key,
        ref_params=jax.tree.map(jnp.copy, params) if with_reference else None,
    )


def jit_train_step(step_fn, state_shardings=None, batch_sharding=None):
    """`jax.jit` of a `(state, batch) -> (state, metrics)` step, the state donated; placed on
    the given shardings when they are given."""
    if state_shardings is None:
        return jax.jit(step_fn, donate_argnums=0)
    return jax.jit(
        step_fn,
        in_shardings=(state_shardings, batch_sharding),
        out_shardings=(state_shardings, None),
        donate_argnums=0,
    )
