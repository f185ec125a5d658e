"""The workforce world: entities, their fields, the workers and the requests each worker serves.

An episode's knowledge (generated in `episode`) has `NUM_CITIES` cities and `NUM_PEOPLE` people
with invented names. Each city has a row in a key-value table (population in thousands, founding
year, mayor); each person has a document holding their fields as text ("anna : born 1961 ;
children 3 ."). Every person is the mayor of exactly one city.

Workers (deterministic, each call fails with probability `p_fail` and returns a reason):
- `lookup` reads the table: "population of X", "founding year of X", "mayor of X", and the
  inverse "city founded in Y";
- `doc` extracts a field from a person's document: "birth year of X", "number of children of X";
- `calc` does arithmetic on two numbers: "A plus B", "A minus B", "A times B";
- `convert` (the transfer worker, described to the agent on the `test_transfer` split only)
  converts a number between units: "A thousands to hundreds" (x 10), "... to tens" (x 100),
  "... to ones" (x 1000).

A request is literal words with argument slots (`ARG`): a number, an entity name, or a reference
"#k" to the result of the k-th task of the same plan.
"""

from __future__ import annotations

NUM_CITIES = 5
NUM_PEOPLE = 5
#: Founding years are distinct per episode, drawn from [YEAR_LO, YEAR_HI).
YEAR_LO, YEAR_HI = 1700, 2000
BORN_LO, BORN_HI = 1900, 1990
POP_LO, POP_HI = 10, 100  # thousands
CHILDREN_LO, CHILDREN_HI = 1, 10
FACTOR_LO, FACTOR_HI = 2, 5  # the constant K of "... times K"

# Name pools, kept small so that a small planner learns to copy names within minutes of CPU.
CITY_NAMES = "varno keldis ostrava belmira tarsk quillon dunmore halvik".split()
PERSON_NAMES = "anna boris clara dmitri elena felix greta hugo".split()

#: Worker names in id order; `TRANSFER_WORKER` is only described on the transfer split.
WORKERS = ("lookup", "doc", "calc", "convert")
TRANSFER_WORKER = "convert"
#: One line per worker: what the agent is told it does (the admissible rows).
DESCRIPTIONS = {
    "lookup": "population , founding year , mayor , city founded in",
    "doc": "birth year , number of children",
    "calc": "plus , minus , times",
    "convert": "thousands to hundreds , tens , ones",
}

# Result kinds of a worker call (and of an argument).
NONE, NUMBER, CITY, PERSON = range(4)

ARG = "@arg"  # an argument slot in a request shape
#: Requests: (name, worker, shape words, argument kinds, result kind). The worker computes the
#: result in `workers.OPS` order; shapes are matched exactly after arguments are replaced by ARG.
OPS = (
    ("population", "lookup", "population of @arg", (CITY,), NUMBER),
    ("founded", "lookup", "founding year of @arg", (CITY,), NUMBER),
    ("mayor", "lookup", "mayor of @arg", (CITY,), PERSON),
    ("city_founded", "lookup", "city founded in @arg", (NUMBER,), CITY),
    ("born", "doc", "birth year of @arg", (PERSON,), NUMBER),
    ("children", "doc", "number of children of @arg", (PERSON,), NUMBER),
    ("plus", "calc", "@arg plus @arg", (NUMBER, NUMBER), NUMBER),
    ("minus", "calc", "@arg minus @arg", (NUMBER, NUMBER), NUMBER),
    ("times", "calc", "@arg times @arg", (NUMBER, NUMBER), NUMBER),
    ("to_hundreds", "convert", "@arg thousands to hundreds", (NUMBER,), NUMBER),
    ("to_tens", "convert", "@arg thousands to tens", (NUMBER,), NUMBER),
    ("to_ones", "convert", "@arg thousands to ones", (NUMBER,), NUMBER),
)
OP = {o[0]: i for i, o in enumerate(OPS)}
#: The document's keyword of each `doc` field: the number right after it is the value.
DOC_KEYWORD = {"born": "born", "children": "children"}
DOCUMENT = "@self : born @born ; children @children ."

# Failure reasons: a random failure, a request the worker does not serve, and a request about
# something that does not exist (a wrong kind of argument, an unknown name, a bad reference).
REASONS = ("timed out", "cannot do it", "found nothing")
TIMED_OUT, CANNOT, NOTHING = range(3)
