"""One process of the multi-process test (`test_multiprocess.py`): trains the toy config with
every device on the data axis. Launched as `python -m tests.training.multiprocess_worker
WORKDIR [--allow_config_changes ITERATIONS]` (the second form continues a run to ITERATIONS RL
iterations); the launcher's variables (`JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`,
`JAX_PROCESS_ID`) decide whether it is one process of several."""

import sys

from empg_jax.training import train
from tests.agents.toy_env import toy_config


def config():
    c = toy_config(
        **{
            "sft.steps": 6,
            "sft.data": "tfds",
            "rl.iterations": 2,
            "rl.empg.enabled": True,
            "rl.minibatch_rows": 16,
            "eval.num_tasks": 16,
            "checkpoint.every": 1,
            "checkpoint.async_save": False,
        }
    )
    c.mesh.shape = (-1, 1, 1)
    return c


if __name__ == "__main__":
    c = config()
    allow = sys.argv[2:3] == ["--allow_config_changes"]
    if allow:
        c.rl.iterations = int(sys.argv[3])
    train(c, sys.argv[1], allow_config_changes=allow)
