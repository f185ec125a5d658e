"""The baseline-measurement entry point (experiments/measure_envs.py) rejects bad flags early."""

import pytest

from experiments import measure_envs


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--episodes", "0"], "--episodes must be positive"),
        (["--envs", "shop,nowhere"], "unknown environment(s) ['nowhere']"),
        (["--episode", "3"], "unrecognized arguments: --episode 3"),  # no prefix matching
    ],
)
def test_bad_flags_are_one_line_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        measure_envs.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
