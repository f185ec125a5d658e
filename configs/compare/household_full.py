"""EMPG against its baselines on household's full task mix (`configs/household/full_mix.py`: six
task types, four rooms, horizon 50): the arms of `configs.base.COMPARISON_ARMS` from one SFT
checkpoint per seed, 5 seeds, 256 generated tasks of `valid_seen` and of `valid_unseen`.

    python -m experiments.compare --config=configs/compare/household_full.py \
        --workdir=runs/cmp_household_full

On this 2-core CPU an SFT takes 19-31 minutes per seed and an arm's cell (10 RL iterations of
about 37-step episodes, then 512 evaluation episodes) 6.5-9 minutes on one CPU device, a DAPO
cell 11.5-15 minutes (dynamic sampling draws about 2.4 extra rollout batches per iteration).
`--config.seeds="(0,1,2)"` with `--config.arms` set to one pair (and `--config.baseline`,
`--config.report_dir` for the DAPO pair) makes whole pairs finish first
(docs/results/compare_default.md). `--jobs=2` runs two seeds at once, one per core (the DAPO
pair of seeds 3 and 4: about 60 minutes for both, SFT included).
"""

from configs.base import comparison


def get_config():
    return comparison(
        "household_full",
        "household=configs/household/full_mix.py",
        ("eval.num_tasks=256", "eval.split_size=256"),
        "valid_seen",
    )
