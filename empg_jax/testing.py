"""Test utilities shared by the whole suite: rlax-style execution variants.

Every pure function of `ops`, `losses` and the environments is checked three ways (un-jitted,
jitted, vmapped) against the same expected values. `run_variants` gives the three results so a test
reads as `for name, out in run_variants(fn, x, y): np.testing.assert_allclose(out, want)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp

VARIANTS = ("unjitted", "jitted", "vmapped")


def _stack_twice(tree: Any) -> Any:
    return jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * 2), tree)


def variant(fn: Callable[..., Any], name: str, **static_kwargs: Any) -> Callable[..., Any]:
    """Returns `fn` transformed by the named variant, with `static_kwargs` bound (never traced).

    `vmapped` maps over a new leading axis of size 2 made by stacking every positional argument
    with itself, runs `fn` on it and returns the first row, so the result must equal the plain call.
    """
    bound = functools.partial(fn, **static_kwargs)
    if name == "unjitted":
        return bound
    if name == "jitted":
        return jax.jit(bound)
    if name == "vmapped":

        def mapped(*args: Any) -> Any:
            out = jax.jit(jax.vmap(bound))(*_stack_twice(args))
            return jax.tree.map(lambda x: x[0], out)

        return mapped
    raise ValueError(f"unknown variant {name!r}; expected one of {VARIANTS}")


def run_variants(
    fn: Callable[..., Any], *args: Any, **static_kwargs: Any
) -> Iterator[tuple[str, Any]]:
    """Yields `(variant_name, fn(*args, **static_kwargs))` for every variant in `VARIANTS`."""
    for name in VARIANTS:
        yield name, variant(fn, name, **static_kwargs)(*args)
