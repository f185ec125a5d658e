"""Workforce oracle (a pure function of the state).

Planner: the expert plan of the episode's template, sent again after every failure (failures are
transient). Monolithic: the first expert call not yet made successfully, then `answer [ value ]`.
Both win every episode at `p_fail = 0`, and at `p_fail > 0` whenever the failures leave them
enough attempts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.workforce import render
from empg_jax.envs.workforce.state import WorkforceState
from empg_jax.envs.workforce.tables import WorkforceTables
from empg_jax.envs.workforce.tasks import MAX_TASKS


def _next_call(state: WorkforceState):
    """(index of the first expert call still to make, whether every call is made)."""
    todo = (jnp.arange(MAX_TASKS) < state.num_calls) & ~state.calls_done
    return jnp.argmax(todo), ~jnp.any(todo)


def next_action(tab: WorkforceTables, state: WorkforceState) -> jax.Array:
    """The oracle's next action `[action_len]`."""
    if not tab.monolithic:
        return state.plan[: tab.action_len]
    pad = tab.tokenizer.pad_id
    j, ready = _next_call(state)
    answer = jnp.concatenate(
        [
            jnp.array([tab.ids["answer"], tab.ids["["]], jnp.int32),
            render.value_tokens(tab, state, state.answer),
            jnp.array([tab.ids["]"]], jnp.int32),
        ]
    )
    answer = compact_tokens(answer, tab.action_len, pad)
    return jnp.where(ready, answer, state.calls[j, : tab.action_len])


def next_thought(tab: WorkforceTables, state: WorkforceState) -> jax.Array:
    """The oracle's reasoning `[thought_len]` for its next action."""
    pad = tab.tokenizer.pad_id
    th = tab.thoughts
    if tab.monolithic:
        j, ready = _next_call(state)
        worker = state.calls[j, :1]
        a, b = render.fill_text(th["call"], [worker]), render.fill_text(th["answer"], [])
        ready_or_not = ready
    else:
        a = render.fill_text(th["plan"], [render.number_tokens(tab, state.num_calls)])
        b = render.fill_text(th["replan"], [])
        ready_or_not = state.failures > 0
    width = max(a.shape[0], b.shape[0])
    a, b = (jnp.pad(x, (0, width - x.shape[0])) for x in (a, b))
    return compact_tokens(jnp.where(ready_or_not, b, a), tab.thought_len, pad)
