"""Sequential random projection check experiment; run with
`python -m experiments.exploration_random_projection \
    --config=configs/exploration/random_projection.py`.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.eps = 0.5
    c.boundary = 0.5  # adaptive adversary: small steps once |r - 1| > boundary * eps
    c.num_trials = 2000
    c.num_steps = 50
    c.num_indices = (8, 12, 16, 24, 32, 48, 64, 96, 128)
    # Required M at failure level delta when T doubles (const and geom sequences).
    c.delta = 0.05
    c.doubling_steps = (25, 50, 100, 200, 400)
    c.doubling_indices = (24, 32, 40, 48, 56, 64, 80, 96, 128)
    c.doubling_trials = 2000
    # Matrix version on HyperAgent's factor A_t (linear bandit d = 10, K = 100).
    c.matrix_indices = (10, 20, 40, 80, 160)
    c.matrix_seeds = 10
    c.matrix_steps = 500
    c.figure = "analysis/figures/exploration_random_projection.png"
    return c
