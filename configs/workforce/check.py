"""The workforce check experiment (`python -m experiments.workforce`), sized for a shared 2-core
CPU: every pipeline of `configs/workforce/` with the overrides below, over `num_seeds` seeds.

    python -m experiments.workforce --config=configs/workforce/check.py --config.num_seeds=1
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_seeds = 3
    c.pipelines = ("sft_dpo", "sft_grpo", "sft_grpo_empg")  # RL phases after the shared SFT
    c.p_fails = (0.0, 0.2)  # evaluation: held-out templates at each failure probability
    c.eval_tasks = 32  # episodes per (method, seed, split, p_fail)
    c.monolithic = True  # also train the monolithic tool-calling baseline (transfer)
    c.monolithic_seeds = 1  # the first seeds only: its SFT costs as much as the planner's
    # Overrides of the recipes (`configs/workforce/common.py`), the same for every pipeline.
    # Sized to ~15 minutes on a shared 2-core CPU: the planner needs ~500 SFT steps before it
    # answers held-out templates at all; the RL phases are short.
    c.sft_steps = 500
    c.rl_iterations = 6
    # The recipes' device mesh (`mesh.shape`): all devices by default; (1, 1, 1) keeps one device,
    # which is faster than 8 simulated CPU devices on a 2-core machine.
    c.mesh_shape = (-1, 1, 1)
    c.results = "runs/workforce/results.md"
    c.figure = "analysis/figures/workforce.png"
    return c
