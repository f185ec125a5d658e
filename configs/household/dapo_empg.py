"""household x DAPO + EMPG: `--config=configs/household/dapo_empg.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("household", "dapo_empg", variant)
