"""The interactive CLI (experiments/play.py), driven without a TTY."""

import pytest

from experiments import play


@pytest.mark.slow
def test_play_oracle_and_script(capsys, tmp_path):
    argv = ["--env", "household", "--tokenizer", "own", "--split", "valid_seen", "--task", "2"]
    assert play.main(argv + ["--oracle", "--quiet_admissible"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("== household / valid_seen ==\n-= welcome to textworld")
    assert "<think> " in out and "(reward 10)" in out
    assert out.rstrip().endswith("won True, score 1.000 ==")

    script = tmp_path / "moves.txt"
    script.write_text("# a comment\nlook\nfly to the moon\ninventory\n")
    assert play.main(argv + ["--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "admissible (" in out and "go to " in out
    assert "[1] > look\nyou are in the middle of a room." in out
    assert "[2] > fly to the moon (invalid)\nnothing happens." in out
    assert "[3] > inventory\nyou are not carrying anything." in out
    assert out.rstrip().endswith("== steps 3, return 0, won False, score 0.000 ==")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--env=nowhere", "--oracle"], "error: unknown environment 'nowhere'; registered: ("),
        (["--oracle", "--actions=look"], "error: choose one of --oracle, --script and --actions"),
        (["--split=nope", "--oracle"], "error: split 'nope' not in household's splits ("),
        (["--script=/no/such/file"], "error: --script=/no/such/file: no such file"),
        (["--max-step=3"], "error: bad flag: Unknown command line flag 'max-step'"),
    ],
)
def test_play_bad_arguments_are_one_line(capsys, argv, message):
    assert play.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(message), err
