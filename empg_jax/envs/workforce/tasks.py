"""Workforce question templates, their expert plans, and the template splits.

A template composes worker requests into a question ("what is the population of the city founded
in 1850 times 3 ?") and gives the expert plan that answers it, in the OWL format

    <tasks><task>lookup: city founded in 1850</task><task>lookup: population of #1</task>
    <task>calc: #2 times 3</task></tasks>

("#k" is the result of the k-th task; the answer is the result of the last task). Slots: `@c1`,
`@c2` distinct cities, `@p1`, `@p2` distinct people, `@y` the founding year of `@c1`, `@k` a
factor in [2, 4].

Splits [our design]: `train` and `test_seen` draw the SEEN templates (disjoint episode seeds);
`test_unseen` holds templates never trained on, new compositions of seen requests (a mayor's
children, a difference of populations); `test_transfer` needs the `convert` worker, which only
this split describes to the agent. Task types are the template names.
"""

from __future__ import annotations

import re

#: (name, question, plan as ((worker, request), ...))
SEEN = (
    ("population", "what is the population of @c1 ?", (("lookup", "population of @c1"),)),
    ("founded", "what is the founding year of @c1 ?", (("lookup", "founding year of @c1"),)),
    ("birth", "what is the birth year of @p1 ?", (("doc", "birth year of @p1"),)),
    (
        "children",
        "what is the number of children of @p1 ?",
        (("doc", "number of children of @p1"),),
    ),
    (
        "pop_times",
        "what is the population of @c1 times @k ?",
        (("lookup", "population of @c1"), ("calc", "#1 times @k")),
    ),
    (
        "children_times",
        "what is the number of children of @p1 times @k ?",
        (("doc", "number of children of @p1"), ("calc", "#1 times @k")),
    ),
    (
        "mayor_birth",
        "what is the birth year of the mayor of @c1 ?",
        (("lookup", "mayor of @c1"), ("doc", "birth year of #1")),
    ),
    (
        "founded_pop",
        "what is the population of the city founded in @y ?",
        (("lookup", "city founded in @y"), ("lookup", "population of #1")),
    ),
    (
        "founded_pop_times",
        "what is the population of the city founded in @y times @k ?",
        (
            ("lookup", "city founded in @y"),
            ("lookup", "population of #1"),
            ("calc", "#2 times @k"),
        ),
    ),
    (
        "founded_mayor_birth",
        "what is the birth year of the mayor of the city founded in @y ?",
        (("lookup", "city founded in @y"), ("lookup", "mayor of #1"), ("doc", "birth year of #2")),
    ),
    (
        "pop_plus",
        "what is the population of @c1 plus the population of @c2 ?",
        (("lookup", "population of @c1"), ("lookup", "population of @c2"), ("calc", "#1 plus #2")),
    ),
    (
        "children_minus",
        "what is the number of children of @p1 minus the number of children of @p2 ?",
        (
            ("doc", "number of children of @p1"),
            ("doc", "number of children of @p2"),
            ("calc", "#1 minus #2"),
        ),
    ),
)
UNSEEN = (
    (
        "mayor_children",
        "what is the number of children of the mayor of @c1 ?",
        (("lookup", "mayor of @c1"), ("doc", "number of children of #1")),
    ),
    (
        "pop_minus",
        "what is the population of @c1 minus the population of @c2 ?",
        (("lookup", "population of @c1"), ("lookup", "population of @c2"), ("calc", "#1 minus #2")),
    ),
    (
        "mayor_children_times",
        "what is the number of children of the mayor of @c1 times @k ?",
        (("lookup", "mayor of @c1"), ("doc", "number of children of #1"), ("calc", "#2 times @k")),
    ),
)
TRANSFER = (
    (
        "pop_hundreds",
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
