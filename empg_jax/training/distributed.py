"""Multi-process runs on JAX's distributed runtime (one process per host, or several local ones).

Start-up: when a launcher's variables are set (`JAX_COORDINATOR_ADDRESS` with `JAX_NUM_PROCESSES`
and `JAX_PROCESS_ID`, or a SLURM / Open MPI launch that `jax.distributed.initialize()` detects),
`maybe_initialize_distributed` initialises the runtime before any device is touched, with gloo CPU
collectives (a no-op for accelerators). Then every process runs the same command on one global
mesh, e.g. `--config.mesh.shape='(-1,1,1)'` for all devices on the data axis.

Conventions of the trainer: every process runs the same jitted programs on global arrays (the
episode and row axes sharded on `data`, so each process computes its share); host-side reads of
global arrays go through `to_host` (an all-gather); only process 0 writes the run's files
(`is_primary`).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from empg_jax.models import to_host  # noqa: F401  (re-exported: the trainer's host reads)

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
    kwargs: dict[str, Any] = {}
    if os.environ.get("JAX_NUM_PROCESSES"):
        kwargs["num_processes"] = int(os.environ["JAX_NUM_PROCESSES"])
    if os.environ.get("JAX_PROCESS_ID"):
        kwargs["process_id"] = int(os.environ["JAX_PROCESS_ID"])
    if not os.environ.get("JAX_COORDINATOR_ADDRESS") and os.environ.get("COORDINATOR_ADDRESS"):
        kwargs["coordinator_address"] = os.environ["COORDINATOR_ADDRESS"]
    # CPU devices of different processes talk through gloo; accelerators use their own.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(**kwargs)
    return True


def is_primary() -> bool:
    """Process 0: the one that writes configs, metrics, TensorBoard and reports."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Every process waits here until all have arrived (a no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def primary_ok(ok: bool) -> bool:
    """Process 0's `ok`, on every process (so a refusal on process 0 stops them all)."""
    if jax.process_count() == 1:
        return ok
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.int32(ok)))


def process_prefix() -> str:
    """`"[p3] "` on process 3 of several, `""` on a single process: for log lines."""
    return f"[p{jax.process_index()}] " if jax.process_count() > 1 else ""
