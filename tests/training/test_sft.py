"""The SFT step and the optimiser schedule."""

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.training import SFTBatch, SFTOptions, create_state, make_optimizer, sft_step
from tests.training import rl_reference as ref


def _batch():
    rng = np.random.default_rng(4)
    prompt = rng.integers(3, 64, size=(16, 12))
    mask = np.arange(12)[None] >= (12 - rng.integers(3, 13, size=16))[:, None]
    answer = np.tile(np.asarray([7, 8, 9, 5, 0, 0]), (16, 1))
    return SFTBatch(
        jnp.asarray(np.where(mask, prompt, 0)),
        jnp.asarray(mask),
        jnp.asarray(answer),
        jnp.asarray(np.arange(6)[None] < 4).repeat(16, 0),
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
    graphdef, params = ref.model()
    opt = make_optimizer(3e-3, 0.0, 1.0)
    state = create_state(params, opt, jax.random.PRNGKey(0), False)
    step = jax.jit(lambda s, b: sft_step(graphdef, opt, SFTOptions(), s, b))
    losses = []
    for _ in range(15):
        state, m = step(state, _batch())
        losses.append(float(m["sft_loss"]))
    assert losses[-1] < 0.5 * losses[0]


def test_sft_answer_loss_is_the_reference_nll_and_prompt_weight_adds_the_prompt_nll():
    """The answer NLL equals a NumPy NLL of the model applied to each row's real tokens; the
    prompt term trains the prompt tokens without changing the answer term."""
    graphdef, params = ref.model()
    batch = _batch()
    opt = make_optimizer(3e-3, 0.0, 1.0)
    out = {}
    for w in (0.0, 1.0):
        state = create_state(params, opt, jax.random.PRNGKey(0), False)
        step = jax.jit(lambda s, b, w=w: sft_step(graphdef, opt, SFTOptions(w), s, b))
        _, out[w] = step(state, batch)
    from flax import nnx

    model = nnx.merge(graphdef, params)
    nll, count = 0.0, 0
    for r in range(16):
        toks = np.concatenate(
            [np.asarray(batch.prompt_BxP[r])[np.asarray(batch.prompt_mask_BxP[r])], [7, 8, 9, 5]]
        )
        logp = np.asarray(jax.nn.log_softmax(model(jnp.asarray(toks)[None])[0]))
        n = len(toks) - 4
        nll -= sum(logp[n - 1 + j, toks[n + j]] for j in range(4))
        count += 4
    np.testing.assert_allclose(float(out[0.0]["sft_loss"]), nll / count, rtol=1e-5)
    np.testing.assert_allclose(float(out[0.0]["sft_loss"]), float(out[1.0]["sft_loss"]), rtol=1e-5)
    assert float(out[0.0]["sft_prompt_loss"]) == 0.0
    # Prompt NLL of a near-uniform init is about log V.
    assert 0.5 * np.log(64) < float(out[1.0]["sft_prompt_loss"]) < 2 * np.log(64)
