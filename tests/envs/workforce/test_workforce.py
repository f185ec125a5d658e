"""Tests of the planner / coordinator / worker environment (empg_jax.envs.workforce)."""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.envs import core, env_class, make
from empg_jax.envs.workforce import SEEN, SPLIT_TEMPLATES, TRANSFER, UNSEEN, Workforce, cached
from tests.envs import episodes

ENV = cached()
TOK = ENV.tokenizer
SPLITS = Workforce.splits
N = 32
KEY = jax.random.key(0)
ORACLE_THINK, ORACLE_DIRECT, ADMISSIBLE, GARBAGE = range(4)

MONO = cached(monolithic=True)
HORIZON = {ENV: 3, MONO: 7}


@functools.cache
def _reset(split, env=ENV, n=N):
    reset = jax.jit(jax.vmap(env.reset_in_split))
    return reset(jnp.arange(n), jnp.full((n,), SPLITS.index(split)))


def take(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


@functools.cache
def _rollouts(env):
    @jax.jit
    def run(keys, states, obs, mode, p_fail):
        # Stepping does not depend on the split; the episodes come from `states`.
        p = env.default_params("train").replace(p_fail=p_fail)
        think, direct = core.oracle_policy(env, p, True), core.oracle_policy(env, p, False)
        admissible = core.random_policy(env)

        def policy(key, state, o, info):
            width = env.response_len
            outs = [
                think(key, state, o, info),
                direct(key, state, o, info),
                admissible(key, state, o, info),
                jax.random.randint(key, (width,), 0, env.tokenizer.vocab_size),
            ]
            return jnp.stack([jnp.pad(x, (0, width - x.shape[0])) for x in outs])[mode]

        def one(k, s, o):
            return episodes.rollout(env, policy, k, s, o, p, HORIZON[env])

        return jax.vmap(one)(keys, states, obs)

    return run


@functools.cache
def _run(split, mode, p_fail=0.0, env=ENV):
    states, obs = _reset(split, env)
    keys = jax.random.split(jax.random.key(mode), N)
    run = _rollouts(env)
    return jax.device_get(run(keys, states, obs, jnp.asarray(mode), jnp.float32(p_fail)))


# ----- an independent reference: the answer from the question text and the knowledge ----------
def reference_answer(env, state):
    """Evaluates the question's English against the table and the documents' text (Python)."""
    cities = [env.decode(state.city_names[i : i + 1]) for i in range(len(state.city_names))]
    people = [env.decode(state.person_names[i : i + 1]) for i in range(len(state.person_names))]
    docs = {}
    for d in state.documents:
        m = re.fullmatch(r"(\w+): born (\d+); children (\d+)\.", env.decode(d))
        docs[m[1]] = {"born": int(m[2]), "children": int(m[3])}
    table = {
        c: {"population": int(p), "founded": int(f), "mayor": people[int(m)]}
        for c, p, f, m in zip(
            cities, state.city_pop, state.city_founded, state.city_mayor, strict=True
        )
    }

    def city(text):
        m = re.fullmatch(r"the city founded in (\d+)", text)
        if m:
            (found,) = [c for c in cities if table[c]["founded"] == int(m[1])]
            return found
        assert text in cities, text
        return text

    def person(text):
        m = re.fullmatch(r"the mayor of (.+)", text)
        return table[city(m[1])]["mayor"] if m else text

    def number(text):
        for pattern, get in (
            (r"the population of (.+)", lambda x: table[city(x)]["population"]),
            (r"the founding year of (.+)", lambda x: table[city(x)]["founded"]),
            (r"the birth year of (.+)", lambda x: docs[person(x)]["born"]),
            (r"the number of children of (.+)", lambda x: docs[person(x)]["children"]),
        ):
            m = re.fullmatch(pattern, text)
            if m:
                return get(m[1])
        raise AssertionError(text)

    q = re.fullmatch(r"what is (.+)\?", env.decode(state.question))[1]
    for op, fn in (
        (" plus ", lambda a, b: a + b),
        (" minus ", lambda a, b: a - b),
    ):
        if op in q:
            a, b = q.split(op)
            return fn(number(a), number(b))
    m = re.fullmatch(r"(.+) times (\d)", q)
    if m:
        return number(m[1]) * int(m[2])
    m = re.fullmatch(r"(.+) in (hundreds|tens)", q)
    if m:
        return number(m[1]) * {"hundreds": 10, "tens": 100}[m[2]]
    return number(q)


@pytest.mark.parametrize("split", SPLITS)
def test_answers_match_an_independent_reference(split):
    states, _ = _reset(split)
    for e in range(N):
        state = take(states, e)
        assert int(state.answer[0]) == 1, ENV.render(state)  # every template asks for a number
        assert int(state.answer[1]) == reference_answer(ENV, state), ENV.render(state)


@pytest.mark.slow
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("mode", [ORACLE_THINK, ORACLE_DIRECT])
def test_oracle_wins_every_episode_in_one_plan(split, mode):
    final, tr = _run(split, mode)
    assert final.won.all() and final.terminated.all()
    np.testing.assert_allclose(tr.reward.sum(1), 1.0)
    assert (final.t == 1).all() and not tr.invalid[tr.valid].any()


@pytest.mark.slow
@pytest.mark.parametrize("split", SPLITS)
def test_monolithic_oracle_calls_each_worker_once_then_answers(split):
    final, tr = _run(split, ORACLE_THINK, env=MONO)
    states, _ = _reset(split, MONO)
    assert final.won.all() and final.terminated.all()
    np.testing.assert_allclose(tr.reward.sum(1), 1.0)
    np.testing.assert_array_equal(final.t, np.asarray(states.num_calls) + 1)
    assert not tr.invalid[tr.valid].any()


@pytest.mark.slow
def test_failures_are_replanned_and_three_failures_end_the_episode():
    final, tr = _run("train", ORACLE_DIRECT, 0.5)
    states, _ = _reset("train")
    failures, won = np.asarray(final.failures), np.asarray(final.won)
    # Every failed plan left an attempt; the oracle sends the same plan again.
    np.testing.assert_array_equal(failures, np.asarray(final.t) - won)
    assert (won | (failures == 3)).all() and (final.truncated == ~won).all()
    assert 0 < won.mean() < 1 and not tr.invalid[tr.valid].any()
    # A p_fail of 0.5 on n tasks: each plan runs through with probability 0.5**n.
    assert (failures[np.asarray(states.num_calls) == 3] > 0).mean() > 0.6
    failed_obs = [ENV.decode(o) for o in tr.obs[:, 1][tr.valid[:, 1]]]
    pattern = r"task \d failed: \w+ timed out\. replan\."
    assert failed_obs and all(re.fullmatch(pattern, o) for o in failed_obs)
    # The monolithic oracle retries a failed call; it wins when the failures leave it steps.
    final, tr = _run("train", ORACLE_DIRECT, 0.5, MONO)
    states, _ = _reset("train", MONO)
    calls = np.asarray(states.num_calls)
    np.testing.assert_array_equal(final.t[final.won], (calls + 1 + final.failures)[final.won])
    assert (final.truncated == ~final.won).all() and 0 < final.won.mean() < 1


@pytest.mark.slow
def test_admissible_rows_and_garbage_are_invalid_noops():
    nothing = ENV.encode(core.NOTHING_HAPPENS, ENV.obs_len)
    for mode in (ADMISSIBLE, GARBAGE):
        final, tr = _run("test_seen", mode)
        assert tr.invalid.all() and not final.won.any() and final.truncated.all()
        np.testing.assert_array_equal(final.failures, 0)
    final, tr = _run("test_seen", GARBAGE, env=MONO)
    assert tr.invalid.all() and not final.won.any() and final.truncated.all()
    states, _ = _reset("test_seen")
    s, obs, *_ = jax.jit(ENV.step)(KEY, take(states, 0), jnp.arange(500) % 7, ENV.default_params())
    np.testing.assert_array_equal(obs, nothing)


_step = jax.jit(ENV.step)


@pytest.mark.slow
@pytest.mark.parametrize("env", [ENV, MONO], ids=["planner", "monolithic"])
def test_vmapped_step_equals_python_loop(env):
    p = env.default_params("train", p_fail=0.5)
    step = jax.jit(env.step)
    horizon = HORIZON[env]
    for mode in (ORACLE_DIRECT, ADMISSIBLE, GARBAGE):
        final, tr = _run("test_unseen", mode, 0.5, env)
        states, _ = _reset("test_unseen", env)
        for e in (0, 1, 2):
            state = take(states, e)
            # episodes.rollout's keys: split(key, T), then (policy, env) per step.
            keys = jax.random.split(jax.random.split(jax.random.key(mode), N)[e], horizon)
            for t in range(horizon):
                k_env = jax.random.split(keys[t])[1]
                state, obs, reward, term, trunc, info = step(k_env, state, tr.response[e, t], p)
                assert float(reward) == tr.reward[e, t] and bool(term) == tr.terminated[e, t]
                assert bool(trunc) == tr.truncated[e, t]
                assert bool(info["invalid"]) == tr.invalid[e, t]
                if t + 1 < horizon and tr.valid[e, t + 1]:
                    np.testing.assert_array_equal(obs, tr.obs[e, t + 1])
            for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(final), strict=True):
                np.testing.assert_array_equal(got, want[e])


def test_template_splits():
    names = {s: {t[0] for t in tt} for s, tt in (("seen", SEEN), ("unseen", UNSEEN))}
    assert not names["seen"] & names["unseen"]
    assert SPLIT_TEMPLATES["train"] == SPLIT_TEMPLATES["test_seen"]

    # Every request of an unseen template occurs in a seen one: only the composition is new.
    def requests(tt):
        return {(w, re.sub(r"@\w+|#\d", "X", r)) for *_, plan in tt for w, r in plan}

    assert requests(UNSEEN) <= requests(SEEN)
    assert all(any(w == "convert" for w, _ in plan) for *_, plan in TRANSFER)
    assert not any(w == "convert" for *_, plan in SEEN + UNSEEN for w, _ in plan)
    types = {s: set(np.asarray(_reset(s)[0].task_type).tolist()) for s in SPLITS}
    assert types["train"] <= set(SPLIT_TEMPLATES["train"]) and len(types["train"]) > 5
    assert types["test_unseen"] == set(SPLIT_TEMPLATES["test_unseen"])

    def episodes(split):
        st = _reset(split)[0]
        return {
            np.concatenate([q, d.reshape(-1)]).tobytes()
            for q, d in zip(np.asarray(st.question), np.asarray(st.documents), strict=True)
        }

    assert not episodes("train") & episodes("test_seen")


def test_transfer_worker_is_described_only_on_the_transfer_split():
    info = jax.jit(jax.vmap(ENV.info, in_axes=(0, None)))
    p = ENV.default_params()
    for split in SPLITS:
        got = info(_reset(split)[0], p)
        rows = [ENV.decode(r) for r in got["admissible"][0][: int(got["num_admissible"][0])]]
        assert rows[0] == "lookup: population, founding year, mayor, city founded in"
        assert any(r.startswith("convert:") for r in rows) == (split == "test_transfer"), rows
    plan = "<tasks><task>convert: 5 thousands to tens</task></tasks>"
    for split, invalid in (("train", True), ("test_transfer", False)):
        out = _step(KEY, take(_reset(split)[0], 0), ENV.encode(plan), p)
        assert bool(out[5]["invalid"]) == invalid
    assert ENV.decode(out[1]) == "the plan is done: the answer is 500."


@pytest.mark.parametrize(
    "plan, observation, reward",
    [
        ("<tasks><task>calc: 3 times 4</task></tasks>", "the plan is done: the answer is 12.", 0),
        (
            "<tasks><task>calc: 3 times 4</task><task>calc: #1 minus 20</task></tasks>",
            "the plan is done: the answer is - 8.",
            0,
        ),
        ("<tasks><task>calc: #1 times 4</task></tasks>", "task 1 failed: calc found nothing.", 0),
        ("<tasks><task>lookup: 3 times 4</task></tasks>", "task 1 failed: lookup cannot do it.", 0),
        ("<tasks><task>doc: population of anna</task></tasks>", "task 1 failed: doc cannot do", 0),
        ("<tasks><task>calc: # times 4</task></tasks>", "task 1 failed: calc cannot do it.", 0),
        ("<tasks><task>calc: 3 times 4</task>", "nothing happens.", 0),
        ("<tasks><task>calc: 3 times 4</task></tasks> x", "nothing happens.", 0),
        ("<tasks></tasks>", "nothing happens.", 0),
        ("<tasks><task>calc:</task></tasks>", "nothing happens.", 0),
        ("<tasks><task>calc 3 times 4</task></tasks>", "nothing happens.", 0),
        ("<tasks>" + "<task>calc: 1</task>" * 4 + "</tasks>", "task 1 failed: calc cannot", 0),
        ("<tasks>" + "<task>calc: 1</task>" * 5 + "</tasks>", "nothing happens.", 0),  # too long
    ],
)
def test_plan_grammar_and_failure_reasons(plan, observation, reward):
    state = take(_reset("test_seen")[0], 0)
    state, obs, r, term, _, info = _step(KEY, state, ENV.encode(plan, 80), ENV.default_params())
    assert ENV.decode(obs).startswith(observation)
    assert float(r) == reward
    assert bool(info["invalid"]) == observation.startswith("nothing")
    assert bool(term) == observation.startswith("the plan is done")
    assert int(state.failures) == observation.startswith("task")


def test_expert_plan_is_the_owl_format_and_wins():
    state = take(_reset("train")[0], 3)
    plan = ENV.decode(state.plan)
    assert re.fullmatch(r"<tasks>(<task>(lookup|doc|calc): [^<]+</task>)+</tasks>", plan), plan
    out = _step(KEY, state, ENV.encode(plan), ENV.default_params())
    assert float(out[2]) == 1.0 and bool(out[5]["won"])
    wrong = plan.replace("</task></tasks>", " plus 1</task></tasks>")
    assert float(_step(KEY, state, ENV.encode(wrong), ENV.default_params())[2]) == 0.0


def test_render_info_and_registry():
    states, obs = _reset("train")
    state = take(states, 3)
    assert ENV.decode(obs[3]) == ENV.decode(state.question) + " plan the tasks."
    text = ENV.render(state)
    assert "expert plan: <tasks><task>" in text and "documents:" in text
    info = jax.jit(lambda s: ENV.info(s, ENV.default_params()))(state)
    assert set(info) == set(core.INFO_KEYS)
    with pytest.raises(ValueError, match="split"):
        ENV.default_params("valid")
    with pytest.raises(ValueError, match="p_fail"):
        Workforce(p_fail=1.5)
    env = make("workforce", tokenizer=TOK)
    assert env.obs_len == ENV.obs_len and env_class("workforce") is Workforce
    assert env.encode("<tasks>")[:3].tolist() == [TOK.token_to_id(w) for w in "< tasks >".split()]


@pytest.mark.parametrize(
    "call, observation, reward",
    [
        ("calc [ 3 times 4 ]", "calc returned 12. known: 12.", 0),
        ("calc [ -3 times 4 ]", "calc returned - 12. known: - 12.", 0),
        ("calc [ #1 times 4 ]", "calc found nothing.", 0),
        ("lookup [ 3 times 4 ]", "lookup cannot do it.", 0),
        ("convert [ 3 thousands to tens ]", "nothing happens.", 0),
        ("calc 3 times 4", "nothing happens.", 0),
        ("answer [ 12 13 ]", "your answer has been submitted.", 0),
        ("answer [ @answer ]", "your answer has been submitted.", 1),
        ("answer [ @answer plus 1 ]", "your answer has been submitted.", 0),
    ],
)
def test_monolithic_call_grammar(call, observation, reward):
    state = take(_reset("test_seen", MONO)[0], 0)
    call = call.replace("@answer", str(int(state.answer[1])))
    p = MONO.default_params()
    state, obs, r, term, _, info = jax.jit(MONO.step)(KEY, state, MONO.encode(call), p)
    assert MONO.decode(obs) == observation
    assert float(r) == reward and bool(term) == call.startswith("answer")
    assert bool(info["invalid"]) == (observation == "nothing happens.")


def test_monolithic_results_accumulate():
    state = take(_reset("train", MONO)[0], 1)
    step, p = jax.jit(MONO.step), MONO.default_params()
    for call in ["calc [ 1 plus 1 ]", "calc [ 2 plus 2 ]", "calc [ 3 times 3 ]"]:
        state, obs, *_ = step(KEY, state, MONO.encode(call), p)
    assert MONO.decode(obs) == "calc returned 9. known: 2; 4; 9."
    assert int(state.num_known) == 3 and int(state.failures) == 0


def test_plans_hold_at_most_four_tasks():
    from empg_jax.envs.workforce.plan import parse_plan

    for n, ok in ((4, True), (5, False)):
        tokens = ENV.encode("<tasks>" + "<task>calc: 1</task>" * n + "</tasks>", 80)
        parsed, count, workers, _ = jax.jit(lambda x: parse_plan(ENV.tables, x))(tokens)
        assert bool(parsed) == ok and (int(count) == n if ok else True)
        if ok:
            np.testing.assert_array_equal(workers, [2, 2, 2, 2])  # calc
