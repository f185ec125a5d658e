"""The DPO update's wiring against an independent reference written in this file.

The reference builds the pairs with Python loops over groups, takes each episode's sequence
log-prob from the model run on each step row's real tokens alone (no padding, default positions,
temperature 1), and writes the DPO loss out from its formula; its gradient comes from
`jax.grad` of that plain function. The update runs with plain SGD (lr 1), so the parameter change
is minus its gradient. Each test is built so that a plausible wiring bug fails it: pairs across
groups or in the wrong direction, rows of groups without a pair leaking in, a reference that
moves or is the current policy, token log-probs taken at the rollout temperature.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from empg_jax.training import create_state, make_optimizer
from empg_jax.training.dpo import dpo_update
from empg_jax.training.options import DPOOptions
from tests.training import rl_reference as ref

B, G, T, P, L, N, S = ref.B, ref.G, ref.T, ref.P, ref.L, ref.N, ref.S
# Group 0 mixed (episodes 0 and 3 won), group 1 all won: only group 0 has pairs.
REWARD = np.array([10.0, 0, 0, 10, 10, 10, 10, 10], np.float32)


@pytest.fixture(scope="module")
def setup():
    graphdef, params = ref.model()
    batch = ref.rollout_batch(graphdef, params, reward_N=REWARD)
    reference = jax.tree.map(
        lambda x: x + 0.05 * jnp.cos(jnp.arange(x.size).reshape(x.shape)), params
    )
    return graphdef, params, reference, batch


def _row_log_prob(graphdef, params, batch, r):
    """Sum of log pi (temperature 1) over row r's generated tokens, from its real tokens alone."""
    prompt = np.asarray(batch.prompt_NxTxP).reshape(S, P)[r]
    pmask = np.asarray(batch.prompt_mask_NxTxP).reshape(S, P)[r]
    answer = np.asarray(batch.answer_NxTxL).reshape(S, L)[r]
    amask = np.asarray(batch.answer_mask_NxTxL).reshape(S, L)[r]
    n_prompt, n_answer = int(pmask.sum()), int(amask.sum())
    if n_answer == 0:
        return jnp.zeros(())
    tokens = np.concatenate([prompt[pmask], answer[:n_answer]])
    logits = nnx.merge(graphdef, params)(jnp.asarray(tokens)[None])[0].astype(jnp.float32)
    logp = jax.nn.log_softmax(logits[n_prompt - 1 : n_prompt - 1 + n_answer])
    return jnp.sum(logp[jnp.arange(n_answer), answer[:n_answer]])


def reference_pairs(won):
    return [
        (g0 + i, g0 + j)
        for g0 in range(0, N, G)
        for i, j in itertools.product(range(G), range(G))
        if won[g0 + i] and not won[g0 + j]
    ]


def sequence_log_probs(graphdef, params, batch):
    """Every episode's sequence log-prob `[N]`: the sum over its valid steps' rows."""
    valid = np.asarray(batch.valid_NxT)
    return jnp.stack(
        [
            sum(_row_log_prob(graphdef, params, batch, e * T + t) for t in range(T) if valid[e, t])
            for e in range(N)
        ]
    )


_SEQUENCES = {}


def reference_loss(graphdef, params, ref_params, batch, beta, eps=0.0, robust=False):
    """Mean over (success, failure) pairs of the (c/r)DPO loss, in plain JAX."""
    if id(batch) not in _SEQUENCES:  # one compiled program per batch
        _SEQUENCES[id(batch)] = jax.jit(lambda p: sequence_log_probs(graphdef, p, batch))
    lp = _SEQUENCES[id(batch)]
    seq, seq_ref = lp(params), jax.lax.stop_gradient(lp(ref_params))
    losses = []
    for w, l in reference_pairs(np.asarray(batch.won_N)):
        h = (seq[w] - seq_ref[w]) - (seq[l] - seq_ref[l])
        agree, disagree = -jax.nn.log_sigmoid(beta * h), -jax.nn.log_sigmoid(-beta * h)
        if robust:
            losses.append(((1 - eps) * agree - eps * disagree) / (1 - 2 * eps))
        else:
            losses.append((1 - eps) * agree + eps * disagree)
    return sum(losses) / len(losses)


SGD = optax.sgd(1.0)


@functools.cache
def _jitted(graphdef, optimizer, opts):
    return jax.jit(lambda s, b: dpo_update(graphdef, optimizer, opts, s, b))


def _update(graphdef, params, ref_params, batch, opts, optimizer=SGD):
    state = create_state(jax.tree.map(jnp.copy, params), optimizer, jax.random.PRNGKey(0), True)
    state = state.replace(ref_params=jax.tree.map(jnp.copy, ref_params))
    return _jitted(graphdef, optimizer, opts)(state, batch)


def _close(a, b, rtol=2e-4, atol=2e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "opts, eps, robust",
    [
        (DPOOptions(beta=0.5, minibatch_rows=64), 0.0, False),
        (DPOOptions(beta=2.0, label_smoothing=0.2, minibatch_rows=3), 0.2, False),
        (
            DPOOptions(beta=1.0, label_smoothing=0.1, smoothing="robust", minibatch_rows=5),
            0.1,
            True,
        ),
    ],
)
def test_gradient_matches_the_reference(setup, opts, eps, robust):
    graphdef, params, reference, batch = setup
    state, metrics = _update(graphdef, params, reference, batch, opts)
    want_loss, want_grad = jax.value_and_grad(
        lambda p: reference_loss(graphdef, p, reference, batch, opts.beta, eps, robust)
    )(params)
    got_grad = jax.tree.map(lambda a, b: a - b, params, state.params)
    _close(got_grad, want_grad)
    np.testing.assert_allclose(metrics["dpo_loss"], want_loss, rtol=1e-5)
    assert int(metrics["num_pairs"]) == len(reference_pairs(REWARD > 0)) == 4
    assert float(metrics["pair_group_fraction"]) == 0.5
    # The update's own rows: the valid steps of group 0 only.
    assert int(metrics["num_train_rows"]) == int(np.asarray(batch.valid_NxT)[:G].sum())
    # The reference is frozen.
    _close(state.ref_params, reference, rtol=0, atol=0)


def test_groups_without_a_pair_do_not_count(setup):
    graphdef, params, reference, batch = setup
    opts = DPOOptions(beta=0.5)
    state, _ = _update(graphdef, params, reference, batch, opts)
    # Other answers in group 1 (all won): the same update.
    answers = np.asarray(batch.answer_NxTxL).copy()
    answers[G:] = (answers[G:] + 7) % 40
    other = batch.replace(answer_NxTxL=jnp.asarray(answers))
    state2, _ = _update(graphdef, params, reference, other, opts)
    _close(state2.params, state.params, rtol=0, atol=0)
    # Other answers in group 0: a different update.
    answers = np.asarray(batch.answer_NxTxL).copy()
    answers[:G] = (answers[:G] + 7) % 40
    state3, _ = _update(graphdef, params, reference, batch.replace(answer_NxTxL=answers), opts)
    diff = max(
        float(jnp.abs(a - b).max())
        for a, b in zip(jax.tree.leaves(state3.params), jax.tree.leaves(state.params), strict=True)
    )
    assert diff > 1e-4


def test_the_reference_is_used_and_at_start_equals_log_two(setup):
    graphdef, params, reference, batch = setup
    opts = DPOOptions(beta=0.5)
    # Reference = policy: every margin is 0 and the loss log 2.
    _, metrics = _update(graphdef, params, params, batch, opts)
    np.testing.assert_allclose(metrics["dpo_loss"], np.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(metrics["margins"], 0.0, atol=1e-6)
    # Another reference: another loss (the update does not read the current policy instead).
    _, other = _update(graphdef, params, reference, batch, opts)
    assert abs(float(other["dpo_loss"]) - np.log(2.0)) > 1e-3


def test_no_pair_no_step(setup):
    graphdef, params, reference, batch = setup
    all_won = batch.replace(won_N=jnp.ones((N,), bool))
    opt = make_optimizer(1e-2, 0.1, 1.0)  # AdamW with weight decay: a step would move params
    state, metrics = _update(graphdef, params, reference, all_won, DPOOptions(), opt)
    _close(state.params, params, rtol=0, atol=0)
    assert int(metrics["num_pairs"]) == 0 and int(metrics["num_updates"]) == 0
    assert float(metrics["dpo_loss"]) == 0.0 and int(state.step) == 1


def test_epochs_take_several_steps(setup):
    graphdef, params, reference, batch = setup
    one, _ = _update(graphdef, params, reference, batch, DPOOptions(beta=0.5, epochs=1))
    two, m2 = _update(graphdef, params, reference, batch, DPOOptions(beta=0.5, epochs=2))
    # The second step starts where the first ended: its gradient is the reference's there.
    _, g2 = jax.value_and_grad(lambda p: reference_loss(graphdef, p, reference, batch, 0.5))(
        one.params
    )
    _close(jax.tree.map(lambda a, b: a - b, one.params, two.params), g2, rtol=5e-4, atol=5e-6)
    assert int(m2["num_updates"]) == 2
