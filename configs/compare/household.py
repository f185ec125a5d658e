"""EMPG against its baselines on the household slice of `configs/default.py`: GRPO, GRPO + EMPG,
DAPO, DAPO + EMPG, EMPG's ablations (scaling only, bonus only) and a zeta sweep, 5 seeds, 256
evaluation episodes per split. Arms run in this order, each over all seeds.

Its cells are `default_seeds.py`'s (same overrides) plus six arms: give both the same workdir to
extend that grid.

    python -m experiments.compare --config=configs/compare/household.py --workdir=runs/cmp_default
"""

import ml_collections

DAPO = "rl.algorithm='dapo' rl.clip_high=0.28 rl.dynamic_sampling=True rl.max_resample=2"


def get_config():
    c = ml_collections.ConfigDict()
    c.name = "household"
    c.experiments = ("household=configs/default.py",)
    c.seeds = (0, 1, 2, 3, 4)
    c.arms = (
        "grpo: rl.empg.enabled=False",
        "grpo_empg: rl.empg.enabled=True",
        f"dapo: rl.empg.enabled=False {DAPO}",
        f"dapo_empg: rl.empg.enabled=True {DAPO}",
        "empg_scaling_only: rl.empg.enabled=True rl.empg.use_bonus=False",
        "empg_bonus_only: rl.empg.enabled=True rl.empg.use_scaling=False",
        "empg_zeta0.05: rl.empg.enabled=True rl.empg.zeta=0.05",
        "empg_zeta0.2: rl.empg.enabled=True rl.empg.zeta=0.2",
    )
    c.baseline = "grpo"
    c.overrides = ("rl.iterations=10", "eval.num_tasks=256", "eval.split_size=256")
    c.entropy_analysis = True
    c.entropy_split = "valid_seen"
    return c
