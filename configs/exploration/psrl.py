"""PSRL with value-targeted regression on linear mixture MDPs: the regret slope up to K = 10^4 and
what sets it. Run with `python -m experiments.seed_psrl` (this is the default config)."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_seeds = 32  # instances per setting
    c.num_episodes = 10_000  # K
    c.horizon = 5  # H
    c.num_states = 6  # S
    c.num_actions = 3  # A
    c.num_features = 4  # d
    c.basis_concentration = 0.3  # rows of every basis kernel ~ Dirichlet(0.3)
    # Defaults of every setting (the earlier slope run): theta* ~ Dirichlet(1), sigma^2 = 1.
    c.alpha = 1.0
    c.noise_std = 1.0
    c.prior_jitter = 1e-2  # relative jitter of the moment-matched prior [reconstructed]
    c.features = "vtr"  # vtr | model (full-model regression)
    c.projection = "kernel"  # kernel (clip rows, renormalise) | simplex (project theta) | none
    c.model_noise_std = 0.5
    # One row per setting: comma-separated overrides of the defaults above.
    c.settings = (
        "",
        "instance_seed=1",
        "instance_seed=2",
        "instance_seed=3",
        "jitter=0.0001",
        "jitter=0.1",
        "jitter=1.0",
        "noise_std=0.5",
        "noise_std=2.5",
        "features=model",
        "projection=simplex",
        "projection=none",
        "basis_concentration=1.0",
        "alpha=0.5",
        "alpha=5",
    )
    c.prior_settings = ()
    c.prior_episodes = 1500
    c.slope_start = 250
    # Sub-windows for local slopes; [250, 3000] is the window of the earlier runs.
    c.slope_windows = ((250, 3000), (250, 1000), (1000, 3000), (3000, 10_000))
    c.figure = "analysis/figures/seed_psrl.png"
    return c
