"""shop x DAPO, CPU-sized; `--config=configs/shop/dapo.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("shop", "dapo", variant)
