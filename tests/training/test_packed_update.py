"""The packed update (`RLOptions.pack`, `training.packing`) against the independent reference of
`rl_reference.py` (each row run alone on its real tokens) and against the padded update.

The batch has unequal prompt and answer lengths, finished episodes, a filtered group, a last
mini-batch with filler rows and (for `share_prefixes`) rows that share prompt prefixes of several
lengths, a duplicate row and a row whose prompt is a prefix of another's. Small pieces and chunks
force rows over several pieces and chunk boundaries.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from empg_jax.training import EMPGOptions, RLOptions, create_state, rl_update
from empg_jax.training.forward import packed_answer_log_probs
from empg_jax.training.packing import PackLayout, pack_rows
from tests.training import rl_reference as ref

EMPG = {"k": 1.0, "k_future": 1.0, "zeta": 0.1}
OPTS = RLOptions(
    clip_low=0.2,
    clip_high=0.28,
    dual_clip=3.0,
    epochs=1,
    minibatch_rows=64,
    kl_coef=0.3,
    entropy_coef=0.01,
    dynamic_sampling=True,
    empg=EMPGOptions(**EMPG),
)
PACKED = {"pack": True, "pack_len": 32, "pack_chunk": 4}
REWARD = np.array([10.0, 0, 0, 10, 10, 10, 10, 10], np.float32)  # group 1 all equal: filtered


@pytest.fixture(scope="module")
def setup():
    graphdef, params = ref.model()
    batch = ref.rollout_batch(graphdef, params)
    batch = batch.replace(reward_N=jnp.asarray(REWARD), won_N=jnp.asarray(REWARD > 0))
    return graphdef, params, batch, _shared_prefix_batch(batch)


def _shared_prefix_batch(batch):
    """The batch with group-shared prompt prefixes: in each group, episode e > 0's prompt at
    each step starts with (3 + 2e) real tokens of episode 0's; episode 1's second step repeats
    episode 0's whole row (prompt and answer); episode 2's first prompt is episode 0's first
    prompt + answer, cut to fit (one row's prompt = a prefix of another row's path)."""
    p_rows = np.asarray(batch.prompt_NxTxP).copy()
    mask = np.asarray(batch.prompt_mask_NxTxP).copy()
    answer = np.asarray(batch.answer_NxTxL).copy()
    amask = np.asarray(batch.answer_mask_NxTxL).copy()
    old = np.asarray(batch.old_log_probs_NxTxL).copy()
    n, t, p = p_rows.shape
    for g in range(n // ref.G):
        first = g * ref.G
        for e in range(1, ref.G):
            for s in range(t):
                src, dst = p_rows[first, s][mask[first, s]], np.where(mask[first + e, s])[0]
                k = min(3 + 2 * e, len(src), len(dst))
                p_rows[first + e, s, dst[:k]] = src[:k]
        mask[first + 1, 1], p_rows[first + 1, 1] = mask[first, 1], p_rows[first, 1]
        answer[first + 1, 1], amask[first + 1, 1] = answer[first, 1], amask[first, 1]
        old[first + 1, 1] = old[first, 1]
        path = np.concatenate([p_rows[first, 0][mask[first, 0]], answer[first, 0][amask[first, 0]]])
        path = path[:p]
        mask[first + 2, 0] = np.arange(p) >= p - len(path)
        p_rows[first + 2, 0] = np.where(
            mask[first + 2, 0], np.roll(np.resize(path, p), p - len(path)), ref.PAD
        )
    return batch.replace(
        prompt_NxTxP=jnp.asarray(p_rows),
        prompt_mask_NxTxP=jnp.asarray(mask),
        answer_NxTxL=jnp.asarray(answer),
        answer_mask_NxTxL=jnp.asarray(amask & np.asarray(batch.valid_NxT)[..., None]),
        old_log_probs_NxTxL=jnp.asarray(old),
    )


def _update(graphdef, params, batch, opts, ref_params, lr=1.0):
    opt = optax.sgd(lr)
    state = create_state(jax.tree.map(jnp.copy, params), opt, jax.random.PRNGKey(3), False)
    state = state.replace(ref_params=ref_params)
    return jax.jit(lambda s, b: rl_update(graphdef, opt, opts, s, b))(state, batch)


def _perturbed(params, scale=0.05):
    return jax.tree.map(lambda x: x + scale * jnp.sin(jnp.arange(x.size).reshape(x.shape)), params)


def _close(a, b, rtol, atol, what):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("share", [False, True])
def test_packed_log_probs_equal_each_row_run_alone(setup, share):
    """Answer log-probs and tempered logits from the packed streams (pieces of 32 tokens in
    chunks of 4; rows 2 and 9 dropped) equal the reference's rows run alone, at every answer
    position of the kept rows."""
    graphdef, params, plain, shared = setup
    batch = shared if share else plain
    flat = lambda x: jnp.asarray(x).reshape(ref.S, *x.shape[2:])  # noqa: E731
    prompt, pmask = flat(batch.prompt_NxTxP), flat(batch.prompt_mask_NxTxP)
    answer, amask = flat(batch.answer_NxTxL), flat(batch.answer_mask_NxTxL)
    keep = np.ones(ref.S, bool)
    keep[[2, 9]] = False
    layout = PackLayout.create(ref.S, ref.P + ref.L, 32, 4, share)

    @jax.jit
    def packed(params):
        rows = pack_rows(prompt, pmask, answer, amask, jnp.asarray(keep), layout)
        out = packed_answer_log_probs(graphdef, params, rows, 4, answer, amask, ref.TEMPERATURE)
        return out[0], out[1], rows.stream_tokens, rows.row_tokens

    logp, logits, stored, needed = packed(params)
    want_logp, want_logits = ref.log_probs(graphdef, params, batch)
    on = np.asarray(amask) & keep[:, None]
    assert (int(stored) < int(needed)) == share
    np.testing.assert_allclose(np.asarray(logp)[on], np.asarray(want_logp)[on], atol=2e-5)
    np.testing.assert_allclose(np.asarray(logits)[on], np.asarray(want_logits)[on], atol=2e-5)


@pytest.mark.slow
@pytest.mark.parametrize("share", [False, True])
def test_packed_update_equals_the_reference_and_the_padded_update(setup, share):
    """One mini-batch: loss terms and gradient equal the reference's (rows alone, NumPy
    advantages); several mini-batches with filler rows: metrics and parameters equal the padded
    update's."""
    graphdef, params, plain, shared = setup
    batch = shared if share else plain
    ref_params = _perturbed(params)
    packed = dataclasses.replace(OPTS, **PACKED, share_prefixes=share)
    # Against the reference without EMPG: its float64 advantages would differ from the update's
    # float32 ones by ~2e-5 (the padded update differs from it just as much); EMPG is in the
    # comparison with the padded update below.
    adv, train = ref.advantages(batch, dynamic=True)
    assert 0 < train.sum() < ref.S  # a filtered group
    (_, want), grad = jax.jit(
        jax.value_and_grad(
            lambda p: ref.loss(
                graphdef, p, batch, adv, train, kl_coef=0.3, ref_params=ref_params,
                entropy_coef=0.01,
            ),
            has_aux=True,
        )
    )(params)  # fmt: skip
    new, m = _update(graphdef, params, batch, dataclasses.replace(packed, empg=None), ref_params)
    for k in ("pg_loss", "kl", "clip_fraction", "policy_entropy"):
        np.testing.assert_allclose(float(m[k]), float(want[k]), rtol=1e-4, atol=1e-6, err_msg=k)
    _close(jax.tree.map(lambda a, b: a - b, params, new.params), grad, 2e-3, 2e-6, "gradient")
    row_tokens = float(m["pack/row_tokens"])
    assert float(m["pack/fits"]) == 1.0
    if share:
        assert float(m["pack/stream_tokens"]) < row_tokens
    else:
        assert float(m["pack/stream_tokens"]) == row_tokens

    # Mini-batches of 5 rows (the last one with filler rows), 2 epochs.
    many = {"epochs": 2, "minibatch_rows": 5}
    padded = dataclasses.replace(OPTS, **many)
    new_p, m_p = _update(graphdef, params, batch, padded, ref_params, lr=0.1)
    new_k, m_k = _update(
        graphdef, params, batch, dataclasses.replace(packed, **many), ref_params, lr=0.1
    )
    assert int(m_k["num_updates"]) == int(m_p["num_updates"]) >= 4
    assert int(m_p["num_train_rows"]) % 5  # the last mini-batch has filler rows
    for k in ("pg_loss", "kl", "clip_fraction", "approx_kl", "policy_entropy", "loss", "grad_norm"):
        np.testing.assert_allclose(float(m_k[k]), float(m_p[k]), rtol=1e-4, atol=1e-6, err_msg=k)
    _close(new_k.params, new_p.params, 1e-4, 1e-6, "parameters after 6 steps")


def test_pack_rows_counts_and_layout_against_numpy(setup):
    """Tokens needed (real prompt + answer - 1 per kept row) and stored with sharing (the
    distinct prefixes of the rows' paths, counted with a Python set), positions computed."""
    _, _, _, batch = setup
    s = ref.S
    prompt = np.asarray(batch.prompt_NxTxP).reshape(s, -1)
    pmask = np.asarray(batch.prompt_mask_NxTxP).reshape(s, -1)
    answer = np.asarray(batch.answer_NxTxL).reshape(s, -1)
    amask = np.asarray(batch.answer_mask_NxTxL).reshape(s, -1)
    keep = np.ones(s, bool)
    keep[[2, 9]] = False
    paths = []
    for r in range(s):
        row = list(prompt[r][pmask[r]]) + list(answer[r][amask[r]])
        if keep[r] and amask[r].any():
            paths.append(tuple(row[:-1]))
    want_tokens = sum(map(len, paths))
    want_shared = len({path[: d + 1] for path in paths for d in range(len(path))})
    assert want_shared < want_tokens
    args = [jnp.asarray(x) for x in (prompt, pmask, answer, amask, keep)]
    # One piece holds the whole mini-batch: every shared prefix is stored once.
    for share, want in [(False, want_tokens), (True, want_shared)]:
        layout = PackLayout.create(s, prompt.shape[1] + answer.shape[1], 256, 4, share)
        out = jax.jit(lambda *a, lay=layout: pack_rows(*a, lay))(*args)
        assert int(out.row_tokens) == want_tokens
        assert int(out.stream_tokens) == want
        assert bool(out.fits)
        assert int(out.positions) == int(out.used_K.sum()) * 256
        assert int(out.used_K.sum()) * 256 >= want
