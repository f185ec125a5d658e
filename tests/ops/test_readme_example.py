"""The README's `empg_jax.ops` example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_ops_readme_example_runs():
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- section:ops -->", 1)[1].split("<!-- /section:ops -->", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "the ops section lost its example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md#ops", "exec"), namespace)
    assert namespace["ent_BxT"].shape == (2, 5)
    assert float(namespace["ent_BxT"][1, 4]) == 0.0  # padded position
    assert namespace["counts"].tolist() == [5, 3]
