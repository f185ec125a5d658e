"""The monolithic baseline: the same model, trained to call the workers itself and answer (no
planner / worker split); `--config=configs/workforce/monolithic.py:sft_dpo` (or `sft_grpo`,
`sft_grpo_empg`) adds an RL phase (`configs/workforce/common.py`)."""

from configs.workforce.common import workforce_config


def get_config(pipeline: str = "sft"):
    return workforce_config(pipeline, monolithic=True)
