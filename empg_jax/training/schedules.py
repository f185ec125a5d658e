"""The rollout-temperature schedule of GLM-4.5's RL: raise the temperature when reward plateaus.

GLM-4.5 (Zeng et al., arXiv 2508.06471) raises the sampling temperature during RL once the
reward stops improving, to keep exploring. Its state (best reward, iterations without
improvement, current temperature) is run state: it is saved with the checkpoint's loop metadata.
"""

from __future__ import annotations

import ml_collections


def plateau_update(meta: dict, reward: float, plateau: ml_collections.ConfigDict) -> None:
    """Updates `meta["plateau_best"]`, `["plateau_count"]` and `["temperature"]` in place after
    an iteration whose mean episode reward is `reward` (`rl.plateau` holds patience, delta,
    step and max_temperature)."""
    if reward > meta["plateau_best"] + plateau.delta:
        meta["plateau_best"], meta["plateau_count"] = reward, 0
        return
    meta["plateau_count"] += 1
    if meta["plateau_count"] >= plateau.patience:
        meta["temperature"] = min(meta["temperature"] + plateau.step, plateau.max_temperature)
        meta["plateau_count"] = 0
