"""A generated answer in a Hugging Face tokenizer's ids -> the environments' word ids, inside `jit`,
and the action it names.

`AnswerReader.words(ids_R, mask_R, W)` gives `WordTokenizer.encode(tokenizer.decode(ids))` for the
ids before the first stop token, followed by `<eot>` when a stop token was generated: the answer as
the word policy would have written it. The environments (`env.step`), the answer-format check and
the history then work on it unchanged, so an answer is judged exactly as with the word tokenizer:
case, spacing and the tokenisation the model happened to choose do not matter, only the words.

Steps (data-parallel over a byte buffer of static size `max_bytes`):
1. each token's bytes come from a host-built table (added tokens give their text; ids past the
   vocabulary give nothing, as `decode` skips them);
2. the bytes are cut into characters as UTF-8 decoding with replacement does (an invalid or cut
   sequence is one U+FFFD per maximal invalid part), lower-cased as `str.lower` does (ASCII, and the
   two non-ASCII characters that lower-case to ASCII letters: U+212A KELVIN SIGN and U+0130);
3. the characters are split into the word tokenizer's pieces (`</?[a-z_|]+>`, letter runs, digits,
   newlines, any other non-space character) and each piece is looked up in the vocabulary (letter
   runs and `<...>` through a hash table verified character by character; others are `<unk>`).

`parse_answer` then finds `<action> ... </action>` (and `<think> ... </think>` in thinking mode) in
the word ids and matches the action against the admissible table.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.text import word as word_lib
from empg_jax.text.bpe import _run_length, added_tokens
from empg_jax.text.chat import ChatTokenizer
from empg_jax.text.qwen import byte_to_unicode
from empg_jax.text.word import WordTokenizer

REPLACEMENT = 0xFFFD
# Code points `re`'s `\s` matches (str patterns), i.e. what the word splitter skips.
WHITESPACE = (
    *range(9, 14), *range(28, 33), 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)  # fmt: skip
KELVIN, DOTTED_I = 0x212A, 0x130
_LOOKUP_RE = re.compile(r"</?[a-z_|]+>|[a-z]+")
_HASH_MUL = 0x01000193
LETTER, DIGIT, NEWLINE, OTHER, SPACE = range(5)


def _hash_rows(chars: np.ndarray | jax.Array, seed: int, xp) -> np.ndarray | jax.Array:
    """FNV-style hash of each row of character codes (-1 padding ignored), uint32 wrap."""
    h = xp.full(chars.shape[:-1], (0x811C9DC5 + 0x9E3779B9 * seed) % 2**32, xp.uint32)
    for j in range(chars.shape[-1]):
        c = chars[..., j]
        mixed = (h ^ c.astype(xp.uint32)) * xp.uint32(_HASH_MUL)
        h = xp.where(c >= 0, mixed, h)
    return h


class AnswerReader:
    """Reads generated ids back as word ids (see the module docstring).

    Args:
      words: the environments' word tokenizer.
      chat: the checkpoint's tokenizer and stop ids.
    """

    def __init__(self, words: WordTokenizer, chat: ChatTokenizer):
        self.word_tokenizer, self.chat = words, chat
        tok = chat.tokenizer.tokenizer
        inverse = {ch: b for b, ch in byte_to_unicode().items()}
        added = added_tokens(tok)  # printed as their text, which is ASCII
        size = tok.get_vocab_size(with_added_tokens=True)
        pieces: list[bytes] = [b""] * size
        for token, idx in tok.get_vocab(with_added_tokens=False).items():
            pieces[idx] = bytes(inverse[ch] for ch in token)
        for content, idx in added.items():
            pieces[idx] = content.encode("utf-8")
        self._token_len = np.asarray([len(p) for p in pieces], np.int32)
        self._token_start = np.concatenate([[0], np.cumsum(self._token_len)[:-1]]).astype(np.int32)
        self._token_bytes = np.frombuffer(b"".join(pieces) or b"\0", np.uint8).astype(np.int32)
        self.max_token_bytes = int(self._token_len.max())
        self.stop_ids = np.asarray(chat.stop_ids, np.int32)

        # Vocabulary entries reachable as one letter run or one `<...>` piece.
        entries = [(w, i) for i, w in enumerate(words.vocab) if _LOOKUP_RE.fullmatch(w)]
        self._width = max(len(w) for w, _ in entries)
        chars = np.full((len(entries), self._width), -1, np.int32)
        for row, (w, _) in enumerate(entries):
            chars[row, : len(w)] = [ord(c) for c in w]
        self._seed = 0
        while len(np.unique(hashes := _hash_rows(chars, self._seed, np))) != len(hashes):
            self._seed += 1  # two words share a hash (rare with 32 bits): another basis
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._entry_chars = chars[order]
        self._entry_ids = np.asarray([entries[r][1] for r in order], np.int32)
        ascii_ids = np.full((128,), words.unk_id, np.int32)
        for c in range(128):
            ch = chr(c)
            if ch == "\n":
                ascii_ids[c] = words.nl_id
            elif (ch.isdigit() or ch in word_lib.PUNCTUATION) and ch in words.vocab:
                ascii_ids[c] = words.token_to_id(ch)
        self._ascii_ids = ascii_ids

    def default_max_bytes(self, num_tokens: int) -> int:
        """16 bytes per generated token: English text averages about 4, the longest Qwen token
        (a run of spaces) has 128; an answer past the buffer is flagged `overflow`."""
        return 16 * num_tokens

    # ----- jitted ----------------------------------------------------------------------------
    def _bytes(self, ids_R, mask_R, max_bytes):
        """(bytes [B] (-1 past the end), number of bytes, a stop token was generated)."""
        ids = ids_R.astype(jnp.int32)
        mask = mask_R.astype(bool)
        is_stop = mask & jnp.any(ids[:, None] == jnp.asarray(self.stop_ids)[None, :], axis=1)
        has_stop = jnp.any(is_stop)
        cut = jnp.where(has_stop, jnp.argmax(is_stop), ids.shape[0])
        real = mask & (jnp.arange(ids.shape[0]) < cut)
        known = (ids >= 0) & (ids < self._token_len.shape[0])
        safe = jnp.where(known, ids, 0)
        length = jnp.where(real & known, jnp.asarray(self._token_len)[safe], 0)
        ends = jnp.cumsum(length)
        slots = jnp.arange(max_bytes)
        t = jnp.minimum(jnp.searchsorted(ends, slots, side="right"), ids.shape[0] - 1)
        offset = jnp.asarray(self._token_start)[safe[t]] + slots - (ends[t] - length[t])
        data = jnp.asarray(self._token_bytes)
        byte = jnp.where(slots < ends[-1], data[jnp.clip(offset, 0, data.shape[0] - 1)], -1)
        return byte, ends[-1], has_stop

    @staticmethod
    def _chars(byte):
        """UTF-8 with replacement: per byte slot (starts a character, code point)."""
        num = byte.shape[0]
        idx = jnp.arange(num)

        def at(k):
            return jnp.take(byte, idx + k, mode="fill", fill_value=-1)

        b0, b1, b2, b3 = byte, at(1), at(2), at(3)
        cont = lambda b: (b >= 0x80) & (b <= 0xBF)  # noqa: E731
        need = jnp.select(
            [(b0 >= 0xC2) & (b0 <= 0xDF), (b0 >= 0xE0) & (b0 <= 0xEF), (b0 >= 0xF0) & (b0 <= 0xF4)],
            [1, 2, 3],
            0,
        )
        lo = jnp.select([b0 == 0xE0, b0 == 0xF0], [0xA0, 0x90], 0x80)
        hi = jnp.select([b0 == 0xED, b0 == 0xF4], [0x9F, 0x8F], 0xBF)
        k1 = (need >= 1) & (b1 >= lo) & (b1 <= hi)
        k2 = k1 & (need >= 2) & cont(b2)
        k3 = k2 & (need >= 3) & cont(b3)
        size = 1 + k1 + k2 + k3
        full = size == 1 + need
        code = jnp.select(
            [need == 0, need == 1, need == 2],
            [
                b0,
                ((b0 & 0x1F) << 6) | (b1 & 0x3F),
                ((b0 & 0x0F) << 12) | ((b1 & 0x3F) << 6) | (b2 & 0x3F),
            ],
            ((b0 & 0x07) << 18) | ((b1 & 0x3F) << 12) | ((b2 & 0x3F) << 6) | (b3 & 0x3F),
        )
        code = jnp.where(full & ((need > 0) | (b0 < 0x80)), code, REPLACEMENT)
        covered = jnp.zeros((num,), bool)
        for k in (1, 2, 3):
            lead_size = jnp.take(size, idx - k, mode="fill", fill_value=0)
            lead_size = jnp.where(idx >= k, lead_size, 0)
            covered = covered | (lead_size > k)
        return (byte >= 0) & ~covered, code

    def words(self, ids_R, mask_R, length: int, max_bytes: int | None = None):
        """Word ids of a generated answer (one row; vmap for a batch).

        Args:
          ids_R, mask_R: generated ids and their mask (the sampler's `tokens`, `mask`).
          length: W, the static number of word ids returned.
          max_bytes: the byte buffer (default `default_max_bytes(R)`).

        Returns:
          `(words_W, mask_W, overflow)`: word ids right-padded with `<pad>`, their mask, and
          `overflow` when the answer's bytes or words did not fit (the words are then cut).
        """
        chex.assert_rank([ids_R, mask_R], 1)
        max_bytes = max_bytes or self.default_max_bytes(ids_R.shape[0])
        byte, num_bytes, has_stop = self._bytes(ids_R, mask_R, max_bytes)
        start, code = self._chars(byte)
        # U+0130 lower-cases to "i" + U+0307: its second byte slot carries the second character.
        prev_dotted = jnp.concatenate([jnp.zeros((1,), bool), (code == DOTTED_I)[:-1] & start[:-1]])
        start = start | prev_dotted
        code = jnp.where(prev_dotted, 0x307, code)
        upper = (code >= 65) & (code <= 90)
        low = jnp.select([upper, code == KELVIN, code == DOTTED_I], [code + 32, 107, 105], code)
        letter = (low >= 97) & (low <= 122)
        digit = (low >= 48) & (low <= 57)
        white = jnp.any(low[:, None] == jnp.asarray(WHITESPACE)[None, :], axis=1)
        cls = jnp.select(
            [letter, digit, low == 10, white], [LETTER, DIGIT, NEWLINE, SPACE], OTHER
        ).astype(jnp.int32)
        # Compact the characters to the front.
        num = max_bytes
        pos = jnp.where(start, jnp.cumsum(start) - 1, num)
        low = jnp.full((num + 1,), -1, jnp.int32).at[pos].set(low)[:num]
        cls = jnp.full((num + 1,), SPACE, jnp.int32).at[pos].set(cls)[:num]
        return self._pieces(low, cls, has_stop, length, num_bytes > max_bytes)

    def _pieces(self, low, cls, has_stop, length, byte_overflow):
        num = low.shape[0]
        idx = jnp.arange(num)

        def at(x, i, fill):
            return jnp.take(x, i, mode="fill", fill_value=fill)

        letter = cls == LETTER
        name_char = letter | (low == ord("_")) | (low == ord("|"))
        run_name, run_letter = _run_length(name_char), _run_length(letter)
        slash = (at(low, idx + 1, -1) == ord("/")).astype(jnp.int32)
        name = at(run_name, idx + 1 + slash, 0)
        tag = (low == ord("<")) & (name > 0) & (at(low, idx + 1 + slash + name, -1) == ord(">"))
        tag_len = jnp.where(tag, 2 + slash + name, 0)
        delta = jnp.zeros((num + 1,), jnp.int32).at[idx].add(tag.astype(jnp.int32))
        delta = delta.at[jnp.minimum(idx + tag_len, num)].add(-tag.astype(jnp.int32))
        inside = jnp.cumsum(delta)[:num] > 0
        prev_letter = jnp.concatenate([jnp.zeros((1,), bool), letter[:-1]])
        run_start = letter & ~prev_letter & ~inside
        single = ~inside & ((cls == DIGIT) | (cls == NEWLINE) | (cls == OTHER))
        piece = tag | run_start | single
        piece_len = jnp.where(tag, tag_len, jnp.where(run_start, run_letter, 1))
        count = jnp.sum(piece)
        slot = jnp.where(piece, jnp.cumsum(piece) - 1, length)
        p_start = jnp.full((length + 1,), 0, jnp.int32).at[slot].set(idx)[:length]
        p_len = jnp.zeros((length + 1,), jnp.int32).at[slot].set(piece_len)[:length]
        p_tag = jnp.zeros((length + 1,), bool).at[slot].set(tag)[:length]
        p_run = jnp.zeros((length + 1,), bool).at[slot].set(run_start)[:length]
        p_low = low[p_start]

        # Letter runs and tags: hash lookup, then a character check.
        width = self._width
        col = jnp.arange(width)
        window = at(low, p_start[:, None] + col[None, :], -1)
        window = jnp.where(col[None, :] < p_len[:, None], window, -1)
        h = _hash_rows(window, self._seed, jnp)
        hashes = jnp.asarray(self._hashes)
        row = jnp.clip(jnp.searchsorted(hashes, h), 0, hashes.shape[0] - 1)
        same = (hashes[row] == h) & jnp.all(jnp.asarray(self._entry_chars)[row] == window, axis=1)
        same = same & (p_len <= width)
        looked_up = jnp.where(same, jnp.asarray(self._entry_ids)[row], self.word_tokenizer.unk_id)
        ascii_id = jnp.asarray(self._ascii_ids)[jnp.clip(p_low, 0, 127)]
        single_id = jnp.where((p_low >= 0) & (p_low < 128), ascii_id, self.word_tokenizer.unk_id)
        out = jnp.where(p_tag | p_run, looked_up, single_id)
        real = jnp.arange(length) < count
        out = jnp.where(real, out, self.word_tokenizer.pad_id)
        eot_at = jnp.minimum(count, length - 1)
        put_eot = has_stop & (count < length) & (jnp.arange(length) == eot_at)
        out = jnp.where(put_eot, self.word_tokenizer.eot_id, out)
        mask = jnp.arange(length) < count + has_stop
        return out, mask, byte_overflow | (count + has_stop > length)


class ParsedAnswer(NamedTuple):
    """What `parse_answer` finds in one answer."""

    format_ok: jax.Array  # bool []: `<action> ... </action>` (and the think part) well placed
    action: jax.Array  # int32 [L]: the action's word ids (`<unk>`-filled when it does not parse)
    action_ok: jax.Array  # bool []: 1 <= action length <= L
    row: jax.Array  # int32 []: the matching admissible row (0 when none)
    admissible: jax.Array  # bool []: the action equals one of the admissible rows


def parse_answer(
    words_W: jax.Array,
    mask_W: jax.Array,
    tokenizer: WordTokenizer,
    admissible_AxL: jax.Array,
    num_admissible: jax.Array,
    thinking: bool,
) -> ParsedAnswer:
    """The action of a word answer and its admissible row, with the step format's rules.

    Format: `<action>` then a later `</action>`, no second `<action>` after the first; thinking mode
    also needs `<think>` first and `</think>` between it and `<action>`. The action is the words
    after the first `<action>` (or from the start when there is none) up to the first `</action>`,
    `<eot>`, `<eos>` or `<pad>`; it parses when it has 1 to L words; it is admissible when it equals
    one of the first `num_admissible` rows of `admissible_AxL` (rows right-padded with `<pad>`).
    """
    chex.assert_rank([words_W, mask_W, admissible_AxL], [1, 1, 2])
    tok = tokenizer
    n = words_W.shape[0]
    action_len = admissible_AxL.shape[1]
    idx = jnp.arange(n)
    words = jnp.where(mask_W, words_W.astype(jnp.int32), tok.pad_id)

    def first(hit):
        return jnp.where(jnp.any(hit), jnp.argmax(hit), n)

    open_a = first(words == tok.action_id)
    close_a = first(words == tok.end_action_id)
    again = jnp.any((words == tok.action_id) & (idx > open_a))
    format_ok = (open_a < n) & (close_a < n) & (close_a > open_a) & ~again
    if thinking:
        open_t, close_t = first(words == tok.think_id), first(words == tok.end_think_id)
        format_ok = format_ok & (open_t == 0) & (close_t > open_t) & (close_t < open_a)

    begin = jnp.where(open_a < n, open_a + 1, 0)
    ends = (
        (words == tok.end_action_id)
        | (words == tok.eot_id)
        | (words == tok.eos_id)
        | (words == tok.pad_id)
    )
    end = first(ends & (idx >= begin))
    size = end - begin
    action_ok = (size > 0) & (size <= action_len)
    col = jnp.arange(action_len)
    taken = jnp.take(words, begin + col, mode="fill", fill_value=tok.pad_id)
    action = jnp.where(col < size, taken, tok.pad_id)
    action = jnp.where(action_ok, action, tok.unk_id).astype(jnp.int32)
    valid_rows = jnp.arange(admissible_AxL.shape[0]) < num_admissible
    hit = jnp.all(admissible_AxL.astype(jnp.int32) == action[None, :], axis=1) & valid_rows
    return ParsedAnswer(
        format_ok, action, action_ok, jnp.argmax(hit).astype(jnp.int32), jnp.any(hit)
    )
