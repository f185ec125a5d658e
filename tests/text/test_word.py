"""Tests of the word-level tokenizer (empg_jax/text/word.py)."""

import numpy as np
import pytest

from empg_jax.text import word
from empg_jax.text.word import SPECIAL_TOKENS, WordTokenizer, build_vocabulary

WORDS_A = ["go to", "cabinet", "fridge", "take", "from"]
WORDS_B = ["search", "click", "red", "shirt", "cabinet"]


def test_special_ids_are_fixed():
    tok = WordTokenizer.from_word_lists([WORDS_A])
    assert tok.vocab[: len(SPECIAL_TOKENS)] == SPECIAL_TOKENS
    assert (tok.pad_id, tok.unk_id) == (0, 1)
    assert tok.token_to_id("<think>") == SPECIAL_TOKENS.index("<think>")
    assert tok.token_to_id("</action>") == SPECIAL_TOKENS.index("</action>")
    assert tok.eot_id == SPECIAL_TOKENS.index("<eot>")


def test_shared_vocabulary_is_deterministic_and_order_free():
    v1 = build_vocabulary([WORDS_A, WORDS_B])
    v2 = build_vocabulary([list(reversed(WORDS_B)), WORDS_A])
    assert v1 == v2
    words = v1[len(SPECIAL_TOKENS) + len(word.PUNCTUATION) + len(word.DIGITS) :]
    assert list(words) == sorted({"go", "to", "cabinet", "fridge", "take", "from", "search",
                                  "click", "red", "shirt"})  # fmt: skip
    assert len(set(v1)) == len(v1)


def test_encode_decode_round_trip():
    tok = WordTokenizer.from_word_lists([WORDS_A, WORDS_B])
    text = "<think>go to fridge 12</think><action>take cabinet 3 from fridge 1</action><eot>"
    ids = tok.encode(text)
    assert ids[0] == tok.think_id and ids[-1] == tok.eot_id
    # digits are single tokens, so "12" is two ids
    assert ids[4:6] == [tok.token_to_id("1"), tok.token_to_id("2")]
    assert tok.decode(ids) == (
        "<think> go to fridge 12 </think> <action> take cabinet 3 from fridge 1 </action> <eot>"
    )
    assert tok.decode(tok.encode("search[red shirt], 30.00 $")) == "search[red shirt], 30.00 $"
    assert tok.decode(tok.encode("Go TO\nfridge.")) == "go to\nfridge."
    assert tok.decode(tok.encode("-= go to =-")) == "-= go to =-"


def test_unknown_words_and_skip_special():
    tok = WordTokenizer.from_word_lists([WORDS_A])
    ids = tok.encode("go to banana")
    assert ids[-1] == tok.unk_id
    assert tok.unknown_words("go to banana 3") == ["banana"]
    assert tok.decode(tok.encode("<action>go</action>"), skip_special=True) == "go"


def test_padded_and_batch_encoding():
    tok = WordTokenizer.from_word_lists([WORDS_A])
    out = tok.encode_padded("go to fridge", 6)
    assert out.dtype == np.int32 and out.shape == (6,)
    np.testing.assert_array_equal(out[3:], 0)
    batch = tok.encode_batch(["go", "go to cabinet 1"], 5)
    assert batch.shape == (2, 5)
    assert tok.decode_batch(batch) == ["go", "go to cabinet 1"]
    with pytest.raises(ValueError, match="length 2"):
        tok.encode_padded("go to fridge", 2)
    assert tok.encode_padded("go to fridge", 2, truncate=True).tolist() == tok.encode("go to")
    assert tok.decode([tok.token_to_id("go"), 0, tok.token_to_id("to")], stop_at_pad=True) == "go"


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="word lists"):
        build_vocabulary(["go", "to"])
    with pytest.raises(ValueError, match="special token"):
        build_vocabulary([WORDS_A], extra_specials=["sep"])
    with pytest.raises(ValueError, match="SPECIAL_TOKENS"):
        WordTokenizer(["a", "b"])
    tok = WordTokenizer.from_word_lists([WORDS_A])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([len(tok) + 3])
    with pytest.raises(ValueError, match="sequence of texts"):
        tok.encode_batch("go", 4)


def test_extra_specials_follow_the_builtin_ones():
    tok = WordTokenizer.from_word_lists([WORDS_A], extra_specials=["<user>"])
    assert tok.token_to_id("<user>") == len(SPECIAL_TOKENS)
    assert tok.encode("<user> go") == [len(SPECIAL_TOKENS), tok.token_to_id("go")]
    assert tok == WordTokenizer(tok.vocab) and hash(tok) == hash(WordTokenizer(tok.vocab))
