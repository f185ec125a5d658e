"""Runs the first python block of README.md's `losses` section, so the documented example works."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
SECTION = re.compile(r"<!-- section:losses -->(.*?)<!-- /section:losses -->", re.DOTALL)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def readme_example() -> str:
    section = SECTION.search(README.read_text(encoding="utf-8"))
    assert section is not None, "README.md has no losses section markers"
    block = PYTHON_BLOCK.search(section.group(1))
    assert block is not None, "the losses section has no ```python block"
    return block.group(1)


def test_readme_losses_example_runs():
    code = readme_example()
    for name in ("group_advantages", "empg_token_advantages", "ppo_policy_loss", "jax.jit"):
        assert name in code, f"the README example no longer shows {name}"
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(code, f"{README}:losses", "exec"), namespace)
    # The example ends with a finite scalar loss.
    assert float(namespace["loss"]) == float(namespace["loss"])
