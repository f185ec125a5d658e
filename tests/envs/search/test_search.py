"""Tests of the Deep-Search-like `search` environment (empg_jax.envs.search)."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.envs import core, env_class, make
from empg_jax.envs.search import HELD_OUT_PAIRS, NUM_ENTITIES, REL, RELATIONS, Search, cached
from tests.envs import episodes

ENV = cached()
TOK = ENV.tokenizer
PARAMS = {s: ENV.default_params(s) for s in Search.splits}
HORIZON = 10
N = 64
ORACLE_THINK, ORACLE_DIRECT, RANDOM, GARBAGE = range(4)


_reset_many = jax.jit(jax.vmap(ENV.reset_in_split))


@functools.cache
def _reset(split):
    return _reset_many(jnp.arange(N), jnp.full((N,), Search.splits.index(split)))


def _random_action(key, state):
    """search[name] or answer[name] of a uniformly random entity of the episode."""
    k1, k2 = jax.random.split(key)
    name = state.names[jax.random.randint(k1, (), 0, NUM_ENTITIES)]
    verb = jnp.where(jax.random.bernoulli(k2), TOK.token_to_id("search"), TOK.token_to_id("answer"))
    parts = [jnp.stack([verb, TOK.token_to_id("[")]), name, jnp.array([TOK.token_to_id("]")])]
    return core.compact_tokens(jnp.concatenate(parts), ENV.action_len, TOK.pad_id)


@jax.jit
def _rollouts(keys, states, obs, mode):
    p = PARAMS["train"]  # stepping does not depend on the split; episodes come from `states`
    oracle_think = core.oracle_policy(ENV, p, thinking=True)
    oracle_direct = core.oracle_policy(ENV, p, thinking=False)

    def policy(key, state, o, info):
        width = ENV.response_len
        outs = [
            oracle_think(key, state, o, info),
            oracle_direct(key, state, o, info),
            core.format_response(None, _random_action(key, state), TOK, width),
            jax.random.randint(key, (width,), 0, TOK.vocab_size),
        ]
        return jnp.stack([jnp.pad(x, (0, width - x.shape[0])) for x in outs])[mode]

    def one(key, state, o):
        final, tr = episodes.rollout(ENV, policy, key, state, o, p, HORIZON)
        return final, tr, ENV.solvable(state)

    return jax.vmap(one)(keys, states, obs)


@functools.cache
def _run(split, mode):
    states, obs = _reset(split)
    keys = jax.random.split(jax.random.key(mode), N)
    return jax.device_get(_rollouts(keys, states, obs, jnp.asarray(mode)))


@pytest.mark.slow
@pytest.mark.parametrize("split", Search.splits)
@pytest.mark.parametrize("mode", [ORACLE_THINK, ORACLE_DIRECT])
def test_oracle_wins_every_solvable_episode(split, mode):
    final, tr, solvable = _run(split, mode)
    assert solvable.mean() >= 0.95, solvable.mean()
    assert final.won[solvable].all()
    np.testing.assert_allclose(tr.reward.sum(1)[solvable], 10.0)
    assert not tr.invalid[tr.valid].any()
    # hops searches and one answer
    assert (final.t[solvable] <= final.task_type[solvable] + 3).all()


@pytest.mark.slow
def test_random_and_garbage_agents():
    final, tr, _ = _run("test_id", RANDOM)
    assert final.won.mean() <= 0.1, final.won.mean()
    assert not tr.invalid[tr.valid].any()
    final, tr, _ = _run("test_id", GARBAGE)
    assert tr.invalid.all() and not final.won.any() and final.truncated.all()


_step = jax.jit(lambda k, st, a: ENV.step(k, st, a, PARAMS["train"]))


@pytest.mark.slow
def test_vmapped_step_equals_python_loop():
    nothing = ENV.encode(core.NOTHING_HAPPENS, ENV.obs_len)
    for mode in (ORACLE_DIRECT, RANDOM, GARBAGE):
        final, tr, _ = _run("test_ood", mode)
        states, _ = _reset("test_ood")
        for e in (0, 1):
            state = jax.tree.map(lambda x, e=e: x[e], states)
            for t in range(HORIZON):
                state, obs, reward, term, trunc, info = _step(None, state, tr.response[e, t])
                assert float(reward) == tr.reward[e, t] and bool(term) == tr.terminated[e, t]
                assert bool(trunc) == tr.truncated[e, t]
                assert bool(info["invalid"]) == tr.invalid[e, t]
                if t + 1 < HORIZON and tr.valid[e, t + 1]:
                    np.testing.assert_array_equal(obs, tr.obs[e, t + 1])
                if bool(info["invalid"]):
                    np.testing.assert_array_equal(obs, nothing)
            for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(final), strict=True):
                np.testing.assert_array_equal(got, want[e])


def test_splits_are_disjoint():
    train = set(ENV.compositions["train"])
    ood = set(ENV.compositions["test_ood"])
    assert train and ood and not train & ood
    assert set(ENV.compositions["test_id"]) == train
    held = {(REL[a], REL[b]) for a, b in HELD_OUT_PAIRS}
    assert not any(set(itertools.pairwise(p)) & held for p in train)
    assert all(set(itertools.pairwise(p)) & held for p in ood)
    assert {len(p) for p in train} == {len(p) for p in ood} == {2, 3, 4}

    # Episodes (question and knowledge base) of the test splits are not training episodes.
    def episodes(split):
        st = _reset(split)[0]
        return {
            np.concatenate([q, p.reshape(-1)]).tobytes()
            for q, p in zip(np.asarray(st.question), np.asarray(st.passages), strict=True)
        }

    ep = {s: episodes(s) for s in Search.splits}
    assert len(ep["train"]) == N
    assert not ep["train"] & ep["test_id"] and not ep["train"] & ep["test_ood"]
    # The question of a test_ood episode uses its composition's phrases.
    states, _ = _reset("test_ood")
    path = [int(r) for r in states.relations[0] if r >= 0]
    assert tuple(path) in ood
    text = ENV.decode(states.question[0])
    for r in path:
        assert RELATIONS[r][3] in text


def test_exact_match_reward_and_answer_ends_episode():
    state = jax.tree.map(lambda x: x[0], _reset("test_id")[0])
    answer = TOK.decode(state.names[state.chain[state.hops]])
    wrong = TOK.decode(state.names[(int(state.chain[state.hops]) + 1) % NUM_ENTITIES])
    for text, reward, won in ((f"answer[{answer}]", 10.0, True), (f"answer[{wrong}]", 0.0, False)):
        out = _step(None, state, ENV.encode(text))
        assert float(out[2]) == reward and bool(out[3]) and bool(out[5]["won"]) == won
        assert float(out[5]["score"]) == float(won)
    # Extra words are not an exact match.
    out = _step(None, state, ENV.encode(f"answer[{answer} {answer}]"))
    assert float(out[2]) == 0.0


def test_render_info_and_registry():
    states, obs = _reset("train")
    state = jax.tree.map(lambda x: x[3], states)
    assert ENV.decode(obs[3]).startswith("question: what is the")
    assert "hop" in ENV.render(state)
    info = jax.jit(lambda s: ENV.info(s, PARAMS["train"]))(state)
    assert set(info) == set(core.INFO_KEYS)
    assert ENV.decode(info["admissible"][1]) == "answer[...]"
    with pytest.raises(ValueError, match="split"):
        ENV.default_params("valid")
    env = make("search", tokenizer=TOK)
    assert env.obs_len == ENV.obs_len and env_class("search") is Search


def test_task_types_keep_only_those_hop_counts():
    env = Search(TOK, task_types=("2-hop", "4-hop"))
    assert env.active_task_types == ("2-hop", "4-hop")
    for split in Search.splits:
        assert {len(p) for p in env.compositions[split]} == {2, 4}
        assert set(env.compositions[split]) < set(ENV.compositions[split])
    two = Search(TOK, task_types=("2-hop",))
    states, _ = jax.vmap(two.reset_in_split)(jnp.arange(N), jnp.zeros((N,), jnp.int32))
    np.testing.assert_array_equal(states.hops, 2)
    np.testing.assert_array_equal(states.task_type, 0)  # type ids stay hops - 2
    with pytest.raises(ValueError, match=r"task_types \['5-hop'\]: want a subset of"):
        Search(TOK, task_types=("2-hop", "5-hop"))
    with pytest.raises(ValueError, match=r"task_types \[\]: want a subset of"):
        Search(TOK, task_types=())
