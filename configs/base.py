"""Recipes on top of the trainer's defaults (`empg_jax.training.defaults.get_config`):
DAPO, EMPG and the paper's accelerator-sized setting, and `recipe(env, algo, variant)` behind
every `configs/<env>/<algo>.py` (`python -m experiments.train --config=configs/<env>/<algo>.py`).

`accelerator(config)` switches to the paper's setting (the verl-agent recipe of the EMPG paper):
16 tasks x 8 rollouts, horizons 50 (household) / 15 (shop, search), lr 1e-6, KL 0.01 (k3), a
Hugging Face checkpoint (`model.hf_checkpoint`, e.g. Qwen2.5-1.5B-Instruct in a local folder),
thinking mode, a (data, fsdp, tensor) mesh over all devices.
"""

from __future__ import annotations

import ml_collections

from empg_jax.training.defaults import get_config

#: Environment-specific horizons of the paper (verl-agent max_steps).
PAPER_HORIZON = {"household": 50, "shop": 15, "search": 15}


def use_dapo(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """DAPO (arXiv 2503.14476): clip-higher 0.2/0.28 and dynamic sampling with resampling."""
    c.rl.algorithm = "dapo"
    c.rl.clip_low, c.rl.clip_high = 0.2, 0.28
    c.rl.dynamic_sampling = True
    c.rl.max_resample = 2  # verl-agent allows 10 generation batches
    return c


def use_empg(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """EMPG (arXiv 2509.09265) on top of the base algorithm: k = k' = 1, zeta = 0.1."""
    c.rl.empg.enabled = True
    return c


def accelerator(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The paper's accelerator-sized setting; needs a local HF checkpoint."""
    c.env.horizon = PAPER_HORIZON[c.env.name]
    c.model.preset = "hf"
    c.model.dtype = "bfloat16"
    c.agent.mode = "thinking"
    c.agent.prompt_len = 2048
    c.agent.obs_tokens = 512
    c.agent.history_obs_tokens = 256
    c.agent.admissible_rows = 64
    c.agent.admissible_tokens = 640
    c.agent.answer_len = 512
    # Fewer, larger prefill chunks for long BPE prompts (a choice, not measured on accelerators).
    c.agent.prefill_chunk = 256
    c.sft.steps = 0
    c.rl.iterations = 150
    c.rl.tasks_per_iter = 16
    c.rl.group_size = 8
    c.rl.lr = 1e-6
    c.rl.kl_coef = 0.01
    c.rl.entropy_coef = 0.001
    # verl-agent's GRPO statistics over all step rows of a group since June 2025;
    # that the paper ran with them is our reconstruction from its date (September 2025).
    c.rl.scope = "cross_step"
    c.rl.minibatch_rows = 256 if c.env.name == "household" else 64
    c.rl.telemetry_rows = 0  # two extra forwards over a 151k-token vocabulary: opt in
    c.mesh.shape = (-1, 1, 1)
    c.eval.temperature = 0.4
    c.eval.num_tasks = 128
    return c


def cpu_slice(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The model, SFT and RL of the CPU curriculum slices (`configs/default.py`,
    `configs/shop/slice.py`); why each value, with measurements: docs/results/default_experiment.md.

    Width 128; SFT 500 steps with warm-up and cosine, prompt tokens trained, 10% random
    demonstration steps; RL 8 tasks x 4 rollouts at temperature 0.6, one pass in mini-batches of
    256 rows, cross-step GRPO statistics; evaluation at temperature 0.4.
    """
    c.model.hidden_size = 128
    c.sft.steps = 500
    c.sft.batch_rows = 32
    c.sft.lr = 4e-3
    c.sft.schedule = "cosine"
    c.sft.warmup_steps = 25
    c.sft.prompt_weight = 1.0
    c.sft.noise = 0.1
    c.rl.tasks_per_iter = 8
    c.rl.group_size = 4
    c.rl.epochs = 1
    c.rl.minibatch_rows = 256
    c.rl.lr = 1e-4
    c.rl.temperature = 0.6
    c.rl.scope = "cross_step"
    c.eval.temperature = 0.4
    c.eval.every = 1000
    return c


#: DAPO as command-line overrides of a GRPO config (`use_dapo`'s settings).
DAPO_OVERRIDES = "rl.algorithm='dapo' rl.clip_high=0.28 rl.dynamic_sampling=True rl.max_resample=2"
#: The arms of EMPG's comparisons (`experiments.compare`): the two baselines with and without
#: EMPG, EMPG's two ablations and a zeta sweep, in the order a grid runs them.
COMPARISON_ARMS = (
    "grpo: rl.empg.enabled=False",
    "grpo_empg: rl.empg.enabled=True",
    f"dapo: rl.empg.enabled=False {DAPO_OVERRIDES}",
    f"dapo_empg: rl.empg.enabled=True {DAPO_OVERRIDES}",
    "empg_scaling_only: rl.empg.enabled=True rl.empg.use_bonus=False",
    "empg_bonus_only: rl.empg.enabled=True rl.empg.use_scaling=False",
    "empg_zeta0.05: rl.empg.enabled=True rl.empg.zeta=0.05",
    "empg_zeta0.2: rl.empg.enabled=True rl.empg.zeta=0.2",
)


def comparison(name: str, experiment: str, overrides: tuple[str, ...], entropy_split: str):
    """A comparison grid (`experiments.compare`) of `COMPARISON_ARMS` over 5 seeds on one
    experiment ("label=config file"), GRPO the baseline, with the entropy analysis."""
    c = ml_collections.ConfigDict()
    c.name = name
    c.experiments = (experiment,)
    c.seeds = (0, 1, 2, 3, 4)
    c.arms = COMPARISON_ARMS
    c.baseline = "grpo"
    c.overrides = overrides
    c.entropy_analysis = True
    c.entropy_split = entropy_split
    c.report_dir = "."  # the report's folder under the workdir (--config.report_dir=...)
    return c


RECIPES = ("grpo", "grpo_empg", "dapo", "dapo_empg")
VARIANTS = ("cpu", "accelerator")


def recipe(env: str, algo: str, variant: str = "cpu") -> ml_collections.ConfigDict:
    """The config of `configs/<env>/<algo>.py`: base, then DAPO and/or EMPG, then the size."""
    if algo not in RECIPES:
        raise ValueError(f"algorithm recipe must be one of {RECIPES}, got {algo!r}")
    if variant not in VARIANTS:
        raise ValueError(f"config variant must be one of {VARIANTS}, got {variant!r}")
    c = get_config(env)
    if algo.startswith("dapo"):
        use_dapo(c)
    if algo.endswith("_empg"):
        use_empg(c)
    if variant == "accelerator":
        accelerator(c)
    return c
