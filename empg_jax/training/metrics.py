"""Metrics writers: a JSONL file, TensorBoard via tensorboardX (no TensorFlow) and progress on the
terminal (`training.progress`: a live bar on a terminal, plain lines in CI and log files). In a
multi-process run only process 0 writes files and progress; every process prints its own log
lines, prefixed with its index."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from empg_jax.training.distributed import is_primary, process_prefix, to_host
from empg_jax.training.progress import Progress


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
      enabled: write files and progress (default: on process 0 only).
      live: draw a progress bar (default: when `stream` is a terminal and `CI` is not set).

    On resume, `truncate(phase, step)` drops the JSONL lines the interrupted run wrote after its
    checkpoint (they are written again), so a resumed run's file equals the uninterrupted one.
    """

    def __init__(
        self,
        workdir: str | Path,
        tensorboard: bool = True,
        stream=None,
        enabled: bool | None = None,
        live: bool | None = None,
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
        self._progress = Progress(self.stream, live=live and self.enabled)

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
        """One line on the progress stream, above the progress bar when there is one (every
        process; prefixed with its index)."""
        self._progress.write(process_prefix() + message)

    def begin(self, phase: str, total: int, done: int = 0) -> None:
        """Starts the progress of `phase` (`done` of `total` steps already made, on resume)."""
        if self.enabled:
            self._progress.begin(phase, total, done)

    def progress(
        self, phase: str, step: int, total: int, scalars: dict[str, float], keys, every: int = 1
    ) -> None:
        """Step `step` of `phase` is done: the bar advances (on a terminal) and, every `every`
        steps and at the last one, `[rl  12/40  3m05s 15.4s/it eta 7m11s] success 0.41 ...`
        is written (`training.progress`; process 0 only)."""
        if self.enabled:
            self._progress.update(phase, step, total, scalars, keys, every)

    def close(self) -> None:
        self._progress.close()
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
