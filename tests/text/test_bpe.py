"""`bpe.JaxBPE` (Qwen's pre-tokenizer and BPE inside jit) equals `tokenizers` on raw ASCII text:
runs of spaces and newlines, every punctuation character, contractions in any case, digits, and
added tokens splitting the text into segments."""

import functools

import jax
import numpy as np
import pytest

from empg_jax.text.bpe import JaxBPE

C, B = 192, 32

SPECIALS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]


@pytest.fixture(scope="module")
def qwen_bpe(qwen_chat):
    return JaxBPE(qwen_chat.tokenizer)


@functools.partial(jax.jit, static_argnums=0)
def _encode(bpe, chars, specials):
    return jax.vmap(bpe.encode)(chars, specials)


def _check(bpe, tokenizer, pieces_list):
    """`pieces_list`: texts as lists of strings, where a string in SPECIALS is an added token."""
    chars = np.full((B, C), -1, np.int32)
    specials = np.full((B, C), -1, np.int32)
    for row, pieces in enumerate(pieces_list):
        pos = 0
        for piece in pieces:
            if piece in SPECIALS:
                specials[row, pos] = bpe.added[piece]
                pos += 1
            else:
                chars[row, pos : pos + len(piece)] = [ord(c) for c in piece]
                pos += len(piece)
        assert pos <= C
    ids, keep = map(np.asarray, _encode(bpe, chars, specials))
    for row, pieces in enumerate(pieces_list):
        want = tokenizer.encode("".join(pieces)).ids
        assert ids[row][keep[row]].tolist() == want, "".join(pieces)


def test_known_pretokens(qwen_bpe, qwen_chat):
    tok = qwen_chat.tokenizer.tokenizer
    cases = [
        "Hello, world!",
        "taken 12 step(s). below [observation: x].\n\nnow it's your turn",
        "I'LL 'x 'v 'l 'r it'sea it'tea it'red it'velvet it'me it'llo it'Lla it'deep 'RED",
        "a  b   \n\n  c ].\n\nx   ",
        "   ",
        " \n \n y",
        "=-= -- (s) $5 {x}",
    ]
    _check(qwen_bpe, tok, [[c] for c in cases])
    # Spot checks of the corner cases, as token strings.
    assert [tok.id_to_token(i) for i in tok.encode(" 12").ids] == ["Ġ", "1", "2"]
    assert [tok.id_to_token(i) for i in tok.encode("step(s).").ids] == ["step", "(s", ")."]
    assert [tok.id_to_token(i) for i in tok.encode("it'red").ids] == ["it", "'re", "d"]


def test_random_ascii_with_added_tokens(qwen_bpe, qwen_chat):
    """Random printable ASCII with extra spaces and newlines, and added tokens in between."""
    rng = np.random.default_rng(0)
    alphabet = [chr(i) for i in range(32, 127)] + [" "] * 12 + ["\n"] * 6 + ["'s", "'RE", "12"]
    rows = []
    for _ in range(B):
        pieces = []
        for _ in range(rng.integers(1, 5)):
            pieces.append("".join(rng.choice(alphabet, rng.integers(0, 40))))
            pieces.append(str(rng.choice(SPECIALS)))
        rows.append(pieces[: rng.integers(1, len(pieces) + 1)])
    _check(qwen_bpe, qwen_chat.tokenizer.tokenizer, rows)


def test_small_trained_tokenizer(small_chat):
    bpe = JaxBPE(small_chat.tokenizer)
    rng = np.random.default_rng(1)
    alphabet = list("abcdefghij  \n.,'[]():=-0123456789") + ["step", "observation", " go"]
    rows = [["".join(rng.choice(alphabet, rng.integers(1, 40)))] for _ in range(B)]
    _check(bpe, small_chat.tokenizer.tokenizer, rows)
