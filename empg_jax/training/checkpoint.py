"""A thin wrapper around orbax's `CheckpointManager` (stack.md §6): async saves, keep the last N,
resume from the latest step, and JSON metadata (loop state) saved next to the train state.

The train state is saved as a pure pytree of arrays (`nnx.State` leaves are converted with
`jax.tree` paths, so any pytree works); restoring maps every leaf of a template to a
`jax.ShapeDtypeStruct` carrying the template's sharding, so a sharded run restores sharded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp


def _flat(tree: Any) -> dict[str, Any]:
    """Pytree -> {path string: leaf}: a plain dict orbax saves whatever the container types."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): x for p, x in leaves}


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
            self.directory, options=options, item_names=("state", "meta")
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(_flat(state)), meta=ocp.args.JsonSave(meta)
            ),
            force=True,
        )

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restores into the structure (and shardings) of `template`; latest step by default."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise ValueError(f"no checkpoint in {self.directory}")

        def abstract(x):
            sharding = getattr(x, "sharding", None)
            return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

        flat_template = _flat(template)
        out = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(jax.tree.map(abstract, flat_template)),
                meta=ocp.args.JsonRestore(),
            ),
        )
        flat = out["state"]
        leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
        restored = [flat[jax.tree_util.keystr(p)] for p, _ in leaves]
        return jax.tree_util.tree_unflatten(treedef, restored), dict(out["meta"])

    def read_meta(self, step: int | None = None) -> dict[str, Any]:
        step = self.latest_step() if step is None else step
        out = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(out["meta"])

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
