"""Sharding: the rules table, and forward / gradients / sampling on 8 simulated CPU devices equal
the single-device results (meshes over (data, fsdp, tensor), plus an expert axis for MoE)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from empg_jax import models
from empg_jax.ops import token_log_probs

# One layer keeps the eight compiles of this module affordable on 2 cores; every kind of
# parameter and activation constraint is still present.
CFG = models.ModelConfig(
    vocab_size=64, hidden_size=32, num_layers=1, num_heads=4, num_kv_heads=2, intermediate_size=64
)
MOE_CFG = CFG.replace(
    num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16, first_k_dense=0
)
B, T, N = 8, 8, 4


def test_logical_to_spec_rules():
    mesh = {"data": 2, "fsdp": 2, "tensor": 2, "expert": 1}
    assert models.logical_to_spec(("embed", "mlp"), mesh) == P("fsdp", "tensor")
    assert models.logical_to_spec(("batch", "length", "embed"), mesh) == P(
        ("data", "fsdp"), None, None
    )
    assert models.logical_to_spec(("expert", "embed", "mlp"), {"expert": 4, "fsdp": 2}) == P(
        "expert", "fsdp", None
    )
    # Axes that do not divide the dimension are dropped (odd vocabulary, batch of 2 on 8).
    assert models.logical_to_spec(("vocab", "embed"), mesh, (63, 32)) == P(None, "fsdp")
    assert models.logical_to_spec(("batch",), {"data": 8}, (2,)) == P(None)
    with pytest.raises(ValueError, match="unknown logical axis"):
        models.logical_to_spec(("channels",), mesh)
    with pytest.raises(ValueError, match="unknown mesh axes"):
        models.make_mesh((2, 2), ("data", "model"))


def _loss(graphdef, params, rest, tokens):
    logits, aux = nnx.merge(graphdef, params, rest)(tokens, return_aux=True)
    nll = -token_log_probs(logits[:, :-1], tokens[:, 1:]).mean()
    return nll + aux.get("moe_aux_loss", 0.0), logits


@functools.partial(jax.jit, static_argnums=0)
def _loss_and_grads(graphdef, params, rest, tokens):
    return jax.value_and_grad(functools.partial(_loss, graphdef), has_aux=True)(
        params, rest, tokens
    )


@functools.cache
def _setup(cfg):
    """Model, sampler and single-device reference results, computed once per config."""
    model = models.Transformer(cfg, rngs=nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tokens = jax.random.randint(jax.random.key(1), (B, T), 0, cfg.vocab_size)
    (loss, logits), grads = _loss_and_grads(graphdef, params, rest, tokens)
    sample = models.make_sampler(graphdef, max_new_tokens=N)
    mask = jnp.ones((B, T), bool).at[: B // 2, :3].set(False)
    stops = jnp.full((B, 1), -1)
    ref = None
    if cfg.num_experts == 0:
        ref = sample((params, rest), tokens, mask, jax.random.key(2), stops, 1.0)
    return graphdef, params, rest, tokens, mask, stops, sample, (loss, logits, grads, ref)


def _check_mesh(cfg, mesh_shape, axis_names=None):
    graphdef, params, rest, tokens, mask, stops, sample, reference = _setup(cfg)
    loss, logits, grads, ref = reference
    mesh = models.make_mesh(mesh_shape, axis_names)
    with jax.set_mesh(mesh):
        params_s = models.shard_state(params, mesh)
        rest_s = models.shard_state(rest, mesh)
        batch = jax.sharding.NamedSharding(
            mesh, models.logical_to_spec(("batch", None), mesh.shape)
        )
        tokens_s = jax.device_put(tokens, batch)
        (loss_s, logits_s), grads_s = _loss_and_grads(graphdef, params_s, rest_s, tokens_s)
        jax.block_until_ready(grads_s)
        if ref is not None:
            out = sample(
                (params_s, rest_s),
                tokens_s,
                jax.device_put(mask, batch),
                jax.random.key(2),
                stops,
                1.0,
            )
            jax.block_until_ready(out)
    np.testing.assert_allclose(loss_s, loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logits_s, logits, rtol=1e-5, atol=1e-5)
    for g_s, g in zip(jax.tree.leaves(grads_s), jax.tree.leaves(grads), strict=True):
        np.testing.assert_allclose(g_s, g, rtol=1e-5, atol=1e-5)
    if ref is not None:
        np.testing.assert_array_equal(out.tokens, ref.tokens)
        np.testing.assert_allclose(out.log_probs, ref.log_probs, atol=1e-5)
    return params_s


@pytest.mark.sharded
@pytest.mark.slow
@pytest.mark.parametrize("mesh_shape", [(8, 1, 1), (4, 2, 1), (2, 2, 2)])
def test_sharded_equals_single_device(mesh_shape):
    params_s = _check_mesh(CFG, mesh_shape)
    q = params_s["layers"][0]["attn"]["q"].get_value()
    want = {(8, 1, 1): P(), (4, 2, 1): P("fsdp"), (2, 2, 2): P("fsdp", "tensor")}[mesh_shape]
    assert q.sharding.spec == want or tuple(q.sharding.spec)[: len(want)] == tuple(want)


@pytest.mark.sharded
@pytest.mark.slow
def test_sharded_moe_on_expert_axis():
    """Forward and gradients only: sampling on a mesh is covered by the dense meshes above."""
    params_s = _check_mesh(MOE_CFG, (2, 1, 2, 2))
    gate = params_s["layers"][0]["mlp"]["gate"].get_value()
    assert tuple(gate.sharding.spec)[:3] == ("expert", None, "tensor")


@pytest.mark.sharded
def test_shard_module_places_optimizer_moments_like_params():
    model = models.Transformer(CFG, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(1e-3), wrt=nnx.Param)
    mesh = models.make_mesh((2, 2, 2))
    models.shard_module(model, mesh)
    models.shard_module(optimizer, mesh)
    w = model.layers[0].mlp.gate.get_value()
    mu = optimizer.opt_state[0].mu["layers"][0]["mlp"]["gate"].get_value()
    assert w.sharding.spec == P("fsdp", "tensor")
    assert mu.sharding.spec == w.sharding.spec
