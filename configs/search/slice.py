"""A CPU curriculum slice of search (GRPO + EMPG), the search counterpart of `configs/default.py`.

    python -m experiments.train --config=configs/search/slice.py --workdir=runs/search_slice

The full search (2- to 4-hop questions, horizon 15) leaves the small CPU policy at 0% after SFT.
The slice keeps the 2-hop questions (16 relation paths in `test_id`, 4 held out in `test_ood`),
horizon 8 (the oracle needs 3 steps), 64 observation words, and trains SFT three times longer
on four times the demonstrations of the household slice: with 500 steps on 2,048
demonstrations the policy learns the format but does not copy names from its prompt (it
searched "ionic foods" for "ionic media"); with 1,500 steps on 4,096 it does. Model and RL as
the household slice (`base.cpu_slice`). Measured (seed 0, 64 tasks per split): 39.1% of
`test_id` and 17.2% of `test_ood` after SFT (docs/results/compare_shop_search.md).
"""

from configs import base
from configs.search import grpo_empg


def get_config():
    c = grpo_empg.get_config()
    c.env.task_types = ("2-hop",)
    c.env.horizon = 8
    c.agent.prompt_len = 320
    c.agent.obs_tokens = 64
    c.agent.history_obs_tokens = 16
    c.agent.admissible_rows = 4
    c.agent.admissible_tokens = 40
    base.cpu_slice(c)
    c.sft.steps = 1500
    c.sft.demo_episodes = 4096
    c.rl.iterations = 10
    c.eval.num_tasks = 256
    return c
