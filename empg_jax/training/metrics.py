"""Metrics writers: a JSONL file, TensorBoard via tensorboardX (no TensorFlow needed) and a
compact one-line progress report on the terminal. In a multi-process run only process 0 writes
files; every process prints its own log lines, prefixed with its index."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from empg_jax.training.distributed import is_primary, process_prefix, to_host


def to_python(metrics: dict[str, Any]) -> dict[str, float]:
    """Scalars (jax/numpy) -> python floats; non-scalars are dropped."""
    out = {}
    for k, v in metrics.items():
        a = to_host(v)
        if a.ndim == 0 and a.dtype.kind in "biuf":
            out[k] = float(a)
    return out


class MetricsWriter:
    """Writes `{step, phase, **scalars}` lines to `<workdir>/metrics.jsonl` and TensorBoard.

    Args:
      workdir: run folder.
      tensorboard: also write `<workdir>/tb` event files.
      stream: where progress lines go (default stdout).
      enabled: write files (default: on process 0 only).

    On resume, `truncate(phase, step)` drops the JSONL lines the interrupted run wrote after its
    checkpoint (they are written again), so a resumed run's file equals the uninterrupted one.
    """

    def __init__(
        self,
        workdir: str | Path,
        tensorboard: bool = True,
        stream=None,
        enabled: bool | None = None,
    ):
        self.workdir = Path(workdir)
        self.path = self.workdir / "metrics.jsonl"
        self.enabled = is_primary() if enabled is None else enabled
        self.stream = stream if stream is not None else sys.stdout
        self._tb = None
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if tensorboard and self.enabled:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(Path(workdir) / "tb"))
        self._t0 = time.perf_counter()

    def _lines(self) -> list[str]:
        """The file's lines; a line that is not JSON (a torn write) is dropped with a message."""
        good = []
        for i, line in enumerate(self.path.read_text().splitlines()):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except json.JSONDecodeError:
                self.log(f"[metrics] dropping line {i + 1} of {self.path} (not JSON: a torn write)")
                continue
            good.append(line)
        return good

    def reset(self) -> None:
        """Empties the file: a start with no checkpoint to resume from starts the record anew."""
        if self.enabled and self.path.exists() and self.path.stat().st_size:
            self.log(f"[metrics] no checkpoint to resume from: starting {self.path} anew")
            self.path.write_text("")

    def truncate(self, phase: str, step: int, keep_before: bool = True) -> None:
        """Drops JSONL lines after the checkpoint `(phase, step)` (resume after an interruption):
        the line of `phase` at `step` stays, evaluations at `step` go (the loop redoes the ones
        that belong there), and `eval_before` lines go unless `keep_before`.

        Order: every SFT line comes before every RL / evaluation line.
        """
        if not self.enabled or not self.path.exists():
            return
        order = lambda ph: 0 if ph == "sft" else 1  # noqa: E731
        cut = (order(phase), step)
        keep = []
        for line in self._lines():
            rec = json.loads(line)
            pos = (order(rec.get("phase")), rec.get("step", 0))
            if rec.get("phase") == "eval_before":
                if keep_before:
                    keep.append(line)
            elif pos < cut or (pos == cut and rec.get("phase") == phase):
                keep.append(line)
        self.path.write_text("".join(k + "\n" for k in keep))

    def write(self, phase: str, step: int, metrics: dict[str, Any]) -> dict[str, float]:
        scalars = to_python(metrics)
        if not self.enabled:
            return scalars
        rec = {"phase": phase, "step": int(step), **scalars}
        with self.path.open("a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")
        if self._tb is not None:
            for k, v in scalars.items():
                if math.isfinite(v):
                    self._tb.add_scalar(f"{phase}/{k}", v, int(step))
        return scalars

    def log(self, message: str) -> None:
        """One line on the progress stream (every process; prefixed with its index)."""
        print(process_prefix() + message, file=self.stream, flush=True)

    def progress(self, phase: str, step: int, total: int, scalars: dict[str, float], keys) -> None:
        """`[rl  12/40  3m05s] success 0.41 reward 4.1 ...` on one line (process 0)."""
        if not self.enabled:
            return
        el = time.perf_counter() - self._t0
        parts = [f"[{phase:<4} {step:>4}/{total:<4} {int(el // 60)}m{int(el % 60):02d}s]"]
        for k in keys:
            if k in scalars:
                parts.append(f"{k} {scalars[k]:.3g}")
        print(" ".join(parts), file=self.stream, flush=True)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of a JSONL file; lines that are not JSON (a torn last write) are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
