"""household: an ALFWorld-like text environment that runs inside `jit` and `vmap`.

A procedurally generated counterpart of ALFWorld (Shridhar et al., arXiv 2010.03768) as run by
verl-agent for the EMPG paper:

- rooms (kitchen, living room, bedroom, bathroom) with numbered receptacles (cabinet 1, drawer 2,
  fridge 1, ...; cabinets, drawers, fridge, microwave and safe open and close) and numbered objects
  placed plausibly (an apple on a countertop or in the fridge, a pen on a desk or in a drawer);
- the six ALFWorld task types: pick_and_place, look_at_obj_in_light, pick_clean_then_place_in_recep,
  pick_heat_then_place_in_recep, pick_cool_then_place_in_recep, pick_two_obj_and_place;
- ALFWorld's action grammar: `go to R`, `open R`, `close R`, `take O from R`, `move O to R`,
  `heat O with R`, `cool O with R`, `clean O with R`, `use R` (the desk lamp), `examine X`, `look`,
  `inventory`, with ALFWorld-style feedback ("You arrive at cabinet 1. The cabinet 1 is closed.",
  "You open the fridge 1. The fridge 1 is open. In it, you see a apple 1, and a egg 2.");
- the admissible commands of the current state (ALFWorld lists them in the prompt); any other
  text is a no-op answered with "Nothing happens.";
- horizon 50, reward 10 on success and 0 otherwise; the episode terminates on success;
- splits `train`, `valid_seen`, `valid_unseen` with ALFWorld's sizes; `valid_unseen` holds task
  combinations never generated for training (`tasks`);
- an oracle that solves every episode from what the agent could have observed (`oracle`).

Modules: `world` (receptacles, rooms, objects), `tasks` (task types and splits), `text`
(templates and words), `state`, `tables` (the above as id arrays), `scene` (reset), `dynamics`
(step), `render` (observation text), `oracle`, `env` (the `Household` class).
"""

from empg_jax.envs.household.env import Household, cached
from empg_jax.envs.household.state import HouseholdParams, HouseholdState, check_state
from empg_jax.envs.household.tasks import (
    SPLIT_SIZES,
    SPLITS,
    TASK_TYPES,
    split_combinations,
    task_combinations,
)

__all__ = [
    "SPLITS",
    "SPLIT_SIZES",
    "TASK_TYPES",
    "Household",
    "HouseholdParams",
    "HouseholdState",
    "cached",
    "check_state",
    "split_combinations",
    "task_combinations",
]
