"""Search episode generation inside `jit`: a knowledge base and a question per (split, task).

The knowledge base is generated per episode from the episode seed (`fold_in(key(seed), split)`,
then the task id): distinct invented names for every entity of `world.TYPES`, the object of every
functional relation (a country's capital lies in it), and one passage per entity ("name : name was
born in ... ."). The question composes a relation path of the split (`tasks`) starting from a
random subject: "what is <phrase r_k> ... <phrase r_1> <name e0> ?".
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.core import compact_tokens
from empg_jax.envs.search.state import SearchState
from empg_jax.envs.search.tables import SearchTables
from empg_jax.envs.search.world import (
    CITY,
    COMPANY,
    COUNTRY,
    COUNTS,
    FILM,
    NUM_ENTITIES,
    OFFSETS,
    PERSON,
    REL,
    RELATIONS,
    TYPES,
    UNIVERSITY,
)


def episode_key(tab: SearchTables, task_id: jax.Array, split_index: jax.Array) -> jax.Array:
    """The PRNG key of episode `task_id` of split `split_index` (both may be traced)."""
    base = jax.random.fold_in(jax.random.key(tab.seed), split_index)
    return jax.random.fold_in(base, task_id)


def entity_names(tab: SearchTables, key: jax.Array) -> jax.Array:
    """Distinct invented names `[E, 2]` for every entity of the episode.

    All draws come from one `uniform` call (one random-bits kernel keeps compilation short):
    a pool is shuffled by sorting uniforms, a choice is `floor(u * n)`.
    """
    p = tab.pools
    sizes = [
        p[k].shape[0]
        for k in (
            "first",
            "last",
            "city",
            "country",
            "company",
            "university",
            "adjective",
            "noun",
        )
    ]
    u = jax.random.uniform(key, (sum(sizes) + COUNTS[COMPANY],))
    chunks = jnp.split(u, np.cumsum(sizes))

    def draw(pool, chunk, n):
        return p[pool][jnp.argsort(chunk)[:n]]

    first = draw("first", chunks[0], COUNTS[PERSON])[:, :1]
    last = draw("last", chunks[1], COUNTS[PERSON])[:, :1]
    persons = jnp.concatenate([first, last], 1)
    cities = draw("city", chunks[2], COUNTS[CITY])
    countries = draw("country", chunks[3], COUNTS[COUNTRY])
    stems = draw("company", chunks[4], COUNTS[COMPANY])[:, :1]
    n_suffix = p["suffix"].shape[0]
    suffix = p["suffix"][jnp.minimum((chunks[8] * n_suffix).astype(jnp.int32), n_suffix - 1)]
    companies = jnp.concatenate([stems, suffix[:, :1]], 1)
    universities = draw("university", chunks[5], COUNTS[UNIVERSITY])
    adj = draw("adjective", chunks[6], COUNTS[FILM])[:, :1]
    noun = draw("noun", chunks[7], COUNTS[FILM])[:, :1]
    films = jnp.concatenate([adj, noun], 1)
    return jnp.concatenate([persons, cities, countries, companies, universities, films])


def entity_relations(tab: SearchTables, key: jax.Array) -> jax.Array:
    """Object entity of each (entity, relation), `[E, R]`, -1 where it does not apply."""
    u = jax.random.uniform(key, (len(RELATIONS), max(COUNTS)))
    n_city, n_country = COUNTS[CITY], COUNTS[COUNTRY]

    def choose(r, n, high):
        return jnp.minimum((u[r, :n] * high).astype(jnp.int32), high - 1)

    # City i < n_country lies in country i (so every country has a city, its capital).
    country_of_city = jnp.concatenate(
        [jnp.arange(n_country), choose(REL["in_country"], n_city - n_country, n_country)]
    )
    columns = []
    for r, (name, subj, obj, _) in enumerate(RELATIONS):
        if name == "in_country":
            objs = OFFSETS[COUNTRY] + country_of_city
        elif name == "capital":
            objs = OFFSETS[CITY] + jnp.arange(n_country)
        else:
            objs = OFFSETS[obj] + choose(r, COUNTS[subj], COUNTS[obj])
        column = [jnp.full((COUNTS[t],), -1, jnp.int32) for t in range(len(TYPES))]
        column[subj] = objs.astype(jnp.int32)
        columns.append(jnp.concatenate(column))
    return jnp.stack(columns, 1)


def entity_passages(tab: SearchTables, names: jax.Array, rel: jax.Array) -> jax.Array:
    """One passage per entity, `[E, passage_len]` (one vmapped compaction for all types)."""
    pad = tab.tokenizer.pad_id
    types = jnp.repeat(
        jnp.arange(len(TYPES)), jnp.asarray(COUNTS), total_repeat_length=NUM_ENTITIES
    )

    def one(e, etype):
        lit, slots = tab.template_lits[etype], tab.template_slots[etype]
        objs = jnp.where(slots == -1, e, rel[e, jnp.maximum(slots, 0)])
        fill = jnp.where((slots >= -1)[:, None], names[jnp.maximum(objs, 0)], pad)
        return compact_tokens(jnp.concatenate([lit, fill], 1).reshape(-1), tab.passage_len, pad)

    return jax.vmap(one)(jnp.arange(NUM_ENTITIES), types)


def reset_in_split(tab: SearchTables, task_id: jax.Array, split_index: jax.Array):
    """The episode `task_id` of split `splits[split_index]` (both may be traced)."""
    key = episode_key(tab, task_id, split_index)
    k_names, k_rel, k_comp = jax.random.split(key, 3)
    names = entity_names(tab, k_names)
    rel = entity_relations(tab, k_rel)
    passages = entity_passages(tab, names, rel)
    comps, lengths, num = tab.comps, tab.comp_hops, tab.num_comps
    u_comp, u_start = jax.random.uniform(k_comp, (2,))
    c = jnp.minimum((u_comp * num[split_index]).astype(jnp.int32), num[split_index] - 1)
    path, hops = comps[split_index, c], lengths[split_index, c]
    subj_type = tab.rel_subject[path[0]]
    counts, offsets = jnp.asarray(COUNTS), jnp.asarray(OFFSETS)
    start = offsets[subj_type] + jnp.minimum(
        (u_start * counts[subj_type]).astype(jnp.int32), counts[subj_type] - 1
    )
    chain = [start]
    for i in range(4):
        nxt = rel[chain[-1], jnp.maximum(path[i], 0)]
        chain.append(jnp.where(i < hops, nxt, -1))
    chain = jnp.stack(chain).astype(jnp.int32)
    state = SearchState(
        t=jnp.zeros((), jnp.int32),
        terminated=jnp.zeros((), bool),
        truncated=jnp.zeros((), bool),
        task_type=(hops - 2).astype(jnp.int32),
        names=names,
        passages=passages,
        question=question_tokens(tab, names, path, hops, start),
        chain=chain,
        relations=path,
        hops=hops,
        shown=jnp.zeros((NUM_ENTITIES,), bool),
        score=jnp.zeros((), jnp.float32),
        won=jnp.zeros((), bool),
    )
    obs = compact_tokens(jnp.concatenate([tab.texts["question"], state.question]), tab.obs_len, 0)
    return state, obs


def question_tokens(tab: SearchTables, names, path, hops, start) -> jax.Array:
    """ "what is <phrase r_k> ... <phrase r_1> <name e0> ?" as `[task_len]` tokens."""
    pad = tab.tokenizer.pad_id
    parts = [tab.texts["what"]]
    for i in (3, 2, 1, 0):
        parts.append(jnp.where(i < hops, tab.phrases[jnp.maximum(path[i], 0)], pad))
    parts += [names[start], tab.texts["qmark"]]
    return compact_tokens(jnp.concatenate(parts), tab.task_len, pad)
