"""Pure-JAX text environments (household, shop, search) and the registry that builds them by name.

    env = empg_jax.envs.make("household")          # shared vocabulary of all built-in envs
    params = env.default_params(split="train")
    state, obs_O = env.reset(key, params)
    state, obs_O, reward, terminated, truncated, info = env.step(key, state, action_tokens, params)

The contract every environment follows is in `empg_jax.envs.core` (module docstring).

Registry: a built-in name maps to the module that defines it; the module is imported on first use
and calls `register(name, cls)` at import time, so a module that is not needed is never imported.
Anyone can `register` more environments (a class with a `words()` classmethod whose constructor
takes `tokenizer=` and keyword options).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from typing import Any

from empg_jax.envs.core import Environment
from empg_jax.text.word import WordTokenizer

#: Built-in environments and the modules that register them. Their union of words is the shared
#: vocabulary (`shared_tokenizer`).
BUILTIN: dict[str, str] = {
    "household": "empg_jax.envs.household",
    "shop": "empg_jax.envs.shop",
    "search": "empg_jax.envs.search",
}

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register(name: str, factory: Callable[..., Any]) -> None:
    """Registers an environment class (or factory with a `words()` attribute) under `name`."""
    if not name or not isinstance(name, str):
        raise ValueError(f"environment name must be a non-empty string, got {name!r}")
    if not callable(getattr(factory, "words", None)):
        raise ValueError(f"factory for {name!r} needs a words() classmethod, got {factory!r}")
    _REGISTRY[name] = factory


def names() -> tuple[str, ...]:
    """Registered names plus the built-in names (built-ins may not be imported yet)."""
    return tuple(sorted(set(_REGISTRY) | set(BUILTIN)))


def env_class(name: str) -> Callable[..., Any]:
    """The registered factory of `name`, importing its built-in module if needed."""
    if name not in _REGISTRY:
        if name not in BUILTIN:
            raise ValueError(f"unknown environment {name!r}; registered: {names()}")
        importlib.import_module(BUILTIN[name])
        if name not in _REGISTRY:
            raise ValueError(f"module {BUILTIN[name]} did not register {name!r}")
    return _REGISTRY[name]


def shared_tokenizer(env_names: Sequence[str] | None = None) -> WordTokenizer:
    """One word vocabulary over several environments (default: every built-in one).

    Ids depend only on the set of names, and the tokenizer is cached per set, so every
    environment built with it shares one object and one id space.
    """
    names_ = tuple(sorted(set(BUILTIN if env_names is None else env_names)))
    if not names_:
        raise ValueError("shared_tokenizer needs at least one environment name")
    return _shared_tokenizer(names_)


@functools.lru_cache(maxsize=8)
def _shared_tokenizer(env_names: tuple[str, ...]) -> WordTokenizer:
    return WordTokenizer.from_word_lists([env_class(n).words() for n in env_names])


def make(name: str, tokenizer: WordTokenizer | str = "shared", **kwargs: Any) -> Any:
    """Builds a registered environment.

    Args:
      name: e.g. "household", "shop", "search".
      tokenizer: a `WordTokenizer`, "shared" (all built-in environments' words, the default, so
        one policy can play every environment) or "own" (this environment's words only).
      **kwargs: options passed to the environment's constructor (sizes and the like).
    """
    cls = env_class(name)
    if isinstance(tokenizer, str):
        if tokenizer == "shared":
            tokenizer = shared_tokenizer(set(BUILTIN) | {name})
        elif tokenizer == "own":
            tokenizer = WordTokenizer.from_word_lists([cls.words()])
        else:
            raise ValueError(
                f"tokenizer must be a WordTokenizer, 'shared' or 'own'; got {tokenizer!r}"
            )
    return cls(tokenizer=tokenizer, **kwargs)


__all__ = [
    "BUILTIN",
    "Environment",
    "env_class",
    "make",
    "names",
    "register",
    "shared_tokenizer",
]
