"""PSRL with value-targeted regression on linear mixture MDPs (`seed-systems.md` (c)); run with
`python -m experiments.seed_psrl --config=configs/exploration/psrl.py`."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_seeds = 32
    c.num_episodes = 3000  # K
    c.horizon = 5  # H
    c.num_states = 6  # S
    c.num_actions = 3  # A
    c.num_features = 4  # d
    c.basis_concentration = 0.3  # rows of every basis kernel ~ Dirichlet(0.3)
    c.prior_jitter = 1e-2  # relative jitter of the moment-matched prior [reconstructed]
    # Slope run: sigma^2 = 1, alpha = 1 (the spec's demo setting).
    c.slope_alpha = 1.0
    c.slope_noise_std = 1.0
    c.slope_start = 250  # fit log cumulative regret on k in [250, K]
    # Prior-variance sweep: sigma^2 = H^2 / 4, Bayesian regret at K = 1500.
    c.sweep_alphas = (0.5, 5.0, 50.0)
    c.sweep_noise_std = 2.5
    c.sweep_episodes = 1500
    c.figure = "analysis/figures/seed_psrl.png"
    return c
