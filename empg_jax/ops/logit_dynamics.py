r"""The softmax policy-gradient step seen in logit space.

For a softmax policy P = softmax(z), a sampled action c, advantage A and learning rate η, the
policy-gradient step on the logits is

.. math:: \Delta z = \eta A \nabla_z \log P_c = \eta A (e_c - P),
          \qquad \|\Delta z\|_2 = |\eta A| \sqrt{1 - 2 P_c + C(P)}, \quad C(P) = \sum_j P_j^2.

(Y. Li, "Logit Dynamics in Softmax Policy Gradient Methods", arXiv:2506.12912.) A confident chosen
action (P_c → 1) gets a vanishing step; EMPG (arXiv:2509.09265) re-scales advantages to counter
this.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from empg_jax.ops.distributions import log_softmax

Array = jax.Array


def _check(logits: Array, action: Array | int) -> Array:
    # A Python int or NumPy integer is the first thing a notebook user passes: accept it.
    action = jnp.asarray(action)
    chex.assert_type(logits, float)
    chex.assert_type(action, int)
    chex.assert_rank(logits, jnp.ndim(action) + 1)
    chex.assert_equal_shape_prefix((logits, action), jnp.ndim(action))
    return jax.nn.one_hot(action, logits.shape[-1], dtype=jnp.bool_)


def logit_update(
    logits: Array,
    action: Array | int,
    advantage: Array | float = 1.0,
    learning_rate: Array | float = 1.0,
) -> Array:
    r"""The logit-space policy-gradient step :math:`\Delta z = \eta A (e_c - \mathrm{softmax}(z))`.

    Its components sum to zero (the step is orthogonal to the softmax-invariant direction **1**):
    :math:`\Delta z_c = \eta A (1 - P_c)`, :math:`\Delta z_j = -\eta A P_j` for j ≠ c.

    Args:
      logits: `[..., V]` logits, any float dtype; `-inf` entries get a zero update.
      action: `[...]` integer chosen action c (a JAX or NumPy array, or a Python int).
      advantage: advantage A, broadcastable to `[...]`.
      learning_rate: η, broadcastable to `[...]`.

    Returns:
      float32 `[..., V]` logit update.
    """
    is_chosen = _check(logits, action)
    _, p = log_softmax(logits)
    # 1 - P_c formed from the other probabilities keeps full relative accuracy when P_c -> 1.
    one_minus_pc = jnp.sum(jnp.where(is_chosen, 0.0, p), axis=-1, keepdims=True)
    direction = jnp.where(is_chosen, one_minus_pc, -p)
    scale = jnp.asarray(learning_rate, jnp.float32) * jnp.asarray(advantage, jnp.float32)
    return jnp.asarray(scale)[..., None] * direction


def logit_update_norm(
    logits: Array,
    action: Array | int,
    advantage: Array | float = 1.0,
    learning_rate: Array | float = 1.0,
) -> Array:
    r"""Euclidean norm of the softmax policy-gradient logit step, from the closed form.

    .. math:: \|\Delta z\|_2 = |\eta A| \sqrt{1 - 2 P_c + C(P)}
                             = |\eta A| \sqrt{(1 - P_c)^2 + \sum_{j \ne c} P_j^2}.

    The second form is what is computed: `1 - P_c` is the sum of the other probabilities, so for a
    confident action (P_c → 1, where `1 - 2P_c + C` cancels to 0 in float32) the result keeps its
    relative accuracy. Bounds: (1 − P_c)·sqrt(n/(n−1)) ≤ sqrt(1 − 2P_c + C) ≤ sqrt(2)·(1 − P_c).

    Args:
      logits: `[..., V]` logits, any float dtype.
      action: `[...]` integer chosen action c (a JAX or NumPy array, or a Python int).
      advantage: advantage A, broadcastable to `[...]`.
      learning_rate: η, broadcastable to `[...]`.

    Returns:
      float32 `[...]` norms.
    """
    is_chosen = _check(logits, action)
    _, p = log_softmax(logits)
    others = jnp.where(is_chosen, 0.0, p)
    one_minus_pc = jnp.sum(others, axis=-1)
    # Scale by the largest term before squaring so tiny probabilities do not underflow in f32.
    scale = jax.lax.stop_gradient(jnp.maximum(one_minus_pc, jnp.finfo(jnp.float32).tiny))
    ratio = others / scale[..., None]
    moving = one_minus_pc > 0
    inner = jnp.square(one_minus_pc / scale) + jnp.sum(ratio * ratio, axis=-1)
    # A one-hot policy choosing its certain action does not move; keep sqrt'(0) out of the grad.
    norm = jnp.where(moving, scale * jnp.sqrt(jnp.where(moving, inner, 1.0)), 0.0)
    eta_a = jnp.abs(jnp.asarray(learning_rate, jnp.float32) * jnp.asarray(advantage, jnp.float32))
    return eta_a * norm
