"""Word-level tokenizer over a fixed vocabulary, shared by the built-in JAX environments.

The built-in environments (household, shop, search) speak a small closed
language, so a word-level vocabulary keeps observations and actions short and lets the environments
parse actions inside `jit` by comparing token ids. Each environment exposes its word list
(`Environment.words()`); `build_vocabulary` joins several lists with the special tokens into one
vocabulary so one policy can train on several environments at once.

Tokenisation rules (deterministic, no learned merges):
- text is lower-cased;
- a special token written literally (`<think>`, `</action>`, ...) is one token;
- a run of letters is one word (unknown words map to `<unk>`);
- every digit is its own token (`"12"` -> `"1" "2"`), so any number is representable and an
  environment can read a number from a fixed set of ten ids;
- every other printable character is its own token (`, . : [ ] $ ...`), a newline is `<nl>`.

Ids are deterministic: specials first (`<pad>` = 0, `<unk>` = 1, in `SPECIAL_TOKENS` order), then
the printable punctuation, the ten digits, then the sorted union of the words.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence

import numpy as np

PAD = "<pad>"
UNK = "<unk>"
BOS = "<bos>"
EOS = "<eos>"
EOT = "<eot>"
THINK = "<think>"
END_THINK = "</think>"
ACTION = "<action>"
END_ACTION = "</action>"
SEP = "<sep>"
NL = "<nl>"

#: Special tokens in id order. `<eot>` ends one assistant turn (the sampler's stop token);
#: `<sep>` separates prompt sections; `<nl>` is a newline.
SPECIAL_TOKENS: tuple[str, ...] = (
    PAD,
    UNK,
    BOS,
    EOS,
    EOT,
    THINK,
    END_THINK,
    ACTION,
    END_ACTION,
    SEP,
    NL,
)
PUNCTUATION: tuple[str, ...] = tuple(string.punctuation)
DIGITS: tuple[str, ...] = tuple(string.digits)

_WORD_RE = re.compile(r"[a-z]+")
_TOKEN_RE = re.compile(r"</?[a-z_|]+>|[a-z]+|\d|\n|[^\sa-z\d]")
# Characters printed with no space before them / after them when decoding.
_NO_SPACE_BEFORE = set(".,;:!?)]}%'[")
_NO_SPACE_AFTER = set("([{$'")
_GLUED_PAIRS = {"=-", "-=", "==", "--"}  # "-=", "=-" banners and "--" stay as typed


def split_words(text: str) -> list[str]:
    """Splits text into the word-level pieces described in the module docstring (newline kept)."""
    return _TOKEN_RE.findall(text.lower())


def build_vocabulary(
    word_lists: Iterable[Iterable[str]], extra_specials: Sequence[str] = ()
) -> tuple[str, ...]:
    """One vocabulary from several word lists: specials, punctuation, digits, then sorted words.

    Args:
      word_lists: e.g. `[Household.words(), Shop.words()]`. An entry may be a phrase; it is split
        with `split_words` and only its letter words are kept (punctuation and digits are always
        in the vocabulary).
      extra_specials: more special tokens (`<name>` form) appended after `SPECIAL_TOKENS`.

    Returns:
      The vocabulary in id order.
    """
    for s in extra_specials:
        if not re.fullmatch(r"</?[a-z_|]+>", s):
            raise ValueError(f"special token {s!r} must look like '<name>' or '</name>'")
    specials = list(SPECIAL_TOKENS) + [s for s in extra_specials if s not in SPECIAL_TOKENS]
    words: set[str] = set()
    for wl in word_lists:
        if isinstance(wl, str):
            raise ValueError(f"word_lists must be a list of word lists, got the string {wl!r}")
        for entry in wl:
            words.update(w for w in split_words(entry) if _WORD_RE.fullmatch(w))
    return tuple(specials) + PUNCTUATION + DIGITS + tuple(sorted(words))


class WordTokenizer:
    """Maps text to word ids and back over a fixed vocabulary (see the module docstring).

    Example:
      >>> tok = WordTokenizer.from_word_lists([["go", "to", "cabinet"]])
      >>> tok.decode(tok.encode("<action>go to cabinet 12</action>"))
      '<action> go to cabinet 12 </action>'
    """

    def __init__(self, vocab: Sequence[str]):
        vocab = tuple(vocab)
        if vocab[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(
                f"vocabulary must start with SPECIAL_TOKENS {SPECIAL_TOKENS}, got {vocab[:11]}"
            )
        if len(set(vocab)) != len(vocab):
            dup = sorted({v for v in vocab if vocab.count(v) > 1})
            raise ValueError(f"vocabulary has duplicate entries: {dup[:10]}")
        self.vocab: tuple[str, ...] = vocab
        self._ids = {w: i for i, w in enumerate(vocab)}
        self.pad_id = self._ids[PAD]
        self.unk_id = self._ids[UNK]
        self.bos_id = self._ids[BOS]
        self.eos_id = self._ids[EOS]
        self.eot_id = self._ids[EOT]
        self.think_id = self._ids[THINK]
        self.end_think_id = self._ids[END_THINK]
        self.action_id = self._ids[ACTION]
        self.end_action_id = self._ids[END_ACTION]
        self.sep_id = self._ids[SEP]
        self.nl_id = self._ids[NL]
        self.special_ids = frozenset(i for i, w in enumerate(vocab) if w.startswith("<"))
        self.digit_ids = np.array([self._ids[d] for d in DIGITS], np.int32)

    @classmethod
    def from_word_lists(
        cls, word_lists: Iterable[Iterable[str]], extra_specials: Sequence[str] = ()
    ) -> WordTokenizer:
        """Builds the shared vocabulary of several environments (see `build_vocabulary`)."""
        return cls(build_vocabulary(word_lists, extra_specials))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordTokenizer) and other.vocab == self.vocab

    def __hash__(self) -> int:
        return hash(self.vocab)

    def token_to_id(self, token: str) -> int:
        """The id of one vocabulary entry; `<unk>`'s id for anything else."""
        return self._ids.get(token, self.unk_id)

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= int(token_id) < len(self.vocab):
            raise ValueError(f"token id {token_id} outside the vocabulary [0, {len(self.vocab)})")
        return self.vocab[int(token_id)]

    def unknown_words(self, text: str) -> list[str]:
        """The pieces of `text` that would encode to `<unk>` (useful to check templates)."""
        return [p for p in self._pieces(text) if p not in self._ids]

    def _pieces(self, text: str) -> list[str]:
        return [NL if p == "\n" else p for p in split_words(text)]

    def encode(self, text: str) -> list[int]:
        """Text -> ids (no padding, no added specials)."""
        return [self._ids.get(p, self.unk_id) for p in self._pieces(text)]

    def encode_padded(self, text: str, length: int, *, truncate: bool = False) -> np.ndarray:
        """Text -> int32 ids of exactly `length`, right-padded with `<pad>`.

        Raises:
          ValueError: when the text needs more than `length` tokens and `truncate` is False.
        """
        ids = self.encode(text)
        if len(ids) > length and not truncate:
            raise ValueError(f"text needs {len(ids)} tokens > length {length}: {text[:80]!r}")
        out = np.full((length,), self.pad_id, np.int32)
        ids = ids[:length]
        out[: len(ids)] = ids
        return out

    def encode_batch(self, texts: Sequence[str], length: int, *, truncate: bool = False):
        """Texts -> int32 `[N, length]` padded ids (see `encode_padded`)."""
        if isinstance(texts, str):
            raise ValueError("encode_batch takes a sequence of texts, not one string")
        out = np.full((len(texts), length), self.pad_id, np.int32)
        for i, t in enumerate(texts):
            out[i] = self.encode_padded(t, length, truncate=truncate)
        return out

    def decode(self, ids, *, skip_special: bool = False, stop_at_pad: bool = False) -> str:
        """Ids -> readable text. Pads are always dropped; digits of one number are re-joined.

        Args:
          ids: a 1-d sequence / array of ids (jax arrays are converted to numpy).
          skip_special: drop every special token (keeps `<nl>` as a newline).
          stop_at_pad: stop at the first `<pad>` instead of skipping pads.
        """
        arr = np.asarray(ids).reshape(-1)
        pieces: list[str] = []
        for i in arr.tolist():
            if i == self.pad_id:
                if stop_at_pad:
                    break
                continue
            tok = self.id_to_token(i)
            if skip_special and tok.startswith("<") and tok != NL:
                continue
            pieces.append(tok)
        return _join(pieces)

    def decode_batch(self, ids_NxL, **kwargs) -> list[str]:
        return [self.decode(row, **kwargs) for row in np.asarray(ids_NxL)]


def _join(pieces: list[str]) -> str:
    """Joins word pieces with the spacing a person expects (numbers and decimals re-joined)."""
    out: list[str] = []
    prev = ""
    for k, p in enumerate(pieces):
        nxt = pieces[k + 1] if k + 1 < len(pieces) else ""
        if p == NL:
            out.append("\n")
        elif not out or prev == NL:
            out.append(p)
        elif p.isdigit() and prev.isdigit():
            out.append(p)
        elif p in ".," and prev.isdigit() and nxt.isdigit():
            out.append(p)
        elif prev in ".," and p.isdigit() and len(out) >= 2 and _is_decimal(pieces, k):
            out.append(p)
        elif p in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER or (p + prev) in _GLUED_PAIRS:
            out.append(p)
        else:
            out.append(" " + p)
        prev = p
    return "".join(out)


def _is_decimal(pieces: list[str], k: int) -> bool:
    return k >= 2 and pieces[k - 2].isdigit() and pieces[k - 1] in ".,"
