"""The RL update's wiring against the independent reference of `rl_reference.py`.

Each test is built so that a plausible wiring bug fails it: the PPO ratio taken against the
current policy instead of the stored old log-probs, the KL taken against the current parameters
or a reference that moves, filtered rows leaking into the loss or into EMPG's statistics, step
entropy averaged over padding, a prompt mask derived from a literal pad id 0.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from empg_jax.training import (
    EMPGOptions,
    RLOptions,
    answer_log_probs,
    create_state,
    rl_advantages,
    rl_update,
)
from tests.training import rl_reference as ref

G, L = ref.G, ref.L

EMPG = {"k": 1.0, "k_future": 1.0, "zeta": 0.1}
BASE = RLOptions(clip_low=0.2, clip_high=0.28, dual_clip=3.0, epochs=1, minibatch_rows=64)


@pytest.fixture(scope="module")
def setup():
    graphdef, params = ref.model()
    return graphdef, params, ref.rollout_batch(graphdef, params)


def _sgd_update(graphdef, params, batch, opts, ref_params=None, lr=1.0):
    """One update with plain SGD (so the parameter change is -lr x the gradient)."""
    opt = optax.sgd(lr)
    params = jax.tree.map(jnp.copy, params)  # the step donates its state
    state = create_state(params, opt, jax.random.PRNGKey(3), ref_params is not None)
    if ref_params is not None:
        state = state.replace(ref_params=ref_params)
    step = jax.jit(lambda s, b: rl_update(graphdef, opt, opts, s, b))
    return step(state, batch)


def _perturbed(params, scale=0.05):
    """Parameters near `params`, as a KL reference that differs from the current policy."""
    return jax.tree.map(lambda x: x + scale * jnp.sin(jnp.arange(x.size).reshape(x.shape)), params)


def _grad_from_update(params, new_params, lr=1.0):
    return jax.tree.map(lambda a, b: (a - b) / lr, params, new_params)


def _assert_trees_close(a, b, rtol, atol, what):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=what)


def test_training_forward_matches_the_sampler_with_a_nonzero_pad_id(setup):
    """The training forward recomputes the sampler's log-probs at the rollout temperature, with
    the prompt mask of the batch: the prompts contain token 0 as a real token and pad with 5."""
    graphdef, params, batch = setup
    prompt = batch.flat(batch.prompt_NxTxP)
    assert bool(jnp.any((prompt == 0) & batch.flat(batch.prompt_mask_NxTxP)))
    logp, _, _ = jax.jit(
        lambda p, a, pm, b, m: answer_log_probs(graphdef, p, a, pm, b, m, ref.TEMPERATURE)
    )(
        params,
        prompt,
        batch.flat(batch.prompt_mask_NxTxP),
        batch.flat(batch.answer_NxTxL),
        batch.flat(batch.answer_mask_NxTxL),
    )
    m = np.asarray(batch.flat(batch.answer_mask_NxTxL))
    old = np.asarray(batch.flat(batch.old_log_probs_NxTxL))
    np.testing.assert_allclose(np.asarray(logp)[m], old[m], atol=2e-5)
    want, _ = ref.log_probs(graphdef, params, batch)  # the reference forward agrees with both
    np.testing.assert_allclose(np.asarray(want)[m], old[m], atol=2e-5)
    for r in (0, 5, 9):  # and so does the model run on one row's real tokens alone
        want = ref.row_log_probs(graphdef, params, batch, r)
        np.testing.assert_allclose(np.asarray(want)[m[r]], old[r][m[r]], atol=2e-5)


def test_step_entropy_is_the_mean_over_each_steps_answer_tokens(setup):
    """Unequal answer lengths, padded rows and garbage entropies at masked positions."""
    _, _, batch = setup
    mask = np.asarray(batch.answer_mask_NxTxL)
    assert len(set(mask.sum(-1).ravel())) > 2  # unequal lengths, and empty (padded) rows
    garbage = jnp.where(batch.answer_mask_NxTxL, batch.token_entropy_NxTxL, 50.0)
    noisy = batch.replace(token_entropy_NxTxL=garbage)
    _, _, aux = jax.jit(lambda b: rl_advantages(b, BASE))(noisy)
    np.testing.assert_allclose(np.asarray(aux["step_entropy"]), ref.step_entropy(batch), atol=1e-5)


@pytest.mark.parametrize("filters", ["none", "dynamic", "pass_rate"])
def test_advantages_match_numpy_with_empg_over_trained_rows(setup, filters):
    """EMPG's min-max, g's mean and the final zero-mean run over the trained rows only: the
    filtered group is given the batch's extreme step entropies, so statistics over every valid
    row would differ."""
    _, _, batch = setup
    reward = np.array([10.0, 0, 0, 10, 10, 10, 10, 10], np.float32)  # group 1 all equal
    batch = batch.replace(reward_N=jnp.asarray(reward), won_N=jnp.asarray(reward > 0))
    # A random-init policy is near-uniform (every entropy ~ log 64): spread them over [0, 3],
    # and give group 1 entropies above any of a 64-token softmax.
    ent = np.random.default_rng(0).uniform(0.0, 3.0, batch.token_entropy_NxTxL.shape)
    ent[G:] = 6.0
    batch = batch.replace(token_entropy_NxTxL=jnp.asarray(ent, jnp.float32))
    opts = {"none": {}, "dynamic": {"dynamic_sampling": True}}.get(
        filters, {"pass_rate_range": (0.0, 0.9)}
    )
    o = RLOptions(**opts, empg=EMPGOptions(**EMPG))
    adv, train, _ = jax.jit(lambda b: rl_advantages(b, o))(batch)
    want_adv, want_train = ref.advantages(
        batch,
        dynamic=filters == "dynamic",
        pass_rate=(0.0, 0.9) if filters == "pass_rate" else None,
        empg=EMPG,
    )
    np.testing.assert_array_equal(np.asarray(train), want_train)
    np.testing.assert_allclose(np.asarray(adv), want_adv, atol=2e-5)
    if filters != "none":
        assert not want_train[G * ref.T :].any()


def test_ppo_ratio_uses_the_stored_old_log_probs(setup):
    """Stored old log-probs shifted away from the current policy's: loss, clip fraction and
    gradient are the reference's, computed with the stored values."""
    graphdef, params, batch = setup
    shift = jax.random.uniform(jax.random.PRNGKey(9), batch.old_log_probs_NxTxL.shape, minval=-0.4)
    batch = batch.replace(old_log_probs_NxTxL=batch.old_log_probs_NxTxL + shift)
    adv, train = ref.advantages(batch)
    (_, want), grad = jax.jit(
        jax.value_and_grad(lambda p: ref.loss(graphdef, p, batch, adv, train), has_aux=True)
    )(params)
    assert 0.05 < float(want["clip_fraction"]) < 0.95
    new, m = _sgd_update(graphdef, params, batch, BASE)
    np.testing.assert_allclose(float(m["pg_loss"]), float(want["pg_loss"]), rtol=1e-4)
    np.testing.assert_allclose(float(m["clip_fraction"]), float(want["clip_fraction"]), atol=1e-6)
    np.testing.assert_allclose(float(m["policy_entropy"]), float(want["policy_entropy"]), rtol=1e-4)
    _assert_trees_close(_grad_from_update(params, new.params), grad, 2e-3, 2e-6, "gradient")


def test_kl_uses_the_frozen_reference_which_never_moves(setup):
    graphdef, params, batch = setup
    ref_params = _perturbed(params)
    adv, train = ref.advantages(batch)
    opts = dataclasses.replace(BASE, kl_coef=0.5, entropy_coef=0.01)
    (_, want), grad = jax.jit(
        jax.value_and_grad(
            lambda p: ref.loss(
                graphdef,
                p,
                batch,
                adv,
                train,
                kl_coef=0.5,
                ref_params=ref_params,
                entropy_coef=0.01,
            ),
            has_aux=True,
        )
    )(params)
    assert float(want["kl"]) > 1e-3
    new, m = _sgd_update(graphdef, params, batch, opts, ref_params=ref_params)
    np.testing.assert_allclose(float(m["kl"]), float(want["kl"]), rtol=1e-4)
    _assert_trees_close(_grad_from_update(params, new.params), grad, 2e-3, 2e-6, "gradient")
    # Many optimiser steps (2 epochs x 3 mini-batches): the reference is still the given one.
    many = dataclasses.replace(opts, epochs=2, minibatch_rows=5)
    new, m = _sgd_update(graphdef, params, batch, many, ref_params=ref_params, lr=0.1)
    assert int(m["num_updates"]) == 6
    _assert_trees_close(new.ref_params, ref_params, 0, 0, "reference moved")


@pytest.mark.parametrize("filters", ["dynamic", "pass_rate"])
def test_filtered_rows_contribute_nothing(setup, filters):
    """The update equals the update on the batch with the filtered groups physically removed."""
    graphdef, params, batch = setup
    reward = np.array([10.0, 0, 0, 10, 10, 10, 10, 10], np.float32)  # group 1 all equal
    batch = batch.replace(reward_N=jnp.asarray(reward), won_N=jnp.asarray(reward > 0))
    kw = {"dynamic_sampling": True} if filters == "dynamic" else {"pass_rate_range": (0.0, 0.9)}
    opts = dataclasses.replace(BASE, **kw, empg=EMPGOptions(**EMPG), kl_coef=0.1)
    kept = batch.episodes(np.arange(G))
    ref_params = _perturbed(params)
    full, m_full = _sgd_update(graphdef, params, batch, opts, ref_params=ref_params, lr=0.1)
    part, m_part = _sgd_update(graphdef, params, kept, opts, ref_params=ref_params, lr=0.1)
    assert int(m_full["num_train_rows"]) == int(m_part["num_train_rows"]) == 7
    for k in ("pg_loss", "kl", "clip_fraction", "adv_abs_mean", "empg_g_max"):
        np.testing.assert_allclose(float(m_full[k]), float(m_part[k]), rtol=1e-5, err_msg=k)
    _assert_trees_close(full.params, part.params, 1e-5, 1e-7, "parameters")


@pytest.mark.sharded
@pytest.mark.slow
def test_sharded_update_equals_the_single_device_reference(setup):
    """On 8 simulated devices, (8,1,1) and (2,2,2) meshes: the update's loss, KL and gradient
    are the independent reference's (not merely the same function on another mesh)."""
    from jax.sharding import NamedSharding, PartitionSpec

    from empg_jax.models import make_mesh, shard_state
    from empg_jax.training import jit_rl_update

    graphdef, params, batch = setup
    ref_params = _perturbed(params)
    opts = dataclasses.replace(BASE, kl_coef=0.5, empg=EMPGOptions(**EMPG))
    adv, train = ref.advantages(batch, empg=EMPG)
    (_, want), grad = jax.jit(
        jax.value_and_grad(
            lambda p: ref.loss(graphdef, p, batch, adv, train, kl_coef=0.5, ref_params=ref_params),
            has_aux=True,
        )
    )(params)
    opt = optax.sgd(1.0)
    for shape in [(8, 1, 1), (2, 2, 2)]:
        mesh = make_mesh(shape)
        copy = lambda t: jax.tree.map(jnp.copy, t)  # noqa: E731  (the step donates its state)
        p_sh, r_sh = shard_state(copy(params), mesh), shard_state(copy(ref_params), mesh)
        state = jax.jit(lambda p, r: create_state(p, opt, jax.random.PRNGKey(3), False))(p_sh, r_sh)
        state = state.replace(ref_params=r_sh)

        def spec(x, mesh=mesh):
            if np.ndim(x) == 0:
                return NamedSharding(mesh, PartitionSpec())
            return NamedSharding(mesh, PartitionSpec(("data", "fsdp")))

        b_sh = jax.tree.map(spec, batch)
        step = jit_rl_update(graphdef, opt, opts, jax.tree.map(lambda x: x.sharding, state), b_sh)
        with jax.set_mesh(mesh):
            new, m = step(state, jax.device_put(batch, b_sh))
            new = jax.block_until_ready(new)
        for k in ("pg_loss", "kl", "clip_fraction"):
            np.testing.assert_allclose(float(m[k]), float(want[k]), rtol=1e-4, atol=2e-5, err_msg=k)
        _assert_trees_close(_grad_from_update(params, new.params), grad, 2e-3, 1e-5, str(shape))
        assert len(new.params["embed"].get_value().sharding.device_set) == 8
