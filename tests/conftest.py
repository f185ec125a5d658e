"""Test-wide set-up: simulate 8 CPU devices before jax is imported anywhere.

`make test` exports the same flag; setting it here too keeps a bare `pytest` run identical.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
if "--xla_force_host_platform_device_count" not in os.environ["XLA_FLAGS"]:
    os.environ["XLA_FLAGS"] += " --xla_force_host_platform_device_count=8"
os.environ.setdefault("MPLBACKEND", "Agg")
# Keep XLA from grabbing every core per compile so two pytest workers share the machine fairly.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
