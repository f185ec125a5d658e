"""A thin wrapper around orbax's `CheckpointManager`: async saves, keep the last N, restore the
newest intact step, and JSON metadata (the loop state) saved with the train state.

A checkpoint holds three items: `params` (the policy parameters), `train` (the rest of the train
state: step, optimiser state, key, KL reference) and `meta` (JSON). Evaluation restores `params`
alone, so a damaged optimiser moment never blocks evaluating a policy. Trees are saved as plain
`{path: array}` dicts (`jax.tree_util` paths, so any pytree works); restoring maps every leaf of a
template to a `jax.ShapeDtypeStruct` with the template's sharding, so a sharded run restores
sharded.

A damaged newest step (truncated array data, missing metadata, half-written JSON) is reported in
one line and the newest intact step is used instead (`restore_newest`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


def _flat(tree: Any) -> dict[str, Any]:
    """Pytree -> {path string: leaf}: a plain dict orbax saves whatever the container types."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): x for p, x in leaves}


def _abstract(x):
    return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None))


def _unflat(template: Any, flat: dict[str, Any]) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
    return jax.tree_util.tree_unflatten(treedef, [flat[jax.tree_util.keystr(p)] for p, _ in leaves])


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


class CheckpointError(ValueError):
    """No checkpoint (or no intact one) to restore."""


@dataclasses.dataclass
class Restored:
    """What `restore_newest` found: the step, the restored value, and the damaged steps skipped
    (`(step, one-line reason)`, newest first)."""

    step: int
    value: Any
    skipped: list[tuple[int, str]]


class Checkpointer:
    """Saves and restores `(train state, JSON metadata)` pairs by integer step.

    Args:
      directory: checkpoint folder (created).
      max_to_keep: keep the last N checkpoints.
      async_save: orbax asynchronous checkpointing (the save returns while files are written).
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 2, async_save: bool = True):
        if max_to_keep < 1:
            raise ValueError(f"checkpoint.keep must be >= 1, got {max_to_keep}")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=True
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("params", "train", "meta")
        )

    def steps(self) -> list[int]:
        """Saved steps on disk, oldest first."""
        self.manager.reload()
        return sorted(self.manager.all_steps())

    def latest_step(self) -> int | None:
        steps = self.steps()
        return steps[-1] if steps else None

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Saves `state` (a `TrainState`: its `params` apart from the rest) and `meta`."""
        self.manager.save(
            step,
            args=ocp.args.Composite(
                params=ocp.args.StandardSave(_flat(state.params)),
                train=ocp.args.StandardSave(_flat(state.replace(params=None))),
                meta=ocp.args.JsonSave(meta),
            ),
            force=True,
        )

    def restore(self, template: Any, step: int) -> tuple[Any, dict[str, Any]]:
        """The state (with the structure and shardings of `template`) and meta of `step`."""
        rest = template.replace(params=None)
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                params=ocp.args.StandardRestore(jax.tree.map(_abstract, _flat(template.params))),
                train=ocp.args.StandardRestore(jax.tree.map(_abstract, _flat(rest))),
                meta=ocp.args.JsonRestore(),
            ),
        )
        state = _unflat(rest, out["train"]).replace(params=_unflat(template.params, out["params"]))
        return state, dict(out["meta"])

    def restore_params(self, template_params: Any, step: int) -> Any:
        """The policy parameters of `step` alone (the optimiser state is not read)."""
        abstract = jax.tree.map(_abstract, _flat(template_params))
        out = self.manager.restore(
            step, args=ocp.args.Composite(params=ocp.args.StandardRestore(abstract))
        )
        return _unflat(template_params, out["params"])

    def read_meta(self, step: int) -> dict[str, Any]:
        out = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        meta = out["meta"]
        if not isinstance(meta, dict):
            raise CheckpointError(f"checkpoint {step}: metadata is not a JSON object")
        return dict(meta)

    def restore_newest(self, restore_step: Callable[[int], Any]) -> Restored:
        """`restore_step(step)` for the newest step it succeeds on.

        Any failure of a step (orbax, tensorstore, JSON, a structure mismatch) moves on to the
        next older step; the failures are returned in `skipped`. Raises `CheckpointError` when no
        step restores.
        """
        skipped: list[tuple[int, str]] = []
        for step in reversed(self.steps()):
            try:
                return Restored(step, restore_step(step), skipped)
            except Exception as e:  # noqa: BLE001 - any damage means: try the previous step
                skipped.append((step, _reason(e)))
        if not skipped:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        detail = "; ".join(f"{s}: {r}" for s, r in skipped)
        raise CheckpointError(f"no intact checkpoint in {self.directory} ({detail})")

    def set_aside(self, step: int) -> Path:
        """Moves a damaged step out of the checkpoint folder (to `<folder>_damaged/<step>`), so
        the run can save that step again; returns where it went."""
        src = self.directory / str(step)
        dest = self.directory.parent / f"{self.directory.name}_damaged" / str(step)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            import shutil

            shutil.rmtree(dest)
        src.rename(dest)
        self.manager.reload()
        return dest

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
