"""Word ids -> a Hugging Face tokenizer's ids inside `jit`: prompts (with the chat template) and
SFT answers, for a policy that reads the checkpoint's tokenizer while the environments keep their
word ids.

The text of a word-id sequence is what `WordTokenizer.decode` prints (pads dropped, `<nl>` a
newline, spaces by its joining rules: none before `. , : ) ]`, none inside numbers, ...), so a
prompt reads as plain text. `TokenBridge.render_prompt` gives the ids of
`chat.render(decode(word_ids))` and `render_answer` those of `decode(answer before <eot>)` plus the
stop id, exactly as `tokenizer.encode` gives them, in four jitted steps:

1. the word ids are compacted (pads removed) and each word's text is looked up in a host-built
   table; the space before each word is decided by `decode`'s rules from its neighbours;
2. the characters are scattered into a fixed buffer (`max_chars`), after the template text that
   shares the content's pre-tokenisation (`ChatSplit.lead`, Qwen's `"user\\n"`);
3. `bpe.JaxBPE` pre-tokenises and BPE-encodes the buffer (it reproduces the Qwen pre-tokenizer,
   so text that merges across words, such as `"].\\n"`, `"(s"`, `" 12"` or `"it's"`, tokenises as
   Hugging Face does);
4. the constant prefix / suffix ids of the chat template are placed around the result, and the
   sequence is left-padded (prompts) or right-padded (answers) to a static length with a mask.

A word whose text equals one of the tokenizer's added tokens (Qwen3's `<think>`) becomes that token.
"""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np

from empg_jax.text import word as word_lib
from empg_jax.text.bpe import JaxBPE, supported_char
from empg_jax.text.chat import ChatSplit, ChatTokenizer
from empg_jax.text.word import WordTokenizer

# What `build_vocabulary` produces: specials, letter words, digits, single punctuation characters.
_ENTRY_RE = re.compile(r"</?[a-z_|]+>|[a-z]+|\d|[^\sa-z\d]")


def word_text(tokenizer: WordTokenizer, token: str) -> str:
    """The text a vocabulary entry prints as (`decode`): `<nl>` is a newline, `<pad>` nothing."""
    return {word_lib.NL: "\n", word_lib.PAD: ""}.get(token, token)


class TokenBridge:
    """Renders word-id prompts and answers as a checkpoint tokenizer's ids inside `jit`.

    Args:
      words: the environments' word tokenizer.
      chat: the checkpoint's tokenizer, chat template and stop ids.

    Raises:
      bpe.UnsupportedTokenizer: the tokenizer is not a Qwen-style byte-level BPE, or has an added
        token that is not of the form `<name>` (`bpe.added_tokens`).
      ValueError: the vocabulary has an entry that is not a word, digit, punctuation character or
        `<special>` (what `build_vocabulary` makes).
    """

    def __init__(self, words: WordTokenizer, chat: ChatTokenizer):
        self.words, self.chat = words, chat
        odd = [w for w in words.vocab if not _ENTRY_RE.fullmatch(w)]
        if odd:
            raise ValueError(
                f"vocabulary entries {odd[:5]} are not words, digits, punctuation or <specials>"
            )
        self.bpe = JaxBPE(chat.tokenizer)
        texts = [word_text(words, w) for w in words.vocab]
        width = max(len(t) for t in texts)
        chars = np.full((len(texts), width), -1, np.int32)
        length = np.zeros((len(texts),), np.int32)
        special = np.full((len(texts),), -1, np.int32)
        for i, text in enumerate(texts):
            if text in self.bpe.added:
                special[i], length[i] = self.bpe.added[text], 1
                continue
            if not all(supported_char(c) for c in text):
                raise ValueError(f"word {text!r} has characters the bridge cannot render")
            chars[i, : len(text)] = [ord(c) for c in text]
            length[i] = len(text)
        self._chars, self._len, self._special = chars, length, special
        vocab = words.vocab
        self._nl = np.asarray([w == word_lib.NL for w in vocab])
        self._digit = np.asarray([w.isdigit() for w in vocab])
        self._dot_comma = np.asarray([w in (".", ",") for w in vocab])
        self._no_space_before = np.asarray([w in word_lib._NO_SPACE_BEFORE for w in vocab])
        self._no_space_after = np.asarray([w in word_lib._NO_SPACE_AFTER for w in vocab])
        self._glue = np.asarray([w in ("=", "-") for w in vocab])  # "==", "=-", "-=", "--"
        self.split: ChatSplit = chat.split()
        for part in (self.split.lead, self.split.trail):
            if not all(supported_char(c) for c in part) or "<" in part or ">" in part:
                raise ValueError(
                    f"chat template text {part!r} next to the content must be ASCII without < >"
                )
        self.pad_id = chat.pad_id
        self.stop_id = chat.stop_ids[0]

    # ----- host-side references --------------------------------------------------------------
    def prompt_text(self, word_ids) -> str:
        """The prompt text `render_prompt` tokenises (chat template applied)."""
        return self.chat.render(self.words.decode(np.asarray(word_ids)))

    def answer_text(self, word_ids) -> tuple[str, bool]:
        """`(text before the first <eot>/<eos>, whether there was one)` of a word answer."""
        ids = np.asarray(word_ids).reshape(-1)
        stop = np.flatnonzero((ids == self.words.eot_id) | (ids == self.words.eos_id))
        cut = int(stop[0]) if stop.size else ids.size
        return self.words.decode(ids[:cut]), bool(stop.size)

    def max_chars(self, num_words: int, with_chat: bool = True) -> int:
        """Characters that `num_words` words can take at most (the default buffer)."""
        extra = len(self.split.lead) + len(self.split.trail) if with_chat else 0
        return num_words * (1 + self._chars.shape[1]) + extra

    # ----- jitted rendering ------------------------------------------------------------------
    def _encode_words(self, word_ids_N, lead: str, trail: str, max_chars: int):
        """Token ids of `lead + decode(word_ids) + trail`: `(ids [C], count, overflow)`, the
        tokens compacted to the front of a `max_chars` buffer."""
        n = word_ids_N.shape[0]
        vocab = len(self.words.vocab)
        ids = word_ids_N.astype(jnp.int32)
        ids = jnp.where((ids >= 0) & (ids < vocab), ids, self.words.unk_id)
        keep = ids != self.words.pad_id
        slot = jnp.where(keep, jnp.cumsum(keep) - 1, n)
        ids = jnp.full((n + 1,), self.words.pad_id, jnp.int32).at[slot].set(ids)[:n]
        real = jnp.arange(n) < jnp.sum(keep)

        def flag(table, shift):
            col = jnp.asarray(table)[ids] & real
            if shift > 0:  # the word `shift` places before
                return jnp.concatenate([jnp.zeros((shift,), bool), col[:-shift]])
            if shift < 0:  # the word after
                return jnp.concatenate([col[1:], jnp.zeros((1,), bool)])
            return col

        def digit(s):
            return flag(self._digit, s)

        def nl(s):
            return flag(self._nl, s)

        def dot_comma(s):
            return flag(self._dot_comma, s)

        def glue(s):
            return flag(self._glue, s)

        # `WordTokenizer.decode` (`_join`): every rule that prints a word without a space.
        no_space = (jnp.arange(n) == 0) | nl(0) | nl(1)
        no_space |= digit(0) & digit(1)
        no_space |= dot_comma(0) & digit(1) & digit(-1)
        no_space |= digit(0) & dot_comma(1) & digit(2)
        no_space |= flag(self._no_space_before, 0) | flag(self._no_space_after, 1)
        no_space |= glue(0) & glue(1)
        space = real & ~no_space

        length = jnp.asarray(self._len)[ids]
        size = jnp.where(real, space + length, 0)
        start = len(lead) + jnp.cumsum(size) - size
        end = len(lead) + jnp.sum(size)
        width = self._chars.shape[1]
        col = jnp.arange(width)
        pos = jnp.where(real[:, None] & (col < length[:, None]), (start + space)[:, None] + col, -1)
        pos = jnp.concatenate([jnp.where(space, start, -1)[:, None], pos], axis=1).reshape(-1)
        special = jnp.asarray(self._special)[ids]
        val = jnp.concatenate(
            [jnp.full((n, 1), 32, jnp.int32), jnp.asarray(self._chars)[ids]], axis=1
        )
        sval = jnp.concatenate(
            [jnp.full((n, 1), -1, jnp.int32), jnp.broadcast_to(special[:, None], (n, width))],
            axis=1,
        )
        val = jnp.where(sval >= 0, -1, val).reshape(-1)
        pos = jnp.where(pos >= 0, pos, max_chars)
        chars = jnp.full((max_chars + 1,), -1, jnp.int32)
        specials = jnp.full((max_chars + 1,), -1, jnp.int32)
        if lead:
            chars = chars.at[: len(lead)].set(jnp.asarray([ord(c) for c in lead], jnp.int32))
        if trail:
            tpos = jnp.minimum(end + jnp.arange(len(trail)), max_chars)
            chars = chars.at[tpos].set(jnp.asarray([ord(c) for c in trail], jnp.int32))
        chars = chars.at[pos].set(val, mode="drop")[:max_chars]
        specials = specials.at[pos].set(sval.reshape(-1), mode="drop")[:max_chars]
        overflow = end + len(trail) > max_chars
        tok, alive = self.bpe.encode(chars, specials)
        count = jnp.sum(alive)
        out_slot = jnp.where(alive, jnp.cumsum(alive) - 1, max_chars)
        out = jnp.full((max_chars + 1,), self.pad_id, jnp.int32).at[out_slot].set(tok)
        return out[:max_chars], count, overflow

    def render_prompt(self, word_ids_P, length: int, max_chars: int | None = None):
        """The chat prompt of a word-id prompt as the checkpoint tokenizer's ids.

        Args:
          word_ids_P: int32 [P] word ids (`PromptBuilder.render`; pads anywhere are dropped).
          length: N, the static output length.
          max_chars: the character buffer (default `max_chars(P)`, enough for any P words).

        Returns:
          `(ids_N, mask_N, overflow)`: ids left-padded with `pad_id`, the mask of real tokens, and
          `overflow` True when the text or the tokens did not fit (the ids are then cut: the last
          N tokens are kept); callers should treat it as an error.
        """
        max_chars = max_chars or self.max_chars(word_ids_P.shape[0])
        split = self.split
        body, count, overflow = self._encode_words(word_ids_P, split.lead, split.trail, max_chars)
        prefix = jnp.asarray(split.prefix_ids, jnp.int32)
        suffix = jnp.asarray(split.suffix_ids, jnp.int32)
        total = len(split.prefix_ids) + count + len(split.suffix_ids)
        shift = length - total  # left padding
        cols = jnp.arange(max_chars)
        seq_pos = jnp.concatenate(
            [
                jnp.arange(len(split.prefix_ids)),
                jnp.where(cols < count, len(split.prefix_ids) + cols, -(10**9)),
                len(split.prefix_ids) + count + jnp.arange(len(split.suffix_ids)),
            ]
        )
        seq_val = jnp.concatenate([prefix, body, suffix])
        dest = seq_pos + shift
        dest = jnp.where((dest >= 0) & (dest < length), dest, length)
        ids = jnp.full((length + 1,), self.pad_id, jnp.int32).at[dest].set(seq_val)[:length]
        mask = jnp.arange(length) >= shift
        return ids, mask, overflow | (total > length)

    def render_answer(self, word_ids_R, length: int, max_chars: int | None = None):
        """The tokens a policy should generate for a word answer (`format_response` output).

        The answer's text up to its first `<eot>`/`<eos>` is tokenised, then the first stop id
        (`<|im_end|>`) is appended when the answer had such a stop.

        Returns:
          `(ids_M, mask_M, overflow)`: right-padded with `pad_id`; `overflow` when cut.
        """
        ids = word_ids_R.astype(jnp.int32)
        n = ids.shape[0]
        is_stop = (ids == self.words.eot_id) | (ids == self.words.eos_id)
        has_stop = jnp.any(is_stop)
        cut = jnp.where(has_stop, jnp.argmax(is_stop), n)
        ids = jnp.where(jnp.arange(n) < cut, ids, self.words.pad_id)
        max_chars = max_chars or self.max_chars(n, with_chat=False)
        body, count, overflow = self._encode_words(ids, "", "", max_chars)
        body = jnp.concatenate([body, jnp.full((1,), self.pad_id, jnp.int32)])
        body = body.at[count].set(jnp.where(has_stop, self.stop_id, self.pad_id))
        total = count + has_stop
        if length > body.shape[0]:
            body = jnp.pad(body, (0, length - body.shape[0]), constant_values=self.pad_id)
        mask = jnp.arange(length) < total
        out = jnp.where(mask, body[:length], self.pad_id)
        return out, mask, overflow | (total > length)
