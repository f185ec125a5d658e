"""The default experiment's training config: SFT on noisy oracle demonstrations, then GRPO + EMPG on
the household environment, sized for a 2-core CPU. `make run` runs it as two arms (GRPO and
GRPO + EMPG from one SFT checkpoint, `configs/compare/default.py`).

    python -m experiments.train --config=configs/default.py --workdir=runs/default

The paper's household task is out of reach of a small model trained from scratch for minutes,
so this is a curriculum slice of the same environment: the pick_and_place task type in bathroom
scenes with at most 6 objects, horizon 30 (the paper: 50), history h = 2, a word-level model of
hidden size 128. SFT also trains on the prompt tokens (`sft.prompt_weight`) with a warm-up and
cosine schedule; RL samples 8 tasks x 4 rollouts per iteration at temperature 0.6, one pass in
mini-batches of 256 rows, GRPO statistics over all step rows of a group (verl-agent's
cross-step statistics); evaluation samples at temperature 0.4 on 64 tasks per split. Why each
setting was chosen, with the measurements, is in docs/results/default_experiment.md.
"""

from configs import base
from configs.household import grpo_empg


def get_config():
    c = grpo_empg.get_config()
    c.env.task_types = ("pick_and_place",)
    c.env.rooms = ("bathroom",)
    c.env.max_objects = 6
    c.env.horizon = 30
    c.agent.history = 2
    c.agent.prompt_len = 304
    c.agent.obs_tokens = 40
    c.agent.history_obs_tokens = 12
    c.agent.admissible_rows = 24
    c.agent.admissible_tokens = 104
    base.cpu_slice(c)
    c.sft.demo_episodes = 128
    c.rl.iterations = 16
    c.eval.num_tasks = 64
    c.checkpoint.every = 10
    return c
