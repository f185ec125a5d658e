"""`experiments/play.py` on the workforce environment, driven without a TTY."""

from experiments import play


def test_play_workforce_oracle_and_script(capsys):
    argv = ["--env", "workforce", "--tokenizer", "own", "--split", "test_unseen", "--task", "7"]
    assert play.main(argv + ["--oracle"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== workforce / test_unseen ==\nwhat is the number of children of the")
    assert "admissible (3): lookup: population, founding year" in out
    assert "<action><tasks><task>lookup: mayor of belmira</task><task>doc: number of" in out
    assert "the plan is done: the answer is 1.   (reward 1)" in out
    assert out.rstrip().endswith("== steps 1, return 1, won True, score 1.000 ==")

    plans = "<tasks><task>lookup: population of varno</task></tasks>; <tasks>oops</tasks>"
    assert play.main(argv + ["--actions", plans, "--quiet_admissible"]) == 0
    out = capsys.readouterr().out
    assert "[1] > <tasks><task>lookup: population of varno</task></tasks>\n" in out
    assert "task 1 failed: lookup found nothing. replan." in out  # no city varno here
    assert "[2] > <tasks>oops</tasks> (invalid)\nnothing happens." in out
    assert out.rstrip().endswith("== steps 2, return 0, won False, score 0.000 ==")
