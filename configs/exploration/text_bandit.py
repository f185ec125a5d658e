"""GPT-HyperAgent content-moderation bandit; run with
`python -m experiments.exploration_text_bandit --config=configs/exploration/text_bandit.py`."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_seeds = 5
    c.num_posts = 5000
    c.max_len = 12  # words per post: max_len // 2 .. max_len
    c.cue = 0.7  # P(harmful word) = cue * s, P(friendly word) = cue * (1 - s)
    # Frozen feature transformer (empg_jax.models tiny config, random init per seed).
    c.feature_hidden = 64
    c.feature_layers = 2
    c.agents = ("hyperagent", "greedy", "egreedy")
    c.epsilon = 0.1
    # Hypermodel head on the features. Our moderation defaults are M = 4, pm/pm/sp, Adam 1e-3,
    # weight decay 0.01, updates every step from t = 2; we keep those and deviate where a frozen
    # random transformer needs it: a linear head (no MLP), batch 32 instead of 2, sigma 0.1
    # instead of 0.01, posterior / prior scale 1.0 / 0.05 instead of 0.1 / 0.1.
    c.hidden = ()
    c.num_index = 4
    c.batch_size = 32
    c.noise_std = 0.1
    c.posterior_scale = 1.0
    c.prior_scale = 0.05
    c.learning_rate = 1e-3
    c.late_window = 500
    c.figure = "analysis/figures/exploration_text_bandit.png"
    return c
