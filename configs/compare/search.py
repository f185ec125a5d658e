"""EMPG against its baselines on search: the arms of `configs.base.COMPARISON_ARMS` (GRPO, GRPO +
EMPG, DAPO, DAPO + EMPG, EMPG's ablations, a zeta sweep) from one SFT checkpoint per seed of
`configs/search/grpo.py`, 5 seeds, 256 generated tasks of `test_id` and of `test_ood`.

    python -m experiments.compare --config=configs/compare/search.py --workdir=runs/cmp_search

Not run here: at the CPU size the SFT policy does not complete search's tasks (measured, see
docs/results/compare_default.md), so every arm would start from zero success. With a Hugging
Face checkpoint: `--config.experiments="('search=configs/search/grpo.py:accelerator',)"
--config.overrides="('model.hf_checkpoint=/path/to/Qwen2.5-1.5B-Instruct', ...)"`.
"""

from configs.base import comparison


def get_config():
    return comparison(
        "search",
        "search=configs/search/grpo.py",
        ("eval.num_tasks=256", "eval.split_size=256"),
        "test_id",
    )
