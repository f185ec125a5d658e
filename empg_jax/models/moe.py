"""GLM-4.5-style mixture-of-experts block and its pure routing / balancing functions.

GLM-4.5 (arXiv:2508.06471), following DeepSeek-V3's loss-free
balancing (arXiv:2408.15664):

- router scores s_{t,i} = sigmoid(x_t . r_i), one per routed expert i;
- the top-k experts are chosen on s_{t,i} + b_i, where the balance bias b_i affects selection
  only; the gate of a selected expert is its *unbiased* score, normalised over the selected
  experts and multiplied by the routed scaling factor (GLM-4.5 uses 2.5);
- one shared expert sees every token; the first k layers are dense;
- after each train step, b_i <- b_i + u * sign(mean_j load_j - load_i)  (`update_router_bias`);
- an optional sequence-level balance loss (`sequence_balance_loss`).
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import nnx

from empg_jax.models.config import ModelConfig
from empg_jax.models.layers import MLP, make_param
from empg_jax.models.sharding import constrain

Array = jax.Array


class RouterBias(nnx.Variable):
    """The loss-free balance bias b [E]: not a Param, so `nnx.grad(..., wrt=nnx.Param)` and the
    optimiser leave it alone; the train step sets it with `update_router_bias`."""


class Routing(NamedTuple):
    gates_NxK: Array  # normalised, scaled weights of the selected experts
    experts_NxK: Array  # int32 ids of the selected experts
    scores_NxE: Array  # sigmoid scores of every expert (float32)


def route(
    router_logits_NxE: Array,
    bias_E: Array,
    *,
    top_k: int,
    routed_scaling_factor: float = 1.0,
    norm_topk_prob: bool = True,
) -> Routing:
    """Sigmoid top-k routing with a selection-only balance bias (GLM-4.5 / DeepSeek-V3).

    g_{t,i} = c * s_{t,i} / sum_{j in TopK_t} s_{t,j} for i in TopK_t = top-k of (s_t + b),
    with s = sigmoid(logits) and c the routed scaling factor (no normalisation when
    `norm_topk_prob` is False). The bias never enters g, so it carries no gradient.
    """
    chex.assert_rank(router_logits_NxE, 2)
    chex.assert_shape(bias_E, (router_logits_NxE.shape[-1],))
    scores = jax.nn.sigmoid(router_logits_NxE.astype(jnp.float32))
    _, experts = jax.lax.top_k(scores + jax.lax.stop_gradient(bias_E.astype(jnp.float32)), top_k)
    gates = jnp.take_along_axis(scores, experts, axis=-1)
    if norm_topk_prob:
        gates = gates / (jnp.sum(gates, axis=-1, keepdims=True) + 1e-20)
    return Routing(gates * routed_scaling_factor, experts.astype(jnp.int32), scores)


def expert_load(experts_NxK: Array, num_experts: int, where_N: Array | None = None) -> Array:
    """Fraction of the (valid token, slot) assignments that went to each expert: [E], sums to 1
    (all zeros when no token is valid)."""
    chex.assert_rank(experts_NxK, 2)
    one_hot = jax.nn.one_hot(experts_NxK, num_experts, dtype=jnp.float32).sum(axis=1)
    if where_N is not None:
        chex.assert_shape(where_N, experts_NxK.shape[:1])
        one_hot = one_hot * where_N[:, None].astype(jnp.float32)
    counts = one_hot.sum(axis=0)
    return counts / jnp.maximum(counts.sum(), 1.0)


def update_router_bias(bias_xE: Array, load_xE: Array, rate: float | Array) -> Array:
    """Loss-free balance update b_i <- b_i + u * sign(mean_j load_j - load_i) over the last axis.

    Under-loaded experts get a higher bias (more selections), over-loaded ones a lower. GLM-4.5
    uses u = 0.001 for the first 15T tokens, then 0. Works on [E] or stacked [L, E] arrays.
    """
    chex.assert_equal_shape([bias_xE, load_xE])
    mean = jnp.mean(load_xE, axis=-1, keepdims=True)
    return bias_xE + jnp.asarray(rate, bias_xE.dtype) * jnp.sign(mean - load_xE).astype(
        bias_xE.dtype
    )


def _is_router_bias(path) -> bool:
    return any(getattr(k, "key", getattr(k, "name", None)) == "router_bias" for k in path)


def num_router_biases(params) -> int:
    """How many router-bias leaves (MoE layers) a parameter tree holds (0: a dense model)."""
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return sum(_is_router_bias(path) for path, _ in leaves)


def balance_router_biases(new_params, old_params, load_LxE: Array, rate: float | Array):
    """After an optimiser step: every MoE layer's router bias becomes its pre-step value plus
    the loss-free balance step (`update_router_bias`) on that layer's load `load_LxE[layer]`
    (layers in tree order, which is model order). The optimiser (and its weight decay) never
    moves a bias; its gradient is zero anyway."""
    new_leaves, treedef = jax.tree_util.tree_flatten_with_path(new_params)
    old_leaves = jax.tree_util.tree_leaves(old_params)
    out, layer = [], 0
    for (path, new), old in zip(new_leaves, old_leaves, strict=True):
        if _is_router_bias(path):
            new = update_router_bias(old, load_LxE[layer].astype(old.dtype), rate)
            layer += 1
        out.append(new)
    return jax.tree_util.tree_unflatten(treedef, out)


def load_balance_metrics(load_LxE: Array) -> dict[str, Array]:
    """Worst-layer expert load relative to the mean load (both 1 when perfectly balanced)."""
    share = load_LxE / jnp.maximum(jnp.mean(load_LxE, axis=-1, keepdims=True), 1e-12)
    return {
        "moe/load_max_over_mean": jnp.max(share),
        "moe/load_min_over_mean": jnp.min(share),
    }


def sequence_balance_loss(
    scores_TxE: Array, experts_TxK: Array, where_T: Array | None = None
) -> Array:
    """Sequence-level balance loss of one sequence (DeepSeek-V3 eq. 17-20, used by GLM-4.5):

        L = sum_i f_i P_i,  f_i = E / (k T) * #{t : i in TopK_t},  P_i = mean_t s'_{t,i},

    with s'_t = s_t / sum_j s_{t,j} the normalised sigmoid scores and T the valid tokens. Equals
    1 for perfectly uniform routing. vmap over sequences and scale by the coefficient (GLM-4.5:
    1e-4). [reconstructed] from the DeepSeek-V3 report; the GLM-4.5 report only names the loss.
    """
    chex.assert_rank([scores_TxE, experts_TxK], 2)
    t, e = scores_TxE.shape
    k = experts_TxK.shape[-1]
    w = jnp.ones((t,), jnp.float32) if where_T is None else where_T.astype(jnp.float32)
    n = jnp.maximum(w.sum(), 1.0)
    counts = (jax.nn.one_hot(experts_TxK, e, dtype=jnp.float32).sum(1) * w[:, None]).sum(0)
    f = counts * e / (k * n)
    s_norm = scores_TxE / (jnp.sum(scores_TxE, axis=-1, keepdims=True) + 1e-20)
    p = (s_norm * w[:, None]).sum(0) / n
    return jnp.sum(f * p)


class MoE(nnx.Module):
    """Routed experts plus shared expert(s); `__call__` returns (output, aux) where aux holds the
    per-expert `load` [E] and the mean sequence balance loss `balance_loss` (unscaled)."""

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        d, e, f = cfg.hidden_size, cfg.num_experts, cfg.moe_intermediate_size
        self.cfg = cfg
        self.router = make_param(rngs, (d, e), ("embed", None), cfg)
        self.router_bias = RouterBias(jnp.zeros((e,), jnp.float32), logical_axes=(None,))
        self.gate = make_param(rngs, (e, d, f), ("expert", "embed", "mlp"), cfg)
        self.up = make_param(rngs, (e, d, f), ("expert", "embed", "mlp"), cfg)
        self.down = make_param(rngs, (e, f, d), ("expert", "mlp", "embed"), cfg)
        if cfg.num_shared_experts > 0:
            self.shared = MLP(cfg, f * cfg.num_shared_experts, rngs=rngs)

    def _dense_experts(self, x_NxD: Array, routing: Routing) -> Array:
        dt = self.cfg.compute_dtype
        e = self.cfg.num_experts
        combine_NxE = (
            jax.nn.one_hot(routing.experts_NxK, e, dtype=jnp.float32) * routing.gates_NxK[..., None]
        ).sum(axis=1)
        g = jnp.einsum("nd,edf->nef", x_NxD, self.gate[...].astype(dt))
        u = jnp.einsum("nd,edf->nef", x_NxD, self.up[...].astype(dt))
        h = jax.nn.silu(g) * u * combine_NxE[..., None].astype(dt)
        return jnp.einsum("nef,efd->nd", h, self.down[...].astype(dt))

    def _ragged_experts(self, x_NxD: Array, routing: Routing) -> Array:
        dt = self.cfg.compute_dtype
        n, k = routing.experts_NxK.shape
        flat_experts = routing.experts_NxK.reshape(-1)
        order = jnp.argsort(flat_experts, stable=True)
        token_of_slot = order // k
        x_sorted = x_NxD[token_of_slot]
        group_sizes = jnp.bincount(flat_experts, length=self.cfg.num_experts).astype(jnp.int32)
        g = jax.lax.ragged_dot(x_sorted, self.gate[...].astype(dt), group_sizes)
        u = jax.lax.ragged_dot(x_sorted, self.up[...].astype(dt), group_sizes)
        y = jax.lax.ragged_dot(jax.nn.silu(g) * u, self.down[...].astype(dt), group_sizes)
        y = y * routing.gates_NxK.reshape(-1)[order][:, None].astype(dt)
        return jnp.zeros_like(x_NxD).at[token_of_slot].add(y)

    def __call__(self, x_BxTxD: Array, where_BxT: Array | None = None) -> tuple[Array, dict]:
        cfg = self.cfg
        b, t, d = x_BxTxD.shape
        x_NxD = x_BxTxD.reshape(b * t, d)
        logits = jnp.einsum(
            "nd,de->ne", x_NxD.astype(jnp.float32), self.router[...].astype(jnp.float32)
        )
        routing = route(
            logits,
            self.router_bias[...],
            top_k=cfg.num_experts_per_tok,
            routed_scaling_factor=cfg.routed_scaling_factor,
            norm_topk_prob=cfg.norm_topk_prob,
        )
        if cfg.moe_impl == "ragged":
            y_NxD = self._ragged_experts(x_NxD, routing)
        else:
            y_NxD = self._dense_experts(x_NxD, routing)
        y = constrain(y_NxD.reshape(b, t, d), ("batch", "length", "embed"))
        if cfg.num_shared_experts > 0:
            y = y + self.shared(x_BxTxD)
        where_N = None if where_BxT is None else where_BxT.reshape(-1)
        load = expert_load(jax.lax.stop_gradient(routing.experts_NxK), cfg.num_experts, where_N)
        balance = jax.vmap(sequence_balance_loss)(
            routing.scores_NxE.reshape(b, t, -1),
            routing.experts_NxK.reshape(b, t, -1),
            None if where_BxT is None else where_BxT,
        )
        return y.astype(x_BxTxD.dtype), {"load": load, "balance_loss": jnp.mean(balance)}
