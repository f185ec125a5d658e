"""Workforce episode generation inside `jit`: knowledge, a question, its expert plan and answer.

The episode seed is `fold_in(fold_in(key(seed), split), task_id)`. From it: five cities with
distinct names, populations, distinct founding years and a mayor each (a permutation of the five
people); five people with a birth year and a number of children, each with a document; a
template of the split and its slots. The answer is the result of the expert plan run by the
coordinator with no failures, so the oracle and the reward can never disagree; the tests check
answers against an independent computation from the knowledge.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.workforce import render
from empg_jax.envs.workforce.plan import parse_plan, parse_request
from empg_jax.envs.workforce.state import WorkforceState
from empg_jax.envs.workforce.tables import (
    ARG_CODE,
    CALL_LEN,
    DOC_LEN,
    MAX_KNOWN,
    PLAN_LEN,
    SHAPE_W,
    TASK_LEN,
    VAL_W,
    WorkforceTables,
)
from empg_jax.envs.workforce.tasks import MAX_TASKS
from empg_jax.envs.workforce.workers import coordinate, final_value, resolve
from empg_jax.envs.workforce.world import (
    BORN_HI,
    BORN_LO,
    CHILDREN_HI,
    CHILDREN_LO,
    CITY_NAMES,
    FACTOR_HI,
    FACTOR_LO,
    NUM_CITIES,
    NUM_PEOPLE,
    PERSON_NAMES,
    POP_HI,
    POP_LO,
    WORKERS,
    YEAR_HI,
    YEAR_LO,
)


def episode_key(tab: WorkforceTables, task_id: jax.Array, split_index: jax.Array) -> jax.Array:
    """The PRNG key of episode `task_id` of split `split_index` (both may be traced)."""
    base = jax.random.fold_in(jax.random.key(tab.seed), split_index)
    return jax.random.fold_in(base, task_id)


def _ints(u: jax.Array, lo: int, hi: int) -> jax.Array:
    return (lo + jnp.minimum(jnp.floor(u * (hi - lo)), hi - lo - 1)).astype(jnp.int32)


def _name_row(token: jax.Array) -> jax.Array:
    return jnp.zeros((VAL_W,), jnp.int32).at[0].set(token)


def expert_call(tab: WorkforceTables, state, worker, request, results_Mx2, task) -> jax.Array:
    """`worker [ request ]` with every argument written as its value (the monolithic expert's
    call for one task of the expert plan), `[CALL_LEN]`."""
    pad = tab.tokenizer.pad_id
    shape, types, vals, _ = parse_request(tab, request)
    args = [resolve(state, types[i], vals[i], results_Mx2, task) for i in range(2)]
    arg_of = jnp.clip(jnp.cumsum(shape == ARG_CODE) - 1, 0, 1)
    texts = jnp.stack([render.value_tokens(tab, state, a) for a in args])  # [2, VAL_W]
    literal = jnp.zeros((SHAPE_W, VAL_W), jnp.int32).at[:, 0].set(shape)
    pieces = jnp.where((shape == ARG_CODE)[:, None], texts[arg_of], literal)
    parts = [
        tab.worker_ids[jnp.maximum(worker, 0)][None],
        jnp.array([tab.ids["["]], jnp.int32),
        pieces.reshape(-1),
        jnp.array([tab.ids["]"]], jnp.int32),
    ]
    return compact_tokens(jnp.concatenate(parts), CALL_LEN, pad)


def reset_in_split(
    tab: WorkforceTables, task_id: jax.Array, split_index: jax.Array, transfer_index: int
):
    """The episode `task_id` of split `splits[split_index]` (both may be traced): `(state, obs)`.

    The transfer worker is described to the agent when `split_index == transfer_index`.
    """
    pad = tab.tokenizer.pad_id
    key = episode_key(tab, task_id, split_index)
    n_city, n_person, n_year = len(CITY_NAMES), len(PERSON_NAMES), YEAR_HI - YEAR_LO
    sizes = (n_city, n_person, n_year, NUM_PEOPLE, NUM_CITIES, NUM_PEOPLE, NUM_PEOPLE)
    sizes += (NUM_CITIES, NUM_PEOPLE, 2)
    # One uniform draw for everything (one random-bits kernel keeps compilation short).
    u = jax.random.uniform(key, (sum(sizes),))
    parts, start = [], 0
    for s in sizes:
        parts.append(u[start : start + s])
        start += s
    u_city, u_person, u_year, u_mayor, u_pop, u_born, u_kids, u_c, u_p, u_tk = parts
    city_names = tab.city_pool[jnp.argsort(u_city)[:NUM_CITIES]]
    person_names = tab.person_pool[jnp.argsort(u_person)[:NUM_PEOPLE]]
    founded = (YEAR_LO + jnp.argsort(u_year)[:NUM_CITIES]).astype(jnp.int32)
    mayor = jnp.argsort(u_mayor).astype(jnp.int32)
    pop = _ints(u_pop, POP_LO, POP_HI)
    born = _ints(u_born, BORN_LO, BORN_HI)
    kids = _ints(u_kids, CHILDREN_LO, CHILDREN_HI)

    def document(name, b, k):
        numbers = [render.number_tokens(tab, b), render.number_tokens(tab, k)]
        fills = jnp.stack([_name_row(name), *numbers])
        flat = render.fill_template((tab.document[0][0], tab.document[1][0]), fills)
        return compact_tokens(flat, DOC_LEN, pad)

    documents = jax.vmap(document)(person_names, born, kids)
    count = tab.split_counts[split_index]
    pick = jnp.minimum(jnp.floor(u_tk[0] * count).astype(jnp.int32), count - 1)
    template = tab.split_templates[split_index, pick]
    cities, people = jnp.argsort(u_c), jnp.argsort(u_p)
    k = _ints(u_tk[1], FACTOR_LO, FACTOR_HI)
    fills = jnp.stack(
        [
            _name_row(city_names[cities[0]]),
            _name_row(city_names[cities[1]]),
            _name_row(person_names[people[0]]),
            _name_row(person_names[people[1]]),
            render.number_tokens(tab, founded[cities[0]]),
            render.number_tokens(tab, k),
        ]
    )
    question = render.fill_template((tab.question[0][template], tab.question[1][template]), fills)
    plan = render.fill_template((tab.plan[0][template], tab.plan[1][template]), fills)
    workers = jnp.ones((len(WORKERS),), bool).at[-1].set(split_index == transfer_index)
    zero = jnp.zeros((), jnp.int32)
    state = WorkforceState(
        t=zero,
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        task_type=template.astype(jnp.int32),
        city_names=city_names,
        city_pop=pop,
        city_founded=founded,
        city_mayor=mayor,
        person_names=person_names,
        documents=documents,
        question=compact_tokens(question, TASK_LEN, pad),
        answer=jnp.zeros((2,), jnp.int32),
        workers=workers,
        plan=compact_tokens(plan, PLAN_LEN, pad),
        calls=jnp.zeros((MAX_TASKS, CALL_LEN), jnp.int32),
        num_calls=tab.num_steps[template],
        calls_done=jnp.zeros((MAX_TASKS,), bool),
        known=jnp.zeros((MAX_KNOWN, 2), jnp.int32),
        num_known=zero,
        failures=zero,
        score=jnp.zeros((), jnp.float32),
        won=jnp.zeros((), bool),
    )
    _, n, plan_workers, requests = parse_plan(tab, state.plan)
    results, *_ = coordinate(
        tab, state, n, plan_workers, requests, jnp.ones((MAX_TASKS,)), jnp.float32(0.0)
    )
    state = state.replace(answer=final_value(results, n))
    if tab.monolithic:  # static: the planner never needs the expert's calls
        steps = jnp.arange(MAX_TASKS, dtype=jnp.int32)
        calls = jax.vmap(lambda w, r, j: expert_call(tab, state, w, r, results, j))(
            plan_workers, requests, steps
        )
        state = state.replace(calls=jnp.where((steps < n)[:, None], calls, pad))
    start = render.fill_text(
        tab.texts["mono_start" if tab.monolithic else "plan_start"], [state.question]
    )
    return state, compact_tokens(start, tab.obs_len, pad)
