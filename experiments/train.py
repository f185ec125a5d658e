"""Train an agent: `python -m experiments.train --config=configs/household/grpo_empg.py
--config.seed=1 --workdir=runs/x` (any `--config.<field>=value` override; resumes automatically)."""

from __future__ import annotations

import re
import sys

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "configs/<env>/<algo>.py[:variant]")
_WORKDIR = flags.DEFINE_string("workdir", None, "run folder (metrics, checkpoints)")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv
    from empg_jax.training import ConfigError, train

    try:
        summary = train(_CONFIG.value, _WORKDIR.value)
    except ConfigError as e:  # one line per problem, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    print({"before": summary["before"], "after": summary["after"]})
    return 0


def parse_flags(argv):
    """absl flag parsing with one-line errors (config_flags raises raw KeyErrors for unknown
    override fields)."""
    try:
        return flags.FLAGS(argv)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as e:
        text = " ".join(str(e).replace("\\n", " ").replace("\\'", "'").split())
        guess = re.search(r'Did you mean "(\w+)" instead of "(\w+)"', text)
        if guess:
            text = f"unknown config field {guess[2]!r} (did you mean {guess[1]!r}?)"
        elif isinstance(e, KeyError | AttributeError):
            text = "unknown config field '" + text.strip("'\"") + "'"
        print(f"error: bad flag: {text}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
