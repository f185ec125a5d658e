"""Household's full task mix on a CPU: all six task types in all four rooms with up to 12
objects and the paper's horizon of 50, with the model, prompt budgets and RL of the default
slice (`configs/default.py`).

    python -m experiments.train --config=configs/household/full_mix.py --workdir=runs/hh_full

SFT runs three times longer than the slice's on sixteen times the demonstrations (1,500 steps on
2,048 oracle episodes), as search's slice needed. Measured (seed 0, 64 tasks per split,
temperature 0.4): 39.1% of `valid_seen` and 34.4% of `valid_unseen` after SFT, every task type
above 0% but looking at an object in the light; episodes average about 37 steps, so an RL
iteration costs several times the slice's (docs/results/compare_default.md).
"""

from configs import default


def get_config():
    c = default.get_config()
    c.env.task_types = ()
    c.env.rooms = ()
    c.env.max_objects = 12
    c.env.horizon = 50
    c.sft.steps = 1500
    c.sft.demo_episodes = 2048
    c.rl.iterations = 10
    return c
