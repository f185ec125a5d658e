"""household x DAPO, CPU-sized; `--config=configs/household/dapo.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("household", "dapo", variant)
