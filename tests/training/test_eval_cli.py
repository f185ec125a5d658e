"""`experiments.eval` end to end on a tiny toy run: it rebuilds the run's config from
`config.json`, restores a chosen checkpoint and reproduces the trainer's own evaluations; bad
arguments give one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import eval as eval_cli
from tests.agents.toy_env import toy_config

REPO = Path(__file__).resolve().parents[2]
SFT_STEPS = 5


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from empg_jax.training import train

    workdir = tmp_path_factory.mktemp("eval_cli") / "run"
    c = toy_config(
        **{
            "sft.steps": SFT_STEPS,
            "rl.iterations": 1,
            "checkpoint.every": 1,
            "checkpoint.keep": 3,
            "eval.num_tasks": 8,
        }
    )
    c.env.eval_splits = ("valid_seen", "valid_unseen")
    summary = train(c, workdir)
    return workdir, summary


@pytest.mark.slow
def test_eval_reproduces_the_trainers_evaluations(run, capsys):
    workdir, summary = run
    # Latest checkpoint (after RL) on every eval split: the run's "after" numbers.
    assert eval_cli.main([f"--workdir={workdir}"]) == 0
    out = capsys.readouterr().out
    assert "| task type | valid_seen | valid_unseen |" in out and "| low |" in out
    final = SFT_STEPS + 1
    for split in ("valid_seen", "valid_unseen"):
        saved = json.loads((workdir / f"eval_{split}_{final}.json").read_text())
        assert saved["step"] == final and saved["phase"] == "rl" and saved["rl_iteration"] == 1
        assert saved["results"] == summary["after"][split]
    # The checkpoint at the end of SFT: the run's "before RL" numbers.
    args = [f"--workdir={workdir}", f"--step={SFT_STEPS}", "--split=valid_unseen"]
    assert eval_cli.main(args) == 0
    saved = json.loads((workdir / f"eval_valid_unseen_{SFT_STEPS}.json").read_text())
    assert saved["results"] == summary["before"]["valid_unseen"]
    assert saved["rl_iteration"] == 0
    # Fewer tasks, sampled at a temperature.
    args = [f"--workdir={workdir}", "--split=valid_seen", "--num_tasks=4", "--temperature=1.0"]
    assert eval_cli.main(args) == 0
    saved = json.loads((workdir / f"eval_valid_seen_{final}.json").read_text())
    assert saved["results"]["episodes"] == 4 and saved["temperature"] == 1.0


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--step=999"], "error: no checkpoint 999 under {w}/checkpoints (have [5, 6])"),
        (
            ["--split=test_ood"],
            "error: split 'test_ood' not in toy_rooms's splits "
            "('train', 'valid_seen', 'valid_unseen')",
        ),
    ],
)
def test_eval_errors_on_a_run(run, capsys, args, message):
    workdir, _ = run
    assert eval_cli.main([f"--workdir={workdir}", *args]) == 2
    assert capsys.readouterr().err.strip() == message.format(w=workdir)


def test_eval_errors_without_a_run(tmp_path, capsys):
    assert eval_cli.main([f"--workdir={tmp_path / 'nope'}"]) == 2
    assert capsys.readouterr().err.strip() == f"error: workdir {tmp_path / 'nope'} does not exist"
    assert eval_cli.main([f"--workdir={tmp_path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path} has no config.json (not a run of experiments.train)"
    c = toy_config()
    (tmp_path / "config.json").write_text(c.to_json_best_effort())
    assert eval_cli.main([f"--workdir={tmp_path}", "--env_module=tests.agents.toy_env"]) == 2
    assert capsys.readouterr().err.strip() == f"error: no checkpoint under {tmp_path}/checkpoints"


@pytest.mark.slow
def test_eval_cli_subprocess_names_the_missing_environment(tmp_path):
    """A fresh process has not registered the toy environment: the error says how to."""
    (tmp_path / "config.json").write_text(toy_config().to_json_best_effort())
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    out = subprocess.run(
        [sys.executable, "-m", "experiments.eval", f"--workdir={tmp_path}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        "error: env.name='toy_rooms' is not registered; pass --env_module=<module that "
        "registers it>"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workdir=x", "--num_tasks=0"], "error: --num_tasks=0 must be positive"),
        (["--workdir=x", "--temperature=nan"], "must be a finite number >= 0 (0: greedy)"),
        (["--workdir=x", "--tempreature=1"], "error: bad flag: Unknown command line flag"),
        ([], "error: --workdir is required"),
    ],
)
def test_eval_bad_flags_are_one_line(tmp_path, capsys, args, message):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "config.json").write_text("{}")
    args = [a.replace("--workdir=x", f"--workdir={tmp_path / 'x'}") for a in args]
    assert eval_cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
