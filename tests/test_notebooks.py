"""Every analysis notebook executes headless from top to bottom (a raising cell fails the test)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.render import notebooks

ROOT = Path(__file__).resolve().parents[1]


def test_there_are_notebooks():
    assert any(p.stem == "logit_dynamics" for p in notebooks())


@pytest.mark.slow
@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    # PYTHONPATH: the checkout's own library, also from a worktree beside an editable install.
    env = dict(os.environ, MPLBACKEND="Agg", EMPG_FIGURES_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    # One device is enough here; the notebook must not depend on the simulated mesh.
    env["XLA_FLAGS"] = ""
    result = subprocess.run(
        [sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(tmp_path.glob("*.png")), "the notebook wrote no figure"
