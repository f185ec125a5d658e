"""Progress on long work: plain lines (with rate, ETA, the iteration's time split and tokens/s)
when the stream is not a terminal, a live bar when it is (never under CI), and the split the
trainer writes to metrics.jsonl."""

import io
import re

import pytest

from empg_jax.training import MetricsWriter, read_jsonl, train
from empg_jax.training.progress import Progress, duration, is_terminal, per_second
from tests.agents.toy_env import toy_config

RL_SCALARS = {
    "success": 0.5,
    "reward": 4.0,
    "kl": 0.01234,
    "time/rollout_s": 6.04,
    "time/update_s": 3.0,
    "time/eval_s": 1.0,
    "time/rollout_tokens_per_s": 1234.0,
    "time/update_tokens_per_s": 340.0,
}
SPLIT = "rollout 6.0s update 3.0s eval 1.0s | tok/s rollout 1.2k update 340"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def no_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")


def test_number_formats():
    assert [duration(s) for s in (0, 44.6, 60, 185, 3599, 7620)] == [
        "0s", "45s", "1m00s", "3m05s", "59m59s", "2h07m",
    ]  # fmt: skip
    assert [per_second(v) for v in (12.4, 999, 1234, 2.5e6, 3e9)] == [
        "12", "999", "1.2k", "2.5M", "3.0G",
    ]  # fmt: skip


def test_plain_lines_every_n_steps_with_rate_eta_and_split(no_ci):
    out, clock = io.StringIO(), Clock()  # StringIO.isatty() is False: no bar
    prog = Progress(out, clock=clock)
    prog.begin("rl", 5)
    # The first iteration compiles (30 s), then 10 s each: the rate leaves the first one out.
    for step, t in zip(range(1, 6), (30, 40, 50, 60, 70), strict=True):
        clock.now = t
        prog.update("rl", step, 5, RL_SCALARS, ("success", "reward", "kl", "absent"), every=2)
    assert out.getvalue().splitlines() == [
        f"[rl      2/5       40s 10.0s/it eta 30s] success 0.5 reward 4 kl 0.0123 | {SPLIT}",
        f"[rl      4/5     1m00s 10.0s/it eta 10s] success 0.5 reward 4 kl 0.0123 | {SPLIT}",
        f"[rl      5/5     1m10s 10.0s/it] success 0.5 reward 4 kl 0.0123 | {SPLIT}",
    ]
    assert "\r" not in out.getvalue()


def test_resumed_phase_counts_only_the_steps_made_here():
    out, clock = io.StringIO(), Clock()
    prog = Progress(out, clock=clock, live=False)
    clock.now = 100.0  # time spent before this phase (SFT, evaluation)
    prog.begin("sft", 100, done=40)
    clock.now = 102.0  # step 41 (compiles): 2 s
    prog.update("sft", 41, 100, {"sft_loss": 1.5}, ("sft_loss",), every=10)
    clock.now = 107.0  # steps 42..50: 9 steps in 5 s
    prog.update("sft", 50, 100, {"sft_loss": 1.25}, ("sft_loss",), every=10)
    # 1.80 steps/s; 50 steps left -> 27.8 s.
    assert out.getvalue() == "[sft    50/100   1m47s 1.80it/s eta 28s] sft_loss 1.25\n"


def test_terminal_gets_a_bar_and_keeps_the_lines(no_ci):
    out, clock = Terminal(), Clock()
    prog = Progress(out, clock=clock, mininterval=0)
    assert prog.live
    prog.begin("rl", 4)
    for step in range(1, 5):
        clock.now = 10.0 * step
        prog.update("rl", step, 4, RL_SCALARS, ("success", "reward", "kl"), every=2)
        if step == 3:
            prog.write("[checkpoint] saved")
    prog.write("[eval] after RL")  # the last step closed the bar: this line goes below it
    text = out.getvalue()
    redraws = text.split("\r")
    # Bars for steps 1..4 with tqdm's elapsed<remaining and rate, our postfix (the first two
    # metrics, then the split and tokens/s).
    for step in range(1, 5):
        bar = next(r for r in redraws if f"| {step}/4 [" in r)
        assert re.search(rf"(it/s|s/it), success 0.5 reward 4 \| {re.escape(SPLIT)}\]", bar), bar
        assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, ", bar), bar  # elapsed<remaining
    # The plain lines and messages stand on their own lines above the bar.
    lines = [r.rstrip("\n") for r in redraws if r.endswith("\n")]
    assert f"[rl      2/4       20s 10.0s/it eta 20s] success 0.5 reward 4 kl 0.0123 | {SPLIT}" in (
        lines
    )
    assert "[checkpoint] saved" in lines
    final_bar, below = redraws[-1].split("\n", 1)  # tqdm pads a shorter redraw with spaces
    assert final_bar.startswith("rl: 100%") and final_bar.rstrip().endswith("]")
    assert below == "[eval] after RL\n"


@pytest.mark.parametrize(
    ("env", "live"),
    [({}, True), ({"CI": "true"}, False), ({"CI": "0"}, True), ({"TERM": "dumb"}, False)],
)
def test_terminal_detection(monkeypatch, env, live):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert is_terminal(Terminal()) is live
    assert is_terminal(io.StringIO()) is False
    out = Terminal()
    prog = Progress(out)
    prog.begin("sft", 3)
    prog.update("sft", 1, 3, {"sft_loss": 1.0}, ("sft_loss",), every=10)
    prog.close()
    assert ("\r" in out.getvalue()) is live


def test_writer_messages_go_above_the_bar(no_ci, tmp_path):
    out = Terminal()
    writer = MetricsWriter(tmp_path, tensorboard=False, stream=out)
    writer.begin("rl", 2)
    writer.progress("rl", 1, 2, RL_SCALARS, ("success",), every=5)
    writer.log("[rl] iteration 1: non-finite reward; update skipped")
    writer.close()
    assert "\r[rl] iteration 1: non-finite reward; update skipped\n" in out.getvalue()


@pytest.mark.slow
def test_a_run_writes_the_time_split_and_plain_progress(tmp_path):
    out = io.StringIO()
    config = toy_config(**{"sft.steps": 20, "rl.iterations": 3, "eval.every": 2})
    config.log.progress_every = 2
    train(config, tmp_path, stream=out)
    recs = read_jsonl(tmp_path / "metrics.jsonl")
    rl = [r for r in recs if r["phase"] == "rl"]
    assert [r["step"] for r in rl] == [1, 2, 3]
    for r in rl:
        assert r["time/rollout_s"] > 0 and r["time/update_s"] > 0
        total = r["time/rollout_s"] + r["time/update_s"]
        assert r["time/iteration_s"] == pytest.approx(total, rel=1e-9)
    evals = [r for r in recs if r["phase"].startswith("eval")]
    assert [(r["phase"], r["step"]) for r in evals] == [
        ("eval_before", 0),
        ("eval", 2),
        ("eval", 3),
    ]
    assert all(r["time/eval_s"] > 0 for r in evals)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    shown = [
        ln.split("]")[0].split()[:2]
        for ln in lines
        if ln.startswith("[sft") or ln.startswith("[rl")
    ]
    # SFT every 10 x progress_every steps and at the end; RL every 2 and at the end.
    assert shown == [["[sft", "20/20"], ["[rl", "2/3"], ["[rl", "3/3"]]
    rl2, rl3 = (next(ln for ln in lines if ln.startswith(f"[rl      {i}/3")) for i in (2, 3))
    # Iteration 2 ran the periodic evaluation; the final one comes after iteration 3's line.
    assert f" | rollout {rl[1]['time/rollout_s']:.1f}s update {rl[1]['time/update_s']:.1f}s" in rl2
    assert f" eval {evals[1]['time/eval_s']:.1f}s | tok/s rollout " in rl2
    assert " eval 0.0s | tok/s rollout " in rl3
    assert lines[-1] == "[eval] after RL: valid_seen ..."
