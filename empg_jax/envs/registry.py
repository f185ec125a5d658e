"""The environment registry: a plain dict from name to environment class.

The built-in environments are imported explicitly below (their modules never import this one or
the package `__init__`, so there is no import cycle); `register` adds user environments.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from empg_jax.envs.household import Household
from empg_jax.envs.search import Search
from empg_jax.envs.shop import Shop
from empg_jax.envs.workforce import Workforce
from empg_jax.text.word import WordTokenizer

#: The built-in environments. Their union of words is the shared vocabulary (`shared_tokenizer`).
BUILTIN: dict[str, type] = {
    "household": Household,
    "shop": Shop,
    "search": Search,
    "workforce": Workforce,
}

_REGISTRY: dict[str, Callable[..., Any]] = dict(BUILTIN)


def register(name: str, factory: Callable[..., Any]) -> None:
    """Registers an environment class (or factory with a `words()` attribute) under `name`.

    The factory is called as `factory(tokenizer=..., **options)` by `make`; registering a
    built-in name replaces the built-in environment.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"environment name must be a non-empty string, got {name!r}")
    if not callable(getattr(factory, "words", None)):
        raise ValueError(f"factory for {name!r} needs a words() classmethod, got {factory!r}")
    _REGISTRY[name] = factory


def names() -> tuple[str, ...]:
    """Every registered name, sorted."""
    return tuple(sorted(_REGISTRY))


def env_class(name: str) -> Callable[..., Any]:
    """The registered factory of `name`."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown environment {name!r}; registered: {names()}")
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
