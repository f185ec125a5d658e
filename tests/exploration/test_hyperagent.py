"""Tests for linear / neural HyperAgent and the linear bandit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.exploration import bandits
from empg_jax.exploration import hyperagent as ha
from empg_jax.exploration import posterior as post
from empg_jax.testing import run_variants


def test_bandit_pull_and_regret():
    env = bandits.make_linear_bandit(jax.random.key(0), dim=3, num_arms=5, noise_std=0.5)
    np.testing.assert_allclose(jnp.linalg.norm(env.arms, axis=-1), 1.0, rtol=1e-5)
    means = bandits.mean_rewards(env)
    best = int(jnp.argmax(means))
    for name, (reward, regret) in run_variants(bandits.pull, jax.random.key(1), env, jnp.int32(2)):
        np.testing.assert_allclose(regret, means[best] - means[2], rtol=1e-6, err_msg=name)
        assert abs(float(reward - means[2])) < 5 * 0.5, name
    with pytest.raises(ValueError, match="noise_std"):
        bandits.make_linear_bandit(jax.random.key(0), noise_std=0.0)
    with pytest.raises(ValueError, match="num_arms"):
        bandits.make_linear_bandit(jax.random.key(0), num_arms=1)


def test_regret_summary_linear_vs_sublinear():
    flat = np.ones((4, 300))  # linear regret: late share equals the linear share
    decaying = np.tile(1.0 / np.sqrt(np.arange(1, 301)), (4, 1))
    assert bandits.regret_summary(flat, 100)["late_slope"] == pytest.approx(1.0)
    assert bandits.regret_summary(decaying, 100)["late_slope"] < 0.8
    heavy = np.ones((10, 5))
    heavy[0] *= 50
    assert bandits.regret_summary(heavy, 5)["tail"] > 5
    with pytest.raises(ValueError, match="late_window"):
        bandits.regret_summary(flat, 0)


def test_run_linear_agent_jitted_and_vmapped():
    # A scan compiles as a whole even un-jitted, so the cheap-to-compile jit stands in for it.
    env = bandits.make_linear_bandit(jax.random.key(0), dim=3, num_arms=6)

    def run(key, env):
        return ha.run_linear_agent(key, env, 30, "hyperagent", 4)

    single = jax.jit(run, compiler_options=ha.FAST_COMPILE)(jax.random.key(1), env)
    assert single.shape == (30,) and bool(jnp.all(single >= 0))
    # vmapped over (key, env) pairs: row 0 repeats the single run, row 1 is another seed.
    keys = jnp.stack([jax.random.key(1), jax.random.key(2)])
    envs = jax.tree.map(lambda x: jnp.stack([x, x]), env)
    both = jax.jit(jax.vmap(run), compiler_options=ha.FAST_COMPILE)(keys, envs)
    np.testing.assert_allclose(both[0], single, atol=1e-5)
    assert not np.allclose(both[1], single)
    with pytest.raises(ValueError, match="unknown linear agent"):
        ha.run_linear_agent(jax.random.key(0), env, 5, agent="ucb")


@pytest.mark.slow
def test_linear_bandit_reduced_pass_criteria():
    """Reduced seed system (b) check: d=5, K=50, T=1000, 24 seeds, one program for all agents."""
    d, t = 5, 1000
    agents = (("ts", 1), ("greedy", 1), ("hyperagent", 2 * d), ("ensemble", 2))
    keys = jax.random.split(jax.random.key(0), 24)
    regret = np.asarray(ha.run_linear_sweep(keys, agents, t, dim=d, num_arms=50))
    ts, greedy, hyper, ens = (bandits.regret_summary(r, t // 3) for r in regret)
    assert hyper["mean"] <= 1.25 * ts["mean"], (hyper, ts)
    assert hyper["late_slope"] < 0.6 and ts["late_slope"] < 0.6, (hyper, ts)
    assert greedy["late_slope"] > 0.75 and greedy["mean"] > 3 * ts["mean"], greedy
    assert ens["mean"] > 1.2 * ts["mean"] and ens["tail"] > hyper["tail"], (ens, hyper)


def _tiny_hypermodel():
    cfg = ha.HypermodelConfig(num_index=3, hidden=(8,), num_actions=2, prior_scale=2.0)
    params, prior = ha.hypermodel_init(jax.random.key(0), 4, cfg)
    return cfg, params, prior


def test_hypermodel_apply_matches_formula():
    cfg, params, prior = _tiny_hypermodel()
    x = jax.random.normal(jax.random.key(1), (5, 4))
    xi = post.sample_index(jax.random.key(2), 3, "gs", (2,))

    def feats(p, x):
        w, b = p.layers[0]
        return np.maximum(np.asarray(x) @ np.asarray(w) + np.asarray(b), 0.0)

    h, h0 = feats(params, x), feats(prior, x)
    want = np.zeros((5, 2, 2))
    for j in range(2):
        for a in range(2):
            theta = np.asarray(params.head_w[a]) @ np.asarray(xi[j]) + np.asarray(params.head_b[a])
            theta0 = np.asarray(prior.head_w[a]) @ np.asarray(xi[j]) + np.asarray(prior.head_b[a])
            want[:, j, a] = h @ theta + 2.0 * h0 @ theta0
    for name, out in run_variants(ha.hypermodel_apply, params, prior, x, xi, config=cfg):
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5, err_msg=name)
    # Prior rows are unit vectors times prior_std (spec (b) "Hypermodel").
    np.testing.assert_allclose(jnp.linalg.norm(prior.head_w, axis=-1), 1.0, rtol=1e-5)


def test_hypermodel_loss_value_and_frozen_prior():
    cfg, params, prior = _tiny_hypermodel()
    n = 6
    x = jax.random.normal(jax.random.key(3), (n, 4))
    a = jnp.asarray([0, 1, 0, 1, 1, 0])
    y = jnp.linspace(-1.0, 1.0, n)
    z = post.sample_perturbation(jax.random.key(4), 3, "sp", (n,))
    xi = post.update_index_set(jax.random.key(5), 3, "pm")
    f = np.asarray(ha.hypermodel_apply(params, prior, x, xi, cfg))
    f_sel = f[np.arange(n), :, np.asarray(a)]
    target = np.asarray(y)[:, None] + cfg.noise_std * np.asarray(z) @ np.asarray(xi).T
    theta = np.einsum("afm,jm->jaf", params.head_w, xi) + np.asarray(params.head_b)
    want = np.mean((target - f_sel) ** 2) + cfg.weight_decay / 10.0 * np.mean(theta**2)
    args = (params, prior, x, a, y, z, xi, jnp.float32(10.0))
    for name, (loss, metrics) in run_variants(ha.hypermodel_loss, *args, config=cfg):
        np.testing.assert_allclose(loss, want, rtol=1e-5, err_msg=name)
        assert set(metrics) == {"mse", "reg"}, name
    g_prior = jax.jit(jax.grad(lambda pr: ha.hypermodel_loss(params, pr, *args[2:], cfg)[0]))(prior)
    assert all(float(jnp.abs(leaf).max()) == 0.0 for leaf in jax.tree.leaves(g_prior))
    g = jax.jit(jax.grad(lambda p: ha.hypermodel_loss(p, prior, *args[2:], cfg)[0]))(params)
    assert float(jnp.abs(g.head_w).max()) > 0.0


def test_neural_config_and_errors():
    ens = ha.neural_agent_config("ensemble")
    assert (ens.index_kind, ens.update_kind, ens.buffer_kind) == ("oh", "oh", "gs")
    assert ha.neural_agent_config("greedy").hypermodel.prior_scale == 0.0
    assert ha.neural_agent_config(batch_size=7).batch_size == 7
    with pytest.raises(ValueError, match="unknown neural agent"):
        ha.neural_agent_config("ucb")


@pytest.mark.slow
def test_neural_hyperagent_beats_greedy_reduced():
    """Neural hypermodel explores: lower regret than the same network acting greedily.

    The experiment's neural setting (d=10, K=100, sigma=0.1, MLP 64x2, one Adam step per pull)
    shortened to 600 pulls and 4 seeds.
    """
    keys = jax.random.split(jax.random.key(0), 4)
    out = {}
    for agent in ("hyperagent", "greedy"):
        cfg = ha.neural_agent_config(agent, update_every=1)
        cfg = cfg._replace(hypermodel=cfg.hypermodel._replace(noise_std=0.1))
        out[agent] = np.asarray(ha.run_neural_seeds(keys, 600, cfg, 10, 100, 0.1))
    hyper, greedy = (bandits.regret_summary(out[a], 100) for a in ("hyperagent", "greedy"))
    assert hyper["mean"] < greedy["mean"], (hyper, greedy)
    assert hyper["late"] < 0.5 * greedy["late"], (hyper, greedy)
