"""Scaling of samples-to-threshold with the joint action space K^n in a multi-player routing game
with a known linear reward structure (empg_jax/exploration/games_routing.py). Run with
`python -m experiments.seed_games --config=configs/exploration/games_scaling.py`."""

from configs.exploration import games as games_config


def get_config():
    c = games_config.get_config()
    c.experiment = "scaling"
    c.num_seeds = 16
    c.horizon = 40_000
    c.trace_every = 10
    c.anytime = True  # no horizon-tuned step: every size runs the same anytime schedules
    c.noise_std = 0.1
    c.routing_prior_std = 0.5  # prior theta ~ N(0.5, 0.5^2 I) of the structured learners
    c.threshold = 0.02
    # (players n, width, stages): K = width^stages routes per player, joint space K^n.
    c.series = (
        (
            "routes: n = 3, K = 2..64",
            ((3, 2, 1), (3, 2, 2), (3, 2, 3), (3, 2, 4), (3, 2, 5), (3, 2, 6)),
        ),
        ("players: K = 4, n = 2..8", ((2, 2, 2), (3, 2, 2), (4, 2, 2), (6, 2, 2), (8, 2, 2))),
    )
    c.arms = (
        "full-hedge",
        "ots-hedge",
        "iwe-hedge@eta=exp3",
        "iwe-hedge@eta=hedge*0.5",
        "ots-hedge+cells",  # per-cell OTS without the structure (only where n K^n <= max_cells)
    )
    c.max_cells = 20_000
    c.figure = "analysis/figures/seed_games_scaling.png"
    return c
