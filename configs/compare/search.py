"""EMPG against its baselines on search's CPU slice (`configs/search/slice.py`: 2-hop questions,
horizon 8): the arms of `configs.base.COMPARISON_ARMS` (GRPO, GRPO + EMPG, DAPO, DAPO + EMPG,
EMPG's ablations, a zeta sweep) from one SFT checkpoint per seed, 5 seeds, 256 generated tasks of
`test_id` and of `test_ood`.

    python -m experiments.compare --config=configs/compare/search.py --workdir=runs/cmp_search

A subset of the arms (same cells, so a later full run skips them):
`--config.arms="('grpo: rl.empg.enabled=False', 'grpo_empg: rl.empg.enabled=True')"`.
On an accelerator with a Hugging Face checkpoint, the full search:
`--config.experiments="('search=configs/search/grpo.py:accelerator',)"
--config.overrides="('model.hf_checkpoint=/path/to/Qwen2.5-1.5B-Instruct', ...)"`.
"""

from configs.base import comparison


def get_config():
    return comparison(
        "search",
        "search=configs/search/slice.py",
        ("eval.num_tasks=256", "eval.split_size=256"),
        "test_id",
    )
