"""search x DAPO, CPU-sized; `--config=configs/search/dapo.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("search", "dapo", variant)
