"""Loading a Hugging Face tokenizer.json with `tokenizers`, and prompt padding."""

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from empg_jax.text.hf import HFTokenizer, load_hf_tokenizer, pad_batch

CORPUS = [
    "go to the kitchen and take the apple",
    "put the apple in the fridge, then open the drawer",
    "café naïve — 東京 🍎 emoji",
] * 20


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<|end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


def test_load_file_or_directory_and_round_trip(tokenizer_file):
    a = load_hf_tokenizer(str(tokenizer_file))
    b = HFTokenizer.from_file(str(tokenizer_file.parent))
    text = "take the apple to the 東京 fridge 🍎<|end|>"
    ids = a.encode(text)
    assert ids == b.encode(text)
    assert a.decode(ids) == text
    assert ids[-1] == a.token_to_id("<|end|>") == 1
    assert a.decode(ids, skip_special_tokens=True) == text.removesuffix("<|end|>")
    assert a.encode_batch([text, "go"]) == [ids, a.encode("go")]
    assert a.vocab_size <= 400 and a.id_to_token(0) == "<pad>"


def test_errors(tokenizer_file, tmp_path):
    tok = load_hf_tokenizer(str(tokenizer_file))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.token_to_id("<missing>")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.id_to_token(10**6)
    with pytest.raises(ValueError, match="does not exist"):
        load_hf_tokenizer(str(tmp_path / "nope.json"))


def test_pad_batch_sides():
    seqs = [[5, 6, 7], [8]]
    tokens, mask = pad_batch(seqs, length=4, pad_id=0, side="left")
    np.testing.assert_array_equal(tokens, [[0, 5, 6, 7], [0, 0, 0, 8]])
    np.testing.assert_array_equal(mask, [[0, 1, 1, 1], [0, 0, 0, 1]])
    tokens, mask = pad_batch(seqs, pad_id=-1, side="right")
    np.testing.assert_array_equal(tokens, [[5, 6, 7], [8, -1, -1]])
    assert tokens.dtype == np.int32 and mask.dtype == bool
    with pytest.raises(ValueError, match="length=2"):
        pad_batch(seqs, length=2)
    with pytest.raises(ValueError, match="side"):
        pad_batch(seqs, side="middle")
