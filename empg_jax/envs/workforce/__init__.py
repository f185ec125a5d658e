"""workforce: a planner / coordinator / worker environment (OWL's Workforce), jit- and vmap-able.

OWL (Hu et al., "OWL: Optimized Workforce Learning for General Multi-Agent Assistance in
Real-World Task Automation", arXiv 2505.23885) splits an assistant into a domain-agnostic
planner that decomposes the task into `<tasks><task>...</task></tasks>`, a coordinator that routes
the subtasks to specialised workers, and the workers; a failure makes the planner replan with the
failure's reason, and the run halts after three failures. Only the planner is trained (SFT on
successful expert plans, then DPO on outcome preferences). This environment keeps that structure
on generated knowledge [our design]:

- **Knowledge**, generated per episode inside `jit`: five cities in a key-value table
  (population in thousands, founding year, mayor) and five people, each with a document
  holding their fields as text ("anna : born 1961 ; children 3 .").
- **Questions** compose worker requests from templates: multi-hop lookups ("the birth year of
  the mayor of the city founded in 1850"), arithmetic over two facts ("the population of varno
  plus the population of keldis"), "the population of the city founded in 1850 times 3".
- **Workers** (`world`): `lookup` (table), `doc` (extracts a field from a document), `calc`
  (arithmetic) and, described only on the transfer split, `convert` (units). Each call fails
  with probability `params.p_fail` and returns a reason; bad requests fail with theirs.
- **The planner's action** is a whole plan in the OWL format, parsed inside `jit`:
  `<tasks><task>lookup: city founded in 1850</task><task>lookup: population of #1</task>
  <task>calc: #2 times 3</task></tasks>` ("#k" is task k's result). The coordinator runs the
  tasks in order, passes results on, and stops at the first failure; the observation then holds
  the failed task and the reason, and the planner replans. Horizon 3 (three plans). Reward 1
  for the exact answer (the last task's result).
- **Monolithic baseline** (`monolithic=True`): the same knowledge and questions, but the agent
  calls one worker per step with literal arguments (`lookup [ population of varno ]`) and then
  answers (`answer [ 135 ]`); horizon 7.
- **Splits** (`tasks`): `train` and `test_seen` (seen templates), `test_unseen` (held-out
  templates), `test_transfer` (questions that need `convert`). Task types are the templates.
- **Admissible rows** are the workers' descriptions ("lookup : population , founding year ,
  ..."), not a finite action list.
- **Oracle**: the expert plan (sent again after a failure), or the expert's calls then the
  answer; it wins every episode at `p_fail = 0`.

Modules: `world` (entities, workers, requests), `tasks` (templates, plans, splits), `text`,
`state`, `tables` (the above as id arrays), `render` (text in jit), `plan` (parsers), `workers`
(the workers and the coordinator), `episode` (reset), `dynamics` (step), `oracle`, `env` (the
`Workforce` class).
"""

from empg_jax.envs.workforce.env import HORIZON, Workforce, cached
from empg_jax.envs.workforce.state import WorkforceParams, WorkforceState
from empg_jax.envs.workforce.tasks import SEEN, SPLIT_TEMPLATES, TEMPLATES, TRANSFER, UNSEEN
from empg_jax.envs.workforce.world import OPS, WORKERS

__all__ = [
    "HORIZON",
    "OPS",
    "SEEN",
    "SPLIT_TEMPLATES",
    "TEMPLATES",
    "TRANSFER",
    "UNSEEN",
    "WORKERS",
    "Workforce",
    "WorkforceParams",
    "WorkforceState",
    "cached",
]
