"""The jitted word-id -> Hugging Face id bridge equals `tokenizer.encode` of the same text: real
environment prompts with the chat template, random word sequences full of the pre-tokenizer's
corner cases, and SFT answers; with the real Qwen2.5 tokenizer and with a small trained one.

The reference is independent of the code under test: `WordTokenizer.decode` (Python) gives the
text, the chat template is rendered on the host, and the Rust `tokenizers` library encodes it.
Every jitted call uses one of a few fixed shapes so that each compiles once per module."""

import functools

import jax
import numpy as np
import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

from empg_jax.text import word as word_lib
from empg_jax.text.bpe import JaxBPE, UnsupportedTokenizer
from empg_jax.text.bridge import TokenBridge
from empg_jax.text.chat import ChatTokenizer
from empg_jax.text.word import WordTokenizer
from tests.text.conftest import ENV_NAMES, SIZES, env_prompts

B, P, N = 32, SIZES.prompt_len, 1000  # prompts: [B, P] word ids -> [B, N] ids
R, M = 96, 300  # answers: [B, R] word ids -> [B, M] ids


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _render(bridge, batch, length, answer):
    fn = bridge.render_answer if answer else bridge.render_prompt
    return jax.vmap(lambda w: fn(w, length))(batch)


def _pad_to(batch, rows, cols):
    out = np.zeros((rows, cols), np.int32)
    out[: batch.shape[0], : batch.shape[1]] = batch
    return out


def check_prompts(bridge, batch, rows=B, cols=P, length=N):
    """Asserts each rendered prompt equals `encode(chat(decode(row)))`; returns the token count."""
    tokens = 0
    for lo in range(0, len(batch), rows):
        part = batch[lo : lo + rows]
        ids, mask, overflow = map(np.asarray, _render(bridge, _pad_to(part, rows, cols), length, 0))
        assert not overflow.any()
        for i, row in enumerate(part):
            want = bridge.chat.encode_prompt(bridge.words.decode(row))
            n = len(want)
            assert ids[i, length - n :].tolist() == want, bridge.words.decode(row)
            assert mask[i, length - n :].all() and not mask[i, : length - n].any()
            assert (ids[i, : length - n] == bridge.pad_id).all()
            tokens += n
    return tokens


def check_answers(bridge, batch, rows=B, cols=R, length=M):
    tok = bridge.chat.tokenizer.tokenizer
    for lo in range(0, len(batch), rows):
        part = batch[lo : lo + rows]
        ids, mask, overflow = map(np.asarray, _render(bridge, _pad_to(part, rows, cols), length, 1))
        assert not overflow.any()
        for i, row in enumerate(part):
            text, stop = bridge.answer_text(row)
            want = tok.encode(text).ids + ([bridge.stop_id] if stop else [])
            assert ids[i][mask[i]].tolist() == want, text
            assert mask[i, : len(want)].all() and not mask[i, len(want) :].any()


def random_word_ids(words, rng, num, length):
    """Word ids biased to the pre-tokenizer's corner cases: punctuation runs, digits, newlines,
    apostrophes before "s", "t", "re", "ve", "m", "ll", "d" words, specials; pads anywhere."""
    vocab = words.vocab
    non_letters = [i for i, w in enumerate(vocab) if not w.isalpha() and w != word_lib.PAD]
    contraction = [i for i, w in enumerate(vocab) if w[:1] in "stmd" or w[:2] in ("re", "ve", "ll")]
    out = rng.integers(1, len(vocab), (num, length))
    pick = rng.random((num, length))
    out = np.where(pick < 0.45, rng.choice(non_letters, (num, length)), out)
    out = np.where(pick > 0.9, rng.choice(contraction, (num, length)), out)
    apostrophe = (rng.random((num, length)) < 0.08) & (pick > 0.9)
    out = np.roll(np.where(np.roll(apostrophe, -1, axis=1), words.token_to_id("'"), out), 0)
    return np.where(rng.random((num, length)) < 0.1, words.pad_id, out).astype(np.int32)


@pytest.fixture(scope="module")
def qwen_bridge(words, qwen_chat):
    return TokenBridge(words, qwen_chat)


def test_household_prompts_and_answers_equal_encode(qwen_bridge):
    """Real household prompts, both modes, and the oracle's answers as SFT targets (the slow test
    covers all three environments along oracle rollouts)."""
    prompts, answers = env_prompts("household", 12)
    assert prompts.shape == (24, P)
    assert check_prompts(qwen_bridge, prompts) > 24 * 150
    check_answers(qwen_bridge, answers)


@pytest.mark.slow
@pytest.mark.parametrize("name", ENV_NAMES)
def test_rollout_prompts_and_answers_equal_encode(qwen_bridge, name):
    prompts, answers = env_prompts(name, 16, 12, seed=1)
    assert len(prompts) >= 80  # search episodes are short: the oracle answers in 2-4 steps
    check_prompts(qwen_bridge, prompts)
    check_answers(qwen_bridge, answers)


def test_random_word_sequences_equal_encode(words, qwen_bridge):
    rng = np.random.default_rng(0)
    check_prompts(qwen_bridge, random_word_ids(words, rng, B, P))
    check_answers(qwen_bridge, random_word_ids(words, rng, B, R))


def test_naive_concatenation_breaks_and_the_bridge_does_not(words, qwen_bridge):
    """Texts whose per-word tokens (each word with the space `decode` puts before it) differ from
    the text's tokens: the bridge still equals `encode`."""
    tok = qwen_bridge.chat.tokenizer.tokenizer
    texts = [
        "below are the most recent step(s). [observation: you see 12 items].\nnow it's your turn",
        "search[red shirt], 30.00 $ =-= go -= 3 , 4",
        "you see 12 items.\n\n<action> go to fridge 1 </action>",
    ]
    for text in texts:
        ids = words.encode(text)
        per_word = []
        for k in range(len(ids)):
            before, upto = words.decode(ids[:k]), words.decode(ids[: k + 1])
            per_word += tok.encode(upto[len(before) :]).ids
        assert per_word != tok.encode(words.decode(ids)).ids, text
    check_answers(
        qwen_bridge, np.stack([_pad_to(np.asarray([words.encode(t)]), 1, R)[0] for t in texts])
    )


def test_left_padding_and_overflow(words, qwen_bridge):
    split = qwen_bridge.split
    fixed = len(split.prefix_ids) + 2 + len(split.suffix_ids)  # + "user", "\n"
    texts = ["go", "go to fridge 1", "hypoallergenic " * 5]
    batch = _pad_to(
        np.stack([_pad_to(np.asarray([words.encode(t)]), 1, 8)[0] for t in texts]), 3, 8
    )
    batch = np.roll(batch, 3, axis=1)  # left-padded like PromptBuilder's output
    length = fixed + 1
    ids, mask, overflow = map(np.asarray, _render_small(qwen_bridge, batch, length, 40))
    want = qwen_bridge.chat.encode_prompt("go")
    assert len(want) == length and ids[0].tolist() == want and mask[0].all()
    assert overflow.tolist() == [False, True, True]  # too many tokens; too many characters
    long = qwen_bridge.chat.encode_prompt("go to fridge 1")
    assert ids[1].tolist() == long[-length:]  # cut: the generation prompt is kept
    assert want[: len(split.prefix_ids)] == list(split.prefix_ids)
    answer = _pad_to(np.asarray([words.encode("<action> go </action> <eot>")]), 1, 8)
    ids, mask, overflow = map(np.asarray, _render(qwen_bridge, answer, 3, 1))
    assert overflow[0] and mask.all()


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _render_small(bridge, batch, length, max_chars):
    return jax.vmap(lambda w: bridge.render_prompt(w, length, max_chars))(batch)


def test_small_trained_tokenizer_with_added_think_tokens(words, small_chat):
    """Without the `qwen` extra: a trained Qwen-style tokenizer where `<think>` is an added token
    (Qwen3), so the word `<think>` must become that one id."""
    bridge = TokenBridge(words, small_chat)
    think = small_chat.tokenizer.token_to_id("<think>")
    assert bridge.bpe.added["<think>"] == think
    rng = np.random.default_rng(1)
    batch = random_word_ids(words, rng, 16, 64)
    batch[:, 3] = words.think_id
    batch[0, :5] = [words.think_id, words.think_id, 0, words.end_think_id, words.think_id]
    check_prompts(bridge, batch, 16, 64, 400)
    check_answers(bridge, batch, 16, 64, 400)
    ids, mask, _ = _render(bridge, _pad_to(batch[1:2, 3:4], 16, 64), 400, 1)
    assert np.asarray(ids)[0][np.asarray(mask)[0]].tolist() == [think]


def test_unsupported_tokenizers_and_words_are_refused(words, small_chat):
    gpt2_style = Tokenizer(models.BPE(vocab={"a": 0}, merges=[]))
    gpt2_style.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    gpt2_style.decoder = decoders.ByteLevel()
    with pytest.raises(UnsupportedTokenizer, match="pre_tokenizer"):
        JaxBPE(gpt2_style)
    # A word equal to an added token is that token.
    odd = WordTokenizer.from_word_lists([["go"]], extra_specials=["<|im_end|>"])
    bridge = TokenBridge(odd, small_chat)
    assert bridge._special[odd.token_to_id("<|im_end|>")] == small_chat.stop_ids[0]
    # An added token that could occur inside or across words is refused.
    for added in ("go", "[x]", "<a<b>", "<a b>", "<7>"):
        tok = Tokenizer.from_str(small_chat.tokenizer.tokenizer.to_str())
        tok.add_special_tokens([AddedToken(added, special=True, normalized=False)])
        with pytest.raises(UnsupportedTokenizer, match="is not of the form"):
            TokenBridge(words, ChatTokenizer.from_tokenizer(tok))
    with pytest.raises(ValueError, match="not words, digits"):
        TokenBridge(WordTokenizer(words.vocab + ("two words",)), small_chat)
