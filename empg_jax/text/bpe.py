"""A byte-level BPE tokenizer with Qwen's pre-tokenizer, run inside `jit` on ASCII text.

`JaxBPE.from_tokenizer(tokenizer)` reads a Hugging Face `tokenizers.Tokenizer` once on the host
(vocabulary, merges, added tokens) and checks that it is the kind this module reproduces: a BPE
model over the byte-level alphabet, no dropout, `ignore_merges` off, the Qwen2/2.5/3 split pattern
(`qwen.QWEN_PAT`) followed by byte-level mapping, an NFC (or no) normaliser and no post-processor
that adds tokens. `JaxBPE.encode(chars_C, special_C)` then tokenises a text held as a fixed-size
array of character codes inside `jit`, giving the ids `tokenizer.encode(text)` gives.

How it works (all steps are data-parallel over the C character slots):
1. Pre-tokenisation. For every position i the length of the regex match that would start at i is
   computed from run lengths (letters, digits, punctuation, spaces, newlines) for each of the
   pattern's seven alternatives, first match wins. The actual matches are the chain 0 -> len(0)
   -> ... ; the chain's j-th element is found for all j at once by pointer doubling.
2. BPE. Every pre-token starts as one token per byte. Each round merges, in every pre-token at
   once, the adjacent pair with the lowest merge rank (leftmost on ties), which is the order of
   Hugging Face's `BPE` model within one word; rounds run until no pair is mergeable. Merge ranks
   are found in a two-choice (cuckoo) hash table of the merges, two probes per pair.

Text outside the supported alphabet (printable ASCII, space, newline) is the caller's to avoid; an
added token (`<|im_end|>`) is passed as a special slot, which also ends a regex segment, as the
added-token split does in `tokenizers`. NFC is the identity on ASCII.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from empg_jax.text.qwen import QWEN_PAT, byte_to_unicode

NO_MERGE = np.iinfo(np.int32).max
_HASH_BITS = 19  # 524,288 slots for Qwen's 151,387 merges: load 0.29, cuckoo inserts easily
_M1, _M2, _M3 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D

SPACE, NEWLINE, APOSTROPHE = 32, 10, 39


def supported_char(ch: str) -> bool:
    """Characters `JaxBPE.encode` handles: printable ASCII, space and newline."""
    return ch == "\n" or 32 <= ord(ch) < 127


def _hash(a, b, seed, xp):
    """Slot of the pair (a, b) for hash function `seed` (numpy or jax.numpy, uint32 wrap)."""
    a = a.astype(xp.uint32)
    b = b.astype(xp.uint32)
    s = xp.uint32(seed)
    h = (a * xp.uint32(_M1)) ^ (b * xp.uint32(_M2)) ^ (s * xp.uint32(0x27D4EB2F))
    h = (h ^ (h >> xp.uint32(15))) * xp.uint32(_M3)
    return (h >> xp.uint32(32 - _HASH_BITS)).astype(xp.int32)


def _cuckoo(a: np.ndarray, b: np.ndarray, seed: int) -> np.ndarray | None:
    """Entry index per slot (-1 empty) of a two-choice table, or None when insertion cycles."""
    size = 1 << _HASH_BITS
    h = [_hash(a, b, seed, np).tolist(), _hash(a, b, seed + 1, np).tolist()]
    table = [-1] * size
    for entry in range(len(a)):
        cur, slot = entry, h[0][entry]
        for _ in range(1000):
            cur, table[slot] = table[slot], cur
            if cur < 0:
                break
            slot = h[1][cur] if slot == h[0][cur] else h[0][cur]
        else:
            return None
    return np.asarray(table, np.int64)


class UnsupportedTokenizer(ValueError):
    """The tokenizer is not a byte-level BPE with Qwen's pre-tokenizer."""


_ADDED_RE = re.compile(r"<[A-Za-z|/_][^<>]*>")


def added_tokens(tokenizer: Any) -> dict[str, int]:
    """`{content: id}` of the added tokens, each checked to look like `<name>` (one `<`, one `>`),
    matched exactly as written (no space stripping).

    That shape is what keeps the jitted renderer exact: in text printed from word ids, a `<`
    followed by a letter, `|`, `/` or `_` only starts a special word such as `<think>`, so an added
    token can only occur as a whole word (which the renderer maps to its id): the `<` starts a
    special word, whose only `>` is its last character.
    """
    tok = getattr(tokenizer, "tokenizer", tokenizer)
    out = {}
    for idx, added in tok.get_added_tokens_decoder().items():
        if added.lstrip or added.rstrip or added.single_word:
            raise UnsupportedTokenizer(
                f"added token {added.content!r} strips spaces or matches single words only"
            )
        content = added.content
        if not _ADDED_RE.fullmatch(content) or not all(32 < ord(c) < 127 for c in content):
            raise UnsupportedTokenizer(
                f"added token {added.content!r} is not of the form <name> in printable ASCII"
            )
        out[added.content] = int(idx)
    return out


def _check_spec(spec: dict) -> None:
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise UnsupportedTokenizer(f"the bridge needs a BPE model, got {model.get('type')!r}")
    for key, ok in (
        ("dropout", lambda v: v in (None, 0.0)),
        ("ignore_merges", lambda v: not v),
        ("byte_fallback", lambda v: not v),
        ("continuing_subword_prefix", lambda v: not v),
        ("end_of_word_suffix", lambda v: not v),
    ):
        if not ok(model.get(key)):
            raise UnsupportedTokenizer(f"unsupported BPE option {key}={model.get(key)!r}")
    norm = spec.get("normalizer")
    if norm is not None and norm.get("type") != "NFC":
        raise UnsupportedTokenizer(f"unsupported normalizer {norm.get('type')!r} (NFC or none)")
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    pattern_ok = (
        len(steps) == 2
        and steps[0].get("type") == "Split"
        and steps[0].get("pattern", {}).get("Regex") == QWEN_PAT
        and steps[0].get("behavior") == "Isolated"
        and not steps[0].get("invert")
        and steps[1].get("type") == "ByteLevel"
        and not steps[1].get("add_prefix_space")
        and not steps[1].get("use_regex")
    )
    if not pattern_ok:
        raise UnsupportedTokenizer(
            "the bridge reproduces Qwen's pre-tokenizer (Split with the Qwen2 pattern, then "
            "ByteLevel without regex); this tokenizer's pre_tokenizer differs"
        )
    post = spec.get("post_processor")
    if post is not None and post.get("type") not in ("ByteLevel",):
        raise UnsupportedTokenizer(f"unsupported post_processor {post.get('type')!r}")


class JaxBPE:
    """Host-built tables of a Qwen-style byte-level BPE tokenizer, encoding inside `jit`.

    Attributes:
      byte_ids: int32 [256], the token id of each single byte.
      added: {content: id} of the added (special) tokens.
      vocab_size: number of ids including added tokens.
    """

    def __init__(self, tokenizer: Any):
        tok = getattr(tokenizer, "tokenizer", tokenizer)  # HFTokenizer or tokenizers.Tokenizer
        spec = json.loads(tok.to_str())
        _check_spec(spec)
        vocab: dict[str, int] = spec["model"]["vocab"]
        alphabet = byte_to_unicode()
        try:
            self.byte_ids = np.asarray([vocab[alphabet[b]] for b in range(256)], np.int32)
        except KeyError as err:
            raise UnsupportedTokenizer(f"byte {err} of the byte-level alphabet is missing") from err
        merges = spec["model"]["merges"]
        pairs = [m.split(" ") if isinstance(m, str) else m for m in merges]
        a = np.asarray([vocab[p[0]] for p in pairs], np.int64)
        b = np.asarray([vocab[p[1]] for p in pairs], np.int64)
        new = np.asarray([vocab[p[0] + p[1]] for p in pairs], np.int32)
        for seed in range(0, 40, 2):
            table = _cuckoo(a, b, seed)
            if table is not None:
                break
        else:  # pragma: no cover - 20 independent hash pairs all cycling is not plausible
            raise RuntimeError("could not build the merge hash table")
        self._seed = seed
        used = table >= 0
        entry = np.where(used, table, 0)
        self._key_a = np.where(used, a[entry], -1).astype(np.int32)
        self._key_b = np.where(used, b[entry], -1).astype(np.int32)
        self._rank = np.where(used, entry, NO_MERGE).astype(np.int32)
        self._new = np.where(used, new[entry], -1).astype(np.int32)
        self.added = added_tokens(tok)
        self.vocab_size = tok.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> JaxBPE:
        return cls(tokenizer)

    # ----- jitted pieces ---------------------------------------------------------------------
    def _merge_of(self, a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(rank, merged id) of the pairs (a, b); rank NO_MERGE where (a, b) is no merge."""
        key_a, key_b = jnp.asarray(self._key_a), jnp.asarray(self._key_b)
        rank, new = jnp.asarray(self._rank), jnp.asarray(self._new)
        s1, s2 = _hash(a, b, self._seed, jnp), _hash(a, b, self._seed + 1, jnp)
        hit1 = (key_a[s1] == a) & (key_b[s1] == b)
        hit2 = (key_a[s2] == a) & (key_b[s2] == b)
        out_rank = jnp.where(hit1, rank[s1], jnp.where(hit2, rank[s2], NO_MERGE))
        return out_rank, jnp.where(hit1, new[s1], new[s2])

    def encode(self, chars_C: jax.Array, special_C: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Token ids of a text held in C slots, for one text (vmap for a batch).

        Args:
          chars_C: int32 character codes (printable ASCII, 32 or 10) of the text, -1 in slots that
            hold an added token or nothing; the text occupies slots [0, n) without gaps.
          special_C: int32 added-token id of a slot, -1 elsewhere.

        Returns:
          `(ids_C, keep_C)`: the tokens are `ids_C[keep_C]`, in slot order.
        """
        num = chars_C.shape[0]
        idx = jnp.arange(num)
        chars_C = chars_C.astype(jnp.int32)
        is_special = special_C >= 0
        filled = (chars_C >= 0) | is_special
        n = jnp.sum(filled)
        starts = _pretoken_starts(chars_C, is_special, n)
        group = jnp.cumsum(starts) - 1
        tok = jnp.where(is_special, special_C, jnp.asarray(self.byte_ids)[jnp.maximum(chars_C, 0)])
        mergeable = filled & ~is_special

        def next_alive(alive):
            first = lax.cummin(jnp.where(alive, idx, num), reverse=True)
            return jnp.concatenate([first[1:], jnp.array([num])])

        def body(state):
            tok, alive, _ = state
            nxt = next_alive(alive)
            nxt_c = jnp.minimum(nxt, num - 1)
            pair = alive & mergeable & (nxt < num) & mergeable[nxt_c] & (group[nxt_c] == group)
            rank, new = self._merge_of(tok, tok[nxt_c])
            rank = jnp.where(pair, rank, NO_MERGE)
            best_rank = jax.ops.segment_min(rank, group, num_segments=num)[group]
            best = (rank == best_rank) & (rank < NO_MERGE)
            first = jax.ops.segment_min(jnp.where(best, idx, num), group, num_segments=num)
            chosen = best & (idx == first[group])
            tok = jnp.where(chosen, new, tok)
            dead = jnp.zeros((num + 1,), bool).at[jnp.where(chosen, nxt, num)].set(True)[:num]
            return tok, alive & ~dead, jnp.any(chosen)

        tok, alive, _ = lax.while_loop(lambda s: s[2], body, (tok, filled, jnp.array(True)))
        return tok, alive


def _run_length(flag: jax.Array) -> jax.Array:
    """Length of the run of True starting at each position (0 where False)."""
    idx = jnp.arange(flag.shape[0])
    first_false = lax.cummin(jnp.where(flag, flag.shape[0], idx), reverse=True)
    return first_false - idx


def _pretoken_starts(c: jax.Array, is_special: jax.Array, n: jax.Array) -> jax.Array:
    """Where the pre-tokens of `QWEN_PAT` start (bool [C]), for ASCII text in slots [0, n).

    The pattern's alternatives, in order (first match wins at each position):
      1 `'s|'t|'re|'ve|'m|'ll|'d` (any case)      2 one non-letter/digit/newline char? + letters
      3 one digit                                  4 ` ?` + punctuation run + newlines
      5 whitespace up to its last newline          6 whitespace not followed by a non-space
      7 whitespace
    A special slot is a one-slot match and ends the segment (alternative 6 sees "end").
    """
    num = c.shape[0]
    idx = jnp.arange(num)

    def at(x, pos, fill):
        return jnp.take(x, pos, mode="fill", fill_value=fill)

    letter = ((c >= 65) & (c <= 90)) | ((c >= 97) & (c <= 122))
    digit = (c >= 48) & (c <= 57)
    space, newline = c == SPACE, c == NEWLINE
    white = space | newline
    punct = (c > 32) & (c < 127) & ~letter & ~digit
    run_letter, run_punct = _run_length(letter), _run_length(punct)
    run_nl, run_white = _run_length(newline), _run_length(white)

    low = jnp.where(letter, c | 32, c)
    c1, c2 = at(low, idx + 1, -1), at(low, idx + 2, -1)
    apos = c == APOSTROPHE
    one = (c1 == ord("s")) | (c1 == ord("t")) | (c1 == ord("m")) | (c1 == ord("d"))
    two = ((c1 == ord("r")) | (c1 == ord("v"))) & (c2 == ord("e"))
    two = two | ((c1 == ord("l")) & (c2 == ord("l")))
    len1 = jnp.where(apos & one, 2, jnp.where(apos & two, 3, 0))

    next_letter = at(letter, idx + 1, False)
    len2 = jnp.where(
        (punct | space) & next_letter,
        1 + at(run_letter, idx + 1, 0),
        jnp.where(letter, run_letter, 0),
    )
    len3 = jnp.where(digit, 1, 0)

    next_punct = at(punct, idx + 1, False)
    run_p1 = at(run_punct, idx + 1, 0)
    len4 = jnp.where(
        space & next_punct,
        1 + run_p1 + at(run_nl, idx + 1 + run_p1, 0),
        jnp.where(punct, run_punct + at(run_nl, idx + run_punct, 0), 0),
    )

    last_nl = lax.cummax(jnp.where(newline, idx, -1))
    nl_in_run = at(last_nl, idx + run_white - 1, -1)
    len5 = jnp.where(white & (nl_in_run >= idx), nl_in_run - idx + 1, 0)
    after = idx + run_white
    seg_end = (after >= n) | at(is_special, after, True)
    len6 = jnp.where(
        white & seg_end, run_white, jnp.where(white & (run_white >= 2), run_white - 1, 0)
    )
    len7 = jnp.where(white, run_white, 0)

    length = jnp.ones((num,), jnp.int32)  # special slots and empty slots
    for alt in (len7, len6, len5, len4, len3, len2, len1):  # reversed: earlier alternatives win
        length = jnp.where(alt > 0, alt, length)

    # The matches are the chain 0 -> nxt[0] -> ...; element j of it for every j by doubling.
    nxt = jnp.concatenate([jnp.minimum(idx + length, num), jnp.array([num])])
    levels = max(1, int(num).bit_length())
    jumps = [nxt]
    for _ in range(levels - 1):
        jumps.append(jumps[-1][jumps[-1]])
    pos = jnp.zeros((num,), jnp.int32)
    for k, jump in enumerate(jumps):
        pos = jnp.where((idx >> k) & 1, jump[pos], pos)
    starts = jnp.zeros((num + 1,), bool).at[pos].set(True)[:num]
    return starts & (idx < n)
