"""`search`: a Deep-Search-like multi-hop question answering environment inside `jit` (issue #5).

The EMPG paper's Deep Search agent answers multi-hop questions (HotpotQA, 2WikiMultiHopQA,
MuSiQue, Bamboogle, ...) with a search tool and is rewarded for a correct answer
(environments.md §1.3; reward binary [reconstructed], tools and horizon [unknown]). This
environment keeps that structure on generated data:

- **Knowledge base**, generated per episode inside `jit` from the episode seed: 16 people, 10
  cities, 4 countries, 6 companies, 4 universities and 4 films with invented names, linked by ten
  functional relations (born in, works for, studied at, country, mayor, capital, founder,
  headquarters, campus, director; a country's capital lies in it). Each entity has one passage,
  "name : name was born in ... ." listing its relations.
- **Questions** compose 2 to 4 relations: "what is the country of the birthplace of the founder of
  zentrix labs ?"; the answer is the entity at the end of the chain.
- **Tools.** `search[query]` returns the top 3 passages by BM25 (`bm25.token_scores`, the same
  formula as the shop's engine); `answer[entity]` ends the episode. Reward 10 for an exact match of
  the answer's words, else 0 (`info["score"]` 1 or 0). Horizon 10.
- **Splits** [reconstructed]: the relation paths (compositions) are split by held-out relation
  pairs. `train` and `test_id` use paths without a held-out adjacent pair (in-distribution
  templates; disjoint episode seeds), `test_ood` only paths that contain one, so no test_ood
  composition occurs in training. Task types are the hop counts (2, 3, 4).
- **Admissible actions** are not a finite list: `info["admissible"]` holds the two example rows
  `search [ ... ]` and `answer [ ... ]`.
- **Oracle.** For the first hop whose subject passage has not been shown yet, search the subject's
  name; when every hop's passage has been shown, answer. The environment records which passages the
  agent has seen, so the oracle is a pure function of the state. An episode is solvable when each
  hop subject's own passage is in the top 3 for its name; `info` does not need this, but
  `Search.solvable` computes it for tests.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from empg_jax.envs import bm25, register
from empg_jax.envs.core import NOTHING_HAPPENS, Environment, compact_tokens
from empg_jax.text.word import WordTokenizer, split_words

# Entity types and how many of each an episode has.
TYPES = ("person", "city", "country", "company", "university", "film")
COUNTS = (16, 10, 4, 6, 4, 4)
OFFSETS = tuple(int(x) for x in np.cumsum((0,) + COUNTS[:-1]))
NUM_ENTITIES = sum(COUNTS)
PERSON, CITY, COUNTRY, COMPANY, UNIVERSITY, FILM = range(6)

# (name, subject type, object type, noun phrase used in questions)
RELATIONS = (
    ("born_in", PERSON, CITY, "the birthplace of"),
    ("works_for", PERSON, COMPANY, "the employer of"),
    ("studied_at", PERSON, UNIVERSITY, "the alma mater of"),
    ("in_country", CITY, COUNTRY, "the country of"),
    ("mayor", CITY, PERSON, "the mayor of"),
    ("capital", COUNTRY, CITY, "the capital of"),
    ("founded_by", COMPANY, PERSON, "the founder of"),
    ("based_in", COMPANY, CITY, "the home city of"),
    ("campus_in", UNIVERSITY, CITY, "the campus city of"),
    ("directed_by", FILM, PERSON, "the director of"),
)
REL = {r[0]: i for i, r in enumerate(RELATIONS)}
# Adjacent relation pairs (inner, outer) never used in training [reconstructed]: compositions
# containing one of them form the out-of-distribution split.
HELD_OUT_PAIRS = (
    ("works_for", "based_in"),
    ("born_in", "mayor"),
    ("directed_by", "studied_at"),
    ("campus_in", "in_country"),
)
# A composition whose answer is trivially its own subject (the country of the capital of X) is left
# out of every split.
DEGENERATE_PAIRS = (("capital", "in_country"),)

# Passage template per type: literal text and slots; "@self" is the entity's own name, "@rel" the
# object of a relation.
PASSAGES = {
    PERSON: (
        "@self : @self was born in @born_in , studied at @studied_at and works for @works_for ."
    ),
    CITY: "@self : @self is a city in @in_country . its mayor is @mayor .",
    COUNTRY: "@self : @self is a country whose capital is @capital .",
    COMPANY: "@self : @self was founded by @founded_by and is based in @based_in .",
    UNIVERSITY: "@self : @self has its campus in @campus_in .",
    FILM: "@self : @self is a film directed by @directed_by .",
}

FIRST_NAMES = (
    "anna boris clara dmitri elena felix greta hugo ilse jonas karla leon mira nils olga pavel "
    "rosa stefan tanja udo vera walter xenia yusuf zora adrian bianca cyril dora emil fiona gideon "
    "hanna igor julia kasimir lena marek nora oskar"
).split()
LAST_NAMES = (
    "kovar lindqvist moreau brandt okafor haskell petrov duarte vasquez novak fischer tanaka "
    "oyelaran castell weber ivanova marsh lindgren sato quinlan rhee achterberg dubois halloran "
    "jaskolski keller lorenz mbeki nakamura orsini pereira ramos schultz tremaine ulrich varga "
    "whitcombe yilmaz zeller abernathy"
).split()
CITY_NAMES = (
    "varno keldis ostrava belmira tarsk quillon dunmore esterhaven faloria gorwick halvik "
    "ingleport jarrow kessel lumen marrow norvik oldcastle pellham ravenna sorvik thessaly "
    "umbria valdor westmarch yarrow zennor arcadia brisa corvalle"
).split()
COUNTRY_NAMES = (
    "vardia elbonia corvinia estoria galdor hesperia ilyria jorvik kaldor lusitania montara norland"
).split()
COMPANY_STEMS = (
    "zentrix altavia brightwell cobalt dynamo everpeak fluxion gravitas helion ionic "
    "junction kinetic luminar meridian"
).split()
COMPANY_SUFFIXES = ("labs", "motors", "systems", "foods", "media", "group")
UNIVERSITY_STEMS = "kell ashford brenton corliss dunham elmhurst fairleigh glenmore".split()
FILM_ADJECTIVES = "silent crimson hollow golden distant broken frozen velvet".split()
FILM_NOUNS = "harbor garden frontier empire mirror voyage lantern orchard".split()

_THOUGHTS = {
    "search": ("i need", ", so i will search for it ."),
    "answer": ("i have found every fact i need , so the answer is", "."),
}
_EXTRA_WORDS = (
    "question what is search answer the of university a i need so will for it have found every "
    "fact answer your has been submitted"
).split()


def _compositions() -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """All type-correct relation paths of 2 to 4 hops, split into (in-distribution, OOD)."""
    held = {(REL[a], REL[b]) for a, b in HELD_OUT_PAIRS}
    degenerate = {(REL[a], REL[b]) for a, b in DEGENERATE_PAIRS}
    ind, ood = [], []
    for hops in (2, 3, 4):
        for path in itertools.product(range(len(RELATIONS)), repeat=hops):
            if any(RELATIONS[x][2] != RELATIONS[y][1] for x, y in itertools.pairwise(path)):
                continue
            pairs = set(itertools.pairwise(path))
            if pairs & degenerate:
                continue
            (ood if pairs & held else ind).append(path)
    return ind, ood


@struct.dataclass
class SearchParams:
    """`split`: train / test_id / test_ood; `num_tasks` episodes per split (seeded by task id)."""

    split: str = struct.field(pytree_node=False)
    horizon: int = 10
    num_tasks: int = 0


@struct.dataclass
class SearchState:
    t: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    task_type: jax.Array  # hops - 2
    names: jax.Array  # [E, 2] name tokens per entity
    passages: jax.Array  # [E, P] passage tokens
    question: jax.Array  # [K]
    chain: jax.Array  # [5] entities e0..e_hops, -1 padded
    relations: jax.Array  # [4] relation ids of the path, -1 padded
    hops: jax.Array
    shown: jax.Array  # [E] passages the agent has been shown
    score: jax.Array
    won: jax.Array


class Search(Environment):
    """The Deep-Search-like environment (see the module docstring)."""

    name = "search"
    splits = ("train", "test_id", "test_ood")
    task_types = ("2-hop", "3-hop", "4-hop")
    top_k = 3

    def __init__(
        self,
        tokenizer: WordTokenizer | None = None,
        seed: int = 0,
        num_train: int = 1_000_000,
        num_test: int = 500,
        action_len: int = 16,
        thought_len: int = 32,
    ):
        super().__init__(tokenizer or self.own_tokenizer())
        tok = self.tokenizer
        self.seed = seed
        self.num_train, self.num_test = num_train, num_test
        self.action_len, self.thought_len = action_len, thought_len
        self.max_admissible = 2
        self.passage_len = 24
        self.task_len = 40
        self.obs_len = 4 + self.top_k * (self.passage_len + 3)

        def enc(text):
            ids = tok.encode(text)
            if tok.unk_id in ids:
                raise ValueError(f"search text has words outside the vocabulary: {text!r}")
            return ids

        self._enc = enc

        def name_table(names_2):
            rows = np.zeros((len(names_2), 2), np.int32)
            for i, words in enumerate(names_2):
                ids = [tok.token_to_id(w) for w in words]
                rows[i, : len(ids)] = ids
            return jnp.asarray(rows)

        self.pools = {
            "first": name_table([[w] for w in FIRST_NAMES]),
            "last": name_table([[w] for w in LAST_NAMES]),
            "city": name_table([[w] for w in CITY_NAMES]),
            "country": name_table([[w] for w in COUNTRY_NAMES]),
            "company": name_table([[w] for w in COMPANY_STEMS]),
            "suffix": name_table([[w] for w in COMPANY_SUFFIXES]),
            "university": name_table([[w, "university"] for w in UNIVERSITY_STEMS]),
            "adjective": name_table([[w] for w in FILM_ADJECTIVES]),
            "noun": name_table([[w] for w in FILM_NOUNS]),
        }
        # Passage templates as (literal tokens [S, W], slot relation [S] (-1 self, -2 none)).
        self.templates = {}
        for etype, text in PASSAGES.items():
            lits, slots, cur = [], [], []
            for word in text.split():
                if word.startswith("@"):
                    lits.append(cur)
                    slots.append(-1 if word == "@self" else REL[word[1:]])
                    cur = []
                else:
                    cur += enc(word)
            lits.append(cur)
            slots.append(-2)
            width = max(len(x) for x in lits) or 1
            lit = np.zeros((len(lits), width), np.int32)
            for i, x in enumerate(lits):
                lit[i, : len(x)] = x
            self.templates[etype] = (lit, slots)
        num_slots = max(len(v[1]) for v in self.templates.values())
        width = max(v[0].shape[1] for v in self.templates.values())
        lits = np.zeros((len(TYPES), num_slots, width), np.int32)
        slot_arr = np.full((len(TYPES), num_slots), -2, np.int32)
        for etype, (lit, slots) in self.templates.items():
            lits[etype, : lit.shape[0], : lit.shape[1]] = lit
            slot_arr[etype, : len(slots)] = slots
        self.template_lits, self.template_slots = jnp.asarray(lits), jnp.asarray(slot_arr)
        phrases = [enc(r[3]) for r in RELATIONS]
        self.phrases = jnp.asarray(np.array([p + [0] * (4 - len(p)) for p in phrases], np.int32))
        self.rel_subject = jnp.asarray([r[1] for r in RELATIONS], jnp.int32)
        ind, ood = _compositions()
        self.compositions = {"train": ind, "test_id": ind, "test_ood": ood}
        most = max(len(v) for v in self.compositions.values())
        comps = np.full((len(self.splits), most, 4), -1, np.int32)
        lengths = np.full((len(self.splits), most), 2, np.int32)
        for i, split in enumerate(self.splits):
            for j, path in enumerate(self.compositions[split]):
                comps[i, j, : len(path)] = path
                lengths[i, j] = len(path)
        self._all_comps = (
            jnp.asarray(comps),
            jnp.asarray(lengths),
            jnp.asarray([len(self.compositions[x]) for x in self.splits], jnp.int32),
        )
        self.texts = {
            "question": jnp.asarray(enc("question :"), jnp.int32),
            "what": jnp.asarray(enc("what is"), jnp.int32),
            "qmark": jnp.asarray(enc("?"), jnp.int32),
            "nothing": jnp.asarray(enc(NOTHING_HAPPENS), jnp.int32),
            "sep": jnp.asarray(enc("|"), jnp.int32),
            "answered": jnp.asarray(enc("your answer has been submitted ."), jnp.int32),
        }
        self.thoughts = {
            k: (jnp.asarray(enc(a), jnp.int32), jnp.asarray(enc(b), jnp.int32))
            for k, (a, b) in _THOUGHTS.items()
        }
        self.examples = jnp.asarray(
            [
                np.pad(enc(x), (0, action_len - len(enc(x))))
                for x in ("search [ ... ]", "answer [ ... ]")
            ],
            jnp.int32,
        )
        self.ids = {w: tok.token_to_id(w) for w in ("search", "answer", "[", "]")}
        self.digit_ids = jnp.asarray(tok.digit_ids)

    # ----- words, params ---------------------------------------------------------------------
    @classmethod
    def words(cls) -> tuple[str, ...]:
        texts = [*PASSAGES.values(), *(r[3] for r in RELATIONS), *_EXTRA_WORDS]
        texts += [a + " " + b for a, b in _THOUGHTS.values()]
        texts += FIRST_NAMES + LAST_NAMES + CITY_NAMES + COUNTRY_NAMES + COMPANY_STEMS
        texts += list(COMPANY_SUFFIXES) + UNIVERSITY_STEMS + FILM_ADJECTIVES + FILM_NOUNS
        texts += [NOTHING_HAPPENS]
        words = {w for t in texts for w in split_words(t) if w.isalpha()}
        return tuple(sorted(words))

    def default_params(self, split: str = "train", horizon: int = 10) -> SearchParams:
        if split not in self.splits:
            raise ValueError(f"split {split!r} not in {self.splits}")
        return SearchParams(split, horizon, self.num_train if split == "train" else self.num_test)

    # ----- episode generation ----------------------------------------------------------------
    def _episode_key(self, task_id: jax.Array, split_index: jax.Array) -> jax.Array:
        base = jax.random.fold_in(jax.random.key(self.seed), split_index)
        return jax.random.fold_in(base, task_id)

    def _names(self, key: jax.Array) -> jax.Array:
        """Distinct invented names `[E, 2]` for every entity of the episode.

        All draws come from one `uniform` call (one random-bits kernel keeps compilation short):
        a pool is shuffled by sorting uniforms, a choice is `floor(u * n)`.
        """
        p = self.pools
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

    def _relations(self, key: jax.Array) -> jax.Array:
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

    def _passages(self, names: jax.Array, rel: jax.Array) -> jax.Array:
        """One passage per entity, `[E, passage_len]` (one vmapped compaction for all types)."""
        pad = self.tokenizer.pad_id
        types = jnp.repeat(
            jnp.arange(len(TYPES)), jnp.asarray(COUNTS), total_repeat_length=NUM_ENTITIES
        )

        def one(e, etype):
            lit, slots = self.template_lits[etype], self.template_slots[etype]
            objs = jnp.where(slots == -1, e, rel[e, jnp.maximum(slots, 0)])
            fill = jnp.where((slots >= -1)[:, None], names[jnp.maximum(objs, 0)], pad)
            return compact_tokens(
                jnp.concatenate([lit, fill], 1).reshape(-1), self.passage_len, pad
            )

        return jax.vmap(one)(jnp.arange(NUM_ENTITIES), types)

    def _reset_task(self, task_id: jax.Array, params: SearchParams):
        return self.reset_in_split(task_id, self.splits.index(params.split))

    def reset_in_split(self, task_id: jax.Array, split_index: jax.Array):
        """The episode `task_id` of split `splits[split_index]` (both may be traced)."""
        key = self._episode_key(task_id, split_index)
        k_names, k_rel, k_comp = jax.random.split(key, 3)
        names = self._names(k_names)
        rel = self._relations(k_rel)
        passages = self._passages(names, rel)
        comps, lengths, num = self._all_comps
        u_comp, u_start = jax.random.uniform(k_comp, (2,))
        c = jnp.minimum((u_comp * num[split_index]).astype(jnp.int32), num[split_index] - 1)
        path, hops = comps[split_index, c], lengths[split_index, c]
        subj_type = self.rel_subject[path[0]]
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
            question=self._question(names, path, hops, start),
            chain=chain,
            relations=path,
            hops=hops,
            shown=jnp.zeros((NUM_ENTITIES,), bool),
            score=jnp.zeros((), jnp.float32),
            won=jnp.zeros((), bool),
        )
        obs = compact_tokens(
            jnp.concatenate([self.texts["question"], state.question]), self.obs_len, 0
        )
        return state, obs

    def _question(self, names, path, hops, start) -> jax.Array:
        """ "what is <phrase r_k> ... <phrase r_1> <name e0> ?" as `[task_len]` tokens."""
        pad = self.tokenizer.pad_id
        parts = [self.texts["what"]]
        for i in (3, 2, 1, 0):
            parts.append(jnp.where(i < hops, self.phrases[jnp.maximum(path[i], 0)], pad))
        parts += [names[start], self.texts["qmark"]]
        return compact_tokens(jnp.concatenate(parts), self.task_len, pad)

    # ----- stepping ---------------------------------------------------------------------------
    def _bracket_arg(self, action_L: jax.Array, verb: str):
        """(is `verb [ ... ]`, argument mask) for a left-aligned action."""
        n = jnp.sum(action_L != self.tokenizer.pad_id)
        pos = jnp.arange(action_L.shape[0])
        ok = (
            (action_L[0] == self.ids[verb])
            & (action_L[1] == self.ids["["])
            & (action_L[jnp.maximum(n - 1, 0)] == self.ids["]"])
            & (n > 3)
        )
        return ok, (pos >= 2) & (pos < n - 1)

    def retrieve(self, state: SearchState, query_Q: jax.Array, mask_Q: jax.Array) -> jax.Array:
        """Indices `[top_k]` of the best passages by BM25 (all returned, best first)."""
        scores = bm25.token_scores(query_Q, mask_Q, state.passages, state.passages != 0)
        return bm25.top_k(scores, self.top_k)[0]

    def _step(self, key, state: SearchState, action_L, ok, params):
        del key, params
        pad = self.tokenizer.pad_id
        is_search, q_mask = self._bracket_arg(action_L, "search")
        is_answer, a_mask = self._bracket_arg(action_L, "answer")
        is_search, is_answer = ok & is_search, ok & is_answer
        top = self.retrieve(state, action_L, q_mask)
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
        seps = jnp.broadcast_to(self.texts["sep"], (self.top_k, 1))
        numbers = self.digit_ids[jnp.arange(1, self.top_k + 1)][:, None]
        rows = jnp.concatenate([numbers, seps, state.passages[top], seps], 1).reshape(-1)
        text = jnp.concatenate(
            [
                jnp.where(invalid, self.texts["nothing"], pad),
                jnp.where(is_search, rows, pad),
                jnp.where(is_answer, self.texts["answered"], pad),
            ]
        )
        obs = compact_tokens(text, self.obs_len, pad)
        reward = jnp.where(correct, 10.0, 0.0).astype(jnp.float32)
        return new, obs, reward, is_answer, invalid

    def info_for_state(self, state: SearchState, params, invalid):
        del params
        return {
            "invalid": jnp.asarray(invalid, bool),
            "won": state.won,
            "task_type": state.task_type,
            "admissible": self.examples,
            "num_admissible": jnp.asarray(2, jnp.int32),
            "score": state.score,
            "task": state.question,
        }

    # ----- oracle -----------------------------------------------------------------------------
    def _oracle_hop(self, state: SearchState):
        """(first hop whose subject passage is unseen, whether every hop's passage was seen)."""
        hop_idx = jnp.arange(4)
        subjects = state.chain[:4]
        unseen = (hop_idx < state.hops) & ~state.shown[jnp.maximum(subjects, 0)]
        return jnp.argmax(unseen), ~jnp.any(unseen)

    def _wrap(self, verb: str, arg: jax.Array) -> jax.Array:
        pad = self.tokenizer.pad_id
        parts = [
            jnp.array([self.ids[verb], self.ids["["]], jnp.int32),
            arg,
            jnp.array([self.ids["]"]], jnp.int32),
        ]
        return compact_tokens(jnp.concatenate(parts), self.action_len, pad)

    def oracle(self, key, state: SearchState, params) -> jax.Array:
        del key, params
        hop, ready = self._oracle_hop(state)
        answer = self._wrap("answer", state.names[state.chain[state.hops]])
        search = self._wrap("search", state.names[state.chain[hop]])
        return jnp.where(ready, answer, search)

    def oracle_thought(self, key, state: SearchState, params) -> jax.Array:
        del key, params
        pad = self.tokenizer.pad_id
        hop, ready = self._oracle_hop(state)
        head, tail = self.thoughts["search"]
        need = jnp.concatenate(
            [head, self.phrases[state.relations[hop]], state.names[state.chain[hop]], tail]
        )
        head, tail = self.thoughts["answer"]
        done = jnp.concatenate([head, state.names[state.chain[state.hops]], tail])
        width = max(need.shape[0], done.shape[0])
        need = jnp.pad(need, (0, width - need.shape[0]))
        done = jnp.pad(done, (0, width - done.shape[0]))
        return compact_tokens(jnp.where(ready, done, need), self.thought_len, pad)

    def solvable(self, state: SearchState) -> jax.Array:
        """Every hop subject's own passage is among the top 3 for a search of its name."""
        ok = []
        for i in range(4):
            e = jnp.maximum(state.chain[i], 0)
            name = state.names[e]
            top = self.retrieve(state, name, name != self.tokenizer.pad_id)
            ok.append((i >= state.hops) | jnp.any(top == e))
        return jnp.all(jnp.stack(ok))

    def render(self, state: SearchState) -> str:
        q = self.decode(state.question)
        answer = self.decode(state.names[int(state.chain[int(state.hops)])])
        lines = [f"[search] step {int(state.t)} | {int(state.hops)}-hop | question: {q}"]
        lines.append(f"answer: {answer} | passages shown: {int(np.sum(state.shown))}")
        if bool(state.terminated):
            lines.append(f"episode over | won {bool(state.won)}")
        return "\n".join(lines)


register("search", Search)


@functools.lru_cache(maxsize=2)
def cached(tokenizer: WordTokenizer | None = None) -> Search:
    """One shared `Search` per tokenizer."""
    return Search(tokenizer)
