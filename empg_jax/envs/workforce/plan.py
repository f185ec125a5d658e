"""Parsers inside `jit`: the planner's OWL plan, one request, and the monolithic agent's call.

Plan grammar (word tokens; the tags are spelled `<`, `tasks`, `>` and `<`, `/`, `task`, `>`):

    plan    := <tasks> task+ </tasks>
    task    := <task> WORKER : request </task>
    request := one or more tokens other than tags

A plan with at most `MAX_TASKS` tasks and requests of at most `BODY_LEN` tokens parses; anything
else (a missing tag, an unknown worker, text after `</tasks>`) does not. A request is read into
its shape (literal words, arguments replaced by `ARG_CODE`) and up to two arguments: a number
(a run of digits), a reference "#k", or an entity name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.workforce.tables import (
    ARG_CODE,
    BODY_LEN,
    SHAPE_W,
    WorkforceTables,
)
from empg_jax.envs.workforce.tasks import MAX_TASKS

# Tag codes in the compacted plan (negative: no token id equals them).
OPEN_TASKS, CLOSE_TASKS, OPEN_TASK, CLOSE_TASK = -1, -2, -3, -4
# Argument types of a request.
ARG_NONE, ARG_NUMBER, ARG_REF, ARG_NAME = range(4)
MAX_DIGITS = 6


def _shift(x: jax.Array, k: int) -> jax.Array:
    """x[i + k] at position i (zeros past the end)."""
    return jnp.concatenate([x[k:], jnp.zeros((k,), x.dtype)])


def _tag_codes(tab: WorkforceTables, x: jax.Array) -> jax.Array:
    """The action with each tag replaced by one negative code and compacted."""
    ids = tab.ids
    lt, gt = x == ids["<"], x == ids[">"]
    sl = x == ids["/"]
    word = {w: x == ids[w] for w in ("tasks", "task")}
    opens = {w: lt & _shift(word[w], 1) & _shift(gt, 2) for w in word}
    closes = {w: lt & _shift(sl, 1) & _shift(word[w], 2) & _shift(gt, 3) for w in word}
    code = jnp.where(opens["tasks"], OPEN_TASKS, x)
    code = jnp.where(closes["tasks"], CLOSE_TASKS, code)
    code = jnp.where(opens["task"], OPEN_TASK, code)
    code = jnp.where(closes["task"], CLOSE_TASK, code)
    any_open = opens["tasks"] | opens["task"]
    any_close = closes["tasks"] | closes["task"]

    def later(m, k):  # position i is k tokens after a tag start
        return jnp.concatenate([jnp.zeros((k,), bool), m[:-k]])

    covered = later(any_open, 1) | later(any_open, 2)
    covered = covered | later(any_close, 1) | later(any_close, 2) | later(any_close, 3)
    code = jnp.where(covered, tab.tokenizer.pad_id, code)
    return compact_tokens(code.astype(jnp.int32), x.shape[0], tab.tokenizer.pad_id)


def parse_plan(tab: WorkforceTables, action_L: jax.Array):
    """`(ok, num_tasks, workers [MAX_TASKS], requests [MAX_TASKS, BODY_LEN])` of a plan.

    `workers` holds worker indices (-1 past the last task); requests are left-aligned token
    vectors. `ok` is False for anything outside the grammar of the module docstring.
    """
    pad = tab.tokenizer.pad_id
    code = _tag_codes(tab, action_L.astype(jnp.int32))
    hit_W = code[:, None] == tab.worker_ids[None, :]
    worker_of = jnp.where(jnp.any(hit_W, 1), jnp.argmax(hit_W, 1), -1)
    colon = tab.ids[":"]
    # States of the acceptor (ERROR absorbs).
    START, TASKS, WORKER, COLON, FIRST, BODY, AFTER, END, ERROR = range(9)

    def body(carry, inp):
        state, j, p, bodies, workers, over = carry
        c, w = inp
        is_body_token = (c > 0) & (c != pad)
        nxt = jnp.select(
            [
                state == START,
                state == TASKS,
                state == WORKER,
                state == COLON,
                state == FIRST,
                state == BODY,
                state == AFTER,
                state == END,
            ],
            [
                jnp.where(c == OPEN_TASKS, TASKS, ERROR),
                jnp.where(c == OPEN_TASK, WORKER, ERROR),
                jnp.where(w >= 0, COLON, ERROR),
                jnp.where(c == colon, FIRST, ERROR),
                jnp.where(is_body_token, BODY, ERROR),
                jnp.where(is_body_token, BODY, jnp.where(c == CLOSE_TASK, AFTER, ERROR)),
                jnp.where(c == OPEN_TASK, WORKER, jnp.where(c == CLOSE_TASKS, END, ERROR)),
                jnp.where(c == pad, END, ERROR),
            ],
            ERROR,
        )
        write = ((state == FIRST) | (state == BODY)) & (nxt == BODY)
        over = over | (write & ((p >= BODY_LEN) | (j >= MAX_TASKS)))
        row = jnp.where(write & (j < MAX_TASKS), j, MAX_TASKS)
        bodies = bodies.at[row, jnp.minimum(p, BODY_LEN - 1)].set(c, mode="drop")
        workers = workers.at[jnp.where(state == WORKER, j, MAX_TASKS)].set(w, mode="drop")
        closed = (state == BODY) & (nxt == AFTER)
        p = jnp.where(write, p + 1, jnp.where(closed, 0, p))
        j = jnp.where(closed, j + 1, j)
        return (nxt, j, p, bodies, workers, over), None

    init = (
        jnp.int32(START),
        jnp.int32(0),
        jnp.int32(0),
        jnp.full((MAX_TASKS, BODY_LEN), pad, jnp.int32),
        jnp.full((MAX_TASKS,), -1, jnp.int32),
        jnp.zeros((), bool),
    )
    (state, j, _, bodies, workers, over), _ = jax.lax.scan(body, init, (code, worker_of))
    ok = (state == END) & ~over & (j >= 1) & (j <= MAX_TASKS)
    workers = jnp.where(jnp.arange(MAX_TASKS) < j, workers, -1)
    return ok, j, workers, bodies


def parse_request(tab: WorkforceTables, request_B: jax.Array):
    """`(shape [SHAPE_W], arg_type [2], arg_value [2], ok)` of one request.

    Arguments, in order: a run of digits, "-" first if negative (ARG_NUMBER, its value), "#" and
    digits (ARG_REF, the task number), a city or person name (ARG_NAME, its token id). `ok` is
    False with more than two arguments, a longer shape, a number of more than `MAX_DIGITS`
    digits or a bare "#".
    Vectorised (no loop over tokens): argument starts and runs come from shifted masks.
    """
    pad = tab.tokenizer.pad_id
    x = request_B.astype(jnp.int32)
    hit_D = x[:, None] == tab.digit_ids[None, :]
    is_digit = jnp.any(hit_D, 1)
    digit = jnp.argmax(hit_D, 1)
    is_hash = x == tab.ids["#"]
    is_name = jnp.any(x[:, None] == tab.city_pool[None, :], 1)
    is_name = is_name | jnp.any(x[:, None] == tab.person_pool[None, :], 1)
    next_digit = jnp.concatenate([is_digit[1:], jnp.zeros((1,), bool)])
    is_sign = (x == tab.ids["-"]) & next_digit  # a negative number starts with its sign

    def before(m):
        return jnp.concatenate([jnp.zeros((1,), bool), m[:-1]])

    # A digit after a digit, "#" or a sign continues the argument.
    cont = is_digit & (before(is_digit) | before(is_hash) | before(is_sign))
    starts = is_name | is_hash | is_sign | (is_digit & ~cont)
    literal = (x != pad) & ~is_digit & ~is_hash & ~is_name & ~is_sign
    arg_id = jnp.cumsum(starts) - 1  # the argument each start or continuation belongs to
    num_args = jnp.sum(starts)
    types, vals, ok = [], [], (num_args <= 2)
    for k in range(2):
        start_k = starts & (arg_id == k)
        first = jnp.argmax(start_k)
        kind = jnp.where(
            jnp.any(start_k),
            jnp.where(is_name[first], ARG_NAME, jnp.where(is_hash[first], ARG_REF, ARG_NUMBER)),
            ARG_NONE,
        )
        digits_k = is_digit & (arg_id == k)
        n = jnp.sum(digits_k)
        place = n - 1 - (jnp.cumsum(digits_k) - 1)
        pow10 = jnp.asarray([10**i for i in range(MAX_DIGITS)], jnp.int32)
        number = jnp.sum(jnp.where(digits_k, digit * pow10[jnp.clip(place, 0, MAX_DIGITS - 1)], 0))
        ok = ok & (n <= MAX_DIGITS) & ~((kind == ARG_REF) & (n == 0))
        types.append(kind)
        number = jnp.where(is_sign[first], -number, number)
        vals.append(jnp.where(kind == ARG_NAME, x[first], number))
    shown = starts | literal
    ok = ok & (jnp.sum(shown) <= SHAPE_W)
    shape = compact_tokens(jnp.where(starts, ARG_CODE, jnp.where(literal, x, pad)), SHAPE_W, pad)
    return shape, jnp.stack(types).astype(jnp.int32), jnp.stack(vals).astype(jnp.int32), ok


def match_op(tab: WorkforceTables, worker: jax.Array, shape: jax.Array):
    """`(op, found)`: the request of `worker` whose shape is `shape`."""
    hit = jnp.all(tab.op_shapes == shape[None, :], 1) & (tab.op_worker == worker)
    return jnp.argmax(hit).astype(jnp.int32), jnp.any(hit)


def parse_call(tab: WorkforceTables, action_L: jax.Array):
    """A monolithic call `name [ request ]`: `(ok, name, request [BODY_LEN])`.

    `name` is a worker index, `len(WORKERS)` for `answer`, or -1.
    """
    pad = tab.tokenizer.pad_id
    x = action_L.astype(jnp.int32)
    n = jnp.sum(x != pad)
    hit = x[0] == tab.worker_ids
    name = jnp.where(jnp.any(hit), jnp.argmax(hit), -1)
    name = jnp.where(x[0] == tab.ids["answer"], tab.worker_ids.shape[0], name)
    ok = (name >= 0) & (x[1] == tab.ids["["]) & (x[jnp.maximum(n - 1, 0)] == tab.ids["]"])
    ok = ok & (n >= 4) & (n - 3 <= BODY_LEN)
    idx = jnp.arange(BODY_LEN)
    request = jnp.where(idx < n - 3, jnp.take(x, idx + 2, mode="fill", fill_value=pad), pad)
    return ok, name, request.astype(jnp.int32)
