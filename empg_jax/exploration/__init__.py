"""Uncertainty-aware exploration: incremental Gaussian / hypermodel posteriors with index sampling.

HyperAgent / GPT-HyperAgent / Ensemble++, sequential random
projection, and the cross-paper note "One posterior module" (reused by PSRL-VTR and OTS).
"""

from empg_jax.exploration.posterior import (
    INDEX_KINDS,
    BayesLinReg,
    GaussianCells,
    LinearPosterior,
    batch_posterior,
    blr_init,
    blr_mean_cov,
    blr_sample,
    blr_update,
    cells_init,
    cells_sample,
    cells_std,
    cells_update,
    factor_deviation,
    init,
    sample,
    sample_exact,
    sample_index,
    sample_perturbation,
    sample_with_index,
    update,
    update_index_set,
    update_sequence,
)

__all__ = [
    "INDEX_KINDS",
    "BayesLinReg",
    "GaussianCells",
    "LinearPosterior",
    "batch_posterior",
    "blr_init",
    "blr_mean_cov",
    "blr_sample",
    "blr_update",
    "cells_init",
    "cells_sample",
    "cells_std",
    "cells_update",
    "factor_deviation",
    "init",
    "sample",
    "sample_exact",
    "sample_index",
    "sample_perturbation",
    "sample_with_index",
    "update",
    "update_index_set",
    "update_sequence",
]

# Submodules: HyperAgent / GPT-HyperAgent / Ensemble++ ((b): bandits, hyperagent, text_bandit), the
# sequential random projection check ((e)) and the seed systems (a), (c), (d), (f) of
# (docs/exploration.md).
from empg_jax.exploration import bandits as bandits  # noqa: E402
from empg_jax.exploration import divergence_gridworld as divergence_gridworld  # noqa: E402
from empg_jax.exploration import games as games  # noqa: E402
from empg_jax.exploration import hyperagent as hyperagent  # noqa: E402
from empg_jax.exploration import psrl as psrl  # noqa: E402
from empg_jax.exploration import radar as radar  # noqa: E402
from empg_jax.exploration import random_projection as random_projection  # noqa: E402
from empg_jax.exploration import text_bandit as text_bandit  # noqa: E402
