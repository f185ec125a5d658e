"""A checkpoint's tokenizer, chat template and stop tokens (`ChatTokenizer`), read from and written
to a Hugging Face checkpoint folder.

Files (the layout `transformers` uses):
- `tokenizer.json`: the tokenizer (loaded with `tokenizers`, no transformers needed);
- `tokenizer_config.json`: `chat_template` (Jinja source), `pad_token`, `eos_token`;
- `generation_config.json`: `eos_token_id` (an id or a list: the stop tokens), `pad_token_id`.

When `chat_template` is absent the built-in ChatML template is used: a system turn with Qwen2.5's
default system prompt, the user turn, then the generation prompt (`CHATML_TEMPLATE`, the same text
as `qwen.chat_template`). When `generation_config.json` is absent the stop tokens are ChatML's
`<|im_end|>` and `<|endoftext|>`. Rendering a checkpoint's own Jinja template needs `jinja2` (a
core dependency), in a sandbox as `transformers` does.

Each environment step is one user message, so the prompt is `prefix + content + suffix`, with only
`content` varying. `ChatTokenizer.split()` renders the template once around a sentinel and cuts it
where the tokenizer's added tokens split text, so the jitted renderer can add constant id
sequences around the content it tokenises (`bridge.TokenBridge`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from tokenizers import Tokenizer

from empg_jax.text import qwen
from empg_jax.text.hf import HFTokenizer

#: ChatML with Qwen2.5's default system prompt, equivalent to `qwen.chat_template`.
CHATML_TEMPLATE = (
    "{%- if not messages or messages[0]['role'] != 'system' %}"
    "{{- '<|im_start|>system\\n" + qwen.DEFAULT_SYSTEM + "<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
_SENTINEL = "\u2063EMPG_CONTENT\u2063"  # invisible separators: survive templates, never in text


@dataclasses.dataclass(frozen=True)
class ChatSplit:
    """A chat prompt as `prefix_ids ++ encode(lead + content + trail) ++ suffix_ids`.

    `lead` / `trail` are the template text between the content and the nearest added token on
    each side (Qwen: `"user\\n"` and `""`); they join the content's pre-tokenisation.
    """

    prefix_ids: tuple[int, ...]
    lead: str
    trail: str
    suffix_ids: tuple[int, ...]


def _render_jinja(source: str, **context: Any) -> str:
    try:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError as err:  # pragma: no cover - jinja2 is a core dependency
        raise ImportError("rendering a checkpoint's chat_template needs jinja2") from err

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(
            x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
        )

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    try:
        return env.from_string(source).render(**context)
    except jinja2.TemplateError as err:
        raise ValueError(f"the chat template failed to render: {err}") from err


@dataclasses.dataclass(frozen=True, eq=False)
class ChatTokenizer:
    """A Hugging Face tokenizer with its chat template and stop tokens.

    Attributes:
      tokenizer: the `HFTokenizer`.
      chat_template: Jinja source, or None for the built-in ChatML (`CHATML_TEMPLATE`).
      stop_ids: the ids that end an assistant turn; the first one closes SFT answers.
      pad_id: the id used to pad prompts and answers (always masked).
      system: a system message put before every prompt, or None (the template's default).
      special_tokens: `bos_token` / `eos_token` strings passed to the template.
    """

    tokenizer: HFTokenizer
    chat_template: str | None
    stop_ids: tuple[int, ...]
    pad_id: int
    system: str | None = None
    special_tokens: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        size = self.tokenizer.vocab_size
        if not self.stop_ids:
            raise ValueError("a chat tokenizer needs at least one stop token id")
        for i in (*self.stop_ids, self.pad_id):
            if not 0 <= int(i) < size:
                raise ValueError(f"token id {i} is outside the tokenizer's {size} ids")

    # ----- construction ----------------------------------------------------------------------
    @classmethod
    def from_tokenizer(
        cls,
        tokenizer: HFTokenizer | Tokenizer,
        chat_template: str | None = None,
        stop_ids: Sequence[int] | None = None,
        pad_id: int | None = None,
        system: str | None = None,
    ) -> ChatTokenizer:
        """ChatML defaults for whatever is not given (stop ids `<|im_end|>`, `<|endoftext|>`)."""
        tok = tokenizer if isinstance(tokenizer, HFTokenizer) else HFTokenizer(tokenizer)
        if stop_ids is None:
            stop_ids = [_id_or_error(tok, "<|im_end|>"), _id_or_error(tok, "<|endoftext|>")]
        if pad_id is None:
            pad_id = _optional_id(tok, "<|endoftext|>")
            pad_id = stop_ids[-1] if pad_id is None else pad_id
        return cls(tok, chat_template, tuple(int(i) for i in stop_ids), int(pad_id), system)

    @classmethod
    def qwen(cls, system: str | None = None) -> ChatTokenizer:
        """The Qwen2.5 tokenizer built offline (the `qwen` extra) with the built-in ChatML."""
        return cls.from_tokenizer(qwen.qwen_tokenizer(), system=system)

    @classmethod
    def from_pretrained(cls, path: str, system: str | None = None) -> ChatTokenizer:
        """Reads `tokenizer.json`, `tokenizer_config.json` and `generation_config.json` of a
        checkpoint folder (see the module docstring for the defaults)."""
        file = os.path.join(path, "tokenizer.json")
        if not os.path.isfile(file):
            raise ValueError(f"no tokenizer.json in checkpoint directory {path!r}")
        try:
            tok = HFTokenizer(Tokenizer.from_file(file))
        except Exception as err:  # tokenizers raises a bare Exception on a bad file
            raise ValueError(f"{file}: cannot be read as a tokenizer ({err})") from err
        config = _read_json(os.path.join(path, "tokenizer_config.json"))
        gen = _read_json(os.path.join(path, "generation_config.json"))
        specials = {}
        for key in ("bos_token", "eos_token", "pad_token"):
            value = config.get(key)
            value = value.get("content") if isinstance(value, dict) else value
            if isinstance(value, str):
                specials[key] = value
        stop = gen.get("eos_token_id")
        if stop is not None:
            stop = [stop] if isinstance(stop, int) else list(stop)
            if not stop or not all(isinstance(i, int) for i in stop):
                raise ValueError(f"{path}/generation_config.json: eos_token_id must be ids")
        pad = gen.get("pad_token_id")
        if pad is None and "pad_token" in specials:
            pad = _optional_id(tok, specials["pad_token"])
        template = config.get("chat_template")
        if isinstance(template, list):  # named templates: take the default one
            named = {t.get("name"): t.get("template") for t in template}
            template = named.get("default")
        if template is not None and not isinstance(template, str):
            raise ValueError(f"{path}/tokenizer_config.json: chat_template must be a string")
        out = cls.from_tokenizer(tok, template, stop, pad, system)
        return dataclasses.replace(out, special_tokens=specials)

    # ----- rendering -------------------------------------------------------------------------
    def messages(self, content: str) -> list[dict[str, str]]:
        user = {"role": "user", "content": content}
        return [{"role": "system", "content": self.system}, user] if self.system else [user]

    def render(self, content: str) -> str:
        """The prompt text of one user turn followed by the generation prompt."""
        if self.chat_template is None:
            return qwen.chat_template(self.messages(content), add_generation_prompt=True)
        context = {k: v for k, v in self.special_tokens.items() if k != "pad_token"}
        return _render_jinja(
            self.chat_template,
            messages=self.messages(content),
            add_generation_prompt=True,
            tools=None,
            documents=None,
            **context,
        )

    def encode_prompt(self, content: str) -> list[int]:
        """`tokenizer.encode(render(content))` (host-side reference of the jitted renderer)."""
        return self.tokenizer.tokenizer.encode(self.render(content)).ids

    def split(self) -> ChatSplit:
        """The template around the content, cut at added tokens (see `ChatSplit`)."""
        text = self.render(_SENTINEL)
        if text.count(_SENTINEL) != 1:
            raise ValueError("the chat template must place the user message exactly once")
        before, after = text.split(_SENTINEL)
        added = [t.content for t in self.tokenizer.tokenizer.get_added_tokens_decoder().values()]
        cut_before = max((before.rfind(a) + len(a) for a in added if a in before), default=0)
        hits_after = [after.find(a) for a in added if a in after]
        cut_after = min(hits_after, default=len(after))
        encode = self.tokenizer.tokenizer.encode
        return ChatSplit(
            prefix_ids=tuple(encode(before[:cut_before]).ids),
            lead=before[cut_before:],
            trail=after[:cut_after],
            suffix_ids=tuple(encode(after[cut_after:]).ids),
        )

    # ----- export ----------------------------------------------------------------------------
    def save_pretrained(self, path: str, model_max_length: int | None = None) -> None:
        """Writes `tokenizer.json`, `tokenizer_config.json` (with the chat template; the built-in
        ChatML when none) and `generation_config.json` into `path`."""
        os.makedirs(path, exist_ok=True)
        self.tokenizer.save(os.path.join(path, "tokenizer.json"))
        tok = self.tokenizer
        config: dict[str, Any] = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "chat_template": self.chat_template or CHATML_TEMPLATE,
            "eos_token": tok.id_to_token(self.stop_ids[0]),
            "pad_token": tok.id_to_token(self.pad_id),
            "clean_up_tokenization_spaces": False,
            "add_prefix_space": False,
        }
        if "bos_token" in self.special_tokens:
            config["bos_token"] = self.special_tokens["bos_token"]
        if model_max_length:
            config["model_max_length"] = int(model_max_length)
        gen = {"eos_token_id": list(self.stop_ids), "pad_token_id": self.pad_id}
        for name, data in (("tokenizer_config.json", config), ("generation_config.json", gen)):
            with open(os.path.join(path, name), "w") as f:
                json.dump(data, f, indent=2)


def _read_json(file: str) -> dict:
    if not os.path.exists(file):
        return {}
    try:
        with open(file) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{file}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{file}: expected a JSON object, got {type(data).__name__}")
    return data


def _optional_id(tok: HFTokenizer, token: str) -> int | None:
    return tok.tokenizer.token_to_id(token)


def _id_or_error(tok: HFTokenizer, token: str) -> int:
    idx = tok.tokenizer.token_to_id(token)
    if idx is None:
        raise ValueError(
            f"the tokenizer has no {token!r}; give the stop ids explicitly (generation_config.json "
            "eos_token_id)"
        )
    return idx
