"""EMPG against its baselines on shop: the arms of `configs.base.COMPARISON_ARMS` (GRPO, GRPO +
EMPG, DAPO, DAPO + EMPG, EMPG's ablations, a zeta sweep) from one SFT checkpoint per seed of
`configs/shop/grpo.py`, 5 seeds, the 500 goals of `test` (WebShop's split), 256 evaluated.

    python -m experiments.compare --config=configs/compare/shop.py --workdir=runs/cmp_shop

Not run here: at the CPU size the SFT policy does not complete shop's tasks (measured, see
docs/results/compare_default.md), so every arm would start from zero success. With a Hugging
Face checkpoint: `--config.experiments="('shop=configs/shop/grpo.py:accelerator',)"
--config.overrides="('model.hf_checkpoint=/path/to/Qwen2.5-1.5B-Instruct', ...)"`.
"""

from configs.base import comparison


def get_config():
    return comparison("shop", "shop=configs/shop/grpo.py", ("eval.num_tasks=256",), "test")
