"""Search params and state: immutable `flax.struct` dataclasses.

The state carries the episode's whole knowledge base (entity names and passages) and which
passages the agent has been shown, so the oracle is a pure function of the state.
"""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class SearchParams:
    """`split`: train / test_id / test_ood; `num_tasks` episodes per split (seeded by task id)."""

    split: str = struct.field(pytree_node=False)
    horizon: int = 10
    num_tasks: int = 0


@struct.dataclass
class SearchState:
    t: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    task_type: jax.Array  # hops - 2
    names: jax.Array  # [E, 2] name tokens per entity
    passages: jax.Array  # [E, P] passage tokens
    question: jax.Array  # [K]
    chain: jax.Array  # [5] entities e0..e_hops, -1 padded
    relations: jax.Array  # [4] relation ids of the path, -1 padded
    hops: jax.Array
    shown: jax.Array  # [E] passages the agent has been shown
    score: jax.Array
    won: jax.Array
