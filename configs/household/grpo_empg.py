"""household x GRPO + EMPG: `--config=configs/household/grpo_empg.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("household", "grpo_empg", variant)
