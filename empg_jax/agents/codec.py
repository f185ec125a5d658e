"""What the policy reads and writes: the environments' word ids, or a checkpoint's own tokens.

The environments and the prompt builder work in word ids. A codec sits between them and the
policy, inside the jitted rollout (one episode; the rollout vmaps it):

- `prompt(words_P)`: the policy's prompt ids, their mask and an overflow flag;
- `words(ids_R, mask_R)`: a generated answer read back as word ids (what `env.step` and the
  answer-format check take), their mask and an overflow flag;
- `target(words_R)`: the ids a policy should generate for a word answer (SFT demonstrations).

`WordCodec` is the identity (a word-level policy reads the word ids themselves). `ChatCodec` is a
Hugging Face tokenizer with its chat template (`text.bridge.TokenBridge`,
`text.answer.AnswerReader`): prompts are rendered through the chat template in the checkpoint's
BPE ids, answers are decoded back to words, so an answer is judged on its words whatever its
tokenisation.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from empg_jax.text.answer import AnswerReader
from empg_jax.text.bridge import TokenBridge
from empg_jax.text.chat import ChatTokenizer
from empg_jax.text.word import WordTokenizer


class WordCodec:
    """The word-level policy: prompts and answers are the environment's word ids.

    Args:
      tokenizer: the word tokenizer.
      prompt_len: P, prompt length (word ids = model ids).
      answer_len: L, answer length (word ids = model ids).
    """

    def __init__(self, tokenizer: WordTokenizer, prompt_len: int, answer_len: int):
        self.tokenizer = tokenizer
        self.prompt_len = self.word_prompt_len = prompt_len
        self.answer_len = self.word_answer_len = answer_len
        self.pad_id = tokenizer.pad_id
        self.vocab_size = tokenizer.vocab_size
        self.stop_ids = (tokenizer.eot_id, tokenizer.eos_id)

    def prompt(self, words_P: jax.Array, mask_P: jax.Array):
        return words_P, mask_P, jnp.zeros((), bool)

    def words(self, ids_L: jax.Array, mask_L: jax.Array):
        return ids_L, mask_L, jnp.zeros((), bool)

    def target(self, words_L: jax.Array, mask_L: jax.Array):
        return words_L, mask_L, jnp.zeros((), bool)


class ChatCodec:
    """A checkpoint tokenizer with its chat template (module docstring).

    Args:
      tokenizer: the environments' word tokenizer.
      chat: the checkpoint's tokenizer, chat template and stop ids.
      word_prompt_len: P, the word prompt's length (`PromptBuilder`).
      prompt_len: Q, the policy's prompt length in its own ids (0: 1.5 P plus the chat
        template, which holds every built-in environment's prompts).
      answer_len: R, the policy's answer length in its own ids.
    """

    def __init__(
        self,
        tokenizer: WordTokenizer,
        chat: ChatTokenizer,
        word_prompt_len: int,
        prompt_len: int,
        answer_len: int,
    ):
        self.tokenizer, self.chat = tokenizer, chat
        self.bridge = TokenBridge(tokenizer, chat)
        self.reader = AnswerReader(tokenizer, chat)
        split = self.bridge.split
        template = len(split.prefix_ids) + len(split.suffix_ids)
        self.word_prompt_len = word_prompt_len
        self.prompt_len = prompt_len or math.ceil(1.5 * word_prompt_len) + template
        self.answer_len = answer_len
        # A byte-level token may hold several words ("].\n" is three): room for 2 per token.
        self.word_answer_len = 2 * answer_len
        self.pad_id = chat.pad_id
        self.vocab_size = chat.tokenizer.vocab_size
        self.stop_ids = tuple(chat.stop_ids)

    def prompt(self, words_P: jax.Array, mask_P: jax.Array):
        del mask_P  # pads are dropped by the bridge
        # 8 characters per word hold the environments' prompts (a longer text is flagged);
        # the bridge's default (room for the longest word everywhere) costs 3-4x more.
        return self.bridge.render_prompt(words_P, self.prompt_len, max_chars=8 * words_P.shape[0])

    def words(self, ids_R: jax.Array, mask_R: jax.Array):
        return self.reader.words(ids_R, mask_R, self.word_answer_len)

    def target(self, words_L: jax.Array, mask_L: jax.Array):
        words = jnp.where(mask_L, words_L, self.tokenizer.pad_id)
        return self.bridge.render_answer(words, self.answer_len)
