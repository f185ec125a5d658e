"""Workforce dynamics: one planner step (a whole plan) or one monolithic step (one call).

Planner: a plan that does not parse, or names a worker not in this episode's workforce, is a
no-op ("Nothing happens."). Otherwise the coordinator runs it; on a failure the observation is
"task j failed : <worker> <reason> . replan ." and the planner plans again (the horizon bounds
the attempts). A plan that runs to the end ends the episode: reward 1 when its last result is
the answer exactly.

Monolithic: `worker [ request ]` calls one worker with literal arguments (no references);
the observation is its result or failure, then every result obtained so far ("known : ...").
`answer [ value ]` ends the episode: reward 1 for the exact answer.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.core import compact_rows, compact_tokens
from empg_jax.envs.workforce import render
from empg_jax.envs.workforce.plan import ARG_NONE, parse_call, parse_plan, parse_request
from empg_jax.envs.workforce.state import WorkforceState
from empg_jax.envs.workforce.tables import ARG_CODE, MAX_KNOWN, VAL_W, WorkforceTables
from empg_jax.envs.workforce.tasks import MAX_TASKS
from empg_jax.envs.workforce.workers import OK, call_worker, coordinate, final_value, resolve
from empg_jax.envs.workforce.world import WORKERS


def _finish(tab, state, correct, failed_now):
    return state.replace(
        failures=state.failures + failed_now.astype(jnp.int32),
        won=state.won | correct,
        score=jnp.where(correct, 1.0, state.score).astype(jnp.float32),
    )


def plan_step(tab: WorkforceTables, key, state: WorkforceState, action_L, ok, p_fail):
    """One plan: `(state, obs_O, reward, terminated, invalid)`."""
    pad = tab.tokenizer.pad_id
    parsed, n, workers, requests = parse_plan(tab, action_L)
    available = jnp.all((workers < 0) | state.workers[jnp.maximum(workers, 0)])
    valid = ok & parsed & available
    u = jax.random.uniform(key, (MAX_TASKS,))
    results, failed, task, worker, reason = coordinate(tab, state, n, workers, requests, u, p_fail)
    final = final_value(results, n)
    done = valid & ~failed
    correct = done & jnp.all(final == state.answer)
    t = tab.texts
    failed_text = render.fill_text(
        t["plan_failed"],
        [
            render.number_tokens(tab, task + 1),
            tab.worker_ids[worker][None],
            tab.reasons[jnp.clip(reason, 0, tab.reasons.shape[0] - 1)],
        ],
    )
    done_text = render.fill_text(t["plan_done"], [render.value_tokens(tab, state, final)])
    width = max(failed_text.shape[0], done_text.shape[0], t["nothing"][0].shape[0])
    texts = [jnp.pad(x, (0, width - x.shape[0])) for x in (failed_text, done_text)]
    nothing = jnp.pad(t["nothing"][0], (0, width - t["nothing"][0].shape[0]))
    text = jnp.where(~valid, nothing, jnp.where(failed, texts[0], texts[1]))
    obs = compact_tokens(text, tab.obs_len, pad)
    new = _finish(tab, state, correct, valid & failed)
    return new, obs, jnp.where(correct, 1.0, 0.0), done, ~valid


def _known_text(tab, state) -> jax.Array:
    """ "known : v1 ; v2 ." (empty when nothing is known)."""
    pad = tab.tokenizer.pad_id
    idx = jnp.arange(MAX_KNOWN)
    values = jax.vmap(lambda v: render.value_tokens(tab, state, v))(state.known)
    last = idx == state.num_known - 1
    sep = jnp.where(last, tab.ids["."], tab.ids[";"])  # "," would read as a thousands mark
    items = jnp.concatenate([values, sep[:, None]], axis=1)
    items = jnp.where((idx < state.num_known)[:, None], items, pad).reshape(-1)
    head = jnp.where(state.num_known > 0, tab.texts["mono_known"][0], pad)
    return jnp.concatenate([head, items])


def call_step(tab: WorkforceTables, key, state: WorkforceState, action_L, ok, p_fail):
    """One call or the answer: `(state, obs_O, reward, terminated, invalid)`."""
    pad = tab.tokenizer.pad_id
    parsed, name, request = parse_call(tab, action_L)
    n_workers = len(WORKERS)
    is_answer = name == n_workers
    worker = jnp.clip(name, 0, n_workers - 1)
    is_worker = (name >= 0) & (name < n_workers) & state.workers[worker]
    valid = ok & parsed & (is_answer | is_worker)
    no_results = jnp.zeros((MAX_TASKS, 2), jnp.int32)
    timed_out = jax.random.uniform(key) < p_fail
    parsed = parse_request(tab, request)
    value, reason = call_worker(tab, state, worker, parsed, no_results, jnp.int32(0), timed_out)
    call_ok = valid & is_worker & (reason == OK)
    shape, types, vals, readable = parsed
    single = (shape[0] == ARG_CODE) & jnp.all(shape[1:] == pad) & (types[1] == ARG_NONE)
    given = resolve(state, types[0], vals[0], no_results, jnp.int32(0))
    answered = valid & is_answer
    correct = answered & readable & single & jnp.all(given == state.answer)
    # Progress of the expert's calls (for the oracle) and the results obtained so far.
    same = jnp.all(state.calls == action_L[None, : state.calls.shape[1]], axis=1)
    calls_done = state.calls_done | (call_ok & same)
    appended = state.known.at[jnp.minimum(state.num_known, MAX_KNOWN - 1)].set(value)
    shifted = jnp.concatenate([state.known[1:], value[None]])
    known = jnp.where(state.num_known < MAX_KNOWN, appended, shifted)
    new = state.replace(
        calls_done=calls_done,
        known=jnp.where(call_ok, known, state.known),
        num_known=jnp.where(call_ok, jnp.minimum(state.num_known + 1, MAX_KNOWN), state.num_known),
    )
    new = _finish(tab, new, correct, valid & is_worker & ~call_ok)
    t = tab.texts
    result = render.fill_text(
        t["mono_result"], [tab.worker_ids[worker][None], render.value_tokens(tab, state, value)]
    )
    failure = render.fill_text(
        t["mono_failed"],
        [tab.worker_ids[worker][None], tab.reasons[jnp.clip(reason, 0, tab.reasons.shape[0] - 1)]],
    )
    width = max(result.shape[0], failure.shape[0], VAL_W)
    result, failure = (jnp.pad(x, (0, width - x.shape[0])) for x in (result, failure))
    message = jnp.where(call_ok, result, failure)
    tool = jnp.concatenate([message, _known_text(tab, new)])
    others = [t["mono_answered"][0], t["nothing"][0]]
    width = max(tool.shape[0], *(x.shape[0] for x in others))
    answered_text, nothing = (jnp.pad(x, (0, width - x.shape[0])) for x in others)
    tool = jnp.pad(tool, (0, width - tool.shape[0]))
    text = jnp.where(~valid, nothing, jnp.where(is_answer, answered_text, tool))
    obs = compact_tokens(text, tab.obs_len, pad)
    return new, obs, jnp.where(correct, 1.0, 0.0), answered, ~valid


def info(tab: WorkforceTables, state: WorkforceState, invalid) -> dict[str, jax.Array]:
    """The `core.INFO_KEYS` dict: the admissible rows describe this episode's workers."""
    described = state.workers
    if tab.monolithic:
        described = jnp.concatenate([described, jnp.ones((1,), bool)])
    rows, count = compact_rows(tab.admissible, described)
    return {
        "invalid": jnp.asarray(invalid, bool),
        "won": state.won,
        "task_type": state.task_type,
        "admissible": rows,
        "num_admissible": count,
        "score": state.score,
        "task": state.question,
    }
