"""Agents: the verl-agent step prompt and the multi-turn rollout (jitted scan, host loop)."""

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
    HostEnv,
    Rollout,
    demonstrations,
    host_rollout,
    make_rollout,
    reset_episodes,
    rollout,
    rows,
    stop_tokens,
)

__all__ = [
    "INVALID_FORMAT_PENALTY",
    "MODES",
    "HostEnv",
    "PromptBuilder",
    "PromptSizes",
    "Rollout",
    "agent_tokenizer",
    "answer_format_ok",
    "demonstrations",
    "host_rollout",
    "make_rollout",
    "prompt_words",
    "reset_episodes",
    "rollout",
    "rows",
    "stop_tokens",
]
