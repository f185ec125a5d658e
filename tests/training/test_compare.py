"""The comparison harness: arm specs, the statistics (against hand-computed values), and a
small grid on the toy environment (shared SFT, resumable cells, the report)."""

import json
import math

import jax
import numpy as np
import pytest

from empg_jax.training import ConfigError, validate
from empg_jax.training import compare as cmp
from experiments import compare as cli_compare
from tests.agents.toy_env import toy_config


def test_parse_arm():
    arm = cmp.parse_arm("empg_zeta0.05: rl.empg.enabled=True rl.empg.zeta=0.05 rl.algorithm='dapo'")
    assert arm.name == "empg_zeta0.05"
    assert arm.overrides == (
        ("rl.empg.enabled", True),
        ("rl.empg.zeta", 0.05),
        ("rl.algorithm", "dapo"),
    )
    with pytest.raises(ConfigError, match="cannot differ between arms"):
        cmp.parse_arm("bad: model.hidden_size=64")
    with pytest.raises(ConfigError, match="is not field=value"):
        cmp.parse_arm("bad: rl.lr")
    with pytest.raises(ConfigError, match="must start with a name"):
        cmp.parse_arm(": rl.lr=1")


def test_intervals_against_hand_computed_values():
    m, lo, hi = cmp.mean_ci([0.1, 0.2, 0.3])
    half = 4.303 * 0.1 / math.sqrt(3)  # t(0.975, 2 df) x sd / sqrt(n)
    np.testing.assert_allclose([m, lo, hi], [0.2, 0.2 - half, 0.2 + half], rtol=1e-9)
    assert cmp.mean_ci([0.4]) == (0.4, 0.4, 0.4)
    # Wilson 95% interval of 8 successes in 10: (0.4902, 0.9433).
    np.testing.assert_allclose(cmp.wilson_ci([1] * 8 + [0] * 2), [0.8, 0.4902, 0.9433], atol=1e-4)


def _cell(arm, seed, won, before=None):
    after = {"valid_seen": {"success": float(np.mean(won)), "episodes": len(won)}}
    after["valid_seen"]["won_per_task"] = list(won)
    return {"env": "toy", "seed": seed, "arm": arm, "before": before, "after": after}


def test_summary_pairs_arms_by_seed_and_by_task():
    cells = [
        _cell("base", 0, [1, 0, 0, 0]),
        _cell("new", 0, [1, 1, 0, 0]),
        _cell("base", 1, [1, 1, 1, 0]),
        _cell("new", 1, [1, 1, 1, 1]),
    ]
    s = cmp.summarize(cells, "base")["toy"]["arms"]
    np.testing.assert_allclose(s["new"]["valid_seen"]["success"][0], 0.75)
    # per-seed differences 0.25 and 0.25: mean 0.25, no spread
    np.testing.assert_allclose(s["new"]["valid_seen"]["vs_baseline"], [0.25, 0.25, 0.25])
    assert s["new"]["valid_seen"]["interval_over"] == "seeds"
    one = cmp.summarize(cells[:2], "base")["toy"]["arms"]["new"]["valid_seen"]
    assert one["interval_over"] == "episodes"
    d = np.array([0, 1, 0, 0], float)  # per-task differences of seed 0
    half = 3.182 * d.std(ddof=1) / 2.0
    np.testing.assert_allclose(one["vs_baseline"], [0.25, 0.25 - half, 0.25 + half], rtol=1e-9)
    np.testing.assert_allclose(one["success"], cmp.wilson_ci([1, 1, 0, 0]))
    table = cmp.results_markdown(cmp.summarize(cells, "base"), "base")
    assert "| new | 75.0 [" in table and "+25.0 [+25.0, +25.0]" in table


def test_telemetry_ratio_is_a_ratio_of_sums_over_iterations():
    recs = [
        {"telemetry/measured_q1": 0.5, "telemetry/formula_q1": 0.0},  # A = 0: no prediction
        {"telemetry/measured_q1": 1.0, "telemetry/formula_q1": 0.25},
        {"telemetry/measured_q1": 2.5, "telemetry/formula_q1": 0.75},
    ]
    assert cmp.telemetry_ratio(recs, bins=1) == [4.0]  # (0.5 + 1 + 2.5) / (0 + 0.25 + 0.75)
    assert math.isnan(cmp.telemetry_ratio(recs[:1], bins=1)[0])


@pytest.mark.slow
def test_a_small_grid_shares_sft_resumes_and_reports(tmp_path, monkeypatch, capsys):
    def base():
        c = toy_config(**{"sft.steps": 8, "rl.iterations": 2, "eval.num_tasks": 8})
        c.eval.temperature = 1.0  # sampled: an evaluation with another key plays differently
        c.sft.data = "memory"
        return c

    arms = [
        cmp.parse_arm("base: rl.empg.enabled=False"),
        cmp.parse_arm("empg: rl.empg.enabled=True"),
    ]
    grid = cmp.Grid({"toy": base}, (0, 1), arms, "base")
    from empg_jax.training import experiment

    calls = []
    sft_step = experiment.Experiment.sft_step
    monkeypatch.setattr(
        experiment.Experiment, "sft_step", lambda self, *a: calls.append(1) or sft_step(self, *a)
    )
    from empg_jax.training import loop

    evaluated = []
    evaluate = loop.evaluate
    monkeypatch.setattr(
        loop, "evaluate", lambda *a, **k: evaluated.append(a[2]) or evaluate(*a, **k)
    )
    logs = []
    cells = cmp.run_grid(grid, tmp_path, log=logs.append)
    assert [m.rpartition(": ")[2] for m in logs] == ["SFT", "SFT", "base", "base", "empg", "empg"]
    assert len(calls) == 2 * 8  # SFT once per seed: the arms continue its checkpoint
    # Per seed the SFT policy is evaluated once (the arms reuse it from the end-of-SFT
    # checkpoint, the SFT cell does not repeat it as "after") and each arm once after RL.
    assert len(evaluated) == 2 * (1 + len(arms)) * len(base().env.eval_splits)
    # SFT of every seed first, then whole arms: a grid stopped early has complete arms.
    assert [(c["arm"], c["seed"]) for c in cells] == [
        ("base", 0),
        ("base", 1),
        ("empg", 0),
        ("empg", 1),
    ]
    for seed in (0, 1):
        sft = json.loads((tmp_path / "toy" / f"seed{seed}" / "sft" / "cell.json").read_text())
        for arm in ("base", "empg"):
            cell = json.loads((tmp_path / "toy" / f"seed{seed}" / arm / "cell.json").read_text())
            assert cell["before"] == sft["before"]  # the same SFT policy, evaluated once
            runs = [
                [r for r in cmp.read_jsonl(tmp_path / "toy" / f"seed{seed}" / d / "metrics.jsonl")
                 if r["phase"] == "sft"]
                for d in ("sft", arm)
            ]  # fmt: skip
            assert runs[0] == runs[1]
    # A second call trains nothing: every cell is finished.
    monkeypatch.setattr(cmp, "train", lambda *a, **k: pytest.fail("retrained a finished cell"))
    again = cmp.run_grid(grid, tmp_path, log=lambda m: None)
    assert again == cells
    # Another evaluation split: every finished cell is evaluated again from its own final
    # checkpoint with the run's key (no training), so the split it had plays exactly as before.
    evaluate_calls = []
    real_evaluate = cmp.evaluate
    monkeypatch.setattr(
        cmp, "evaluate", lambda *a, **k: evaluate_calls.append(a[1:4]) or real_evaluate(*a, **k)
    )
    splits = ("valid_seen", "valid_unseen")
    more = cmp.Grid({"toy": lambda: _with(base(), "env.eval_splits", splits)}, (0, 1), arms, "base")
    redone = cmp.run_grid(more, tmp_path, log=lambda m: None)
    order = [(seed, "sft") for seed in (0, 1)] + [(s, a) for a in ("base", "empg") for s in (0, 1)]
    assert [split for _, split, _ in evaluate_calls] == list(splits) * len(order)
    for (seed, run), (params, _, key) in zip(order, evaluate_calls[::2], strict=True):
        saved = cmp.load_params(base(), tmp_path / "toy" / f"seed{seed}" / run)[1]
        for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(saved), strict=True):
            np.testing.assert_array_equal(got, want)  # the cell's own final checkpoint
        want_key = jax.random.split(jax.random.PRNGKey(seed), 4)[3]  # the run's evaluation key
        np.testing.assert_array_equal(jax.random.key_data(key), jax.random.key_data(want_key))
    old = {(c["seed"], c["arm"]): c for c in cells}
    for cell in redone:
        for part in ("before", "after"):
            assert cell[part]["valid_seen"] == old[cell["seed"], cell["arm"]][part]["valid_seen"]
            assert cell[part]["valid_unseen"]["episodes"] == 8
        assert cell["eval_settings"]["env.eval_splits"] == list(splits)
    assert cmp.run_grid(more, tmp_path, log=lambda m: None) == redone  # nothing left to redo
    # The report of a grid in progress: finished cells only, nothing trained or evaluated; cells
    # evaluated with other settings and arms not yet run are left out.
    n_calls = len(evaluate_calls)
    extra = cmp.Grid({"toy": base}, (0, 1, 2), [*arms, cmp.parse_arm("later: rl.lr=1e-3")], "base")
    assert cmp.run_grid(extra, tmp_path, log=lambda m: None, report_only=True) == []
    partial = cmp.Grid(more.configs, (0, 1, 2), [*arms, cmp.parse_arm("later: rl.lr=1e-3")], "base")
    assert cmp.run_grid(partial, tmp_path, log=lambda m: None, report_only=True) == redone
    assert len(evaluate_calls) == n_calls
    assert len(evaluate_calls) == len(splits) * 2 * (1 + len(arms))
    summary = cmp.summarize(cells, "base")
    assert set(summary["toy"]["arms"]) == {"base", "empg"}
    cmp.plot_grid(tmp_path, cells, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    # The command line's report of the same grid, in the config's `report_dir`.
    train_file = tmp_path / "toy_train.py"
    train_file.write_text(
        "from tests.agents.toy_env import toy_config\n\n"
        "def get_config():\n"
        "    c = toy_config(**{'sft.steps': 8, 'rl.iterations': 2, 'eval.num_tasks': 8})\n"
        "    c.eval.temperature = 1.0\n"
        "    c.sft.data = 'memory'\n"
        f"    c.env.eval_splits = {splits!r}\n"
        "    return c\n"
    )
    grid_file = tmp_path / "toy_grid.py"
    grid_file.write_text(
        "import ml_collections\n\n"
        "def get_config():\n"
        "    c = ml_collections.ConfigDict()\n"
        "    c.name = 'toy'\n"
        f"    c.experiments = ('toy={train_file}',)\n"
        "    c.seeds = (0, 1)\n"
        "    c.arms = ('base: rl.empg.enabled=False', 'empg: rl.empg.enabled=True')\n"
        "    c.baseline = 'base'\n"
        "    c.overrides = ()\n"
        "    c.entropy_analysis = False\n"
        "    c.entropy_split = 'valid_seen'\n"
        "    c.report_dir = 'second'\n"
        "    return c\n"
    )
    from experiments import compare as cli

    monkeypatch.setattr(jax.config, "update", lambda *a: None)  # no compilation cache in tests
    args = [f"--config={grid_file}", f"--workdir={tmp_path}", "--report_only"]
    assert cli.main(args) == 0
    report = json.loads((tmp_path / "second" / "results.json").read_text())
    assert report["cells"] == redone
    assert "empg" in (tmp_path / "second" / "results.md").read_text()
    assert (tmp_path / "second" / "curves.png").stat().st_size > 10_000
    assert not (tmp_path / "results.md").exists()
    # `--jobs=2` (one arm, to save time): each seed trains in its own process pinned to one core,
    # and one report covers both seeds. The toy's programs are too small for XLA to split over
    # threads, so its cells equal the in-process ones bit for bit (larger models round otherwise
    # on one thread: docs/running.md).
    jobs = tmp_path / "jobs"
    one_arm = "--config.arms=('base: rl.empg.enabled=False',)"
    assert cli.main([f"--config={grid_file}", f"--workdir={jobs}", one_arm, "--jobs=2"]) == 0
    assert "[seeds 1] [compare] toy seed 1: SFT" in capsys.readouterr().out
    report = json.loads((jobs / "second" / "results.json").read_text())

    def untimed(cells):
        timing = ("seconds", "reevaluated_s")
        return [{k: v for k, v in c.items() if k not in timing} for c in cells]

    assert untimed(report["cells"]) == untimed([c for c in redone if c["arm"] == "base"])


def test_jobs_deal_seeds_and_hand_on_the_grid(tmp_path, capsys):
    grid = ["--config=configs/compare/default.py", f"--workdir={tmp_path}"]
    assert cli_compare.main([*grid, "--jobs=0"]) == 2  # one line, before anything trains
    assert capsys.readouterr().err == "error: --jobs=0: give 1 or more\n"
    assert cli_compare.seed_jobs((0, 1, 2, 3, 4), 2) == [(0, 2, 4), (1, 3)]
    assert cli_compare.seed_jobs((3, 4), 8) == [(3,), (4,)]
    assert cli_compare.seed_jobs((7,), 1) == [(7,)]
    argv = [
        "--config=g.py", "--jobs=2", "--workdir", "w", "--config.seeds=(0,1)", "--report",
        "--config.arms=('a: rl.lr=1.0',)", "--jobs", "3", "--config.seeds", "(5,)",
    ]  # fmt: skip
    assert cli_compare.job_argv(argv, (1, 3)) == [
        "--config=g.py", "--workdir", "w", "--config.arms=('a: rl.lr=1.0',)",
        "--config.seeds=(1, 3)", "--noreport",
    ]  # fmt: skip


def _with(c, field, value):
    cmp._set(c, field, value)
    return c


@pytest.mark.parametrize(
    "name",
    ["default", "default_seeds", "household", "household_full", "shop", "search", "search_long"],
)
def test_shipped_comparison_configs_build(name):
    from experiments import compare as cli

    c = cli._load_config_file(f"configs/compare/{name}.py")()
    arms = [cmp.parse_arm(a) for a in c.arms]
    assert c.baseline in [a.name for a in arms]
    # A second arm pairing over the same workdir keeps its own report: --config.report_dir=...
    # works only for a field the config defines.
    assert isinstance(c.report_dir, str)
    for item in c.experiments:
        label, _, path = item.partition("=")
        base = cli._factory(path, tuple(c.overrides))()  # overrides apply and validate
        for arm in arms:
            validate(cmp.arm_config(base, arm))
