"""Tests of the household (ALFWorld-like) environment."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.envs import core, household
from empg_jax.envs.household import SPLIT_SIZES, SPLITS, TASK_TYPES, Household
from empg_jax.envs.household.world import plausible_table
from empg_jax.testing import run_variants
from tests.envs import episodes

ENV = household.cached()
TOK = ENV.tokenizer
PARAMS = {s: ENV.default_params(s) for s in SPLITS}
HORIZON = 50


_reset_many = jax.jit(jax.vmap(ENV.reset_in_split))


@functools.cache
def _every_task():
    ids = np.concatenate([np.arange(SPLIT_SIZES[s]) for s in SPLITS])
    split_ids = np.concatenate([np.full(SPLIT_SIZES[s], i) for i, s in enumerate(SPLITS)])
    return _reset_many(jnp.asarray(ids), jnp.asarray(split_ids))


def all_tasks(split):
    """Every task of a split (one compiled, vmapped reset serves all splits)."""
    start = sum(SPLIT_SIZES[s] for s in SPLITS[: SPLITS.index(split)])
    return take(_every_task(), slice(start, start + SPLIT_SIZES[split]))


def take(tree, idx):
    return jax.tree.map(lambda x: x[idx], tree)


THINKING, DIRECT, RANDOM = 0, 1, 2


@functools.partial(jax.jit, static_argnames="num_steps")
def _mixed_rollout(keys, states, obs, mode, num_steps=HORIZON):
    """Per episode: oracle in thinking mode, oracle in direct mode, or random admissible."""
    policies = [
        core.oracle_policy(ENV, PARAMS["train"], thinking=True),
        core.oracle_policy(ENV, PARAMS["train"], thinking=False),
        core.random_policy(ENV),
    ]

    def policy_for(m):
        def policy(key, state, o, info):
            outs = [pol(key, state, o, info) for pol in policies]
            width = max(x.shape[0] for x in outs)
            outs = jnp.stack([jnp.pad(x, (0, width - x.shape[0])) for x in outs])
            return outs[m]

        return policy

    # Step does not read the split, so one compiled rollout serves every split's episodes.
    def one(key, state, o, m):
        return episodes.rollout(ENV, policy_for(m), key, state, o, PARAMS["train"], num_steps)

    return jax.vmap(one)(keys, states, obs, mode)


@functools.cache
def rollouts():
    """Oracle on samples of all splits (train 96, every valid task; valid_unseen in direct
    mode) and 256 random-admissible episodes on train."""
    parts, split_of, mode = [], [], []
    rng = np.random.default_rng(0)
    for split, n, m in (("train", 96, THINKING), ("valid_seen", 140, THINKING),
                        ("valid_unseen", 134, DIRECT)):  # fmt: skip
        idx = np.sort(rng.choice(SPLIT_SIZES[split], n, replace=False))
        parts.append(take(all_tasks(split), idx))
        split_of += [split] * n
        mode += [m] * n
    parts.append(take(all_tasks("train"), rng.choice(SPLIT_SIZES["train"], 256, replace=False)))
    split_of += ["random"] * 256
    mode += [RANDOM] * 256
    states, obs = jax.tree.map(lambda *x: jnp.concatenate(x), *parts)
    keys = jax.random.split(jax.random.PRNGKey(7), len(mode))
    final, tr = _mixed_rollout(keys, states, obs, jnp.asarray(mode))
    return np.array(split_of), jax.tree.map(np.asarray, final), jax.tree.map(np.asarray, tr)


@pytest.mark.slow
def test_oracle_wins_every_split_and_random_agent_stays_low():
    split_of, final, tr = rollouts()
    for split in SPLITS:
        m = split_of == split
        assert final.won[m].all(), (split, np.flatnonzero(~final.won[m]))
        assert not (tr.invalid & tr.valid)[m].any(), split
        assert (tr.reward[m].sum(1) == 10.0).all()
        # the oracle solves within the horizon with room to spare
        assert tr.valid[m].sum(1).max() <= 40, split
    m = split_of == "random"
    rate = final.won[m].mean()
    print(f"random admissible agent success rate: {rate:.3f} over {m.sum()} train episodes")
    assert rate < 0.25
    # rewards only on the winning step; losers run to the horizon and are truncated
    assert ((tr.reward[m] > 0).sum(1) == final.won[m]).all()
    np.testing.assert_array_equal(final.truncated[m], ~final.won[m])
    assert (final.t[m][~final.won[m]] == HORIZON).all()
    # every task type is covered by the oracle sample
    assert set(final.task_type[split_of != "random"]) == set(range(len(TASK_TYPES)))


@pytest.mark.slow
def test_finished_episodes_are_frozen():
    split_of, final, tr = rollouts()
    after = ~tr.valid
    assert not tr.reward[after].any() and not tr.invalid[after].any()
    # the observation after the end is the last one; flags stay set
    ended = after.any(1)
    assert (tr.terminated[after] | tr.truncated[after]).all() and ended.any()


def test_splits_are_disjoint():
    seen = {tuple(c) for c in ENV.combos["seen"]}
    unseen = {tuple(c) for c in ENV.combos["unseen"]}
    assert not seen & unseen
    assert {c[0] for c in unseen} == set(range(len(TASK_TYPES)))
    triples = {}
    for split in SPLITS:
        s, _ = all_tasks(split)
        triples[split] = set(
            zip(
                *(np.asarray(a).tolist() for a in (s.task_type, s.target_obj, s.target_recep)),
                strict=True,
            )
        )
    assert triples["train"] <= seen and triples["valid_seen"] <= seen
    assert triples["valid_unseen"] <= unseen
    assert len(triples["valid_unseen"]) > 30  # a broad sample of the held-out combinations

    def scenes(split):
        s, _ = all_tasks(split)
        arrays = (s.recep_type, s.recep_num, s.obj_type, s.obj_loc, s.task_K)
        flat = np.concatenate([np.asarray(a).reshape(len(s.t), -1) for a in arrays], 1)
        return {row.tobytes() for row in flat}

    train, valid_seen = scenes("train"), scenes("valid_seen")
    assert len(train) == SPLIT_SIZES["train"] and len(valid_seen) == SPLIT_SIZES["valid_seen"]
    assert not train & valid_seen


def test_reset_is_deterministic_and_plausible():
    s, obs = all_tasks("valid_seen")
    _, obs_again = _every_task.__wrapped__()  # recomputed, not the cached result
    np.testing.assert_array_equal(obs, take(obs_again, slice(SPLIT_SIZES["train"], None))[:140])
    s = jax.tree.map(np.asarray, s)
    plaus = plausible_table()
    for i in range(20):
        valid = s.obj_type[i] >= 0
        types = s.obj_type[i][valid]
        locs = s.recep_type[i][s.obj_loc[i][valid]]
        assert plaus[types, locs].all()
        assert valid[0] and s.obj_type[i][0] == s.target_obj[i]
        assert not s.won[i] and s.cur[i] == -1 and s.held[i] == -1


def test_text_and_contract():
    s, obs = all_tasks("valid_seen")
    s0, obs0 = take(s, 0), np.asarray(obs[0])
    text = ENV.decode(obs0)
    assert text.startswith("-= welcome to textworld, alfred! =-\n\nyou are in the middle")
    assert "\n\nyour task is to: " + ENV.decode(s0.task_K) in text
    assert "task 0 [" in ENV.render(s0)
    info = ENV.info(s0, PARAMS["valid_seen"])
    assert tuple(info) == core.INFO_KEYS
    A, L = ENV.max_admissible, ENV.action_len
    assert info["admissible"].shape == (A, L) and info["task"].shape == (ENV.task_len,)
    n = int(info["num_admissible"])
    adm = [ENV.decode(r) for r in np.asarray(info["admissible"])[:n]]
    assert adm[-2:] == ["look", "inventory"] and all(a.startswith("go to ") for a in adm[:-2])
    assert not np.asarray(info["admissible"])[n:].any()
    for name, out in run_variants(ENV.info, s0, PARAMS["valid_seen"]):
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(info), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.slow
def test_response_formats():
    split_of, _, tr = rollouts()
    think = ENV.decode(tr.response[split_of == "valid_seen"][0, 0])
    assert think.startswith("<think> i need to find a ") and "</think> <action> go to " in think
    direct = ENV.decode(tr.response[split_of == "valid_unseen"][0, 0])
    assert direct.startswith("<action> go to ") and direct.endswith("</action> <eot>")
    rand = ENV.decode(tr.response[split_of == "random"][0, 0])
    assert rand.startswith("<action> ") and rand.endswith("</action> <eot>")


def _step_batch(keys, states, actions):
    return jax.vmap(ENV.step, in_axes=(0, 0, 0, None))(keys, states, actions, PARAMS["train"])


_step_jit_vmap = jax.jit(_step_batch)
_step_jit = jax.jit(ENV.step)


def test_vmapped_step_matches_a_loop_and_garbage_is_invalid():
    s, obs = all_tasks("valid_seen")
    B, T = 4, 6
    states = take(s, np.arange(B))
    rng = np.random.default_rng(1)
    keys = jax.random.split(jax.random.PRNGKey(3), T * B).reshape(T, B, 2)
    loop_states = [take(states, b) for b in range(B)]
    for t in range(T):
        acts = []
        for b in range(B):
            if (t + b) % 3 == 2:  # garbage: random ids, some outside the vocabulary
                acts.append(rng.integers(-50, len(TOK) + 50, size=ENV.response_len))
            else:  # a random admissible action, wrapped in a full answer
                info = jax.tree.map(np.asarray, ENV.info(loop_states[b], PARAMS["train"]))
                row = info["admissible"][rng.integers(info["num_admissible"])]
                text = "<think> i act </think> <action> " + ENV.decode(row) + " </action>"
                acts.append(ENV.encode(text, ENV.response_len))
        acts = jnp.asarray(np.stack(acts), jnp.int32)
        before = states
        states, obs_b, rew_b, term_b, trunc_b, info_b = _step_jit_vmap(keys[t], states, acts)
        for b in range(B):
            out = _step_jit(keys[t, b], loop_states[b], acts[b], PARAMS["train"])
            loop_states[b] = out[0]
            np.testing.assert_array_equal(out[1], obs_b[b])
            assert float(out[2]) == float(rew_b[b]) and bool(out[3]) == bool(term_b[b])
            jax.tree.map(np.testing.assert_array_equal, out[0], take(states, b))
            jax.tree.map(np.testing.assert_array_equal, out[5], take(info_b, b))
            if (t + b) % 3 == 2:
                assert bool(info_b["invalid"][b])
                assert ENV.decode(obs_b[b]) == "nothing happens."
                want = jax.tree.leaves(take(before.replace(t=before.t + 1), b))
                for x, y in zip(want, jax.tree.leaves(take(states, b)), strict=True):
                    np.testing.assert_array_equal(x, y)
            else:
                assert not bool(info_b["invalid"][b])


@pytest.mark.slow
def test_action_grammar_walkthrough():
    """Oracle episodes: ALFWorld's grammar and phrasing, for every task type."""
    split_of, final, tr = rollouts()
    seen_types = set()
    for i in np.flatnonzero(split_of == "valid_seen"):
        n = int(tr.valid[i].sum())
        acts = [
            ENV.decode(r).split("<action> ")[1].split(" </action>")[0] for r in tr.response[i, :n]
        ]
        obs = [ENV.decode(o) for o in tr.obs[i, 1:n]]  # obs[k] answers acts[k]
        kind = TASK_TYPES[int(final.task_type[i])]
        seen_types.add(kind)
        for a, o in zip(acts, obs, strict=False):
            if a.startswith("go to "):
                assert o.startswith(f"you arrive at {a[6:]}. "), (a, o)
            elif a.startswith("take "):
                obj, recep = a[5:].split(" from ")
                assert o == f"you pick up the {obj} from the {recep}.", (a, o)
            elif a.startswith("open "):
                assert o.startswith(f"you open the {a[5:]}. the {a[5:]} is open. in it, you see")
            elif a.split()[0] in ("heat", "cool", "clean"):
                verb, rest = a.split(" ", 1)
                obj, recep = rest.split(" with ")
                assert o == f"you {verb} the {obj} using the {recep}.", (a, o)
            elif a.startswith("move "):
                obj, recep = a[5:].split(" to ")
                assert o == f"you move the {obj} to the {recep}.", (a, o)
        last = acts[-1]
        if kind == "look_at_obj_in_light":
            assert last == "use desklamp 1"
        else:
            assert last.startswith("move ")
        if kind in ("pick_clean_then_place_in_recep", "pick_heat_then_place_in_recep",
                    "pick_cool_then_place_in_recep"):  # fmt: skip
            verb = kind.split("_")[1]
            assert any(a.startswith(verb + " ") for a in acts)
    assert seen_types == set(TASK_TYPES)


def test_bad_params_raise():
    with pytest.raises(ValueError, match="split"):
        ENV.default_params("test")
    with pytest.raises(ValueError, match="max_receptacles"):
        Household(TOK, max_receptacles=8)
    with pytest.raises(ValueError, match="unseen_fraction"):
        household.split_combinations(1.5)
