"""Divergence-augmented PO under data reuse; run with
`python -m experiments.seed_divergence --config=configs/exploration/divergence.py`."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_seeds = 10
    c.num_iterations = 200
    c.num_envs = 32  # rollouts per batch
    c.length = 32  # steps per rollout
    c.size = 6  # 6 x 6 gridworld, goal bottom-right (reward 1), distractor (reward 0.1)
    c.distractor_reward = 0.1
    c.gamma = 0.99
    c.learning_rate = 0.1  # Adam on tables (the paper's 1e-3 is for networks)
    c.max_grad_norm = 0.5
    c.clip = 0.2  # PPO-clip epsilon
    c.passes = (1, 4, 16)  # K: passes over each batch
    # name:use_ppo:lambda:c_bar_D[:normalise_D]; the first five are our design's arms, the rest
    # extra probes of why lambda <= 0.5 does not avoid the distractor at K = 16 (README (a)):
    # lambda = 1 is in lns/dapo's default sweep {0.1, 0.5, 1.0}; lambda = 2 lies outside it; the
    # `_normD` arms divide D by the advantage's RMS as well (off in lns/dapo and our design).
    c.arms = (
        "pgis:0:0.0:0.0",
        "ppo_clip:1:0.0:0.0",
        "pgis_kl_1step:0:0.5:0.0",
        "pgis_div_0.1:0:0.1:1.0",
        "pgis_div_0.5:0:0.5:1.0",
        "pgis_div_1.0:0:1.0:1.0",
        "pgis_div_2.0:0:2.0:1.0",
        "pgis_div_0.1_normD:0:0.1:1.0:1",
        "pgis_div_0.5_normD:0:0.5:1.0:1",
    )
    c.final_window = 20  # final return = mean over the last 20 iterations
    c.figure = "analysis/figures/seed_divergence.png"
    return c
