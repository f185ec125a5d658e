"""Training: the train state, the jitted SFT and RL steps, the run builders, evaluation,
checkpoints, metrics, resume and the training loop.

    state, metrics = rl_update(graphdef, optimizer, RLOptions(...), state, rollout)  # one step
    summary = train(config, workdir)                                               # a whole run
"""

from empg_jax.training.checkpoint import Checkpointer, CheckpointError
from empg_jax.training.config import ConfigError, validate
from empg_jax.training.distributed import maybe_initialize_distributed
from empg_jax.training.evaluation import evaluate, rollout_batch
from empg_jax.training.experiment import Experiment
from empg_jax.training.forward import answer_log_probs, sequence_logits
from empg_jax.training.guards import NonFiniteError
from empg_jax.training.loop import load_params, train
from empg_jax.training.metrics import MetricsWriter, read_jsonl
from empg_jax.training.options import EMPGOptions, RLOptions, SFTOptions
from empg_jax.training.rl import jit_rl_update, rl_advantages, rl_update
from empg_jax.training.rundir import RunDirError, WorkdirLock
from empg_jax.training.sft import SFTBatch, jit_sft_step, sft_step
from empg_jax.training.state import TrainState, create_state, make_optimizer

__all__ = [
    "CheckpointError",
    "Checkpointer",
    "ConfigError",
    "EMPGOptions",
    "Experiment",
    "MetricsWriter",
    "NonFiniteError",
    "RLOptions",
    "RunDirError",
    "SFTBatch",
    "SFTOptions",
    "TrainState",
    "WorkdirLock",
    "answer_log_probs",
    "create_state",
    "evaluate",
    "jit_rl_update",
    "jit_sft_step",
    "load_params",
    "make_optimizer",
    "maybe_initialize_distributed",
    "read_jsonl",
    "rl_advantages",
    "rl_update",
    "rollout_batch",
    "sequence_logits",
    "sft_step",
    "train",
    "validate",
]
