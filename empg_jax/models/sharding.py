"""Logical-axis sharding: one rules table, mesh construction, and helpers that place a model,
an optimiser or any nnx state on a mesh (MaxText/Levanter style).

Every parameter carries `logical_axes` metadata (e.g. `("embed", "mlp")`) and the main
activations are constrained with `constrain(x, ("batch", "length", "embed"))`. `AXIS_RULES` maps
each logical name to mesh axes of the mesh `(data, fsdp, tensor, expert)`. When resolving one
array's names, a mesh axis already used by an earlier dimension is skipped, as are mesh axes the
mesh lacks, size-1 axes and axes that do not divide the dimension. So the same table serves
parameters (`embed` -> `fsdp`, ZeRO-3 style) and activations (`batch` takes `data` and `fsdp`
first, leaving `embed` replicated).

Meshes use `AxisType.Auto` (GSPMD propagation): jax 0.10's default Explicit axes would require
`out_sharding` on every sharded contraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import nnx
from jax.sharding import AxisType, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor", "expert")

AXIS_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("batch", ("data", "fsdp")),
    ("length", ()),
    ("embed", ("fsdp",)),
    ("heads", ("tensor",)),
    ("kv_heads", ("tensor",)),
    ("head_dim", ()),
    ("mlp", ("tensor",)),
    ("vocab", ("tensor",)),
    ("expert", ("expert",)),
)

LogicalAxes = Sequence[str | None]


def _rules_dict(rules: Sequence[tuple[str, Any]]) -> dict[str, tuple[str, ...]]:
    out = {}
    for name, mesh_axes in rules:
        if mesh_axes is None:
            mesh_axes = ()
        elif isinstance(mesh_axes, str):
            mesh_axes = (mesh_axes,)
        out[name] = tuple(mesh_axes)
    return out


def logical_to_spec(
    logical_axes: LogicalAxes,
    mesh_shape: dict[str, int],
    shape: Sequence[int] | None = None,
    rules: Sequence[tuple[str, Any]] = AXIS_RULES,
) -> PartitionSpec:
    """Resolves logical axis names to a `PartitionSpec` for a mesh with axis sizes `mesh_shape`.

    Args:
      logical_axes: one name (or None for replicated) per array dimension.
      mesh_shape: mesh axis name -> size (`dict(mesh.shape)`).
      shape: the array's shape; when given, mesh axes that do not divide a dimension are dropped.
      rules: (logical name, mesh axis or tuple of mesh axes) pairs; default `AXIS_RULES`.
    """
    table = _rules_dict(rules)
    if shape is not None and len(shape) != len(logical_axes):
        raise ValueError(f"logical axes {tuple(logical_axes)} do not match array shape {shape}")
    used: set[str] = set()
    spec = []
    for dim, name in enumerate(logical_axes):
        if name is None:
            spec.append(None)
            continue
        if name not in table:
            raise ValueError(f"unknown logical axis {name!r}; the rules table has {sorted(table)}")
        chosen = []
        size = 1
        for mesh_axis in table[name]:
            n = mesh_shape.get(mesh_axis, 1)
            if mesh_axis in used or n == 1:
                continue
            if shape is not None and shape[dim] % (size * n):
                continue
            chosen.append(mesh_axis)
            size *= n
        used.update(chosen)
        spec.append(None if not chosen else chosen[0] if len(chosen) == 1 else tuple(chosen))
    return PartitionSpec(*spec)


def make_mesh(
    shape: Sequence[int],
    axis_names: Sequence[str] | None = None,
    devices: Sequence[Any] | None = None,
) -> jax.sharding.Mesh:
    """Builds a mesh with `AxisType.Auto` axes; names default to the first `len(shape)` of
    `MESH_AXES`, e.g. `make_mesh((4, 2, 1))` is a (data, fsdp, tensor) mesh."""
    shape = tuple(int(s) for s in shape)
    names = tuple(axis_names) if axis_names is not None else MESH_AXES[: len(shape)]
    if len(names) != len(shape):
        raise ValueError(f"mesh shape {shape} and axis names {names} differ in length")
    unknown = set(names) - set(MESH_AXES)
    if unknown:
        raise ValueError(f"unknown mesh axes {sorted(unknown)}; use names from {MESH_AXES}")
    n = int(np.prod(shape))
    if devices is None:
        if jax.device_count() < n:
            raise ValueError(f"mesh {shape} needs {n} devices; have {jax.device_count()}")
        devices = jax.devices()[:n]
    return jax.make_mesh(shape, names, axis_types=(AxisType.Auto,) * len(shape), devices=devices)


def _is_var(x: Any) -> bool:
    return isinstance(x, nnx.Variable)


def _leaf_sharding(x: Any, mesh: jax.sharding.Mesh, rules: Any) -> Any:
    value = x.get_value() if _is_var(x) else x
    if not hasattr(value, "shape"):
        return None
    names = x.get_metadata().get("logical_axes") if _is_var(x) else None
    if names is None:
        spec = PartitionSpec()
    else:
        spec = logical_to_spec(names, dict(mesh.shape), value.shape, rules)
    return NamedSharding(mesh, spec)


def state_shardings(tree: Any, mesh: jax.sharding.Mesh, rules: Any = AXIS_RULES) -> Any:
    """`NamedSharding` for every array in an nnx State (or any pytree of Variables and arrays):
    from each Variable's `logical_axes` metadata (optimizer moments inherit it from their
    parameter), replicated otherwise."""
    return jax.tree.map(lambda x: _leaf_sharding(x, mesh, rules), tree, is_leaf=_is_var)


def shard_state(tree: Any, mesh: jax.sharding.Mesh, rules: Any = AXIS_RULES) -> Any:
    """Returns `tree` (an nnx State or pytree of Variables/arrays) placed on `mesh`."""
    shardings = state_shardings(tree, mesh, rules)
    flat, treedef = jax.tree.flatten(tree, is_leaf=_is_var)
    flat_sh = jax.tree.leaves(shardings, is_leaf=lambda s: isinstance(s, NamedSharding))
    if len(flat) != len(flat_sh):
        raise ValueError("could not derive one sharding per leaf of the state")
    placed = []
    for leaf, sh in zip(flat, flat_sh, strict=True):
        if _is_var(leaf):
            placed.append(leaf.replace(jax.device_put(leaf.get_value(), sh)))
        else:
            placed.append(jax.device_put(leaf, sh))
    return jax.tree.unflatten(treedef, placed)


def shard_module(module: Any, mesh: jax.sharding.Mesh, rules: Any = AXIS_RULES) -> Any:
    """Places every Variable of an nnx Module (a model, or an `nnx.Optimizer`) on `mesh`, in
    place, and returns the module."""
    state = nnx.state(module)
    nnx.update(module, shard_state(state, mesh, rules))
    return module


def constrain(x: jax.Array, logical_axes: LogicalAxes, rules: Any = AXIS_RULES) -> jax.Array:
    """Sharding constraint on an activation from logical names; a no-op outside `jax.set_mesh`
    (or on a one-device mesh), so model code runs unchanged on one device."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or mesh.size == 1:
        return x
    spec = logical_to_spec(logical_axes, dict(mesh.shape), x.shape, rules)
    return jax.lax.with_sharding_constraint(x, spec)


def to_host(x):
    """A host NumPy copy of an array, also of a global array spread over several processes
    (an all-gather); on one process it is `np.asarray`."""
    import numpy as np

    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)
