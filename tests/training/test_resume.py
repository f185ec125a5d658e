"""Exact resume: a run continued from its checkpoints ends with the same train state (params,
optimiser moments, key, KL reference) and writes the same metrics as the uninterrupted run.

The RL case extends a finished k-iteration run to k+m iterations with every piece of loop state in
play: sampling temperature raised by the plateau rule, DAPO resampling, EMPG, KL reference, a
periodic evaluation at the resume point and async checkpoints. The SFT case interrupts a run
between SFT checkpoints (`checkpoint.sft_every`) and resumes it.
"""

import jax
import numpy as np
import pytest

from empg_jax.training import read_jsonl, train
from tests.agents.toy_env import toy_config


def _records(workdir):
    """Metrics lines without wall-clock timings."""
    return [
        {k: v for k, v in rec.items() if not k.startswith("time/")}
        for rec in read_jsonl(workdir / "metrics.jsonl")
    ]


def _assert_same_state(a, b):
    leaves_a = jax.tree_util.tree_flatten_with_path(a)[0]
    leaves_b = jax.tree_util.tree_flatten_with_path(b)[0]
    assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
    for (path, x), (_, y) in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=str(path))


def _rl_config(iterations):
    return toy_config(
        **{
            "sft.steps": 150,  # enough for well-formed actions and some wins
            "rl.iterations": iterations,
            "rl.empg.enabled": True,
            "rl.dynamic_sampling": True,
            "rl.max_resample": 1,
            "rl.kl_coef": 0.01,
            "rl.plateau.enabled": True,
            "rl.plateau.patience": 1,
            "rl.plateau.delta": 100.0,  # never "improves": +0.1 temperature every iteration
            "rl.plateau.max_temperature": 1.5,
            "eval.every": 2,
            "eval.num_tasks": 8,
            "checkpoint.every": 1,
            "checkpoint.async_save": True,
        }
    )


@pytest.mark.slow
def test_rl_resume_matches_the_uninterrupted_run(tmp_path):
    k, m = 2, 2
    full = train(_rl_config(k + m), tmp_path / "full")
    train(_rl_config(k), tmp_path / "resumed")
    resumed = train(_rl_config(k + m), tmp_path / "resumed", allow_config_changes=True)

    _assert_same_state(full["state"], resumed["state"])
    assert resumed["after"] == full["after"] and resumed["before"] == full["before"]
    rec_full, rec_resumed = _records(tmp_path / "full"), _records(tmp_path / "resumed")
    assert rec_resumed == rec_full
    rl = [r for r in rec_full if r["phase"] == "rl"]
    assert [r["step"] for r in rl] == [1, 2, 3, 4]
    # The loop state really moved: temperatures rose and the second half started where the
    # first left off (a resume at the default temperature would differ).
    np.testing.assert_allclose([r["temperature"] for r in rl], [1.0, 1.1, 1.2, 1.3])
    assert [r["step"] for r in rec_full if r["phase"] == "eval"] == [2, 4]
    assert len({r["pg_loss"] for r in rl}) == 4 and max(r["success"] for r in rl) > 0


class _Interrupt(Exception):
    pass


@pytest.mark.slow
def test_sft_resume_between_checkpoints(tmp_path, monkeypatch):
    def config():
        c = toy_config(
            **{
                "sft.steps": 8,
                "checkpoint.sft_every": 3,
                "rl.iterations": 0,
                "eval.before_rl": False,
                "checkpoint.async_save": False,
            }
        )
        c.env.eval_splits = ()
        return c

    full = train(config(), tmp_path / "full")

    from empg_jax.training import loop

    original = loop.Experiment.sft_step
    calls = []

    def sft_step_then_crash(self, state, batch):
        if len(calls) == 4:  # after steps 1-4; the last checkpoint is step 3
            raise _Interrupt
        calls.append(1)
        return original(self, state, batch)

    monkeypatch.setattr(loop.Experiment, "sft_step", sft_step_then_crash)
    with pytest.raises(_Interrupt):
        train(config(), tmp_path / "resumed")
    assert [r["step"] for r in read_jsonl(tmp_path / "resumed" / "metrics.jsonl")] == [1, 2, 3, 4]
    monkeypatch.setattr(loop.Experiment, "sft_step", original)
    resumed = train(config(), tmp_path / "resumed")

    _assert_same_state(full["state"], resumed["state"])
    assert _records(tmp_path / "resumed") == _records(tmp_path / "full")
    assert [r["step"] for r in _records(tmp_path / "full")] == list(range(1, 9))


def _sft_then_rl_config(iterations, **overrides):
    """A 4-step SFT then `iterations` RL iterations, no evaluations, synchronous checkpoints."""
    c = toy_config(
        **{
            "sft.steps": 4,
            "rl.iterations": iterations,
            "eval.before_rl": False,
            "checkpoint.async_save": False,
            **overrides,
        }
    )
    c.env.eval_splits = ()
    return c


@pytest.mark.slow
def test_resume_with_another_kl_coef(tmp_path):
    """The end-of-SFT checkpoint of a KL-free run continues with KL exactly as a run that had KL
    from the start (the reference is the SFT result); once RL has started `rl.kl_coef` is part of
    the run and cannot change."""
    from empg_jax.training.rundir import RunDirError

    def config(kl, iterations):
        return _sft_then_rl_config(iterations, **{"rl.kl_coef": kl, "checkpoint.every": 1})

    with_kl = train(config(0.05, 1), tmp_path / "kl")
    assert with_kl["state"].ref_params is not None
    train(config(0.0, 0), tmp_path / "later_kl")  # SFT only, saved without a reference
    later = train(config(0.05, 1), tmp_path / "later_kl", allow_config_changes=True)
    _assert_same_state(with_kl["state"], later["state"])
    with pytest.raises(RunDirError, match="rl.kl_coef cannot change on resume once RL"):
        train(config(0.0, 2), tmp_path / "later_kl", allow_config_changes=True)


@pytest.mark.slow
def test_rl_from_an_sft_checkpoint_samples_at_its_own_temperature(tmp_path):
    """Starting RL from another run's end-of-SFT checkpoint uses this run's `rl.temperature`
    (the saved one is run state only while the plateau schedule may have raised it), and ends
    exactly as a run that had that temperature from the start."""

    def config(temperature, iterations):
        return _sft_then_rl_config(iterations, **{"rl.temperature": temperature})

    direct = train(config(0.7, 1), tmp_path / "direct")
    train(config(1.0, 0), tmp_path / "resumed")  # SFT only, saved at temperature 1.0
    resumed = train(config(0.7, 1), tmp_path / "resumed", allow_config_changes=True)
    _assert_same_state(direct["state"], resumed["state"])
    for run in ("direct", "resumed"):
        rl = [r for r in _records(tmp_path / run) if r["phase"] == "rl"]
        assert [r["temperature"] for r in rl] == [0.7]
