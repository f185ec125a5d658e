"""PSRL-VTR: Bayesian regret versus the prior variance (theta* ~ Dirichlet(alpha), the agent's prior
its moment-matched Gaussian). Run with
`python -m experiments.seed_psrl --config=configs/exploration/psrl_prior.py`."""

from configs.exploration import psrl as psrl_config


def get_config():
    c = psrl_config.get_config()
    c.num_episodes = 1500
    c.settings = ()
    c.prior_settings = (
        "alpha=0.5,noise_std=2.5",
        "alpha=5,noise_std=2.5",
        "alpha=50,noise_std=2.5",
        "alpha=0.5",
        "alpha=5",
        "alpha=50",
    )
    c.figure = "analysis/figures/seed_psrl_prior.png"
    return c
