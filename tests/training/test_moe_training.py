"""MoE policies in the trainer: per-iteration expert-load metrics and the loss-free balance update
of the router biases (GLM-4.5 / DeepSeek-V3; `models.balance_router_biases`)."""

import numpy as np
import pytest
from flax import nnx

from empg_jax.training import read_jsonl, train
from tests.agents.toy_env import toy_config

MOE = {
    "model.num_layers": 2,
    "model.num_experts": 4,
    "model.experts_per_token": 2,
    "model.moe_intermediate_size": 16,
    "model.first_dense_layers": 1,
}


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
