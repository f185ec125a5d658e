"""Text assembly inside `jit`: numbers and values as tokens, templates and texts with slots filled.

Every function returns fixed-size, left-aligned, `<pad>`-padded token vectors
(`core.compact_tokens`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.workforce.tables import VAL_W, WorkforceTables
from empg_jax.envs.workforce.world import CITY, NUMBER, PERSON

#: The largest magnitude a value may have (six digits).
MAX_VALUE = 999_999
#: Powers of ten as a table (an integer `10 ** traced` lowers to a loop).
POW10 = tuple(10**i for i in range(7))


def number_tokens(tab: WorkforceTables, v: jax.Array, width: int = VAL_W) -> jax.Array:
    """The digits of an integer |v| <= MAX_VALUE without leading zeros, "-" first if negative.

    Built by gathers alone (no compaction): this runs in every step's observation.
    """
    pad = tab.tokenizer.pad_id
    v = jnp.asarray(v, jnp.int32)
    a = jnp.minimum(jnp.abs(v), MAX_VALUE)
    n = 1 + jnp.sum(a >= jnp.asarray(POW10[1:6], jnp.int32))  # number of digits
    neg = (v < 0).astype(jnp.int32)
    i = jnp.arange(width, dtype=jnp.int32)
    place = n - 1 - (i - neg)  # the power of ten shown at position i
    digit = (a // jnp.asarray(POW10, jnp.int32)[jnp.clip(place, 0, 5)]) % 10
    out = jnp.where((place >= 0) & (place < n), tab.digit_ids[digit], pad)
    return jnp.where((i == 0) & (neg == 1), tab.ids["-"], out).astype(jnp.int32)


def value_tokens(tab: WorkforceTables, state, value_2: jax.Array) -> jax.Array:
    """A value `(kind, value)` as text `[VAL_W]`: digits, or the entity's name (NONE: empty)."""
    pad = tab.tokenizer.pad_id
    kind, v = value_2[0], value_2[1]
    name = jnp.where(
        kind == CITY,
        state.city_names[jnp.clip(v, 0, state.city_names.shape[0] - 1)],
        state.person_names[jnp.clip(v, 0, state.person_names.shape[0] - 1)],
    )
    name_row = jnp.full((VAL_W,), pad, jnp.int32).at[0].set(name)
    out = jnp.where(kind == NUMBER, number_tokens(tab, v), pad)
    return jnp.where((kind == CITY) | (kind == PERSON), name_row, out).astype(jnp.int32)


def fill_template(template: tuple[jax.Array, jax.Array], fills_NxF: jax.Array) -> jax.Array:
    """Literal pieces `[S, W]` with slot `slots[i]` filled by `fills_NxF[slots[i]]` after piece i,
    flattened (not yet compacted)."""
    lits, slots = template
    chosen = jnp.where((slots >= 0)[:, None], fills_NxF[jnp.maximum(slots, 0)], 0)
    return jnp.concatenate([lits, chosen.astype(lits.dtype)], axis=1).reshape(-1)


def fill_text(pieces: list[jax.Array], fills: list[jax.Array]) -> jax.Array:
    """Literal pieces interleaved with the fills (one fill per slot, in order), flattened."""
    if len(fills) != len(pieces) - 1:
        raise ValueError(f"{len(pieces) - 1} slots, {len(fills)} fills")
    out = [pieces[0]]
    for fill, piece in zip(fills, pieces[1:], strict=True):
        out += [jnp.asarray(fill, jnp.int32).reshape(-1), piece]
    return jnp.concatenate(out)
