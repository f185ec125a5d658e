"""EMPG against its baselines on the household slice of `configs/default.py`: GRPO, GRPO + EMPG,
DAPO, DAPO + EMPG, EMPG's ablations (scaling only, bonus only) and a zeta sweep, 5 seeds, 256
evaluation episodes per split. Arms run in this order, each over all seeds.

Its cells are `default_seeds.py`'s (same overrides) plus six arms: give both the same workdir to
extend that grid.

    python -m experiments.compare --config=configs/compare/household.py --workdir=runs/cmp_default
"""

from configs.base import comparison


def get_config():
    return comparison(
        "household",
        "household=configs/default.py",
        ("rl.iterations=10", "eval.num_tasks=256", "eval.split_size=256"),
        "valid_seen",
    )
