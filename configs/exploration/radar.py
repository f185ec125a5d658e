"""Radar versus DRFM jammer check experiment; run with
`python -m experiments.seed_radar --config=configs/exploration/radar.py`."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_seeds = 10
    c.num_bands = 10  # K sub-bands
    c.horizon = 20_000  # T pulses
    c.replay_prob = 0.8  # reactive DRFM jammer: jams the radar's previous band w.p. 0.8
    c.switch_period = 4000  # switching jammer: next of three band profiles every 4000 pulses
    c.profile_high = 0.6  # jam probability of the non-spared bands of a profile [reconstructed]
    c.profile_low = 0.1  # jam probability of the spared band [reconstructed]
    c.sense_prob = 0.5  # domain-knowledge estimator: other bands sensed w.p. p [reconstructed]
    c.learning_rate_scale = 1.0  # multiplies the default eta = sqrt(2 ln K / (T v)) of every arm
    c.share = 1e-3  # fixed-share alpha of the universal arm
    c.trace_every = 100
    c.arms = ("exp3", "dk_hedge", "full_hedge", "dk_fixed_share")
    c.jammers = ("reactive", "switching")
    c.figure = "analysis/figures/seed_radar.png"
    return c
