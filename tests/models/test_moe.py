"""GLM-4.5-style MoE: routing, loss-free bias balancing, balance loss, dense vs ragged experts."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax import models
from empg_jax.testing import run_variants

LOGITS = jax.random.normal(jax.random.key(0), (6, 8))


def test_route_gates_use_unbiased_normalised_scores():
    bias = jnp.array([0.0, 0.0, 3.0, 0.0, 0.0, -3.0, 0.0, 0.0])
    for name, out in run_variants(
        models.route, LOGITS, bias, top_k=2, routed_scaling_factor=2.5, norm_topk_prob=True
    ):
        scores = jax.nn.sigmoid(LOGITS)
        picked = np.take_along_axis(np.asarray(scores), np.asarray(out.experts_NxK), -1)
        want = 2.5 * picked / picked.sum(-1, keepdims=True)
        np.testing.assert_allclose(out.gates_NxK, want, rtol=1e-6, err_msg=name)
        # The +3 bias forces expert 2 into every top-2; the -3 bias keeps expert 5 out.
        assert (np.asarray(out.experts_NxK) == 2).any(-1).all(), name
        assert not (np.asarray(out.experts_NxK) == 5).any(), name


def test_bias_affects_selection_only():
    """Shifting every bias equally changes nothing; the bias gets no gradient."""
    plain = models.route(LOGITS, jnp.zeros(8), top_k=3)
    shifted = models.route(LOGITS, jnp.full(8, 0.7), top_k=3)
    np.testing.assert_array_equal(plain.experts_NxK, shifted.experts_NxK)
    np.testing.assert_allclose(plain.gates_NxK, shifted.gates_NxK)

    def total_gate(bias):
        return models.route(LOGITS, bias, top_k=3).gates_NxK.sum()

    np.testing.assert_array_equal(jax.grad(total_gate)(jnp.ones(8)), np.zeros(8))


def test_expert_load_and_bias_update():
    experts = jnp.array([[0, 1], [0, 2], [0, 1], [3, 3]])
    where = jnp.array([True, True, True, False])
    load_fn = functools.partial(models.expert_load, num_experts=4)
    for name, load in run_variants(lambda ex, w: load_fn(ex, where_N=w), experts, where):
        np.testing.assert_allclose(load, [0.5, 2 / 6, 1 / 6, 0.0], rtol=1e-6, err_msg=name)
    load = jnp.array([0.5, 2 / 6, 1 / 6, 0.0])
    for name, new in run_variants(models.update_router_bias, jnp.zeros(4), load, 0.01):
        np.testing.assert_allclose(new, [-0.01, -0.01, 0.01, 0.01], err_msg=name)


def test_sequence_balance_loss_is_one_when_uniform():
    e, k, t = 4, 2, 8
    scores = jnp.full((t, e), 0.5)
    experts = jnp.array([[0, 1], [2, 3]] * 4)
    for name, loss in run_variants(models.sequence_balance_loss, scores, experts, jnp.ones(t)):
        np.testing.assert_allclose(loss, 1.0, rtol=1e-6, err_msg=name)
    skewed = models.sequence_balance_loss(
        jnp.tile(jnp.array([0.9, 0.9, 0.1, 0.1]), (t, 1)), jnp.tile(jnp.array([0, 1]), (t, 1))
    )
    assert float(skewed) > 1.5  # f = (2, 2, 0, 0), P = (0.45, 0.45, 0.05, 0.05) -> 1.8
    assert k == experts.shape[1]


@pytest.mark.slow
def test_loss_free_balancing_check_experiment():
    """Seed system (i) check 1: 16 experts, top-2, d=64, router skewed by +2 on 3 experts, u=0.01:
    the max/min load ratio falls from > 5 to < 1.3 within 200 steps.

    The ratio is measured on the load averaged over the last 20 steps: with a fixed-size sign
    step the bias keeps oscillating by +-u, so single-step loads wander between ~1.2 and ~1.5.
    """
    d, e, n, steps = 64, 16, 4096, 200
    w = jax.random.normal(jax.random.key(1), (d, e)) / jnp.sqrt(d)
    skew = jnp.zeros(e).at[:3].set(2.0)

    def load_of(bias, key):
        x = jax.random.normal(key, (n, d))
        routing = models.route(x @ w + skew, bias, top_k=2)
        return models.expert_load(routing.experts_NxK, e)

    @jax.jit
    def run(key):
        def step(bias, key):
            load = load_of(bias, key)
            return models.update_router_bias(bias, load, 0.01), load

        bias, loads = jax.lax.scan(step, jnp.zeros(e), jax.random.split(key, steps))
        return bias, loads

    bias, loads = run(jax.random.key(2))
    ratio = lambda load: float(load.max() / jnp.maximum(load.min(), 1e-9))  # noqa: E731
    assert ratio(loads[0]) > 5
    assert ratio(loads[-20:].mean(0)) < 1.3
    assert float(bias[:3].max()) < 0 < float(bias[3:].min())


MOE_CFG = models.ModelConfig(
    vocab_size=64,
    hidden_size=32,
    num_layers=2,
    num_heads=4,
    num_kv_heads=2,
    intermediate_size=64,
    num_experts=4,
    num_experts_per_tok=2,
    moe_intermediate_size=16,
    first_k_dense=1,
    routed_scaling_factor=2.5,
    moe_aux_loss_coef=1e-2,
)


@functools.partial(jax.jit, static_argnums=0)
def _forward(graphdef, state, tokens, segment_ids):
    return nnx.merge(graphdef, state)(tokens, segment_ids=segment_ids, return_aux=True)


@pytest.mark.slow
def test_dense_and_ragged_experts_agree_and_report_load():
    tokens = jax.random.randint(jax.random.key(4), (2, 10), 0, 64)
    seg = jnp.ones((2, 10), jnp.int32).at[1, 7:].set(0)
    outs = []
    for impl in ("dense", "ragged"):
        model = models.Transformer(MOE_CFG.replace(moe_impl=impl), rngs=nnx.Rngs(0))
        model.layers[1].mlp.router_bias[...] = jnp.array([0.3, 0.0, -0.2, 0.1])
        outs.append(_forward(*nnx.split(model), tokens, seg))
    (dense, aux), (ragged, aux_r) = outs
    np.testing.assert_allclose(dense, ragged, atol=1e-5)
    assert aux["expert_load"].shape == (1, 4)
    np.testing.assert_allclose(aux["expert_load"].sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(aux["expert_load"], aux_r["expert_load"])
    np.testing.assert_allclose(aux["moe_aux_loss"], 1e-2 * aux["balance_loss"].sum(), rtol=1e-6)


@pytest.mark.slow
def test_router_bias_is_not_a_param_and_gets_no_gradient():
    model = models.Transformer(MOE_CFG, rngs=nnx.Rngs(0))
    tokens = jax.random.randint(jax.random.key(5), (2, 10), 0, 64)

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)

    @jax.jit
    @jax.grad
    def grads_of(params):
        logits, aux = nnx.merge(graphdef, params, rest)(tokens, return_aux=True)
        return jnp.mean(logits**2) + aux["moe_aux_loss"]

    grads = grads_of(params)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(grads)]
    assert not any("router_bias" in p for p in paths)
    assert any("router" in p for p in paths)
    biases = nnx.state(model, models.RouterBias)
    assert len(jax.tree.leaves(biases)) == 1


def test_balance_router_biases_steps_from_the_old_bias():
    cfg = models.tiny_config(
        vocab_size=64, hidden_size=16, num_layers=3, num_heads=2, num_kv_heads=1,
        intermediate_size=32, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8,
        first_k_dense=1,
    )  # fmt: skip
    graphdef, old = nnx.split(models.Transformer(cfg, rngs=nnx.Rngs(0)))
    # An optimiser step moved every leaf, router biases included (e.g. weight decay).
    new = jax.tree.map(lambda x: x + 1.0, old)
    load = jnp.asarray([[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4]])
    out = nnx.merge(graphdef, models.balance_router_biases(new, old, load, 0.01))
    biases = [np.asarray(layer.mlp.router_bias[...]) for layer in out.layers if layer.is_moe]
    np.testing.assert_allclose(biases[0], [-0.01, 0.0, 0.0, 0.01])
    np.testing.assert_allclose(biases[1], [0.01, 0.01, -0.01, -0.01])
    # Every other leaf keeps the optimiser's value.
    np.testing.assert_allclose(np.asarray(out.embed[...]), np.asarray(new["embed"].get_value()))
    metrics = models.load_balance_metrics(load)
    np.testing.assert_allclose(float(metrics["moe/load_max_over_mean"]), 2.0)
    np.testing.assert_allclose(float(metrics["moe/load_min_over_mean"]), 0.0)
