"""household x GRPO, CPU-sized; `--config=configs/household/grpo.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("household", "grpo", variant)
