"""Tests of the WebShop-like `shop` environment (empg_jax.envs.shop) and its catalogue."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.envs import core, env_class
from empg_jax.envs.shop import SEARCH, Shop, cached
from empg_jax.envs.shop.catalog import generate_catalog, product_text
from empg_jax.envs.shop.categories import NOUNS, brand_names
from empg_jax.envs.shop.fuzzy import normalize_colour, token_set_ratio
from empg_jax.testing import run_variants
from tests.envs import episodes

ENV = cached()
TOK = ENV.tokenizer
CAT = ENV.catalog
PARAMS = {s: ENV.default_params(s) for s in Shop.splits}
HORIZON = 15
ORACLE_THINK, ORACLE_DIRECT, RANDOM, RANDOM_SEARCH, GARBAGE = range(5)


_reset_many = jax.jit(jax.vmap(ENV.reset_in_split))


def _reset_batch(split, task_ids):
    split_ids = jnp.full((len(task_ids),), Shop.splits.index(split))
    return _reset_many(jnp.asarray(task_ids), split_ids)


def _instruction_search(state):
    """`search [ <the instruction's first words> ]`: a random agent's natural first query."""
    words = ENV.instructions[state.goal][: ENV.action_len - 3]
    parts = [
        jnp.array([TOK.token_to_id("search"), TOK.token_to_id("[")]),
        words,
        jnp.array([TOK.token_to_id("]")]),
    ]
    return core.compact_tokens(jnp.concatenate(parts), ENV.action_len, TOK.pad_id)


@jax.jit
def _rollouts(keys, states, obs, mode):
    """One compiled program for every policy: `mode` picks the policy per batch."""
    p = PARAMS["test"]  # stepping does not depend on the split; episodes come from `states`
    oracle_think = core.oracle_policy(ENV, p, thinking=True)
    oracle_direct = core.oracle_policy(ENV, p, thinking=False)
    random = core.random_policy(ENV)

    def policy(key, state, o, info):
        width = ENV.response_len
        garbage = jax.random.randint(key, (width,), 0, TOK.vocab_size)
        rand = random(key, state, o, info)
        rand_search = jnp.where(
            state.page == SEARCH,
            core.format_response(None, _instruction_search(state), TOK, width),
            rand,
        )
        outs = [
            oracle_think(key, state, o, info),
            oracle_direct(key, state, o, info),
            rand,
            rand_search,
            garbage,
        ]
        outs = jnp.stack([jnp.pad(x, (0, width - x.shape[0])) for x in outs])
        return outs[mode]

    def one(key, state, o):
        return episodes.rollout(ENV, policy, key, state, o, p, HORIZON)

    return jax.vmap(one)(keys, states, obs)


@functools.cache
def _run(split, mode, n=64, seed=0):
    ids = np.random.default_rng(seed).choice(PARAMS[split].num_tasks, n, replace=False)
    states, obs = _reset_batch(split, ids)
    keys = jax.random.split(jax.random.key(seed), n)
    final, tr = _rollouts(keys, states, obs, jnp.asarray(mode))
    return jax.device_get((final, tr))


@pytest.mark.slow
@pytest.mark.parametrize("split", Shop.splits)
@pytest.mark.parametrize("mode", [ORACLE_THINK, ORACLE_DIRECT])
def test_oracle_wins_every_episode(split, mode):
    final, tr = _run(split, mode)
    assert final.won.all(), np.flatnonzero(~final.won)
    np.testing.assert_allclose(final.score, 1.0)
    np.testing.assert_allclose(tr.reward.sum(1), 10.0)
    assert not tr.invalid[tr.valid].any()
    assert final.terminated.all() and not final.truncated.any()
    assert (final.t <= 10).all()


@pytest.mark.slow
def test_random_agents_stay_low():
    final, tr = _run("test", RANDOM)
    # verl-agent's example row `search[...]` retrieves nothing, so the pure random agent never buys.
    assert final.score.mean() == 0.0
    final, tr = _run("test", RANDOM_SEARCH)
    assert final.won.mean() <= 0.1, final.won.mean()
    assert final.score.mean() < 0.5, final.score.mean()


@pytest.mark.slow
def test_garbage_actions_are_invalid_noops():
    final, tr = _run("test", GARBAGE)
    assert tr.invalid.all()
    assert (final.page == SEARCH).all() and final.truncated.all()
    assert (tr.reward == 0).all()


_step = jax.jit(lambda k, st, a: ENV.step(k, st, a, PARAMS["test"]))


@pytest.mark.slow
def test_vmapped_step_equals_python_loop():
    """The rollouts' `jit(vmap(step))` replayed by a Python loop of single steps on the same keys
    and answers (oracle, random and garbage episodes: valid, invalid and finished steps)."""
    nothing = ENV.encode(core.NOTHING_HAPPENS, ENV.obs_len)
    checked = 0
    for mode, some_episodes in ((ORACLE_DIRECT, (0, 1)), (RANDOM_SEARCH, (0, 5)), (GARBAGE, (0,))):
        final, tr = _run("test", mode)
        ids = np.random.default_rng(0).choice(PARAMS["test"].num_tasks, 64, replace=False)
        for e in some_episodes:
            state, _ = ENV.reset_to_task(int(ids[e]), PARAMS["test"])
            for t in range(HORIZON):
                state, obs, reward, term, trunc, info = _step(None, state, tr.response[e, t])
                assert float(reward) == tr.reward[e, t]
                assert bool(term) == tr.terminated[e, t] and bool(trunc) == tr.truncated[e, t]
                assert bool(info["invalid"]) == tr.invalid[e, t]
                assert float(info["score"]) == tr.score[e, t]
                if t + 1 < HORIZON and tr.valid[e, t + 1]:
                    np.testing.assert_array_equal(obs, tr.obs[e, t + 1])
                    np.testing.assert_array_equal(info["admissible"], tr.admissible[e, t + 1])
                if bool(info["invalid"]):
                    np.testing.assert_array_equal(obs, nothing)
                checked += 1
            for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(final), strict=True):
                np.testing.assert_array_equal(got, want[e])
    assert checked == 5 * HORIZON


def test_catalogue_and_splits():
    assert len(CAT.products) >= 1000
    assert len({p.title for p in CAT.products}) == len(CAT.products)
    assert PARAMS["test"].num_tasks == 500
    test = {(g.product, g.attributes, g.options, g.price_upper) for g in CAT.goals[:500]}
    train = {(g.product, g.attributes, g.options, g.price_upper) for g in CAT.goals[500:]}
    assert len(test) == 500 and not test & train
    assert PARAMS["train"].task_offset == 500
    assert PARAMS["train"].num_tasks == len(CAT.goals) - 500
    for g in CAT.goals[:50]:
        p = CAT.products[g.product]
        assert set(g.attributes) <= set(p.attributes)
        assert all(o in vals for o, vals in zip(g.options, p.options, strict=True))
        assert p.price_cents <= g.price_upper * 100
    with pytest.raises(ValueError, match="split"):
        ENV.default_params("valid")
    assert generate_catalog(1200, 0) is generate_catalog(1200, 0)


def _reference_score(goal_index, product_index, chosen_values):
    """The WebShop formula computed directly from the catalogue's strings (WebShop's score)."""
    g = CAT.goals[goal_index]
    target, p = CAT.products[g.product], CAT.products[product_index]
    n_attr = 0
    for a in g.attributes:
        fuzzy = any(token_set_ratio(a, b) > 85 for b in p.attributes)
        n_attr += fuzzy or a in product_text(p)
    n_opt = sum(
        any(token_set_ratio(normalize_colour(c), normalize_colour(o)) > 85 for c in chosen_values)
        for o in g.options
    )
    r_price = p.price_cents <= g.price_upper * 100
    nouns_of = lambda title: {
        w
        for w in TOK.decode(TOK.encode(" ".join(title))).split()
        if w in NOUNS or w in brand_names()
    }
    goal_nouns, prod_nouns = nouns_of(target.title), nouns_of(p.title)
    title_score = len(goal_nouns & prod_nouns) / len(goal_nouns) if goal_nouns else 0.2
    query_match = p.query == target.query
    category_match = len(set(p.category) & set(target.category)) >= 2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0:
        r_type = 0.0
    return r_type * (n_attr + n_opt + r_price) / (len(g.attributes) + len(g.options) + 1)


def _chosen(values):
    ids = [CAT.option_values.index(v) for v in values] + [-1] * (2 - len(values))
    return jnp.asarray(ids, jnp.int32)


def test_score_hand_computed_cases():
    goal = 0
    g = CAT.goals[goal]
    t = g.product
    n = len(g.attributes) + len(g.options) + 1
    score = jax.jit(ENV.purchase_score)
    # The target with the goal's options: everything matches.
    for name, got in run_variants(
        ENV.purchase_score, jnp.int32(goal), jnp.int32(t), _chosen(g.options)
    ):
        assert float(got) == pytest.approx(1.0), name
    # No option chosen: only attributes and price count.
    assert float(score(goal, t, _chosen([]))) == pytest.approx((len(g.attributes) + 1) / n)
    # A product from another department shares no title noun: r_type = 0.
    other = next(
        i for i, p in enumerate(CAT.products) if p.category[0] != CAT.products[t].category[0]
    )
    assert float(score(goal, other, _chosen([]))) == 0.0
    # Goal with a price bound below the product: r_price = 0.
    cheap = next(
        i
        for i, x in enumerate(CAT.goals)
        if any(
            CAT.products[j].price_cents > x.price_upper * 100
            and CAT.products[j].query == CAT.products[x.product].query
            for j in range(len(CAT.products))
        )
    )
    x = CAT.goals[cheap]
    dear = next(
        j
        for j, p in enumerate(CAT.products)
        if p.price_cents > x.price_upper * 100 and p.query == CAT.products[x.product].query
    )
    assert float(score(cheap, dear, _chosen([]))) == pytest.approx(
        _reference_score(cheap, dear, [])
    )


def test_score_matches_reference_on_random_purchases():
    rng = np.random.default_rng(1)
    goals = rng.integers(0, len(CAT.goals), 40)
    cases = []
    for gi in goals:
        target = CAT.goals[gi].product
        # Half the time a product of the same query (so r_type, attributes and options vary).
        same = [j for j, p in enumerate(CAT.products) if p.query == CAT.products[target].query]
        pi = int(rng.choice(same)) if rng.random() < 0.7 else int(rng.integers(len(CAT.products)))
        p = CAT.products[pi]
        values = [str(rng.choice(vals)) for vals in p.options if rng.random() < 0.7]
        cases.append((int(gi), pi, values))
    got = jax.jit(jax.vmap(ENV.purchase_score))(
        jnp.asarray([c[0] for c in cases]),
        jnp.asarray([c[1] for c in cases]),
        jnp.stack([_chosen(c[2]) for c in cases]),
    )
    want = [_reference_score(*c) for c in cases]
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert len(set(np.round(want, 3))) >= 4  # the cases exercise several score levels


def test_render_decode_and_registry():
    states, obs = _reset_batch("test", np.arange(2))
    state = jax.tree.map(lambda x: x[0], states)
    assert ENV.decode(obs[0]).startswith("webshop | instruction:")
    assert "page search" in ENV.render(state)
    info = jax.jit(lambda s: ENV.info(s, PARAMS["test"]))(state)
    assert int(info["num_admissible"]) == 1
    assert ENV.decode(info["admissible"][0]) == "search[...]"
    assert set(info) == set(core.INFO_KEYS)
    assert env_class("shop") is Shop
