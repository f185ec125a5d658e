"""Workforce text: observations, the oracle's thoughts and the word list.

Slots in these texts are filled inside `jit` (`tables` splits them into literal pieces): `@q` the
question, `@j` a task number, `@w` a worker, `@r` a failure reason, `@v` a value, `@n` a count.
"""

from __future__ import annotations

import re

from empg_jax.envs.core import NOTHING_HAPPENS
from empg_jax.envs.workforce.tasks import TEMPLATES
from empg_jax.envs.workforce.world import (
    CITY_NAMES,
    DESCRIPTIONS,
    DOCUMENT,
    OPS,
    PERSON_NAMES,
    REASONS,
    WORKERS,
)
from empg_jax.text.word import split_words

#: Observations of the planner (one plan per step) and of the monolithic agent (one call).
TEXTS = {
    "plan_start": "@q plan the tasks .",
    "plan_failed": "task @j failed : @w @r . replan .",
    "plan_done": "the plan is done : the answer is @v .",
    "mono_start": "@q call the workers , then answer .",
    "mono_result": "@w returned @v .",
    "mono_failed": "@w @r .",
    "mono_known": "known :",
    "mono_answered": "your answer has been submitted .",
    "answer_row": "answer [ the final value ]",
}
#: The oracle's thoughts.
THOUGHTS = {
    "plan": "the question needs @n tasks .",
    "replan": "a worker failed , so i send the plan again .",
    "call": "i ask @w for the next fact .",
    "answer": "i have every fact , so i answer .",
}
EXTRA_WORDS = "tasks task answer the final value"
#: A slot name (`@c1`, `@arg`, ...): not a word.
SLOT = re.compile(r"@\w+")


def words() -> tuple[str, ...]:
    """Every letter word the workforce environment may emit or accept, sorted."""
    texts = [*TEXTS.values(), *THOUGHTS.values(), *REASONS, *WORKERS, *DESCRIPTIONS.values()]
    texts += [q for _, q, _ in TEMPLATES] + [r for *_, plan in TEMPLATES for _, r in plan]
    texts += [o[2] for o in OPS] + [DOCUMENT, EXTRA_WORDS, NOTHING_HAPPENS]
    texts += CITY_NAMES + PERSON_NAMES
    found = {w for t in texts for w in split_words(SLOT.sub(" ", t)) if w.isalpha()}
    return tuple(sorted(found))
