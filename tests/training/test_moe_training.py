"""MoE policies in the trainer: per-iteration expert-load metrics and the loss-free balance update
of the router biases (GLM-4.5 / DeepSeek-V3; `models.moe`, `training.steps` docstring)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax.models import Transformer, tiny_config
from empg_jax.training import read_jsonl, train
from empg_jax.training.steps import balance_router_biases, moe_load_metrics
from tests.agents.toy_env import toy_config

MOE = {
    "model.num_layers": 2,
    "model.num_experts": 4,
    "model.experts_per_token": 2,
    "model.moe_intermediate_size": 16,
    "model.first_dense_layers": 1,
}


def test_balance_router_biases_steps_from_the_old_bias():
    cfg = tiny_config(
        vocab_size=64, hidden_size=16, num_layers=3, num_heads=2, num_kv_heads=1,
        intermediate_size=32, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=8,
        first_k_dense=1,
    )  # fmt: skip
    graphdef, old = nnx.split(Transformer(cfg, rngs=nnx.Rngs(0)))
    # An optimiser step moved every leaf, router biases included (e.g. weight decay).
    new = jax.tree.map(lambda x: x + 1.0, old)
    load = jnp.asarray([[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4]])
    out = nnx.merge(graphdef, balance_router_biases(graphdef, new, old, load, 0.01))
    biases = [np.asarray(layer.mlp.router_bias[...]) for layer in out.layers if layer.is_moe]
    np.testing.assert_allclose(biases[0], [-0.01, 0.0, 0.0, 0.01])
    np.testing.assert_allclose(biases[1], [0.01, 0.01, -0.01, -0.01])
    # Every other leaf keeps the optimiser's value.
    np.testing.assert_allclose(np.asarray(out.embed[...]), np.asarray(new["embed"].get_value()))
    metrics = moe_load_metrics(load)
    np.testing.assert_allclose(float(metrics["moe/load_max_over_mean"]), 2.0)
    np.testing.assert_allclose(float(metrics["moe/load_min_over_mean"]), 0.0)


@pytest.mark.slow
def test_moe_policy_trains_and_logs_expert_load(tmp_path):
    rate = 0.01
    c = toy_config(**MOE, **{"sft.steps": 3, "rl.iterations": 2, "model.moe_bias_rate": rate})
    summary = train(c, tmp_path)
    recs = read_jsonl(tmp_path / "metrics.jsonl")
    rl = [r for r in recs if r["phase"] == "rl"]
    sft = [r for r in recs if r["phase"] == "sft"]
    assert len(rl) == 2 and len(sft) == 3
    for r in rl + sft:
        assert 1.0 <= r["moe/load_max_over_mean"] <= c.model.num_experts
        assert 0.0 <= r["moe/load_min_over_mean"] <= 1.0
    assert any(r["moe/load_max_over_mean"] > 1.0 for r in rl)  # tiny random routers are uneven
    # The biases moved by whole steps of `rate`, at most one per optimiser step.
    model = nnx.merge(summary["experiment"].graphdef, summary["state"].params)
    assert model.cfg.num_moe_layers == 1 and not model.layers[0].is_moe
    bias = np.asarray(model.layers[1].mlp.router_bias[...])
    updates = len(sft) + sum(int(r["num_updates"]) for r in rl)
    steps = bias / rate
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert 0 < np.abs(steps).max() <= updates
