"""Optimism-then-NoRegret in unknown games, the Fig. 1 setting: 50 x 50 random general-sum matrix
games, samples until the average regret settles at 0.1; plus the Braess routing game and the radar
link. Run with `python -m experiments.seed_games` (this is the default config)."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.experiment = "fig1"
    c.seed = 0
    c.num_seeds = 32
    # Anytime schedules (eta_t = eta_1 / sqrt(t)) need no horizon; T only censors: 60000 rounds is
    # enough for the textbook Exp3 to settle at 0.05 on most games (docs/results/seed_games.md).
    c.horizon = 60_000
    c.trace_every = 10  # regret traces every 10 rounds: settling rounds are multiples of 10
    c.noise_std = 0.1
    c.prior_mean = 0.5  # per-cell prior N(0.5, prior_std^2)
    c.prior_std = 1.0
    c.anytime = True  # eta schedule: anytime eta_1 / sqrt(t), or fixed (tuned to the horizon)
    c.matrix_actions = 50
    # Average-regret thresholds. 0.1 is the paper's level; on U[0, 1] payoffs uniform play against
    # a uniform opponent already sits at ~0.10, so 0.05 (= 0.1 on a [-1, 1] payoff range) is the
    # informative one.
    c.thresholds = (0.1, 0.05)
    # Arm specs (experiments/games_stats.py): the paper's Fig. 1 learners, Exp3 at every standard
    # tuning (best one = the baseline), Exp3 at tuned steps, and references.
    c.arms = (
        "full-hedge",
        "ots-hedge",
        "ots-rm",
        "ucb-hedge",
        "ucb-hedge@beta=theory",
        "ucb-rm",
        "iwe-rm",
        "ts-hedge",
        "iwe-hedge@eta=exp3",
        "iwe-hedge@eta=exp3,ix=0.5",
        "iwr-hedge@eta=auer",
        "iwe-hedge@eta=hedge*0.5",
        "iwe-hedge@eta=hedge*1",
        "iwe-hedge@eta=hedge*0.5,mix=0.01",
    )
    # Braess routing game (0 players = skip): same arms, its own horizon and thresholds.
    c.braess_players = 4
    c.braess_horizon = 20_000
    c.braess_thresholds = (0.02,)
    # Radar link (empty = skip): see experiments/games_scaling.py.
    c.radar_arms = (
        "full-hedge",
        "ots-hedge",
        "ots-rm",
        "ucb-hedge",
        "ucb-rm",
        "iwe-hedge@eta=exp3",
        "iwe-hedge@eta=exp3,ix=0.5",
        "iwr-hedge@eta=auer",
        "iwe-hedge@eta=hedge*0.5",
    )
    c.radar_bands = 10
    c.radar_horizon = 20_000
    c.radar_noise_std = 0.1
    c.radar_thresholds = (0.02, 0.01)
    c.figure = "analysis/figures/seed_games.png"
    # Knob sweep / scaling fields (used by the other configs).
    c.settings = ("",)
    c.definitions_for = ("",)
    c.budget = False  # knob sweep: the "experimental budget" reading (one run per budget)
    c.budgets = (250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000)
    return c
