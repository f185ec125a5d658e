"""Workforce params and state: immutable `flax.struct` dataclasses.

The state carries the episode's whole knowledge (table, documents), the question and its answer,
the expert plan and calls, and what the agent has achieved, so the oracle is a pure function of
the state. A value is a pair `(kind, value)` (`world.NONE`, `NUMBER`, `CITY`, `PERSON`; an
entity's value is its index in the episode).
"""

from __future__ import annotations

import jax
from flax import struct


@struct.dataclass
class WorkforceParams:
    """`split`: train / test_seen / test_unseen / test_transfer; `num_tasks` episodes per split
    (seeded by task id); `p_fail` the probability that a worker call fails (may be traced)."""

    split: str = struct.field(pytree_node=False)
    horizon: int = 3
    num_tasks: int = 0
    p_fail: float = 0.0


@struct.dataclass
class WorkforceState:
    t: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    task_type: jax.Array  # template index
    city_names: jax.Array  # [NUM_CITIES] name tokens
    city_pop: jax.Array  # [NUM_CITIES] thousands
    city_founded: jax.Array  # [NUM_CITIES] years
    city_mayor: jax.Array  # [NUM_CITIES] person index
    person_names: jax.Array  # [NUM_PEOPLE] name tokens
    documents: jax.Array  # [NUM_PEOPLE, DOC_LEN] "anna : born 1961 ; children 3 ."
    question: jax.Array  # [K]
    answer: jax.Array  # [2] (kind, value)
    workers: jax.Array  # [len(WORKERS)] bool, the workers described to the agent
    plan: jax.Array  # [PLAN_LEN] the expert plan (planner mode)
    calls: jax.Array  # [MAX_TASKS, CALL_LEN] the expert's tool calls (monolithic mode)
    num_calls: jax.Array  # tasks of the expert plan
    calls_done: jax.Array  # [MAX_TASKS] bool, expert calls the agent has made successfully
    known: jax.Array  # [MAX_KNOWN, 2] results the monolithic agent has obtained, oldest first
    num_known: jax.Array
    failures: jax.Array  # failed plans (planner) or failed calls (monolithic)
    score: jax.Array
    won: jax.Array
