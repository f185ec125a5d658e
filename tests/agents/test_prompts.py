"""The jitted step prompt equals its plain-text rendering; answer-format checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.agents import PromptBuilder, PromptSizes, agent_tokenizer, answer_format_ok
from empg_jax.testing import run_variants
from tests.agents.toy_env import Rooms

TOK = agent_tokenizer([Rooms.words()])
ENV = Rooms(TOK)
SIZES = PromptSizes(
    history=2,
    obs_tokens=8,
    history_obs_tokens=4,
    admissible_rows=3,
    admissible_tokens=20,
    prompt_len=200,
)


def _text(tokens):
    return TOK.decode(np.asarray(tokens))


BUILDERS = {
    m: PromptBuilder(TOK, ENV.task_len, ENV.obs_len, ENV.action_len, SIZES, m)
    for m in ("direct", "thinking")
}
RENDER = {m: jax.jit(b.render) for m, b in BUILDERS.items()}


@pytest.mark.parametrize("mode", ["direct", "thinking"])
@pytest.mark.parametrize("num_hist", [0, 1, 2])
def test_render_matches_text(mode, num_hist):
    builder = BUILDERS[mode]
    params = ENV.default_params("train")
    state, obs = ENV.reset_to_task(5, params)
    info = ENV.info(state, params)
    h = SIZES.history
    hist_obs = np.zeros((h, ENV.obs_len), np.int32)
    hist_act = np.zeros((h, ENV.action_len), np.int32)
    hist_valid = np.zeros((h,), bool)
    texts = []
    for i in range(num_hist):
        slot = h - num_hist + i
        hist_obs[slot] = np.asarray(obs)
        hist_act[slot] = np.asarray(info["admissible"][i])
        hist_valid[slot] = True
        texts.append((_text(hist_obs[slot][: SIZES.history_obs_tokens]), _text(hist_act[slot])))
    prompt, mask = RENDER[mode](
        info["task"],
        jnp.int32(12),
        hist_obs,
        hist_act,
        hist_valid,
        obs,
        info["admissible"],
        info["num_admissible"],
    )
    adm = [_text(r) for r in np.asarray(info["admissible"])[: int(info["num_admissible"])]]
    text = builder.render_text(_text(info["task"]), 12, texts, _text(obs[:8]), adm)
    expect = TOK.encode(text)
    p = np.asarray(prompt)
    assert int(np.asarray(mask).sum()) == len(expect)
    np.testing.assert_array_equal(p[SIZES.prompt_len - len(expect) :], expect)
    assert (p[: SIZES.prompt_len - len(expect)] == TOK.pad_id).all()
    assert "already taken 12 step" in TOK.decode(p)


def test_prompt_longer_than_p_raises():
    small = PromptSizes(prompt_len=32)
    with pytest.raises(ValueError, match="prompt_len 32"):
        PromptBuilder(TOK, ENV.task_len, ENV.obs_len, ENV.action_len, small)
    with pytest.raises(ValueError, match="agent mode"):
        PromptBuilder(TOK, ENV.task_len, ENV.obs_len, ENV.action_len, SIZES, "chatty")


CASES = [
    ("<action> go to room 1 </action> <eot>", False, True),
    ("go to room 1 </action> <eot>", False, False),
    ("<action> go to room 1 <eot>", False, False),
    ("</action> <action> go to room 1", False, False),
    ("<action> go <action> room </action>", False, False),
    ("<think> room 1 </think> <action> go to room 1 </action> <eot>", True, True),
    ("<action> go to room 1 </action> <eot>", True, False),
    ("<think> room 1 <action> go to room 1 </action> </think>", True, False),
    ("<think> </think> <action> go to room 1 </action>", True, True),
]


@pytest.mark.parametrize("thinking", [False, True])
def test_answer_format(thinking):
    cases = [(t, ok) for t, th, ok in CASES if th == thinking]
    ids = np.stack([TOK.encode_padded(t, 16) for t, _ in cases])
    mask = ids != TOK.pad_id

    def fn(a, m):
        return jax.vmap(lambda x, y: answer_format_ok(x, y, TOK, thinking))(a, m)

    for name, out in run_variants(fn, jnp.asarray(ids), jnp.asarray(mask)):
        np.testing.assert_array_equal(np.asarray(out), [ok for _, ok in cases], err_msg=name)
