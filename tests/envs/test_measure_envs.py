"""The baseline-measurement entry point (experiments/measure_envs.py) rejects bad flags early."""

import pytest

from experiments import measure_envs


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--episodes=0"], "error: --episodes must be positive, got 0"),
        (["--envs=shop,nowhere"], "error: unknown environment(s) ['nowhere']"),
        (["--episode=3"], "error: bad flag: Unknown command line flag 'episode'"),  # no prefixes
    ],
)
def test_bad_flags_are_one_line_errors(argv, message, capsys):
    assert measure_envs.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(message), err
