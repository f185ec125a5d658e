"""Chat templates, stop tokens and the checkpoint tokenizer files (`text.chat.ChatTokenizer`)."""

import dataclasses
import functools
import json

import jax
import numpy as np
import pytest

from empg_jax.text import qwen
from empg_jax.text.bridge import TokenBridge
from empg_jax.text.chat import CHATML_TEMPLATE, ChatTokenizer

# A Qwen3-like template written for these tests: no default system turn, a thinking prompt.
PLAIN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Template text on both sides of the content inside one segment (lead and trail).
FRAMED_TEMPLATE = (
    "<|im_start|>user\nTask: {{ messages[-1]['content'] }}\nAnswer.<|im_end|>\n"
    "<|im_start|>assistant\n"
)
CONTENTS = ["go to fridge 1", "\nstarts with a newline", " space first", "", "ends.\n\n", "x  "]


def test_builtin_jinja_template_equals_the_python_chatml(qwen_chat):
    jinja = dataclasses.replace(qwen_chat, chat_template=CHATML_TEMPLATE)
    for content in CONTENTS:
        assert jinja.render(content) == qwen_chat.render(content)
        assert qwen_chat.render(content) == qwen.chat_template(
            [{"role": "user", "content": content}]
        )
    with_system = dataclasses.replace(jinja, system="Be brief.")
    assert with_system.render("hi") == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert dataclasses.replace(qwen_chat, system="Be brief.").render("hi") == with_system.render(
        "hi"
    )


@pytest.mark.parametrize("template", [None, PLAIN_TEMPLATE, FRAMED_TEMPLATE])
def test_split_reassembles_the_encoding(qwen_chat, template):
    chat = dataclasses.replace(qwen_chat, chat_template=template)
    split = chat.split()
    encode = chat.tokenizer.tokenizer.encode
    for content in CONTENTS:
        ids = list(split.prefix_ids) + encode(split.lead + content + split.trail).ids
        assert ids + list(split.suffix_ids) == chat.encode_prompt(content), content
    # The cut is at the added tokens nearest to the content.
    want = ("user\nTask: ", "\nAnswer.") if template == FRAMED_TEMPLATE else ("user\n", "")
    assert (split.lead, split.trail) == want


@functools.partial(jax.jit, static_argnums=0)
def _render(bridge, batch):
    return jax.vmap(lambda w: bridge.render_prompt(w, 64))(batch)


def test_bridge_with_text_around_the_content(words, qwen_chat):
    """A template with text before and after the content in the content's segment: the jitted
    prompt still equals `encode(render(text))` (the newline before "Answer." joins the content's
    last punctuation, e.g. "fridge 1.\\nAnswer")."""
    chat = dataclasses.replace(qwen_chat, chat_template=FRAMED_TEMPLATE)
    bridge = TokenBridge(words, chat)
    texts = ["go to fridge 1.", "<nl> open it", "12", "go :"]
    batch = np.stack([words.encode_padded(t, 8) for t in texts])
    ids, mask, overflow = map(np.asarray, _render(bridge, batch))
    for i, row in enumerate(batch):
        assert ids[i][mask[i]].tolist() == chat.encode_prompt(words.decode(row))
    assert not overflow.any()


def _write(path, files):
    path.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (path / name).write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_from_pretrained_reads_template_stops_and_pad(qwen_chat, tmp_path):
    qwen_chat.tokenizer.save(str(tmp_path / "tokenizer.json"))
    folder = _write(
        tmp_path,
        {
            "tokenizer_config.json": {"chat_template": PLAIN_TEMPLATE, "pad_token": "<|fim_pad|>"},
            "generation_config.json": {"eos_token_id": 151645},
        },
    )
    chat = ChatTokenizer.from_pretrained(folder)
    assert chat.chat_template == PLAIN_TEMPLATE and chat.stop_ids == (151645,)
    assert chat.pad_id == chat.tokenizer.token_to_id("<|fim_pad|>")
    assert chat.render("hi") == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    # Named templates (a list) take "default"; no generation config gives ChatML's stops.
    _write(
        tmp_path,
        {
            "tokenizer_config.json": {
                "chat_template": [
                    {"name": "tool_use", "template": "x"},
                    {"name": "default", "template": PLAIN_TEMPLATE},
                ]
            },
            "generation_config.json": {"eos_token_id": [151645, 151643], "pad_token_id": 151643},
        },
    )
    chat = ChatTokenizer.from_pretrained(folder)
    assert chat.chat_template == PLAIN_TEMPLATE and chat.stop_ids == (151645, 151643)
    (tmp_path / "generation_config.json").unlink()
    (tmp_path / "tokenizer_config.json").unlink()
    chat = ChatTokenizer.from_pretrained(folder)
    assert chat.chat_template is None and chat.stop_ids == (qwen.IM_END_ID, qwen.ENDOFTEXT_ID)
    assert chat.pad_id == qwen.ENDOFTEXT_ID


def test_save_pretrained_round_trip(qwen_chat, tmp_path):
    from tokenizers import Tokenizer

    qwen_chat.save_pretrained(str(tmp_path), model_max_length=4096)
    again = ChatTokenizer.from_pretrained(str(tmp_path))
    assert again.chat_template == CHATML_TEMPLATE
    assert (again.stop_ids, again.pad_id) == (qwen_chat.stop_ids, qwen_chat.pad_id)
    for content in CONTENTS:
        assert again.render(content) == qwen_chat.render(content)
    text = qwen_chat.render("take apple 1 from fridge 1")
    reloaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert reloaded.encode(text).ids == qwen_chat.encode_prompt("take apple 1 from fridge 1")
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["eos_token"] == "<|im_end|>" and config["model_max_length"] == 4096


def test_clear_errors(qwen_chat, tmp_path):
    with pytest.raises(ValueError, match="no tokenizer.json"):
        ChatTokenizer.from_pretrained(str(tmp_path))
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="tokenizer.json: cannot be read"):
        ChatTokenizer.from_pretrained(str(tmp_path))
    qwen_chat.tokenizer.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": ')
    with pytest.raises(ValueError, match=r"tokenizer_config.json: not valid JSON"):
        ChatTokenizer.from_pretrained(str(tmp_path))
    _write(tmp_path, {"tokenizer_config.json": {}, "generation_config.json": {"eos_token_id": []}})
    with pytest.raises(ValueError, match="eos_token_id must be ids"):
        ChatTokenizer.from_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="outside the tokenizer"):
        ChatTokenizer.from_tokenizer(qwen_chat.tokenizer, stop_ids=[151_936])
    failing = "{{ raise_exception('only user turns') }}"
    with pytest.raises(ValueError, match="failed to render: only user turns"):
        dataclasses.replace(qwen_chat, chat_template=failing).render("x")
    with pytest.raises(ValueError, match="exactly once"):
        dataclasses.replace(qwen_chat, chat_template="no content").split()
    from tokenizers import Tokenizer, models

    with pytest.raises(ValueError, match="the tokenizer has no"):
        ChatTokenizer.from_tokenizer(Tokenizer(models.BPE(vocab={"a": 0}, merges=[])))
