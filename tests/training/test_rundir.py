"""Fault injection on run directories: a changed config, two trainers, damaged checkpoints, a torn
metrics file, NaN in a batch. Each case reproduces a failure users met and checks that the run's
record survives and the message is one clear line (per problem)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from empg_jax.training import load_params, read_jsonl, train
from empg_jax.training.guards import NonFiniteError
from empg_jax.training.rundir import RunDirError
from tests.agents.toy_env import toy_config

REPO = Path(__file__).resolve().parents[2]
SFT, RL = 3, 2  # checkpoints at steps 3 (end of SFT), 4 and 5


def _config(**overrides):
    c = toy_config(
        **{
            "sft.steps": SFT,
            "rl.iterations": RL,
            "eval.before_rl": False,
            "checkpoint.every": 1,
            "checkpoint.keep": 3,
            "checkpoint.async_save": False,
            **overrides,
        }
    )
    c.env.eval_splits = ()
    return c


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rundir") / "run"
    summary = train(_config(), workdir)
    return workdir, summary


def _copy(run, tmp_path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(run[0], dest)
    return dest


def _same_params(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ----- config guard ----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_changed_config_is_refused_and_the_record_kept(run, tmp_path):
    workdir = _copy(run, tmp_path)
    saved = (workdir / "config.json").read_bytes()
    with pytest.raises(RunDirError) as err:
        train(_config(**{"rl.lr": 1e-3, "seed": 7}), workdir, allow_config_changes=True)
    lines = str(err.value).splitlines()
    assert "rl.lr: 0.0003 in the run, 0.001 now" in lines
    assert "seed: 0 in the run, 7 now" in lines
    assert (
        lines[-1] == "rl.lr, seed cannot change on resume once RL has started; use a new --workdir"
    )
    # A shape change fails the same way, before anything is written: the run stays evaluable.
    with pytest.raises(RunDirError, match="model.hidden_size: 32 in the run, 48 now"):
        train(_config(**{"model.hidden_size": 48}), workdir)
    assert (workdir / "config.json").read_bytes() == saved
    assert not (workdir / ".lock").exists()
    _, params, meta = load_params(_config(), workdir)
    assert meta["global_step"] == SFT + RL
    _same_params(params, run[1]["state"].params)


@pytest.mark.slow
def test_resumable_changes_need_the_flag_and_keep_the_old_config(run, tmp_path):
    workdir = _copy(run, tmp_path)
    with pytest.raises(RunDirError) as err:
        train(_config(**{"rl.iterations": RL + 1}), workdir)
    assert str(err.value).splitlines()[-1] == (
        "pass --allow_config_changes to resume with these changes"
    )
    summary = train(_config(**{"rl.iterations": RL + 1}), workdir, allow_config_changes=True)
    assert [r["step"] for r in read_jsonl(workdir / "metrics.jsonl") if r["phase"] == "rl"] == [
        1,
        2,
        3,
    ]
    old = json.loads((workdir / "config_history" / "config.1.json").read_text())
    assert old["rl"]["iterations"] == RL
    assert json.loads((workdir / "config.json").read_text())["rl"]["iterations"] == RL + 1
    assert summary["state"] is not None


def test_train_cli_refuses_a_changed_config_in_one_line_per_field(run, tmp_path):
    workdir = _copy(run, tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "experiments.train",
        "--config=configs/household/grpo.py",
        f"--workdir={workdir}",
    ]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    err = [x for x in out.stderr.splitlines() if x.startswith("error: ")]
    assert "error: env.name: 'toy_rooms' in the run, 'household' now" in err
    assert err[-1].endswith("cannot change on resume once RL has started; use a new --workdir")


# ----- one trainer per workdir -----------------------------------------------------------------
def test_a_second_trainer_is_refused_and_a_stale_lock_taken_over(run, tmp_path, capsys):
    workdir = _copy(run, tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": other.pid, "host": os.uname().nodename, "since": 0}
        (workdir / ".lock").write_text(json.dumps(lock))
        with pytest.raises(RunDirError, match=f"in use by process {other.pid}"):
            train(_config(), workdir)
    finally:
        other.kill()
        other.wait()
    summary = train(_config(), workdir)  # the same run, finished: nothing left to train
    assert f"taking over the lock of process {other.pid}" in capsys.readouterr().out
    assert not (workdir / ".lock").exists()
    _same_params(summary["state"].params, run[1]["state"].params)


# ----- damaged state ---------------------------------------------------------------------------
def _truncate_array_data(item_dir: Path) -> None:
    """Cuts every array data file of an orbax item (OCDBT `d/` files) in half."""
    for data in item_dir.rglob("*"):
        if data.is_file() and data.parent.name == "d":
            data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])


def _damage(step_dir: Path, how: str) -> None:
    if how == "array_data":  # the optimiser state, step and key
        _truncate_array_data(step_dir / "train")
    elif how == "params_data":
        _truncate_array_data(step_dir / "params")
    elif how == "meta_missing":
        (step_dir / "meta" / "metadata").unlink()
    else:  # a half-written JSON file
        meta = step_dir / "meta" / "metadata"
        meta.write_text(meta.read_text()[:20])


@pytest.mark.slow
@pytest.mark.parametrize("how", ["array_data", "meta_missing", "meta_half_written"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(run, tmp_path, capsys, how):
    """Step 5 is damaged: the run resumes from step 4, redoes RL iteration 2 and ends exactly
    as the undamaged run did; the damaged step is moved aside, not deleted."""
    workdir = _copy(run, tmp_path)
    _damage(workdir / "checkpoints" / str(SFT + RL), how)
    summary = train(_config(), workdir)
    out = capsys.readouterr().out
    assert f"[resume] checkpoint {SFT + RL} is damaged (" in out
    assert f"[resume] from checkpoint {SFT + RL - 1} (rl step {RL - 1})" in out
    assert (workdir / "checkpoints_damaged" / str(SFT + RL)).is_dir()
    _same_params(summary["state"].params, run[1]["state"].params)


@pytest.mark.slow
def test_evaluation_reads_parameters_only_and_skips_damaged_ones(run, tmp_path):
    workdir = _copy(run, tmp_path)
    _damage(workdir / "checkpoints" / str(SFT + RL), "array_data")  # optimiser state only
    _, params, meta = load_params(_config(), workdir)
    assert meta["global_step"] == SFT + RL and meta["skipped"] == []
    _same_params(params, run[1]["state"].params)
    _damage(workdir / "checkpoints" / str(SFT + RL), "params_data")
    _, _, meta = load_params(_config(), workdir)
    assert meta["global_step"] == SFT + RL - 1
    assert [s for s, _ in meta["skipped"]] == [SFT + RL]


def test_a_torn_last_metrics_line_is_dropped(run, tmp_path, capsys):
    workdir = _copy(run, tmp_path)
    with (workdir / "metrics.jsonl").open("a") as f:
        f.write('{"phase": "rl", "step": 3, "succ')  # a crash in the middle of a write
    assert len(read_jsonl(workdir / "metrics.jsonl")) == SFT + RL
    train(_config(), workdir)
    assert "not JSON: a torn write" in capsys.readouterr().out
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 1, 2]


# ----- non-finite values -----------------------------------------------------------------------
def _nan_reward(monkeypatch):
    from empg_jax.training import loop

    original = loop.rollout_batch

    def poisoned(*args, **kwargs):
        ro, attempts, kept = original(*args, **kwargs)
        return ro.replace(reward_N=ro.reward_N.at[0].set(np.nan)), attempts, kept

    monkeypatch.setattr(loop, "rollout_batch", poisoned)


@pytest.mark.slow
def test_nan_reward_stops_the_run_before_a_checkpoint(tmp_path, monkeypatch):
    _nan_reward(monkeypatch)
    with pytest.raises(NonFiniteError, match=r"RL iteration 1: non-finite reward \(1 of 16"):
        train(_config(), tmp_path / "run")
    assert sorted(int(p.name) for p in (tmp_path / "run" / "checkpoints").iterdir()) == [SFT]


@pytest.mark.slow
def test_nan_reward_skips_the_update_in_skip_mode(run, tmp_path, monkeypatch):
    _nan_reward(monkeypatch)
    summary = train(_config(**{"nonfinite": "skip"}), tmp_path / "run")
    rl = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["phase"] == "rl"]
    assert [r["skipped_update_fraction"] for r in rl] == [1.0, 1.0]
    # No update ran: the policy is the end-of-SFT policy, as in the unpoisoned run's SFT.
    _, sft_params, _ = load_params(_config(), run[0], step=SFT)
    _same_params(summary["state"].params, sft_params)


@pytest.mark.slow
def test_a_diverging_sft_stops_with_the_step_and_quantity(tmp_path):
    with pytest.raises(NonFiniteError, match=r"SFT step \d+: (sft_loss|grad_norm) = (nan|inf)"):
        train(_config(**{"sft.lr": 1e30, "sft.steps": 6}), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists() or not any(
        (tmp_path / "run" / "checkpoints").iterdir()
    )
