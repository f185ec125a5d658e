"""Knob sweep of the games experiment: which setting gives the paper's "> 10x"; run with
`python -m experiments.seed_games --config=configs/exploration/games_knobs.py`."""

from configs.exploration import games as games_config


def get_config():
    c = games_config.get_config()
    c.experiment = "knobs"
    c.num_seeds = 16  # 16 seeds per setting keeps the whole sweep at minutes on 2 cores
    c.horizon = 20_000
    c.anytime = False  # base setting: fixed eta tuned to T = 20000
    c.braess_players = 0
    c.radar_arms = ()
    c.arms = (
        "full-hedge",
        "ots-hedge",
        "ots-rm",
        "ucb-hedge",
        "ucb-hedge@beta=theory",
        "ucb-rm",
        "iwe-hedge@eta=exp3",
        "iwe-hedge@eta=exp3,ix=0.5",
        "iwr-hedge@eta=auer",
        "iwe-hedge@eta=hedge*0.125",
        "iwe-hedge@eta=hedge*0.25",
        "iwe-hedge@eta=hedge*0.5",
        "iwe-hedge@eta=hedge*1",
        "iwe-hedge@eta=hedge*0.5,mix=0.01",
    )
    # Comma-separated overrides of the base config (fixed eta, T = 20000, noise 0.1, prior
    # N(0.5, 1)).
    c.settings = (
        "",
        "noise_std=0.01",
        "noise_std=0.3",
        "noise_std=1.0,horizon=60000",
        "prior_std=0.1",
        "prior_std=0.3",
        "prior_std=3.0",
        "horizon=100000",
        "anytime=true,horizon=60000",
        "anytime=true,noise_std=1.0,horizon=60000",
        "anytime=true,horizon=60000,prior_std=0.29",
        "budget=true",
    )
    c.definitions_for = ("", "anytime=true,horizon=60000")
    c.thresholds = (0.1, 0.05)
    return c
