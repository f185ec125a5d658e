"""The jitted rollout against a slow Python reference loop, the host loop, step links and demos."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from empg_jax.agents import (
    HostEnv,
    PromptBuilder,
    PromptSizes,
    agent_tokenizer,
    demonstrations,
    host_rollout,
    make_rollout,
    reset_episodes,
    stop_tokens,
)
from empg_jax.models import Transformer, make_sampler, tiny_config
from tests.agents.toy_env import Rooms

TOK = agent_tokenizer([Rooms.words()])
ENV = Rooms(TOK)
SIZES = PromptSizes(
    history=1,
    obs_tokens=8,
    history_obs_tokens=4,
    admissible_rows=4,
    admissible_tokens=24,
    prompt_len=160,
)
BUILDER = PromptBuilder(TOK, ENV.task_len, ENV.obs_len, ENV.action_len, SIZES, "direct")
N, T, L = 6, 3, 8
PARAMS = ENV.default_params("train")
MODEL = Transformer(
    tiny_config(
        vocab_size=128,
        hidden_size=32,
        num_layers=1,
        num_heads=2,
        num_kv_heads=1,
        intermediate_size=64,
    ),
    rngs=nnx.Rngs(3),
)
GRAPHDEF, STATE = nnx.split(MODEL, nnx.Param)
ROLLOUT = make_rollout(ENV, BUILDER, GRAPHDEF, horizon=T, answer_len=L, thinking=False)
SAMPLER = make_sampler(GRAPHDEF, max_new_tokens=L)
TASKS = jnp.arange(N, dtype=jnp.int32)
KEY = jax.random.PRNGKey(11)


@functools.lru_cache(maxsize=1)
def _jitted():
    state, obs = jax.jit(lambda t: reset_episodes(ENV, PARAMS, t))(TASKS)
    return ROLLOUT(STATE, KEY, state, obs, PARAMS, TASKS, jnp.float32(1.0))


def _text(x):
    return TOK.decode(np.asarray(x))


def _reference():
    """Slow loop: text prompts, one episode at a time through the un-vmapped env.step."""
    step = jax.jit(ENV.step)
    parse = jax.jit(ENV.parse_action)
    states, obs = [], []
    for i in range(N):
        s, o = ENV.reset_to_task(int(TASKS[i]), PARAMS)
        states.append(s)
        obs.append(np.asarray(o))
    infos = [ENV.info(s, PARAMS) for s in states]
    hist = [[] for _ in range(N)]
    alive = np.ones(N, bool)
    prompts_prev = np.zeros((N, SIZES.prompt_len), np.int32)
    out = {k: [] for k in ("prompt", "answer", "mask", "logp", "ent", "valid", "reward")}
    for t in range(T):
        if not alive.any():
            break
        prompts = prompts_prev.copy()
        for i in range(N):
            if not alive[i]:
                continue
            adm = np.asarray(infos[i]["admissible"])[: int(infos[i]["num_admissible"])]
            text = BUILDER.render_text(
                _text(infos[i]["task"]),
                t,
                hist[i],
                _text(obs[i][: SIZES.obs_tokens]),
                [_text(a) for a in adm],
            )
            ids = TOK.encode(text)
            prompts[i] = 0
            prompts[i, SIZES.prompt_len - len(ids) :] = ids
        prompts_prev = prompts
        k_sample, k_env = jax.random.split(jax.random.fold_in(KEY, t))
        smp = SAMPLER(
            STATE,
            jnp.asarray(prompts),
            jnp.asarray(prompts != 0),
            k_sample,
            stop_tokens(TOK),
            temperature=1.0,
        )
        env_keys = jax.random.split(k_env, N)
        rewards = np.zeros(N, np.float32)
        for i in range(N):
            if not alive[i]:
                continue
            res = step(env_keys[i], states[i], smp.tokens[i], PARAMS)
            action, ok = parse(smp.tokens[i])
            hist[i] = (
                hist[i]
                + [(_text(obs[i][: SIZES.history_obs_tokens]), _text(action) if bool(ok) else "")]
            )[-SIZES.history :]
            states[i], obs[i], rewards[i], infos[i] = res[0], np.asarray(res[1]), res[2], res[5]
        out["prompt"].append(prompts)
        out["answer"].append(np.asarray(smp.tokens))
        out["mask"].append(np.asarray(smp.mask) & alive[:, None])
        out["logp"].append(np.asarray(smp.log_probs))
        out["ent"].append(np.asarray(smp.entropies))
        out["valid"].append(alive.copy())
        out["reward"].append(rewards)
        alive = alive & ~np.array([bool(s.terminated | s.truncated) for s in states])
    return {k: np.stack(v, axis=1) for k, v in out.items()}


@pytest.mark.slow
def test_rollout_matches_python_reference():
    ro = _jitted()
    ref = _reference()
    steps = ref["valid"].shape[1]
    v = ref["valid"]
    np.testing.assert_array_equal(np.asarray(ro.valid_NxT)[:, :steps], v)
    assert not np.asarray(ro.valid_NxT)[:, steps:].any()
    np.testing.assert_array_equal(np.asarray(ro.prompt_NxTxP)[:, :steps][v], ref["prompt"][v])
    np.testing.assert_array_equal(np.asarray(ro.answer_NxTxL)[:, :steps][v], ref["answer"][v])
    np.testing.assert_array_equal(np.asarray(ro.answer_mask_NxTxL)[:, :steps], ref["mask"])
    m = ref["mask"]
    np.testing.assert_allclose(
        np.asarray(ro.old_log_probs_NxTxL)[:, :steps][m], ref["logp"][m], atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(ro.token_entropy_NxTxL)[:, :steps][m], ref["ent"][m], atol=1e-5
    )
    np.testing.assert_allclose(np.asarray(ro.step_reward_NxT)[:, :steps], ref["reward"])
    # Next-step links: row e*T+t -> e*T+t+1 while the episode goes on, else -1.
    nxt = np.asarray(ro.next_step_S())
    valid = np.asarray(ro.valid_NxT)
    for e in range(N):
        for t in range(T):
            expect = e * T + t + 1 if t + 1 < T and valid[e, t] and valid[e, t + 1] else -1
            assert nxt[e * T + t] == expect
    np.testing.assert_array_equal(np.asarray(ro.length_N), valid.sum(1))
    assert int(np.asarray(ro.length_N).min()) >= 1


@pytest.mark.slow
def test_host_rollout_matches_jitted():
    ro = _jitted()
    host = HostEnv(ENV, PARAMS, PARAMS, KEY)
    hr = host_rollout(
        host,
        BUILDER,
        SAMPLER,
        STATE,
        KEY,
        np.asarray(TASKS),
        horizon=T,
        answer_len=L,
        thinking=False,
    )
    for field in (
        "prompt_NxTxP",
        "prompt_mask_NxTxP",
        "answer_NxTxL",
        "answer_mask_NxTxL",
        "valid_NxT",
        "invalid_format_NxT",
        "invalid_action_NxT",
        "step_reward_NxT",
        "reward_N",
        "won_N",
        "length_N",
        "task_type_N",
        "task_id_N",
        "truncated_N",
        "temperature",
    ):
        a, b = np.asarray(getattr(ro, field)), np.asarray(getattr(hr, field))
        v = np.asarray(ro.valid_NxT)
        if a.ndim >= 2 and field != "valid_NxT":
            a, b = a[v], b[v]
        np.testing.assert_array_equal(a, b, err_msg=field)
    np.testing.assert_allclose(
        np.asarray(ro.old_log_probs_NxTxL), np.asarray(hr.old_log_probs_NxTxL), atol=1e-5
    )


def test_oracle_demonstrations_win_and_are_well_formed():
    state, obs = jax.jit(lambda t: reset_episodes(ENV, PARAMS, t))(TASKS)
    demo = jax.jit(
        functools.partial(
            demonstrations, ENV, BUILDER, horizon=T, answer_len=L, thinking=False, noise=0.0
        )
    )
    ro = demo(KEY, state, obs, PARAMS, TASKS)
    assert bool(np.asarray(ro.won_N).all())
    np.testing.assert_array_equal(np.asarray(ro.length_N), 1)
    assert not bool(np.asarray(ro.invalid_format_NxT).any())
    first = np.asarray(ro.answer_NxTxL)[:, 0]
    assert _text(first[0]).startswith("<action> go to room")


@pytest.mark.parametrize("valid_pattern", [[[1, 1, 0], [1, 0, 0]], [[1, 1, 1], [1, 1, 0]]])
def test_rows_next_step_stops_at_episode_end(valid_pattern):
    ro = _jitted()
    v = np.asarray(valid_pattern, bool)
    small = ro.episodes(np.arange(2)).replace(valid_NxT=jnp.asarray(v))
    nxt = np.asarray(small.next_step_S()).reshape(2, 3)
    for e in range(2):
        for t in range(3):
            ok = t + 1 < 3 and v[e, t] and v[e, t + 1]
            assert nxt[e, t] == (e * 3 + t + 1 if ok else -1)


@pytest.mark.slow
def test_chunked_shared_prefill_rollout_equals_the_one_shot_one(monkeypatch):
    """The rollout hands its prefill options to the sampler, and the record is unchanged."""
    import importlib

    # `empg_jax.agents.rollout` the attribute is the function; the module is needed here.
    rollout_mod = importlib.import_module("empg_jax.agents.rollout")
    seen = []
    real_sample = rollout_mod.sample

    def spy(*args, **kwargs):
        seen.append((kwargs["prefill_chunk"], kwargs["group_size"]))
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(rollout_mod, "sample", spy)
    fast = make_rollout(
        ENV, BUILDER, GRAPHDEF, horizon=T, answer_len=L, thinking=False, group_size=2,
        prefill_chunk=16, share_prefill=True,
    )  # fmt: skip
    state, obs = jax.jit(lambda t: reset_episodes(ENV, PARAMS, t))(TASKS)
    got = fast(STATE, KEY, state, obs, PARAMS, TASKS, jnp.float32(1.0))
    assert seen == [(16, 2)]
    ref = _jitted()
    np.testing.assert_array_equal(got.answer_NxTxL, ref.answer_NxTxL)
    np.testing.assert_array_equal(got.prompt_NxTxP, ref.prompt_NxTxP)
    np.testing.assert_allclose(got.old_log_probs_NxTxL, ref.old_log_probs_NxTxL, atol=2e-6)
    np.testing.assert_allclose(got.token_entropy_NxTxL, ref.token_entropy_NxTxL, atol=2e-6)
