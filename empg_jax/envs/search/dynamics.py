"""Search dynamics: the `search[query]` and `answer[entity]` tools and one transition.

`search[query]` returns the top `top_k` passages of the episode by BM25 (`bm25.token_scores`, the
formula of the shop's engine) and records them as shown; `answer[entity]` ends the episode,
reward 10 for an exact match of the answer entity's words, else 0 (`info["score"]` 1 or 0).
Anything else is a no-op answered with "Nothing happens.".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs import bm25
from empg_jax.envs.core import compact_tokens
from empg_jax.envs.search.state import SearchState
from empg_jax.envs.search.tables import SearchTables


def bracket_arg(tab: SearchTables, action_L: jax.Array, verb: str):
    """(is `verb [ ... ]`, argument mask) for a left-aligned action."""
    n = jnp.sum(action_L != tab.tokenizer.pad_id)
    pos = jnp.arange(action_L.shape[0])
    ok = (
        (action_L[0] == tab.ids[verb])
        & (action_L[1] == tab.ids["["])
        & (action_L[jnp.maximum(n - 1, 0)] == tab.ids["]"])
        & (n > 3)
    )
    return ok, (pos >= 2) & (pos < n - 1)


def retrieve(
    tab: SearchTables, state: SearchState, query_Q: jax.Array, mask_Q: jax.Array
) -> jax.Array:
    """Indices `[top_k]` of the best passages by BM25 (all returned, best first)."""
    scores = bm25.token_scores(query_Q, mask_Q, state.passages, state.passages != 0)
    return bm25.top_k(scores, tab.top_k)[0]


def step(tab: SearchTables, state: SearchState, action_L: jax.Array, ok: jax.Array):
    """One transition on a parsed action: `(state, obs_O, reward, terminated, invalid)`."""
    pad = tab.tokenizer.pad_id
    is_search, q_mask = bracket_arg(tab, action_L, "search")
    is_answer, a_mask = bracket_arg(tab, action_L, "answer")
    is_search, is_answer = ok & is_search, ok & is_answer
    top = retrieve(tab, state, action_L, q_mask)
    # The answer's words, moved to the front, against the answer entity's name.
    answer = compact_tokens(jnp.where(a_mask, action_L, pad), 2, pad)
    n_answer = jnp.sum(a_mask)
    target = state.names[state.chain[state.hops]]
    correct = is_answer & (n_answer <= 2) & jnp.all(answer == target)
    shown = state.shown.at[top].set(state.shown[top] | is_search)
    new = state.replace(
        shown=shown,
        score=jnp.where(correct, 1.0, state.score).astype(jnp.float32),
        won=state.won | correct,
    )
    invalid = ~(is_search | is_answer)
    # "1 | passage | 2 | passage | 3 | passage |"
    seps = jnp.broadcast_to(tab.texts["sep"], (tab.top_k, 1))
    numbers = tab.digit_ids[jnp.arange(1, tab.top_k + 1)][:, None]
    rows = jnp.concatenate([numbers, seps, state.passages[top], seps], 1).reshape(-1)
    text = jnp.concatenate(
        [
            jnp.where(invalid, tab.texts["nothing"], pad),
            jnp.where(is_search, rows, pad),
            jnp.where(is_answer, tab.texts["answered"], pad),
        ]
    )
    obs = compact_tokens(text, tab.obs_len, pad)
    reward = jnp.where(correct, 10.0, 0.0).astype(jnp.float32)
    return new, obs, reward, is_answer, invalid


def info(tab: SearchTables, state: SearchState, invalid: jax.Array) -> dict[str, jax.Array]:
    """The `core.INFO_KEYS` dict of `state` (the admissible rows are the two tool examples)."""
    return {
        "invalid": jnp.asarray(invalid, bool),
        "won": state.won,
        "task_type": state.task_type,
        "admissible": tab.examples,
        "num_admissible": jnp.asarray(2, jnp.int32),
        "score": state.score,
        "task": state.question,
    }
