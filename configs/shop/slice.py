"""A CPU curriculum slice of shop (GRPO + EMPG), the shop counterpart of `configs/default.py`.

    python -m experiments.train --config=configs/shop/slice.py --workdir=runs/shop_slice

The full shop (1,200 products, observations cut to 48 words) leaves the small CPU policy at 0%
after SFT: it cannot see the result titles it must choose between. The slice keeps the
catalogue's first 200 products (10 per category, so fewer look-alikes per query) with 300 test
goals, horizon 10 (the oracle needs 4-6 steps), and shows 128 observation words, enough for a
results page of 10 titles. Model and SFT as the household slice: hidden size 128, 500 steps with
warm-up and cosine, prompt tokens trained, 1,024 demonstrations with 10% random steps. Measured
(seed 0): 9.4% of 64 test goals after SFT, 24% invalid actions in the first RL rollouts
(docs/results/compare_default.md).
"""

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
    c.model.hidden_size = 128
    c.sft.steps = 500
    c.sft.schedule = "cosine"
    c.sft.warmup_steps = 25
    c.sft.lr = 4e-3
    c.sft.prompt_weight = 1.0
    c.sft.noise = 0.1
    c.sft.demo_episodes = 1024
    c.rl.iterations = 10
    c.rl.tasks_per_iter = 8
    c.rl.group_size = 4
    c.rl.minibatch_rows = 256
    c.rl.lr = 1e-4
    c.rl.temperature = 0.6
    c.rl.scope = "cross_step"
    c.eval.num_tasks = 256
    c.eval.temperature = 0.4
    c.eval.every = 1000
    return c
