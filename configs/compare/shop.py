"""EMPG against its baselines on shop's CPU slice (`configs/shop/slice.py`: 200 products, horizon
10): the arms of `configs.base.COMPARISON_ARMS` (GRPO, GRPO + EMPG, DAPO, DAPO + EMPG, EMPG's
ablations, a zeta sweep) from one SFT checkpoint per seed, 5 seeds, 256 of the 300 test goals.

    python -m experiments.compare --config=configs/compare/shop.py --workdir=runs/cmp_shop

A subset of the arms (same cells, so a later full run skips them):
`--config.arms="('grpo: rl.empg.enabled=False', 'grpo_empg: rl.empg.enabled=True')"`.
On an accelerator with a Hugging Face checkpoint, the full shop:
`--config.experiments="('shop=configs/shop/grpo.py:accelerator',)"
--config.overrides="('model.hf_checkpoint=/path/to/Qwen2.5-1.5B-Instruct', ...)"`.
"""

from configs.base import comparison


def get_config():
    return comparison("shop", "shop=configs/shop/slice.py", ("eval.num_tasks=256",), "test")
