"""Workforce question templates, their expert plans, and the template splits.

A template composes worker requests into a question ("what is the population of the city founded
in 1850 times 3 ?") and gives the expert plan that answers it, in the OWL format

    <tasks><task>lookup: city founded in 1850</task><task>lookup: population of #1</task>
    <task>calc: #2 times 3</task></tasks>

("#k" is the result of the k-th task; the answer is the result of the last task). Slots: `@c1`,
`@c2` distinct cities, `@p1`, `@p2` distinct people, `@y` the founding year of `@c1`, `@k` a
factor in [2, 4].

Templates are composed from number-valued atoms (a field of an entity, possibly found through
another lookup: "the birth year of the mayor of @c1") and modifiers (none, "times @k", "plus" or
"minus" the same field of a second entity).

Splits [our design]: `train` and `test_seen` draw the SEEN templates (disjoint episode seeds);
`test_unseen` holds the `HELD_OUT` compositions, each made of an atom and a modifier that both
occur in seen templates (a mayor's children, children times k, a difference of populations, a sum
of birth years); `test_transfer` needs the `convert` worker, which only this split describes to
the agent. Task types are the template names.
"""

from __future__ import annotations

import re

#: Number-valued atoms: (name, noun phrase, plan). The second operand of "A plus B" uses the
#: same field of `@c2` / `@p2`.
ATOMS = (
    ("population", "the population of @c1", (("lookup", "population of @c1"),)),
    ("founded", "the founding year of @c1", (("lookup", "founding year of @c1"),)),
    ("birth", "the birth year of @p1", (("doc", "birth year of @p1"),)),
    ("children", "the number of children of @p1", (("doc", "number of children of @p1"),)),
    (
        "mayor_birth",
        "the birth year of the mayor of @c1",
        (("lookup", "mayor of @c1"), ("doc", "birth year of #1")),
    ),
    (
        "mayor_children",
        "the number of children of the mayor of @c1",
        (("lookup", "mayor of @c1"), ("doc", "number of children of #1")),
    ),
    (
        "founded_pop",
        "the population of the city founded in @y",
        (("lookup", "city founded in @y"), ("lookup", "population of #1")),
    ),
)
#: Atoms of one task, usable on both sides of "plus" / "minus".
SIMPLE = ("population", "founded", "birth", "children")
#: Held-out compositions [our design]: each atom and each modifier occurs in seen templates,
#: only these pairings never do.
HELD_OUT = ("mayor_children", "children_times", "population_minus", "birth_plus")


def _compose() -> tuple[tuple, tuple]:
    """Every template: an atom alone, an atom "times @k", and "A plus / minus B" of two simple
    atoms of one field; split into (seen, held-out)."""
    atoms = {name: (phrase, plan) for name, phrase, plan in ATOMS}
    out = []
    for name, (phrase, plan) in atoms.items():
        out.append((name, f"what is {phrase} ?", plan))
        n = len(plan)
        if n < 3:
            out.append(
                (
                    f"{name}_times",
                    f"what is {phrase} times @k ?",
                    plan + (("calc", f"#{n} times @k"),),
                )
            )
    for name in SIMPLE:
        phrase, plan = atoms[name]
        other = phrase.replace("@c1", "@c2").replace("@p1", "@p2")
        ((worker, request),) = plan
        second = ((worker, request.replace("@c1", "@c2").replace("@p1", "@p2")),)
        for op in ("plus", "minus"):
            out.append(
                (
                    f"{name}_{op}",
                    f"what is {phrase} {op} {other} ?",
                    plan + second + (("calc", f"#1 {op} #2"),),
                )
            )
    seen = tuple(t for t in out if t[0] not in HELD_OUT)
    held = tuple(t for t in out if t[0] in HELD_OUT)
    return seen, held


SEEN, UNSEEN = _compose()
TRANSFER = (
    (
        "population_hundreds",
        "what is the population of @c1 in hundreds ?",
        (("lookup", "population of @c1"), ("convert", "#1 thousands to hundreds")),
    ),
    (
        "founded_pop_tens",
        "what is the population of the city founded in @y in tens ?",
        (
            ("lookup", "city founded in @y"),
            ("lookup", "population of #1"),
            ("convert", "#2 thousands to tens"),
        ),
    ),
)
TEMPLATES = SEEN + UNSEEN + TRANSFER
TEMPLATE_NAMES = tuple(t[0] for t in TEMPLATES)
SPLITS = ("train", "test_seen", "test_unseen", "test_transfer")
#: Template indices (into `TEMPLATES`) of each split.
SPLIT_TEMPLATES = {
    "train": tuple(range(len(SEEN))),
    "test_seen": tuple(range(len(SEEN))),
    "test_unseen": tuple(range(len(SEEN), len(SEEN) + len(UNSEEN))),
    "test_transfer": tuple(range(len(SEEN) + len(UNSEEN), len(TEMPLATES))),
}
MAX_TASKS = 4  # tasks a plan may hold (the templates need at most 3)
SLOTS = ("@c1", "@c2", "@p1", "@p2", "@y", "@k")

_TAG = re.compile(r"<(/?)(tasks?)>")


def spaced_tags(text: str) -> str:
    """Writes the plan tags as word pieces: `<task>` -> `< task >`, `</tasks>` -> `< / tasks >`.

    The word tokenizer reads a tag-like `<task>` as one (unknown) special token; spaced out it is
    the three tokens `<`, `task`, `>`, which is how plans are encoded.
    """
    return _TAG.sub(lambda m: " < " + ("/ " if m[1] else "") + m[2] + " > ", text)


def glued_tags(text: str) -> str:
    """The inverse of `spaced_tags` on decoded text (for display)."""
    text = re.sub(r"<\s*(/?)\s*(tasks?)\s*>", lambda m: f"<{m[1]}{m[2]}>", text)
    return re.sub(r"\s*(</?tasks?>)\s*", r"\1", text)


def plan_text(plan) -> str:
    """The OWL plan of `((worker, request), ...)`: `<tasks><task>w: r</task>...</tasks>`."""
    return "<tasks>" + "".join(f"<task>{w}: {r}</task>" for w, r in plan) + "</tasks>"
