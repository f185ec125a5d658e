"""Test-wide set-up, before jax is imported anywhere.

- 8 simulated CPU devices: `make test` exports the same flag; setting it here too keeps a bare
  `pytest` run identical.
- A persistent XLA compilation cache (`.cache/jax` in the checkout, or `$EMPG_JAX_TEST_CACHE`;
  `EMPG_JAX_TEST_CACHE=off` disables it). Many tests build a fresh trainer with the same shapes
  (resume runs, the eval CLI, both integration arms), so most of their compilations are cache
  hits; entries are keyed by the HLO, the compile options and the jax version, so a stale cache
  can only miss, never return a different program. It is set through environment variables so
  that subprocesses (the notebook kernel, CLI runs) share it.
"""

import os
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
if "--xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_default_cache = Path(__file__).resolve().parents[1] / ".cache" / "jax"
_cache = os.environ.get("EMPG_JAX_TEST_CACHE", str(_default_cache))
if _cache.lower() not in ("off", "0", "false", ""):
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
