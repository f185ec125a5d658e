"""workforce planner x SFT then GRPO + EMPG (CPU-sized; `configs/workforce/common.py`)."""

from configs.workforce.common import workforce_config


def get_config():
    return workforce_config("sft_grpo_empg")
