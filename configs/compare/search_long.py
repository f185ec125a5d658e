"""GRPO against GRPO + EMPG on search's CPU slice with four times the RL: 40 iterations instead
of 10, from the same SFT checkpoints as `configs/compare/search.py` (run in the same workdir,
SFT is not trained again). The report goes to `<workdir>/long_rl/`, beside the main grid's.

    python -m experiments.compare --config=configs/compare/search_long.py --workdir=runs/cmp_search
"""

from configs.base import comparison


def get_config():
    c = comparison(
        "search_long",
        "search=configs/search/slice.py",
        ("eval.num_tasks=256", "eval.split_size=256"),
        "test_id",
    )
    c.arms = (
        "grpo_40it: rl.empg.enabled=False rl.iterations=40",
        "grpo_empg_40it: rl.empg.enabled=True rl.iterations=40",
    )
    c.baseline = "grpo_40it"
    c.report_dir = "long_rl"
    return c
