"""shop x DAPO + EMPG, CPU-sized; `--config=configs/shop/dapo_empg.py:accelerator` gives the
paper's accelerator-sized setting (`configs/base.py`)."""

from configs import base


def get_config(variant: str = "cpu"):
    return base.recipe("shop", "dapo_empg", variant)
