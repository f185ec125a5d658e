"""`experiments.plot`: curves of several runs overlaid, legend labels from the config fields that
differ between the runs, and one-line errors for bad input."""

import json
import math

import pytest

from empg_jax.training import read_jsonl, train
from empg_jax.training.report import load_run, plot_curves, plot_runs, run_labels
from experiments import plot
from tests.agents.toy_env import toy_config

NAN = float("nan")


def _fake_run(path, config, rl, evals=()):
    """A run folder as `experiments.train` leaves it: config.json and metrics.jsonl."""
    path.mkdir(parents=True)
    if config is not None:
        (path / "config.json").write_text(config.to_json_best_effort(indent=2))
    recs = [{"phase": "sft", "step": 1, "sft_loss": 3.0}]
    recs += [{"phase": "rl", "step": i + 1, **r} for i, r in enumerate(rl)]
    recs += [{"phase": ph, "step": s, **r} for ph, s, r in evals]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_labels_are_the_fields_that_differ(tmp_path):
    a = _fake_run(tmp_path / "a", toy_config(seed=0), [{"success": 0.1}])
    b = _fake_run(tmp_path / "b", toy_config(**{"seed": 1, "rl.empg.enabled": True}), [{}])
    c = _fake_run(tmp_path / "c", toy_config(seed=2), [{}])
    runs = [load_run(p) for p in (a, b, c)]
    assert run_labels(runs) == [
        "rl.empg.enabled=False, seed=0",
        "rl.empg.enabled=True, seed=1",
        "rl.empg.enabled=False, seed=2",
    ]
    # Equal configs, or no config at all: the workdir names.
    d = _fake_run(tmp_path / "d", toy_config(seed=0), [{}])
    e = _fake_run(tmp_path / "e", None, [{}])
    assert run_labels([load_run(a), load_run(d)]) == ["a", "d"]
    assert run_labels([load_run(e)]) == ["e"]
    assert run_labels([load_run(a), load_run(e), load_run(b)]) == [
        "rl.empg.enabled=False, seed=0",
        "e",
        "rl.empg.enabled=True, seed=1",
    ]
    # Many differences: the first fields (sorted) and a count; equal labels get the workdir.
    many = {"seed": 3, "rl.lr": 1e-3, "sft.lr": 1e-3, "rl.group_size": 8, "eval.num_tasks": 8}
    f = _fake_run(tmp_path / "f", toy_config(**many), [{}])
    g = _fake_run(tmp_path / "g", toy_config(**{**many, "rl.clip_high": 0.3}), [{}])
    labels = run_labels([load_run(a), load_run(f), load_run(g)])
    assert (
        labels[0] == "eval.num_tasks=16, rl.clip_high=0.2, rl.group_size=4, rl.lr=0.0003, +2 more"
    )
    assert labels[1] == "eval.num_tasks=8, rl.clip_high=0.2, rl.group_size=8, rl.lr=0.001, +2 more"
    assert labels[2].startswith("eval.num_tasks=8, rl.clip_high=0.3, ")
    # f and h differ only past the fourth field: equal labels, told apart by the workdir.
    h = _fake_run(tmp_path / "h", toy_config(**{**many, "sft.lr": 5e-3}), [{}])
    assert run_labels([load_run(a), load_run(f), load_run(h)]) == [
        "eval.num_tasks=16, rl.group_size=4, rl.lr=0.0003, seed=0, +1 more",
        "f: eval.num_tasks=8, rl.group_size=8, rl.lr=0.001, seed=3, +1 more",
        "h: eval.num_tasks=8, rl.group_size=8, rl.lr=0.001, seed=3, +1 more",
    ]


def test_panels_hold_each_runs_metrics(tmp_path):
    a = _fake_run(
        tmp_path / "a",
        toy_config(seed=0),
        [
            {"success": 0.25, "kl": 0.5, "approx_kl": 9.0, "empg_g_mean": 1.5, "empg_g_min": 0.5},
            {"success": NAN, "kl": 0.25, "approx_kl": 9.0, "empg_g_mean": 0.5, "empg_g_min": 0.25},
            {"success": 0.75, "kl": 0.125, "approx_kl": 9.0, "empg_g_mean": 1.0, "empg_g_min": 0.0},
        ],
        [("eval_before", 0, {"valid_seen/success": 0.5}), ("eval", 3, {"valid_seen/success": 1.0})],
    )
    b = _fake_run(tmp_path / "b", toy_config(seed=1), [{"success": 0.5, "approx_kl": 0.01}] * 2)
    out = tmp_path / "fig.png"
    drawn = plot_runs([load_run(a), load_run(b)], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn["training success"] == {
        "seed=0": ([1, 3], [0.25, 0.75]),
        "seed=1": ([1, 2], [0.5, 0.5]),
    }
    # KL: the reference KL where the run has one, else PPO's estimate.
    kl = drawn["KL (to the reference, else PPO's approx.)"]
    assert kl == {"seed=0": ([1, 2, 3], [0.5, 0.25, 0.125]), "seed=1": ([1, 2], [0.01, 0.01])}
    g = drawn["EMPG g (gradient scale): min, mean, max"]
    assert g == {"seed=0": ([1, 2, 3], [1.5, 0.5, 1.0])}  # no empg_g_max: no band
    assert drawn["EMPG f (future clarity), mean"] == {}
    assert drawn["held-out success (evaluations)"] == {"seed=0 valid_seen": ([0, 3], [0.5, 1.0])}


def test_train_figure_of_a_run_without_rl(tmp_path):
    # `experiments.train` draws its figure with `plot_curves` also when rl.iterations=0.
    run = _fake_run(tmp_path / "sft_only", toy_config(), [])
    plot_curves(run / "metrics.jsonl", run / "training_curves.png")
    assert (run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    sft_only = tmp_path / "sft_only"
    sft_only.mkdir()
    (sft_only / "metrics.jsonl").write_text('{"phase": "sft", "step": 1, "sft_loss": 2.0}\n')
    run = _fake_run(tmp_path / "run", toy_config(), [{"success": 0.5}])
    cases = [
        ([], "error: --workdir is required (repeat it to overlay runs)"),
        ([f"--workdir={tmp_path / 'nope'}"], f"error: workdir {tmp_path / 'nope'} does not exist"),
        (
            [f"--workdir={empty}"],
            f"error: {empty} has no metrics.jsonl (not a run of experiments.train)",
        ),
        (
            [f"--workdir={run}", f"--workdir={sft_only}"],
            f"error: {sft_only / 'metrics.jsonl'} has no RL iteration yet (1 records)",
        ),
        (
            [f"--workdir={run}", f"--out={tmp_path / 'no' / 'fig.png'}"],
            f"error: --out={tmp_path / 'no' / 'fig.png'}: folder {tmp_path / 'no'} does not exist",
        ),
        (
            [f"--workdir={run}", "--out=fig.txt"],
            "error: --out=fig.txt: use a .png, .pdf or .svg file name",
        ),
    ]
    for argv, message in cases:
        assert plot.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err == message + "\n", argv


@pytest.mark.slow
def test_two_toy_runs_overlaid(tmp_path, capsys):
    overrides = {
        "sft.steps": 4,
        "rl.iterations": 2,
        "eval.every": 1,
    }
    a, b = tmp_path / "a", tmp_path / "b"
    train(toy_config(**overrides), a)
    train(toy_config(**overrides, **{"seed": 1, "rl.empg.enabled": True}), b)
    capsys.readouterr()
    out = tmp_path / "curves.png"
    assert plot.main([f"--workdir={a}", f"--workdir={b}", f"--out={out}"]) == 0
    assert out.stat().st_size > 10_000
    assert capsys.readouterr().out.splitlines() == [
        f"[plot] {a}: rl.empg.enabled=False, seed=0 (2 RL iterations)",
        f"[plot] {b}: rl.empg.enabled=True, seed=1 (2 RL iterations)",
        f"[plot] wrote {out}",
    ]
    # The default figure goes to the first workdir; the curves are the runs' records.
    assert plot.main([f"--workdir={a}"]) == 0 and (a / "curves.png").is_file()
    drawn = plot_runs([load_run(a), load_run(b)], tmp_path / "again.png")
    rl_b = [r for r in read_jsonl(b / "metrics.jsonl") if r["phase"] == "rl"]
    assert drawn["EMPG f (future clarity), mean"] == {
        "rl.empg.enabled=True, seed=1": ([1, 2], [r["empg_f_mean"] for r in rl_b])
    }
    g = drawn["EMPG g (gradient scale): min, mean, max"]
    assert g == {
        f"rl.empg.enabled=True, seed=1{part}": ([1, 2], [r[f"empg_g_{key}"] for r in rl_b])
        for part, key in (("", "mean"), (" min", "min"), (" max", "max"))
    }
    assert all(math.isfinite(r["empg_g_mean"]) for r in rl_b)
