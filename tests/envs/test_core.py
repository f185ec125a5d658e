"""Tests of the environment framework: the jit helpers of core.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.envs import core
from empg_jax.testing import run_variants
from empg_jax.text.word import WordTokenizer

TOK = WordTokenizer.from_word_lists([["go", "to", "fridge", "look", "think", "i"]])


def ids(text, length=None):
    out = TOK.encode(text)
    return np.array(out if length is None else out + [0] * (length - len(out)), np.int32)


def test_compact_tokens():
    x = jnp.array([0, 5, 0, 0, 7, 8, 0, 9], jnp.int32)
    for name, out in run_variants(core.compact_tokens, x, length=5):
        np.testing.assert_array_equal(out, [5, 7, 8, 9, 0], err_msg=name)
    for name, out in run_variants(core.compact_tokens, x, length=3):
        np.testing.assert_array_equal(out, [5, 7, 8], err_msg=name)


def test_compact_rows():
    table = jnp.arange(12, dtype=jnp.int32).reshape(4, 3) + 1
    valid = jnp.array([False, True, False, True])
    for name, (out, n) in run_variants(core.compact_rows, table, valid):
        np.testing.assert_array_equal(out, [[4, 5, 6], [10, 11, 12], [0, 0, 0], [0, 0, 0]])
        assert int(n) == 2, name


PARSE_CASES = [
    ("<think> i go </think> <action> go to fridge 1 </action> <eot>", "go to fridge 1", True),
    ("go to fridge 1 <eot> look", "go to fridge 1", True),
    ("<action> look", "look", True),  # no closing tag: read to the end
    ("<think> i </think> <action> </action>", None, False),  # empty
    ("<action> go to fridge 1 go to fridge 1 </action>", None, False),  # longer than L
    ("", None, False),
]


def _parse_many(tokens_NxT):
    return jax.vmap(lambda t: core.parse_action(t, 6, TOK))(tokens_NxT)


def test_parse_action():
    tokens = jnp.asarray(np.stack([ids(a, 16) for a, _, _ in PARSE_CASES]))
    for name, (action, got_ok) in run_variants(_parse_many, tokens):
        for i, (_, want, ok) in enumerate(PARSE_CASES):
            assert bool(got_ok[i]) == ok, (name, i)
            if ok:
                assert TOK.decode(action[i]) == want, (name, i)
            else:
                np.testing.assert_array_equal(action[i], TOK.unk_id)


def test_parse_action_survives_garbage_ids():
    rng = np.random.default_rng(0)
    garbage = jnp.asarray(rng.integers(-100, 10_000, size=(32,)), jnp.int32)
    action, _ = core.parse_action(garbage, 6, TOK)
    assert action.shape == (6,)


def test_match_action():
    table = jnp.asarray(np.stack([ids("go to fridge 1", 6), ids("look", 6), ids("look", 6)]))
    valid = jnp.array([True, False, True])
    for name, (row, found) in run_variants(core.match_action, jnp.asarray(ids("look", 6)),
                                           table, valid):  # fmt: skip
        assert (int(row), bool(found)) == (2, True), name
    row, found = core.match_action(jnp.asarray(ids("go to", 6)), table, valid)
    assert not bool(found)


def test_format_response():
    thought, action = jnp.asarray(ids("i go", 4)), jnp.asarray(ids("look", 3))
    for name, out in run_variants(core.format_response, thought, action, tokenizer=TOK, length=12):
        assert TOK.decode(out) == "<think> i go </think> <action> look </action> <eot>", name
    out = core.format_response(None, action, TOK, 8)
    assert TOK.decode(out) == "<action> look </action> <eot>"


def test_text_table_rejects_unknown_words():
    table = core.TextTable(TOK, {"a": "go to fridge", "b": "look"})
    assert table.ids.shape == (2, 3) and TOK.decode(table.row("b")) == "look"
    with pytest.raises(ValueError, match="banana"):
        core.TextTable(TOK, {"a": "go to banana"})
