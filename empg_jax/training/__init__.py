"""Training: train state, jitted SFT and RL steps, advantages, checkpoints, metrics, the loop."""

from empg_jax.training.advantages import ESTIMATORS, SCOPES, outcome_advantages, step_advantages
from empg_jax.training.checkpoint import Checkpointer
from empg_jax.training.config import ConfigError, validate
from empg_jax.training.loop import (
    Experiment,
    load_params,
    maybe_initialize_distributed,
    train,
)
from empg_jax.training.metrics import MetricsWriter, read_jsonl
from empg_jax.training.steps import (
    TrainState,
    answer_log_probs,
    create_state,
    jit_rl_update,
    jit_sft_step,
    make_optimizer,
    rl_update,
    sft_step,
)

__all__ = [
    "ESTIMATORS",
    "SCOPES",
    "Checkpointer",
    "ConfigError",
    "Experiment",
    "MetricsWriter",
    "TrainState",
    "answer_log_probs",
    "create_state",
    "jit_rl_update",
    "jit_sft_step",
    "load_params",
    "make_optimizer",
    "maybe_initialize_distributed",
    "outcome_advantages",
    "read_jsonl",
    "rl_update",
    "sft_step",
    "step_advantages",
    "train",
    "validate",
]
