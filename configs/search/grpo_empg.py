"""search x GRPO + EMPG, CPU-sized; `--config=configs/search/grpo_empg.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("search", "grpo_empg", variant)
