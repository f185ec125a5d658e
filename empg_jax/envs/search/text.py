"""Search text: the oracle's thoughts and the word list."""

from __future__ import annotations

from empg_jax.envs.core import NOTHING_HAPPENS
from empg_jax.envs.search.world import (
    CITY_NAMES,
    COMPANY_STEMS,
    COMPANY_SUFFIXES,
    COUNTRY_NAMES,
    FILM_ADJECTIVES,
    FILM_NOUNS,
    FIRST_NAMES,
    LAST_NAMES,
    PASSAGES,
    RELATIONS,
    UNIVERSITY_STEMS,
)
from empg_jax.text.word import split_words

# The oracle's thought per case: (text before the variable part, text after).
THOUGHTS = {
    "search": ("i need", ", so i will search for it ."),
    "answer": ("i have found every fact i need , so the answer is", "."),
}
EXTRA_WORDS = (
    "question what is search answer the of university a i need so will for it have found every "
    "fact answer your has been submitted"
).split()


def words() -> tuple[str, ...]:
    """Every letter word the search environment may emit or accept, sorted."""
    texts = [*PASSAGES.values(), *(r[3] for r in RELATIONS), *EXTRA_WORDS]
    texts += [a + " " + b for a, b in THOUGHTS.values()]
    texts += FIRST_NAMES + LAST_NAMES + CITY_NAMES + COUNTRY_NAMES + COMPANY_STEMS
    texts += list(COMPANY_SUFFIXES) + UNIVERSITY_STEMS + FILM_ADJECTIVES + FILM_NOUNS
    texts += [NOTHING_HAPPENS]
    found = {w for t in texts for w in split_words(t) if w.isalpha()}
    return tuple(sorted(found))
