"""The command-line conventions every entry point shares.

Flags are absl flags (and `ml_collections` config flags), one `FlagValues` per entry point so
entry points can be imported side by side (tests call `main(argv)` in-process). Unknown flags are
rejected, and every user error -- a bad flag, a config file that does not load, a config that does
not validate, a missing run -- is ONE line on stderr and exit status 2, before anything compiles.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from absl import flags

#: Exit status of a user error.
USAGE = 2


class UsageError(Exception):
    """A problem with the command line or its inputs, told in one line."""


def one_line(error: BaseException) -> str:
    """The message of `error` on one line (absl and ml_collections messages span several)."""
    text = str(error).replace("\\n", " ").replace("\\'", "'")
    text = " ".join(text.split())
    guess = re.search(r'Did you mean "([\w.]+)" instead of "([\w.]+)"', text)
    if guess:
        return f"unknown config field {guess[2]!r} (did you mean {guess[1]!r}?)"
    failed = re.search(r"Attempted \[[^\]]*\]: (\S+) (.*)", text)
    if "Failed loading config file" in text and failed:
        reason = re.sub(r"^\[Errno \d+\] ", "", failed[2])
        return f"cannot load the config file {failed[1]}: {reason}"
    if isinstance(error, KeyError | AttributeError):
        return "unknown config field '" + text.strip("'\"") + "'"
    return text or type(error).__name__


def _parse(flag_values: flags.FlagValues, argv: list[str]) -> None:
    # A second parse in one process (tests call `main(argv)` twice) must not meet the
    # `--config.<field>` override flags that the first one registered.
    for name in [n for n in flag_values if "." in n]:
        delattr(flag_values, name)
    flag_values.unparse_flags()
    # ml_collections finds the `--config.<field>` overrides in sys.argv: parse these arguments.
    saved, sys.argv = sys.argv, list(argv)
    try:
        rest = flag_values(argv)
        for name in flag_values:
            # A config file that failed to load is a placeholder that raises on any attribute.
            getattr(flag_values[name].value, "keys", None)
    except flags.Error as e:
        raise UsageError(f"bad flag: {one_line(e)}") from None
    except (OSError, SyntaxError, KeyError, AttributeError, TypeError, ValueError) as e:
        # config_flags loads the config file and applies overrides while parsing.
        raise UsageError(f"bad flag: {one_line(e)}") from None
    finally:
        sys.argv = saved
    if len(rest) > 1:
        raise UsageError(f"unexpected arguments {rest[1:]} (flags are --name=value)")
    for name in flag_values:
        flag = flag_values[name]
        if flag.name == name and getattr(flag, "_required", False) and flag.value is None:
            raise UsageError(f"--{name} is required")


def run(
    main: Callable[[], int | None],
    flag_values: flags.FlagValues,
    argv=None,
    *,
    default_config: str | None = None,
) -> int:
    """Parses `argv` (default: the process's arguments) into `flag_values` and calls `main()`.

    `default_config`: the config file used when `--config` is not given. (A config flag defined
    with a default loads it, and reads the process's overrides, at import time, where errors
    cannot be caught; so the default is supplied here.)

    Returns `main`'s status (0 when it returns None), or 2 after printing `error: <one line>` for
    a user error (`UsageError`, or a `ValueError` raised by config validation or by building the
    experiment, e.g. `training.ConfigError`).
    """
    from empg_jax.training import ConfigError

    argv = list(sys.argv if argv is None else [sys.argv[0], *argv])
    given = any(a == "--config" or a.startswith("--config=") for a in argv[1:])
    if default_config is not None and not given:
        argv.insert(1, f"--config={default_config}")
    try:
        _parse(flag_values, list(argv))
        status = main()
    except ConfigError as e:  # one line per problem
        for line in str(e).splitlines() or [type(e).__name__]:
            print(f"error: {line}", file=sys.stderr, flush=True)
        return USAGE
    except UsageError as e:
        print(f"error: {one_line(e)}", file=sys.stderr, flush=True)
        return USAGE
    return 0 if status is None else int(status)


def required(flag_values: flags.FlagValues, *names: str) -> None:
    """Marks flags required: checked by `run` with a one-line error."""
    for name in names:
        flag_values[name]._required = True
