"""A CPU curriculum slice of shop (GRPO + EMPG), the shop counterpart of `configs/default.py`.

    python -m experiments.train --config=configs/shop/slice.py --workdir=runs/shop_slice

The full shop (1,200 products, observations cut to 48 words) leaves the small CPU policy at 0%
after SFT: it cannot see the result titles it must choose between. The slice keeps the
catalogue's first 200 products (10 per category, so fewer look-alikes per query) with 300 test
goals, horizon 10 (the oracle needs 4-6 steps), and shows 128 observation words, enough for a
results page of 10 titles. Model, SFT and RL as the household slice (`base.cpu_slice`), with
1,024 demonstrations. Measured (seed 0): 9.4% of 64 test goals after SFT, 24% invalid actions in
the first RL rollouts (docs/results/compare_shop_search.md).
"""

from configs import base
from configs.shop import grpo_empg


def get_config():
    c = grpo_empg.get_config()
    c.env.num_products = 200
    c.env.num_test_goals = 300
    c.env.horizon = 10
    c.agent.prompt_len = 456
    c.agent.obs_tokens = 128
    c.agent.history_obs_tokens = 12
    c.agent.admissible_rows = 24
    c.agent.admissible_tokens = 112
    base.cpu_slice(c)
    c.sft.demo_episodes = 1024
    c.rl.iterations = 10
    c.eval.num_tasks = 256
    return c
