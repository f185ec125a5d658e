"""The workers and the coordinator, inside `jit`.

A worker call is a parsed request (`plan.parse_request`) routed to one worker. Its arguments are
resolved against the episode (a name must belong to one of its cities or people; a reference
"#k" to an earlier task of the same plan) and the request is answered from the table (`lookup`),
from a person's document text (`doc`: the number after the field's keyword), or by arithmetic
(`calc`, `convert`). A call fails with a reason: `TIMED_OUT` with probability `p_fail` (the
coordinator draws it), `CANNOT` for a request the worker does not serve, `NOTHING` for arguments
of the wrong kind, unknown names, bad references or results beyond six digits.

The coordinator runs a plan's tasks in order, passing each task the results of the earlier ones,
and stops at the first failure.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.workforce.plan import (
    ARG_NAME,
    ARG_NUMBER,
    ARG_REF,
    match_op,
    parse_request,
)
from empg_jax.envs.workforce.render import MAX_VALUE, POW10
from empg_jax.envs.workforce.tables import WorkforceTables
from empg_jax.envs.workforce.tasks import MAX_TASKS
from empg_jax.envs.workforce.world import (
    CANNOT,
    CITY,
    DOC_KEYWORD,
    NOTHING,
    NUMBER,
    OPS,
    PERSON,
    TIMED_OUT,
)

OK = -1  # the "reason" of a successful call


def read_number(tab: WorkforceTables, tokens: jax.Array, start: jax.Array) -> jax.Array:
    """The value of the run of digits at `tokens[start:]` (0 when there is none)."""
    window = jnp.take(tokens, start + jnp.arange(6), mode="fill", fill_value=0)
    hit = window[:, None] == tab.digit_ids[None, :]
    digit = jnp.where(jnp.any(hit, 1), jnp.argmax(hit, 1), -1)
    run = jnp.cumprod(digit >= 0)
    n = jnp.sum(run)
    pow10 = jnp.asarray(POW10, jnp.int32)
    powers = jnp.where(run > 0, pow10[jnp.clip(n - 1 - jnp.arange(6), 0, 6)], 0)
    return jnp.sum(jnp.maximum(digit, 0) * powers).astype(jnp.int32)


def document_field(tab: WorkforceTables, document: jax.Array, keyword_id: jax.Array) -> jax.Array:
    """The number right after the token `keyword_id` in a document (the `doc` worker)."""
    return read_number(tab, document, jnp.argmax(document == keyword_id) + 1)


def resolve(state, arg_type, arg_value, results_Mx2, task: jax.Array):
    """An argument as a value `(kind, value)`; `(NONE, 0)` when it names nothing."""
    arg_value = jnp.asarray(arg_value, jnp.int32)
    in_city = state.city_names == arg_value
    in_person = state.person_names == arg_value
    name_kind = jnp.where(jnp.any(in_city), CITY, jnp.where(jnp.any(in_person), PERSON, 0))
    name_index = jnp.where(jnp.any(in_city), jnp.argmax(in_city), jnp.argmax(in_person))
    ref_ok = (arg_value >= 1) & (arg_value <= task)
    ref = jnp.where(ref_ok, results_Mx2[jnp.clip(arg_value - 1, 0, MAX_TASKS - 1)], 0)
    kind = jnp.select(
        [arg_type == ARG_NUMBER, arg_type == ARG_REF, arg_type == ARG_NAME],
        [jnp.int32(NUMBER), ref[0], name_kind],
        0,
    )
    value = jnp.select(
        [arg_type == ARG_NUMBER, arg_type == ARG_REF, arg_type == ARG_NAME],
        [arg_value, ref[1], name_index],
        0,
    )
    return jnp.stack([kind, value]).astype(jnp.int32)


# How each request is answered: (family, parameter), in OPS order.
_TABLE, _INVERSE, _DOC, _ARITH, _CONVERT = range(5)
_HOW = {
    "population": (_TABLE, 0),
    "founded": (_TABLE, 1),
    "mayor": (_TABLE, 2),
    "city_founded": (_INVERSE, 0),
    "born": (_DOC, 0),
    "children": (_DOC, 1),
    "plus": (_ARITH, 0),
    "minus": (_ARITH, 1),
    "times": (_ARITH, 2),
    "to_hundreds": (_CONVERT, 10),
    "to_tens": (_CONVERT, 100),
    "to_ones": (_CONVERT, 1000),
}
_FAMILY = tuple(_HOW[o[0]][0] for o in OPS)
_PARAM = tuple(_HOW[o[0]][1] for o in OPS)


def answer_request(tab: WorkforceTables, state, op, args_2x2):
    """`(value (kind, value), reason)` of request `op` on resolved arguments (no random failure)."""
    (k0, a), (k1, b) = args_2x2[0], args_2x2[1]
    kinds_ok = (k0 == tab.op_args[op, 0]) & (k1 == tab.op_args[op, 1])
    family, param = jnp.asarray(_FAMILY)[op], jnp.asarray(_PARAM)[op]
    table = jnp.stack([state.city_pop, state.city_founded, state.city_mayor], 1)
    row = table[jnp.clip(a, 0, table.shape[0] - 1)]
    found_city = state.city_founded == a
    keyword = jnp.asarray([tab.tokenizer.token_to_id(DOC_KEYWORD[k]) for k in ("born", "children")])
    document = state.documents[jnp.clip(a, 0, state.documents.shape[0] - 1)]
    # Products in float first: an int32 product of two six-digit numbers would wrap.
    product = jnp.where(
        jnp.abs(a * 1.0 * jnp.where(family == _CONVERT, param, b)) > MAX_VALUE,
        MAX_VALUE + 1,
        a * jnp.where(family == _CONVERT, param, b),
    )
    arith = jnp.stack([a + b, a - b, product])[jnp.clip(param, 0, 2)]
    value = jnp.stack(
        [
            row[jnp.clip(param, 0, 2)],
            jnp.argmax(found_city).astype(jnp.int32),
            document_field(tab, document, keyword[jnp.clip(param, 0, 1)]),
            arith,
            product,
        ]
    )[family]
    exists = jnp.where(family == _INVERSE, jnp.any(found_city), True)
    ok = kinds_ok & exists & (jnp.abs(value) <= MAX_VALUE)
    out = jnp.stack([tab.op_result[op], value]).astype(jnp.int32)
    return jnp.where(ok, out, 0), jnp.where(ok, OK, NOTHING)


def call_worker(
    tab: WorkforceTables, state, worker, parsed, results_Mx2, task, timed_out
) -> tuple[jax.Array, jax.Array]:
    """One worker call on a parsed request (`plan.parse_request`'s output): `(value (kind,
    value), reason)` (`OK` on success)."""
    shape, types, vals, readable = parsed
    op, found = match_op(tab, worker, shape)
    args = jnp.stack([resolve(state, types[i], vals[i], results_Mx2, task) for i in range(2)])
    value, reason = answer_request(tab, state, op, args)
    reason = jnp.where(readable & found, reason, CANNOT)
    reason = jnp.where(timed_out, TIMED_OUT, reason)
    return jnp.where(reason == OK, value, 0).astype(jnp.int32), reason.astype(jnp.int32)


def coordinate(tab: WorkforceTables, state, num_tasks, workers_M, requests_MxB, u_M, p_fail):
    """Runs a parsed plan: task j gets the results of tasks 1..j-1 and fails with its reason.

    Returns `(results [MAX_TASKS, 2], failed, failed_task, failed_worker, reason)`; results of
    tasks after a failure stay `(NONE, 0)`.
    """
    parsed = jax.vmap(lambda r: parse_request(tab, r))(requests_MxB)

    def run(carry, inp):
        results, failed, failed_task, failed_worker, reason = carry
        j, worker, request, u = inp
        active = (j < num_tasks) & ~failed
        value, why = call_worker(tab, state, worker, request, results, j, u < p_fail)
        results = results.at[j].set(jnp.where(active & (why == OK), value, results[j]))
        now = active & (why != OK)
        carry = (
            results,
            failed | now,
            jnp.where(now, j, failed_task),
            jnp.where(now, worker, failed_worker),
            jnp.where(now, why, reason),
        )
        return carry, None

    init = (
        jnp.zeros((MAX_TASKS, 2), jnp.int32),
        jnp.zeros((), bool),
        jnp.int32(0),
        jnp.int32(0),
        jnp.int32(OK),
    )
    xs = (jnp.arange(MAX_TASKS, dtype=jnp.int32), workers_M, parsed, u_M)
    (results, failed, failed_task, failed_worker, reason), _ = jax.lax.scan(run, init, xs)
    return results, failed, failed_task, failed_worker, reason


def final_value(results_Mx2: jax.Array, num_tasks: jax.Array) -> jax.Array:
    """The plan's answer: the result of its last task."""
    return results_Mx2[jnp.clip(num_tasks - 1, 0, MAX_TASKS - 1)]
