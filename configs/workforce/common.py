"""The workforce recipes behind `configs/workforce/*.py` (CPU-sized).

    python -m experiments.train --config=configs/workforce/sft_dpo.py --workdir=runs/wf_dpo

Every pipeline starts with SFT of the planner on the oracle's successful plans (OWL's expert
demonstrations, `sft.success_only`), then an RL phase on the policy's own samples: DPO on
(success, failure) pairs of each group against the frozen SFT policy (OWL's second phase),
GRPO, or GRPO + EMPG. Workers fail with probability `env.p_fail` during training, so the
samples hold failed plans and replans. Evaluation covers seen and held-out templates, and the
transfer split (a worker never trained on, described in the prompt).

`monolithic=True` trains the same model as a tool-calling agent without the planner / worker
split (`Workforce(monolithic=True)`): one worker call per step, then the answer.
"""

from __future__ import annotations

import ml_collections

from configs import base
from empg_jax.training.defaults import get_config

PIPELINES = ("sft", "sft_dpo", "sft_grpo", "sft_grpo_empg")


def workforce_config(
    pipeline: str = "sft_dpo", monolithic: bool = False
) -> ml_collections.ConfigDict:
    """The config of one pipeline (see the module docstring)."""
    if pipeline not in PIPELINES:
        raise ValueError(f"workforce pipeline must be one of {PIPELINES}, got {pipeline!r}")
    c = get_config("workforce")
    c.env.p_fail = 0.2
    c.env.monolithic = monolithic
    c.env.horizon = 7 if monolithic else 3
    c.env.eval_splits = ("test_seen", "test_unseen", "test_transfer")
    # A short step prompt: no history (the observation holds the failure, or the results so far).
    c.agent.history = 0
    c.agent.obs_tokens = 32 if monolithic else 24
    c.agent.admissible_rows = 5
    c.agent.admissible_tokens = 52
    c.agent.prompt_len = 196 if monolithic else 188  # the longest prompt of each
    c.agent.answer_len = 20 if monolithic else 60
    c.model.hidden_size = 64
    c.sft.steps = 600
    c.sft.batch_rows = 16
    c.sft.lr = 1e-2
    c.sft.schedule = "cosine"
    c.sft.warmup_steps = 20
    c.sft.demo_episodes = 512
    c.sft.noise = 0.0
    c.sft.success_only = True
    c.rl.iterations = 0 if pipeline == "sft" else 20
    c.rl.tasks_per_iter = 8
    c.rl.group_size = 4
    c.rl.temperature = 0.5  # at 1.0 the SFT planner's long plans almost never succeed
    c.rl.lr = 3e-4
    c.rl.minibatch_rows = 64
    c.eval.num_tasks = 64
    c.eval.temperature = 0.0
    c.eval.every = 1000
    c.checkpoint.every = 10
    if pipeline == "sft_dpo":
        c.rl.algorithm = "dpo"
        c.rl.dpo_beta = 0.1
    if pipeline == "sft_grpo_empg":
        base.use_empg(c)
    return c
