"""`make run`: SFT once on the household slice of `configs/default.py`, then GRPO and GRPO + EMPG
from the same end-of-SFT checkpoint, evaluated on the same 128 tasks per split; a side-by-side
table with intervals (over evaluation episodes, one seed) and the overlaid curves. RL runs 10
iterations per arm (the training config's 16 for each arm would not fit in 15 minutes).

    python -m experiments.compare --config=configs/compare/default.py --workdir=runs/default
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.name = "default"
    c.experiments = ("household=configs/default.py",)
    c.seeds = (0,)
    c.arms = ("grpo: rl.empg.enabled=False", "grpo_empg: rl.empg.enabled=True")
    c.baseline = "grpo"
    c.overrides = ("rl.iterations=10", "eval.num_tasks=128")
    c.entropy_analysis = False
    c.entropy_split = "valid_seen"
    c.report_dir = "."  # the report's folder under the workdir (--config.report_dir=...)
    return c
