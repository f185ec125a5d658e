"""Search oracle: search each hop's subject by name, then answer (a pure function of the state).

For the first hop whose subject passage has not been shown yet, search the subject's name; when
every hop's passage has been shown, answer. An episode is solvable when each hop subject's own
passage is in the top `top_k` for its name (`solvable`, for tests and measurements).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.search.dynamics import retrieve
from empg_jax.envs.search.state import SearchState
from empg_jax.envs.search.tables import SearchTables


def next_hop(tab: SearchTables, state: SearchState):
    """(first hop whose subject passage is unseen, whether every hop's passage was seen)."""
    hop_idx = jnp.arange(4)
    subjects = state.chain[:4]
    unseen = (hop_idx < state.hops) & ~state.shown[jnp.maximum(subjects, 0)]
    return jnp.argmax(unseen), ~jnp.any(unseen)


def wrap(tab: SearchTables, verb: str, arg: jax.Array) -> jax.Array:
    """`verb [ arg ]` as an action `[L]`."""
    pad = tab.tokenizer.pad_id
    parts = [
        jnp.array([tab.ids[verb], tab.ids["["]], jnp.int32),
        arg,
        jnp.array([tab.ids["]"]], jnp.int32),
    ]
    return compact_tokens(jnp.concatenate(parts), tab.action_len, pad)


def next_action(tab: SearchTables, state: SearchState) -> jax.Array:
    """The oracle's next action `[L]`."""
    hop, ready = next_hop(tab, state)
    answer = wrap(tab, "answer", state.names[state.chain[state.hops]])
    search = wrap(tab, "search", state.names[state.chain[hop]])
    return jnp.where(ready, answer, search)


def next_thought(tab: SearchTables, state: SearchState) -> jax.Array:
    """The oracle's reasoning `[T]` for its next action."""
    pad = tab.tokenizer.pad_id
    hop, ready = next_hop(tab, state)
    head, tail = tab.thoughts["search"]
    need = jnp.concatenate(
        [head, tab.phrases[state.relations[hop]], state.names[state.chain[hop]], tail]
    )
    head, tail = tab.thoughts["answer"]
    done = jnp.concatenate([head, state.names[state.chain[state.hops]], tail])
    width = max(need.shape[0], done.shape[0])
    need = jnp.pad(need, (0, width - need.shape[0]))
    done = jnp.pad(done, (0, width - done.shape[0]))
    return compact_tokens(jnp.where(ready, done, need), tab.thought_len, pad)


def solvable(tab: SearchTables, state: SearchState) -> jax.Array:
    """Every hop subject's own passage is among the top 3 for a search of its name."""
    ok = []
    for i in range(4):
        e = jnp.maximum(state.chain[i], 0)
        name = state.names[e]
        top = retrieve(tab, state, name, name != tab.tokenizer.pad_id)
        ok.append((i >= state.hops) | jnp.any(top == e))
    return jnp.all(jnp.stack(ok))
