"""Generated Hugging Face ids -> word ids inside jit equals `WordTokenizer.encode(decode(ids))`,
and the action parsed from it equals what the environments and the format check see."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from empg_jax.agents import answer_format_ok
from empg_jax.envs.core import match_action, parse_action
from empg_jax.text.answer import AnswerReader, _hash_rows, parse_answer
from empg_jax.text.bridge import TokenBridge
from empg_jax.text.qwen import byte_to_unicode
from empg_jax.text.word import WordTokenizer
from tests.text.conftest import env_prompts

B, R, W = 32, 64, 256  # [B, R] generated ids -> [B, W] word ids (CJK: a piece per character)


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _read(reader, ids, mask, length, max_bytes):
    return jax.vmap(lambda i, m: reader.words(i, m, length, max_bytes))(ids, mask)


def reference(reader, ids, mask):
    """Python/Rust reference: decode the ids before the first stop, word-encode the text, and
    append `<eot>` when a stop id was generated."""
    ids = [int(i) for i, m in zip(ids, mask, strict=True) if m]
    stops = set(reader.chat.stop_ids)
    cut = next((k for k, i in enumerate(ids) if i in stops), None)
    kept = ids if cut is None else ids[:cut]
    text = reader.chat.tokenizer.tokenizer.decode(kept, skip_special_tokens=False)
    words = reader.word_tokenizer
    return words.encode(text) + ([] if cut is None else [words.eot_id])


def check(reader, rows, length=W, max_bytes=None, expect_overflow=False):
    ids = np.zeros((B, R), np.int32)
    mask = np.zeros((B, R), bool)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row[:R]
        mask[i, : len(row)] = True
    ids[:, -1] = 7  # a token outside the mask is ignored
    out, out_mask, overflow = map(np.asarray, _read(reader, ids, mask, length, max_bytes))
    for i in range(len(rows)):
        want = reference(reader, ids[i], mask[i])
        got = out[i][out_mask[i]].tolist()
        if expect_overflow and overflow[i]:
            assert want[: len(got)] == got
        else:
            assert not overflow[i] and got == want, (rows[i], want, got)
    return overflow[: len(rows)]


@pytest.fixture(scope="module")
def qwen_reader(words, qwen_chat):
    return AnswerReader(words, qwen_chat)


TEXTS = [
    "<think> the apple is in the fridge </think> <action> go to fridge 1 </action>",
    "<think>I should open it.</think>\n<action>Open Fridge 1</action>",
    "<ACTION>go  to\tcabinet 12</action>",
    "search[red shirt], 30.00 $ <pad> <NL> <nl> <think_more> <|im_start|> </action",
    "İstanbul \u212aelvin x\u00a0y\u2003z\r\nw\u3000q ５ ٣ é naïve 東京 🍎",
    "it's 'red' -= =-= (s). \x1b\x7f",
]


def test_structured_answers_equal_reference(words, qwen_reader):
    tok = qwen_reader.chat.tokenizer.tokenizer
    rows = [tok.encode(t).ids for t in TEXTS]
    rows += [tok.encode(t).ids + [qwen_reader.chat.stop_ids[0], 5, 6] for t in TEXTS]
    rows += [[qwen_reader.chat.stop_ids[1]] + tok.encode(TEXTS[0]).ids, []]
    check(qwen_reader, rows)
    out, mask, _ = _read(qwen_reader, np.asarray([rows[6] + [0] * (R - len(rows[6]))] * B),
                         np.asarray([[True] * len(rows[6]) + [False] * (R - len(rows[6]))] * B),
                         W, None)  # fmt: skip
    got = words.decode(np.asarray(out)[0][np.asarray(mask)[0]])
    assert (
        got == "<think> the apple is in the fridge </think> <action> go to fridge 1 </action> <eot>"
    )


def test_random_ids_equal_reference(qwen_reader):
    """Random ids over the whole embedding table (151,936 rows: ids past the tokenizer decode to
    nothing), over byte tokens (cut UTF-8 sequences) and over the added tokens."""
    rng = np.random.default_rng(0)
    byte_tokens = qwen_reader._token_len == 1
    pools = [
        np.arange(151_936),
        np.flatnonzero(byte_tokens),
        np.concatenate([np.arange(151_640, 151_936), np.arange(0, 400)]),
    ]
    for pool in pools:
        rows = [list(rng.choice(pool, rng.integers(1, R + 1))) for _ in range(B)]
        check(qwen_reader, rows)


def test_utf8_boundaries_equal_reference(qwen_reader):
    """Byte sequences at every boundary of UTF-8 decoding with replacement: overlong and surrogate
    second bytes, bad leads, cut sequences, stray continuation bytes, the largest code point."""
    tok = qwen_reader.chat.tokenizer.tokenizer
    byte_id = {b: tok.token_to_id(ch) for b, ch in byte_to_unicode().items()}
    sequences = [
        "E0 9F 80 41", "E0 A0 80 41", "ED 9F BF", "ED A0 80", "F0 8F BF BF", "F0 90 80 80",
        "F4 8F BF BF", "F4 90 80 80", "F5 80", "C0 80", "C1 BF", "C2 80", "C2", "E2 82", "E2 82 41",
        "F0 9F 8D", "F0 9F 8D 8E", "80 80 BF", "C3 A9 A9", "E1 80 C3 A9", "DF BF DF", "EF BF BD",
        "C4 B0 C4 B0 61", "E2 84 AA 41",
    ]  # fmt: skip
    rows = [[byte_id[int(b, 16)] for b in s.split()] for s in sequences]
    check(qwen_reader, rows)


def test_overflow_keeps_a_prefix(qwen_reader):
    tok = qwen_reader.chat.tokenizer.tokenizer
    texts = ["1 2 3 4 5 6 7 8 9 1 2 3 4 5 6 7 8 9", " " * 128 + "x", "go to fridge 1"]
    rows = [tok.encode(t).ids for t in texts]  # 18 words; 129 bytes (a 128-space token); fits
    overflow = check(qwen_reader, rows, length=16, max_bytes=64, expect_overflow=True)
    assert overflow.tolist() == [True, True, False]


def test_round_trip_of_oracle_answers(words, qwen_chat, qwen_reader):
    """SFT targets rendered by the bridge read back as the oracle's word answers."""
    _, answers = env_prompts("household", 12)
    bridge = TokenBridge(words, qwen_chat)
    ids, mask, _ = jax.jit(jax.vmap(lambda w: bridge.render_answer(w, R)))(
        jnp.asarray(np.pad(answers, ((0, B - len(answers)), (0, 0))))
    )
    out, out_mask, overflow = map(np.asarray, _read(qwen_reader, ids, mask, W, None))
    for i, answer in enumerate(answers):
        assert out[i][out_mask[i]].tolist() == [int(a) for a in answer if a != words.pad_id]


def test_added_think_token_reads_as_the_think_word(words, small_chat):
    tok = small_chat.tokenizer.tokenizer
    reader = AnswerReader(words, small_chat)
    text = "<think> go </think><action>go</action>"
    ids = tok.encode(text).ids
    assert ids[0] == tok.token_to_id("<think>")
    check(reader, [ids, ids + [small_chat.stop_ids[0]]])


CASES = [
    "<action> go to fridge 1 </action> <eot>",
    "go to fridge 1 </action> <eot>",
    "<action> go to fridge 1 <eot>",
    "</action> <action> go to fridge 1",
    "<action> go <action> fridge </action>",
    "<think> fridge 1 </think> <action> go to fridge 1 </action> <eot>",
    "<think> fridge 1 <action> go to fridge 1 </action> </think>",
    "<think> </think> <action> go to fridge 1 </action>",
    "<think> x </think> <action> </action>",
    "<action> take apple 1 from fridge 1 and more words </action>",
    "<action> open fridge 1 </action> <action> go </action>",
    "go to fridge 1",
    "<think> </think> <think> <action> open fridge 1 </action>",
    "go <think> fridge 1 </think> <action> go to fridge 1 </action>",
]


@pytest.mark.parametrize("thinking", [False, True])
def test_parse_answer_matches_env_parsing_and_format_check(words, thinking):
    """Against `envs.core.parse_action` + `match_action` and `agents.answer_format_ok`, on the
    format cases and on random answers built from the format tokens and action words."""
    rng = np.random.default_rng(int(thinking))
    vocab = [words.think_id, words.end_think_id, words.action_id, words.end_action_id]
    vocab += [words.eot_id, words.pad_id] + words.encode("go to fridge 1 open take apple")
    answers = [words.encode_padded(t, 24) for t in CASES]
    answers += [rng.choice(vocab, 24).astype(np.int32) for _ in range(200)]
    answers = np.stack(answers)
    table = np.stack([words.encode_padded(t, 6) for t in ("go to fridge 1", "open fridge 1", "go")])
    mask = np.arange(24)[None, :] < rng.integers(10, 25, len(answers))[:, None]
    mask[: len(CASES)] = True

    def ours(a, m):
        p = parse_answer(a, m, words, jnp.asarray(table), jnp.int32(2), thinking)
        return p.format_ok, p.action, p.action_ok, p.row, p.admissible

    def envs_way(a, m):
        a = jnp.where(m, a, words.pad_id)
        action, ok = parse_action(a, 6, words)
        row, found = match_action(action, jnp.asarray(table), jnp.arange(3) < 2)
        return answer_format_ok(a, m, words, thinking), action, ok, row, found & ok

    got = jax.jit(jax.vmap(ours))(answers, mask)
    want = jax.jit(jax.vmap(envs_way))(answers, mask)
    for g, w, name in zip(got, want, ("format", "action", "ok", "row", "admissible"), strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w), err_msg=name)
    assert np.asarray(got[4]).sum() >= 3 and not np.asarray(got[0]).all()


def test_hash_collisions_in_the_vocabulary_are_resolved(small_chat):
    """Two words with the same hash under the first basis: the reader picks another one."""
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8).astype(np.int32)
    words7 = np.unique(rng.choice(letters, (200_000, 7)), axis=0)
    hashes = _hash_rows(words7, 0, np)
    values, counts = np.unique(hashes, return_counts=True)
    pair = np.flatnonzero(hashes == values[counts > 1][0])[:2]
    w1, w2 = ("".join(map(chr, words7[i])) for i in pair)
    vocab = WordTokenizer.from_word_lists([[w1, w2]])
    reader = AnswerReader(vocab, small_chat)
    assert reader._seed >= 1
    rows = [small_chat.tokenizer.encode(f"{w1} {w2} {w2}{w1}")]
    check(reader, rows)
    out, mask, _ = _read(reader, np.asarray([rows[0] + [0] * (R - len(rows[0]))] * B),
                         np.arange(R)[None].repeat(B, 0) < len(rows[0]), W, None)  # fmt: skip
    ids = np.asarray(out)[0][np.asarray(mask)[0]].tolist()
    assert ids == [vocab.token_to_id(w1), vocab.token_to_id(w2), vocab.unk_id]
