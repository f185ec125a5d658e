"""search: a Deep-Search-like multi-hop question answering environment inside `jit` and `vmap`.

The EMPG paper's Deep Search agent answers multi-hop questions (HotpotQA, 2WikiMultiHopQA,
MuSiQue, Bamboogle, ...) with a search tool and is rewarded for a correct answer (the reward is
binary here [reconstructed]; the paper's tools and horizon are not published). This environment
keeps that structure on generated data:

- **Knowledge base**, generated per episode inside `jit` from the episode seed: 16 people, 10
  cities, 4 countries, 6 companies, 4 universities and 4 films with invented names, linked by ten
  functional relations (born in, works for, studied at, country, mayor, capital, founder,
  headquarters, campus, director; a country's capital lies in it). Each entity has one passage,
  "name : name was born in ... ." listing its relations.
- **Questions** compose 2 to 4 relations: "what is the country of the birthplace of the founder of
  zentrix labs ?"; the answer is the entity at the end of the chain.
- **Tools.** `search[query]` returns the top 3 passages by BM25 (`envs.bm25`, the same formula as
  the shop's engine); `answer[entity]` ends the episode. Reward 10 for an exact match of the
  answer's words, else 0 (`info["score"]` 1 or 0). Horizon 10.
- **Splits** [reconstructed]: `train`, `test_id` and `test_ood`; the relation paths are split by
  held-out relation pairs, so no `test_ood` composition occurs in training (`tasks`). Task types
  are the hop counts (2, 3, 4).
- **Admissible actions** are not a finite list: `info["admissible"]` holds the two example rows
  `search [ ... ]` and `answer [ ... ]`.
- **Oracle** (`oracle`): searches every hop's subject, then answers; it wins every solvable
  episode (`Search.solvable`).

Modules: `world` (entities, relations, names), `tasks` (relation paths and splits), `text`,
`state`, `tables` (the above as id arrays), `episode` (reset), `dynamics` (step), `oracle`, `env`
(the `Search` class).
"""

from empg_jax.envs.search.env import Search, cached
from empg_jax.envs.search.state import SearchParams, SearchState
from empg_jax.envs.search.tasks import HELD_OUT_PAIRS
from empg_jax.envs.search.world import NUM_ENTITIES, REL, RELATIONS

__all__ = [
    "HELD_OUT_PAIRS",
    "NUM_ENTITIES",
    "REL",
    "RELATIONS",
    "Search",
    "SearchParams",
    "SearchState",
    "cached",
]
