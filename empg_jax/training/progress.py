"""Progress on long work: a live `tqdm` bar on a terminal, plain lines everywhere else.

On a terminal (the stream's `isatty()`, no `CI` variable, `TERM` not `dumb`) each phase (SFT, RL)
gets a bar with its rate and ETA; the RL bar's postfix also shows the iteration's wall-time split
(rollout / update / eval) and the rollout and update tokens/s. Everywhere else (CI, a log file,
a pipe) nothing redraws: every `every` steps, and at the last step, one plain line

    [rl    12/40    3m05s 15.4s/it eta 7m11s] success 0.41 reward 4.1 | rollout 9.1s update
    5.2s eval 1.1s | tok/s rollout 1.2k update 3.4k

(one line; wrapped here) is written. A terminal gets the same lines above its bar, so the
history of the run stays on screen. The rate and ETA leave out a phase's first step (it compiles)
once a later step is done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from tqdm import tqdm

#: Metric keys of the wall-time split and throughput of one RL iteration (seconds, tokens/s).
SPLIT_KEYS = (("rollout", "time/rollout_s"), ("update", "time/update_s"), ("eval", "time/eval_s"))
RATE_KEYS = (("rollout", "time/rollout_tokens_per_s"), ("update", "time/update_tokens_per_s"))


def is_terminal(stream) -> bool:
    """Whether `stream` is an interactive terminal that may redraw a bar (never under CI)."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


def duration(seconds: float) -> str:
    """`45s`, `3m05s`, `2h07m` (elapsed time and ETA)."""
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def per_second(value: float) -> str:
    """`340`, `1.2k`, `3.4M` (tokens/s)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.1f}{suffix}"
    return f"{value:.0f}"


def rate(steps: int, seconds: float) -> str:
    """`2.50it/s` at one step per second or faster, `15.4s/it` below."""
    if steps <= 0 or seconds <= 0:
        return "?it/s"
    per = steps / seconds
    return f"{per:.2f}it/s" if per >= 1 else f"{seconds / steps:.1f}s/it"


def split_text(scalars: dict[str, float]) -> str:
    """`rollout 9.1s update 5.2s eval 1.1s | tok/s rollout 1.2k update 3.4k` (the keys present)."""
    parts = []
    split = [f"{name} {scalars[k]:.1f}s" for name, k in SPLIT_KEYS if k in scalars]
    if split:
        parts.append(" ".join(split))
    rates = [f"{name} {per_second(scalars[k])}" for name, k in RATE_KEYS if k in scalars]
    if rates:
        parts.append("tok/s " + " ".join(rates))
    return " | ".join(parts)


def metrics_text(scalars: dict[str, float], keys: Iterable[str]) -> str:
    """`success 0.41 reward 4.1` for the keys present (3 significant digits)."""
    return " ".join(f"{k} {scalars[k]:.3g}" for k in keys if k in scalars)


class Progress:
    """Progress of the phases of one run on `stream`.

    Args:
      stream: where lines (and the bar) go.
      live: draw a bar; default `is_terminal(stream)`.
      clock: seconds (injectable for tests).
      mininterval: the bar's least seconds between redraws.

    `begin(phase, total, done)` starts a phase (`done` steps already made, on resume), `update`
    reports a finished step, `write` prints a line (above the bar when there is one), `close`
    ends the bar.
    """

    def __init__(
        self,
        stream,
        *,
        live: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
        mininterval: float = 0.1,
    ):
        self.stream = stream
        self.live = is_terminal(stream) if live is None else live
        self.clock = clock
        self.mininterval = mininterval
        self.t_run = clock()
        self.phase: str | None = None
        self.total = 0
        self.done0 = 0
        self.t_phase = self.t_run
        self._first: tuple[int, float] | None = None
        self._bar: tqdm | None = None

    def begin(self, phase: str, total: int, done: int = 0) -> None:
        self.close()
        self.phase, self.total, self.done0 = phase, int(total), int(done)
        self.t_phase = self.clock()
        self._first = None  # (step, time) of the phase's first update
        if self.live and self.total > 0:
            self._bar = tqdm(
                total=self.total,
                initial=self.done0,
                desc=phase,
                unit="it" if phase == "rl" else "step",
                file=self.stream,
                dynamic_ncols=True,
                mininterval=self.mininterval,
                leave=True,
            )

    def line(self, step: int, scalars: dict[str, float], keys: Iterable[str]) -> str:
        """The plain progress line of `step` of the current phase."""
        now = self.clock()
        made, spent = step - self.done0, now - self.t_phase
        if self._first is not None and step > self._first[0]:
            # Leave out the phase's first step (it compiles): the rate of the steps since.
            made, spent = step - self._first[0], now - self._first[1]
        head = f"[{self.phase:<4} {step:>4}/{self.total:<4} {duration(now - self.t_run):>6}"
        head += f" {rate(made, spent)}"
        if 0 < made and step < self.total:
            head += f" eta {duration((self.total - step) * spent / made)}"
        text = head + "]"
        for part in (metrics_text(scalars, keys), split_text(scalars)):
            if part:
                text += (" " if text.endswith("]") else " | ") + part
        return text

    def update(
        self, phase: str, step: int, total: int, scalars: dict[str, float], keys, every: int = 1
    ) -> None:
        """Step `step` (1-based) of `phase` is done: advance the bar; every `every` steps and at
        the last one, also write the plain line. The last step closes the bar."""
        if phase != self.phase or total != self.total:
            self.begin(phase, total, step - 1)  # a phase nobody began: rate from here on
        keys = tuple(keys)
        if self._first is None:
            self._first = (step, self.clock())
        if self._bar is not None:
            shown = [metrics_text(scalars, keys[:2]), split_text(scalars)]
            self._bar.set_postfix_str(" | ".join(p for p in shown if p), refresh=False)
            self._bar.update(step - self._bar.n)
        if step == total or (every > 0 and step % every == 0):
            self.write(self.line(step, scalars, keys))
        if step == total and self._bar is not None:  # the phase is done: its bar stays as is
            self._bar.close()
            self._bar = None

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self.phase = None
