"""Agents: the verl-agent step prompt, the typed rollout record, the multi-turn rollout (a jitted
loop for JAX environments, a host loop for external ones) and oracle demonstrations."""

from empg_jax.agents.batch import Rollout
from empg_jax.agents.codec import ChatCodec, WordCodec
from empg_jax.agents.demos import demonstrations, policy_act
from empg_jax.agents.host import HostEnv, host_rollout
from empg_jax.agents.prompts import (
    MODES,
    PromptBuilder,
    PromptSizes,
    agent_tokenizer,
    answer_format_ok,
    prompt_words,
)
from empg_jax.agents.rollout import (
    INVALID_FORMAT_PENALTY,
    make_rollout,
    reset_episodes,
    rollout,
    stop_tokens,
)

__all__ = [
    "ChatCodec",
    "INVALID_FORMAT_PENALTY",
    "MODES",
    "HostEnv",
    "PromptBuilder",
    "PromptSizes",
    "Rollout",
    "WordCodec",
    "agent_tokenizer",
    "answer_format_ok",
    "demonstrations",
    "host_rollout",
    "make_rollout",
    "policy_act",
    "prompt_words",
    "reset_episodes",
    "rollout",
    "stop_tokens",
]
