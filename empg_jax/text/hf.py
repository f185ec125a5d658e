"""Any Hugging Face `tokenizer.json`, loaded with the `tokenizers` package (no transformers), plus
padding helpers that produce the [B, P] token / mask arrays the sampler takes."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

PAD_SIDES = ("left", "right")


class HFTokenizer:
    """Thin wrapper around `tokenizers.Tokenizer` with the operations the project uses.

    Special tokens written in the text (e.g. `<|im_start|>`) are recognised as single ids by
    `encode`, as in Hugging Face's default behaviour for added special tokens.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    @classmethod
    def from_file(cls, path: str) -> HFTokenizer:
        """Loads `path` (a `tokenizer.json` file or a directory containing one)."""
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        if not os.path.exists(path):
            raise ValueError(f"tokenizer file {path!r} does not exist")
        return cls(Tokenizer.from_file(path))

    @property
    def vocab_size(self) -> int:
        """Number of ids including added special tokens (embedding tables may be larger)."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=add_special_tokens).ids

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = False) -> list[list]:
        encoded = self.tokenizer.encode_batch(list(texts), add_special_tokens=add_special_tokens)
        return [e.ids for e in encoded]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def token_to_id(self, token: str) -> int:
        """Id of `token`; ValueError when the vocabulary lacks it."""
        idx = self.tokenizer.token_to_id(token)
        if idx is None:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return idx

    def id_to_token(self, idx: int) -> str:
        token = self.tokenizer.id_to_token(int(idx))
        if token is None:
            raise ValueError(f"id {idx} is outside the vocabulary (size {self.vocab_size})")
        return token

    def save(self, path: str) -> None:
        self.tokenizer.save(path)


def load_hf_tokenizer(path: str) -> HFTokenizer:
    """Loads a Hugging Face `tokenizer.json` (file or directory)."""
    return HFTokenizer.from_file(path)


def pad_batch(
    sequences: Sequence[Sequence[int]],
    length: int | None = None,
    pad_id: int = 0,
    side: str = "left",
) -> tuple[np.ndarray, np.ndarray]:
    """Pads token lists into `(tokens [B, L] int32, mask [B, L] bool)`.

    `side="left"` right-aligns every sequence (the usual layout for prompts); `"right"`
    left-aligns. `length` defaults to the longest sequence; longer sequences raise ValueError.
    """
    if side not in PAD_SIDES:
        raise ValueError(f"side must be one of {PAD_SIDES}; got {side!r}")
    longest = max((len(s) for s in sequences), default=0)
    length = longest if length is None else length
    if longest > length:
        raise ValueError(f"a sequence has {longest} tokens, more than length={length}")
    tokens = np.full((len(sequences), length), pad_id, np.int32)
    mask = np.zeros((len(sequences), length), bool)
    for i, seq in enumerate(sequences):
        n = len(seq)
        if n == 0:
            continue
        cols = slice(length - n, length) if side == "left" else slice(0, n)
        tokens[i, cols] = np.asarray(seq, np.int32)
        mask[i, cols] = True
    return tokens, mask
