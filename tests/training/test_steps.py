"""Train steps: the training forward matches the sampler, SFT learns, and the RL update is the
same on 1 device and on 8 simulated devices with (8,1,1) and (2,2,2) meshes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax.models import Transformer, make_mesh, make_sampler, shard_state, tiny_config
from empg_jax.training import answer_log_probs, create_state, make_optimizer, rl_update, sft_step
from empg_jax.training.steps import jit_rl_update

CFG = tiny_config(
    vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64
)
S, P, L = 16, 12, 6
RL = {
    "estimator": "grpo",
    "scope": "episode",
    "invalid_penalty": 0.1,
    "dynamic_sampling": False,
    "pass_rate_range": None,
    "empg": {"k": 1.0, "k_future": 1.0, "zeta": 0.1},
    "clip_low": 0.2,
    "clip_high": 0.28,
    "dual_clip": 3.0,
    "aggregation": "token-mean",
    "kl_coef": 0.01,
    "kl_kind": "k3",
    "entropy_coef": 0.001,
    "epochs": 2,
    "minibatch_rows": 4,
}


def _model():
    return nnx.split(Transformer(CFG, rngs=nnx.Rngs(0)), nnx.Param)


def _prompts(key):
    tokens = jax.random.randint(key, (S, P), 3, 64)
    lengths = jax.random.randint(jax.random.fold_in(key, 1), (S,), 3, P + 1)
    mask = jnp.arange(P)[None] >= (P - lengths)[:, None]
    return jnp.where(mask, tokens, 0), mask


def _rl_batch(graphdef, params):
    prompt, pmask = _prompts(jax.random.PRNGKey(1))
    out = make_sampler(graphdef, max_new_tokens=L)(
        params, prompt, pmask, jax.random.PRNGKey(2), jnp.asarray([5]), temperature=1.3
    )
    n_ep, t = 8, 2
    valid = jnp.asarray(np.tile([True, True], n_ep) & (np.arange(S) % 4 != 3))
    return {
        "prompt_tokens": prompt,
        "answer_tokens": out.tokens,
        "answer_mask": out.mask & valid[:, None],
        "old_log_probs": out.log_probs,
        "token_entropy": out.entropies,
        "valid": valid,
        "invalid_format": jnp.asarray(np.arange(S) % 5 == 0),
        "invalid_action": jnp.zeros((S,), bool),
        "episode_id": jnp.repeat(jnp.arange(n_ep, dtype=jnp.int32), t),
        "group_id": jnp.repeat(jnp.arange(n_ep, dtype=jnp.int32) // 4, t),
        "step_index": jnp.tile(jnp.arange(t, dtype=jnp.int32), n_ep),
        "next_step": jnp.asarray(
            np.where(
                (np.arange(S) % 2 == 0) & np.asarray(valid) & np.roll(np.asarray(valid), -1),
                np.arange(S) + 1,
                -1,
            ).astype(np.int32)
        ),
        "reward": jnp.repeat(jnp.asarray([10.0, 0, 0, 10, 10, 10, 0, 10]), t),
        "won": jnp.repeat(jnp.asarray([1, 0, 0, 1, 1, 1, 0, 1], bool), t),
        "score": jnp.zeros((S,)),
        "length": jnp.full((S,), t, jnp.int32),
        "task_type": jnp.zeros((S,), jnp.int32),
        "temperature": jnp.float32(1.3),
    }


def test_training_forward_matches_sampler_log_probs():
    graphdef, params = _model()
    batch = _rl_batch(graphdef, params)
    logp, _ = jax.jit(lambda p, a, b, m: answer_log_probs(graphdef, p, a, b, m, 1.3))(
        params, batch["prompt_tokens"], batch["answer_tokens"], batch["answer_mask"]
    )
    m = np.asarray(batch["answer_mask"])
    np.testing.assert_allclose(
        np.asarray(logp)[m], np.asarray(batch["old_log_probs"])[m], atol=2e-5
    )


def test_cosine_schedule_warms_up_then_anneals_to_a_tenth():
    # A constant unit gradient makes every Adam step move the parameter by about -lr(t).
    opt = make_optimizer(1e-2, 0.0, 0.0, decay_steps=100, warmup_steps=10)
    x = jnp.zeros(())
    state = opt.init(x)
    moves = []
    for _ in range(120):
        updates, state = opt.update(jnp.ones(()), state, x)
        moves.append(-float(updates))
    moves = np.asarray(moves)
    np.testing.assert_allclose(moves[[0, 5, 10]], [0.0, 5e-3, 1e-2], rtol=1e-3, atol=1e-7)
    assert np.all(np.diff(moves[10:100]) < 0)  # cosine decay after the warm-up
    np.testing.assert_allclose(moves[100:], 1e-3, rtol=1e-3)  # then lr / 10
    constant = make_optimizer(1e-2, 0.0, 0.0)
    updates, _ = constant.update(jnp.ones(()), constant.init(x), x)
    np.testing.assert_allclose(-float(updates), 1e-2, rtol=1e-3)


def test_sft_step_lowers_the_loss():
    graphdef, params = _model()
    opt = make_optimizer(3e-3, 0.0, 1.0)
    state = create_state(params, opt, jax.random.PRNGKey(0), False)
    prompt, _ = _prompts(jax.random.PRNGKey(4))
    answer = jnp.tile(jnp.asarray([7, 8, 9, 5, 0, 0]), (S, 1))
    batch = {"prompt_tokens": prompt, "answer_tokens": answer, "answer_mask": answer != 0}
    step = jax.jit(lambda s, b: sft_step(graphdef, opt, s, b))
    losses = []
    for _ in range(15):
        state, m = step(state, batch)
        losses.append(float(m["sft_loss"]))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.sharded
@pytest.mark.slow
def test_rl_update_sharded_equals_single_device():
    graphdef, params = _model()
    batch = _rl_batch(graphdef, params)
    opt = make_optimizer(1e-2, 0.01, 1.0)
    single = create_state(params, opt, jax.random.PRNGKey(5), True)
    ref_state, ref_m = jax.jit(lambda s, b: rl_update(graphdef, opt, RL, s, b))(single, batch)
    ref_state = jax.block_until_ready(ref_state)
    assert int(ref_m["num_updates"]) == 2 * 3  # 12 valid rows / 4 per mini-batch, 2 epochs
    for shape in [(8, 1, 1), (2, 2, 2)]:
        mesh = make_mesh(shape)
        p_sh = shard_state(params, mesh)
        state = jax.jit(lambda p, k: create_state(p, opt, k, True))(p_sh, jax.random.PRNGKey(5))
        shardings = jax.tree.map(lambda x: x.sharding, state)
        from jax.sharding import NamedSharding, PartitionSpec

        def spec(x, mesh=mesh):
            if np.ndim(x) == 0:
                return NamedSharding(mesh, PartitionSpec())
            return NamedSharding(mesh, PartitionSpec(("data", "fsdp")))

        b_sh = jax.tree.map(spec, batch)
        step = jit_rl_update(graphdef, opt, RL, shardings, b_sh)
        with jax.set_mesh(mesh):
            new, m = step(state, jax.device_put(batch, b_sh))
            new = jax.block_until_ready(new)
        for k in ("loss", "pg_loss", "kl", "grad_norm", "clip_fraction"):
            np.testing.assert_allclose(float(m[k]), float(ref_m[k]), atol=1e-5, err_msg=k)
        for a, b in zip(
            jax.tree.leaves(new.params), jax.tree.leaves(ref_state.params), strict=True
        ):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
        emb = new.params["embed"].get_value()
        assert len(emb.sharding.device_set) == 8


def test_sft_prompt_weight_keeps_the_answer_loss_and_trains_the_prompt():
    graphdef, params = _model()
    opt = make_optimizer(3e-3, 0.0, 1.0)
    prompt, _ = _prompts(jax.random.PRNGKey(4))
    answer = jnp.tile(jnp.asarray([7, 8, 9, 5, 0, 0]), (S, 1))
    batch = {"prompt_tokens": prompt, "answer_tokens": answer, "answer_mask": answer != 0}
    out = {}
    for w in (0.0, 1.0):
        state = create_state(params, opt, jax.random.PRNGKey(0), False)
        step = jax.jit(lambda s, b, w=w: sft_step(graphdef, opt, s, b, prompt_weight=w))
        _, m0 = step(state, batch)
        out[w] = m0
    # Same params: the answer NLL is the same whether or not prompt logits are computed.
    np.testing.assert_allclose(float(out[0.0]["sft_loss"]), float(out[1.0]["sft_loss"]), rtol=1e-5)
    assert float(out[0.0]["sft_prompt_loss"]) == 0.0
    # Prompt NLL of a uniform-ish init is about log V and positive.
    assert 0.5 * np.log(64) < float(out[1.0]["sft_prompt_loss"]) < 2 * np.log(64)
