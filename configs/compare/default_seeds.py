"""`make run`'s comparison over five seeds: SFT once per seed on the household slice of
`configs/default.py`, then GRPO and GRPO + EMPG from that checkpoint, each evaluated on 256 tasks
per split (the same tasks and keys for both arms of a seed; `eval.split_size=256` gives the
generated splits 256 tasks instead of ALFWorld's 140 / 134).

    python -m experiments.compare --config=configs/compare/default_seeds.py --workdir=runs/s5
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.name = "default_seeds"
    c.experiments = ("household=configs/default.py",)
    c.seeds = (0, 1, 2, 3, 4)
    c.arms = ("grpo: rl.empg.enabled=False", "grpo_empg: rl.empg.enabled=True")
    c.baseline = "grpo"
    c.overrides = ("rl.iterations=10", "eval.num_tasks=256", "eval.split_size=256")
    c.entropy_analysis = True
    c.entropy_split = "valid_seen"
    c.report_dir = "."  # the report's folder under the workdir (--config.report_dir=...)
    return c
