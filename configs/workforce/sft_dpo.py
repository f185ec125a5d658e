"""workforce planner x SFT then DPO (CPU-sized; `configs/workforce/common.py`)."""

from configs.workforce.common import workforce_config


def get_config():
    return workforce_config("sft_dpo")
