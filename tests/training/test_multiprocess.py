"""Training on JAX's distributed runtime: 2 local processes x 4 simulated CPU devices (a loopback
coordinator, gloo collectives) train on one global 8-device mesh and end where one process with
8 devices ends; only process 0 writes; the checkpoints resume on both processes."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from empg_jax.training import load_params, read_jsonl, train
from tests.training.multiprocess_worker import config

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(workdir: Path, *args: str) -> list[str]:
    """Runs the worker as 2 processes of one job; returns their outputs (process 0 first)."""
    port = _free_port()
    procs = []
    for i in range(2):
        env = dict(
            os.environ,
            JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
            JAX_NUM_PROCESSES="2",
            JAX_PROCESS_ID=str(i),
            XLA_FLAGS="--xla_force_host_platform_device_count=4",
        )
        cmd = [sys.executable, "-m", "tests.training.multiprocess_worker", str(workdir), *args]
        procs.append(
            subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-3000:]
    return outs


def _records(workdir):
    return [
        {k: v for k, v in r.items() if not k.startswith("time/")}
        for r in read_jsonl(workdir / "metrics.jsonl")
    ]


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume(tmp_path):
    assert jax.device_count() == 8  # the reference: one process, 8 devices, the same mesh
    one = tmp_path / "one_process"
    train(config(), one)
    two = tmp_path / "two_processes"
    outs = _two_processes(two)

    # The same run: metrics to float tolerance, parameters to Adam's tolerance (a gradient
    # component at round-off level may flip the sign of its step, at most 2 x lr).
    rec_one, rec_two = _records(one), _records(two)
    assert [(r["phase"], r["step"]) for r in rec_two] == [(r["phase"], r["step"]) for r in rec_one]
    for a, b in zip(rec_one, rec_two, strict=True):
        for k, v in a.items():
            if isinstance(v, float):
                # Telemetry measures the logit change made by the update itself, so it inherits
                # the parameters' Adam-level tolerance rather than the forward's float tolerance.
                rtol = 1e-2 if k.startswith("telemetry/") else 1e-4
                np.testing.assert_allclose(b[k], v, rtol=rtol, atol=1e-5, err_msg=k)
    _, p_one, _ = load_params(config(), one)
    _, p_two, meta = load_params(config(), two)
    lr = max(config().sft.lr, config().rl.lr)
    for x, y in zip(jax.tree.leaves(p_one), jax.tree.leaves(p_two), strict=True):
        np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=4 * lr)
    # Only process 0 writes (one metrics line per record, one progress line per step).
    assert "[rl      2/2" in outs[0] and "[rl" not in outs[1]

    # Orbax checkpoints written by both processes resume on both.
    c = config()
    c.rl.iterations = 3
    outs = _two_processes(two, "--allow_config_changes", "3")
    assert "[resume] from checkpoint" in outs[0] and "[p1] [resume] from checkpoint" in outs[1]
    assert [r["step"] for r in _records(two) if r["phase"] == "rl"] == [1, 2, 3]
    _, _, meta = load_params(c, two)
    assert meta["rl_iteration"] == 3
