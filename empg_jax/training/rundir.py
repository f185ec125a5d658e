"""The workdir is the unit of a run: one trainer at a time, and one config per run.

- `WorkdirLock`: `<workdir>/.lock` holds the trainer's PID and host. A second trainer is refused
  in one line; a lock left by a dead process on this host is taken over with a message.
- `check_config`: the first start writes `config.json`; every later start compares the new config
  with it and refuses, one line per differing field, unless the caller allows the changes that
  are safe on resume (`RESUMABLE_ANYTIME`, and `RESUMABLE_BEFORE_RL` while RL has not started).
  An allowed change keeps the previous file as `config_history/config.<k>.json`; `config.json`
  is never silently overwritten.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import ml_collections

from empg_jax.training.config import ConfigError, flat_items, from_json

#: Fields that may change on any resume (with the caller's permission): how long RL runs, how
#: and how often it is evaluated, logged and checkpointed. None of them changes the training
#: trajectory up to the checkpoint.
RESUMABLE_ANYTIME = ("rl.iterations", "eval.", "log.", "checkpoint.")
#: Fields that may also change while RL has not started (the end-of-SFT checkpoint): every RL
#: setting. This is how RL variants start from one SFT run (copy the workdir, change `rl.*`).
RESUMABLE_BEFORE_RL = ("rl.",)


class RunDirError(ConfigError):
    """The workdir cannot be used as asked (locked by another trainer, or another config)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkdirLock:
    """An exclusive lock on a workdir for the life of a trainer (a context manager)."""

    def __init__(self, workdir: str | Path, log=print):
        self.path = Path(workdir) / ".lock"
        self.log = log
        self.held = False

    def _owner(self) -> dict[str, Any] | None:
        try:
            owner = json.loads(self.path.read_text())
            return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None:
                    self.log(f"[workdir] {self.path} is unreadable; taking it over")
                elif owner.get("host") == me["host"] and not _alive(owner["pid"]):
                    self.log(
                        f"[workdir] taking over the lock of process {owner['pid']}, which is "
                        "no longer running"
                    )
                else:
                    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(owner.get("since", 0)))
                    raise RunDirError(
                        f"workdir {self.path.parent} is in use by process {owner['pid']} on "
                        f"{owner.get('host')} (since {started}); wait for it, use another "
                        f"--workdir, or delete {self.path} if that process is gone"
                    ) from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return
        raise RunDirError(f"could not take the lock {self.path} (another trainer raced for it)")

    def release(self) -> None:
        if self.held and (self._owner() or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def config_differences(saved: ml_collections.ConfigDict, new: ml_collections.ConfigDict):
    """`[(field, saved value, new value)]` for every field that differs (sorted by field)."""
    old, cur = flat_items(saved), flat_items(new)
    out = []
    for name in sorted(set(old) | set(cur)):
        a, b = old.get(name, "<absent>"), cur.get(name, "<absent>")
        if not _same(a, b):
            out.append((name, a, b))
    return out


def _allowed(field: str, rl_started: bool) -> bool:
    prefixes = RESUMABLE_ANYTIME + (() if rl_started else RESUMABLE_BEFORE_RL)
    return any(field == p or (p.endswith(".") and field.startswith(p)) for p in prefixes)


def check_config(
    workdir: str | Path,
    config: ml_collections.ConfigDict,
    *,
    allow_changes: bool,
    rl_started: bool,
    log=print,
) -> None:
    """Writes `config.json` on a first start; on a later start refuses a different config
    (one line per differing field) unless `allow_changes` and every difference is resumable.

    `rl_started`: the run's newest checkpoint is past the first RL iteration (then `rl.*` is
    fixed). Call it before anything else in the workdir is written.
    """
    path = Path(workdir) / "config.json"
    text = config.to_json_best_effort(indent=2)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    diffs = config_differences(from_json(path), config)
    if not diffs:
        return
    lines = [f"{f}: {a!r} in the run, {b!r} now" for f, a, b in diffs]
    fixed = [f for f, _, _ in diffs if not _allowed(f, rl_started)]
    if fixed or not allow_changes:
        if fixed:
            when = " once RL has started" if rl_started else ""
            why = f"{', '.join(fixed)} cannot change on resume{when}; use a new --workdir"
        else:
            why = "pass --allow_config_changes to resume with these changes"
        raise RunDirError(
            f"{path.parent} was run with another config:\n" + "\n".join(lines) + f"\n{why}"
        )
    history = path.parent / "config_history"
    history.mkdir(exist_ok=True)
    k = 1 + sum(1 for _ in history.glob("config.*.json"))
    path.rename(history / f"config.{k}.json")
    path.write_text(text)
    changed = ", ".join(f for f, _, _ in diffs)
    log(f"[workdir] resuming with changed {changed} (old config: {history}/config.{k}.json)")
