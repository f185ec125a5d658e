"""Multi-process start-up on JAX's distributed runtime.

When a launcher's variables are set (`JAX_COORDINATOR_ADDRESS` or `COORDINATOR_ADDRESS`, plus
`JAX_NUM_PROCESSES` / `JAX_PROCESS_ID`, or a SLURM / Open MPI launch that
`jax.distributed.initialize()` detects), `maybe_initialize_distributed` calls
`jax.distributed.initialize()` before any device is touched; then the same command runs on every
host, with `--config.mesh.shape='(-1,1,1)'` to put every device on the data axis.
"""

from __future__ import annotations

import os

import jax

_DIST_VARS = (
    "JAX_COORDINATOR_ADDRESS",
    "COORDINATOR_ADDRESS",
    "SLURM_JOB_ID",
    "OMPI_COMM_WORLD_SIZE",
)


def maybe_initialize_distributed() -> bool:
    """`jax.distributed.initialize()` when a multi-process launch is detected; True if so."""
    if not any(os.environ.get(v) for v in _DIST_VARS):
        return False
    if jax.distributed.is_initialized():
        return True
    jax.distributed.initialize()
    return True
