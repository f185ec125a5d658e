"""Pure-JAX text environments (household, shop, search) and the registry that builds them by name.

    env = empg_jax.envs.make("household")          # shared vocabulary of all built-in envs
    params = env.default_params(split="train")
    state, obs_O = env.reset(key, params)
    state, obs_O, reward, terminated, truncated, info = env.step(key, state, action_tokens, params)

The contract every environment follows is in `empg_jax.envs.core` (module docstring). Each
built-in environment is a subpackage (`household`, `shop`, `search`) exporting its class and
`cached(tokenizer=None, **options)`, one shared instance per arguments. `external` adapts
host-side games (TextWorld and the like) to the same observations and info; `bm25` is the
retrieval used by shop and search.

Registry (`registry`): a dict from name to class, holding the built-ins; anyone can `register`
more environments (a class with a `words()` classmethod whose constructor takes `tokenizer=` and
keyword options).
"""

from empg_jax.envs.core import Environment
from empg_jax.envs.registry import (
    BUILTIN,
    env_class,
    make,
    names,
    register,
    shared_tokenizer,
)

__all__ = [
    "BUILTIN",
    "Environment",
    "env_class",
    "make",
    "names",
    "register",
    "shared_tokenizer",
]
