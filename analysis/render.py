"""Executes every jupytext notebook in analysis/ into an .ipynb beside it (and its PNG figures).

`make notebooks` runs this. The percent-format `.py` files are the source of truth; the rendered
`.ipynb` files are build outputs (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ANALYSIS = Path(__file__).resolve().parent


def notebooks() -> list[Path]:
    """The jupytext percent-format notebooks of analysis/ (files with a jupytext header)."""
    found = []
    for path in sorted(ANALYSIS.glob("*.py")):
        head = path.read_text(encoding="utf-8")[:400]
        if head.startswith("# ---") and "jupytext" in head:
            found.append(path)
    return found


def render(path: Path, timeout_s: int) -> Path:
    import jupytext
    import nbclient

    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(ANALYSIS.parent)}},
    )
    client.execute()
    out = path.with_suffix(".ipynb")
    jupytext.write(notebook, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="notebook stems to render (default: all)")
    parser.add_argument("--timeout", type=int, default=900, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    selected = [p for p in notebooks() if not args.names or p.stem in args.names]
    if not selected:
        print(f"no notebook matches {args.names}; available: {[p.stem for p in notebooks()]}")
        return 2
    for path in selected:
        start = time.perf_counter()
        print(f"[notebooks] executing {path.relative_to(ANALYSIS.parent)} ...", flush=True)
        out = render(path, args.timeout)
        took = time.perf_counter() - start
        print(f"[notebooks] wrote {out.relative_to(ANALYSIS.parent)} in {took:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
