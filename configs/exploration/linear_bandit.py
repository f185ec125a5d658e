"""HyperAgent linear-bandit check experiment; run with
`python -m experiments.exploration_linear_bandit --config=configs/exploration/linear_bandit.py`."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_seeds = 30
    c.num_steps = 3000
    c.dim = 10
    c.num_arms = 100
    c.noise_std = 1.0
    # "agent-M" entries; M is ignored by ts and greedy.
    c.agents = (
        "ts-1",
        "greedy-1",
        "hyperagent-2",
        "hyperagent-5",
        "hyperagent-10",
        "hyperagent-20",
        "ensemble-5",
        "ensemble-10",
        "ensemble-20",
    )
    c.late_window = 1000  # "regret, last 1000 steps" of our design table
    c.tolerance = 0.2  # HyperAgent (M >= d) within 20 % of exact TS
    # Neural hypermodel on the same bandit (spec `run_nonlinear.py` defaults, sigma = env noise).
    c.neural = ml_collections.ConfigDict()
    c.neural.enabled = True
    c.neural.num_seeds = 8
    c.neural.num_steps = 1000
    c.neural.noise_std = 0.1
    c.neural.agents = ("hyperagent", "ensemble", "greedy")
    c.neural.update_every = 1  # one Adam step per pull; our design's 4 needs a longer horizon
    c.neural.late_window = 200
    c.figure = "analysis/figures/exploration_linear_bandit.png"
    return c
