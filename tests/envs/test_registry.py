"""Tests of the environment registry (empg_jax.envs.registry) and the per-package factories."""

import ast
from pathlib import Path

import pytest

from empg_jax import envs
from empg_jax.envs import household, registry, search, shop
from empg_jax.envs.core import Environment
from empg_jax.text.word import WordTokenizer

TOK = WordTokenizer.from_word_lists([["go", "to", "fridge", "look", "think", "i"]])


def test_registry():
    assert {"household", "shop", "search"} <= set(envs.names())
    with pytest.raises(ValueError, match="unknown environment"):
        envs.make("no-such-env")
    with pytest.raises(ValueError, match="words"):
        envs.register("bad", object)
    env = envs.make("household", tokenizer="own")
    assert env.name == "household" and envs.env_class("household") is type(env)
    with pytest.raises(ValueError, match="tokenizer must be"):
        envs.make("household", tokenizer="mine")
    with pytest.raises(ValueError, match="lacks"):
        envs.make("household", tokenizer=TOK)


def test_shared_tokenizer_covers_every_builtin_env():
    tok = envs.shared_tokenizer()
    assert tok is envs.shared_tokenizer()  # cached: one vocabulary for all environments
    for name in envs.BUILTIN:
        words = envs.env_class(name).words()
        assert not [w for w in words if w.isalpha() and w not in tok.vocab], name
    env = envs.make("household")
    assert env.tokenizer is tok


class _Dummy:
    """A minimal user factory: `words()` and a constructor taking `tokenizer=` and options."""

    def __init__(self, tokenizer, size=1):
        self.tokenizer, self.size = tokenizer, size

    @classmethod
    def words(cls):
        return ("zebra",)


def test_register_a_user_environment():
    try:
        envs.register("dummy", _Dummy)
        assert "dummy" in envs.names() and envs.env_class("dummy") is _Dummy
        env = envs.make("dummy", tokenizer="own", size=3)
        assert isinstance(env, _Dummy) and env.size == 3 and "zebra" in env.tokenizer.vocab
        # the shared vocabulary of a user env covers the built-ins and its own words
        env = envs.make("dummy")
        assert "zebra" in env.tokenizer.vocab and "fridge" in env.tokenizer.vocab
    finally:
        registry._REGISTRY.pop("dummy", None)
    assert "dummy" not in envs.names()
    with pytest.raises(ValueError, match="non-empty"):
        envs.register("", _Dummy)


@pytest.mark.parametrize(
    "package, cls", [(household, "Household"), (shop, "Shop"), (search, "Search")]
)
def test_every_builtin_package_exports_its_class_and_cached(package, cls):
    env_cls = getattr(package, cls)
    assert issubclass(env_cls, Environment) and envs.BUILTIN[env_cls.name] is env_cls
    if cls == "Household":  # the shop and search are slower to build: the class check suffices
        env = package.cached()
        assert env is package.cached() and isinstance(env, env_cls)
        assert env.tokenizer == env_cls.own_tokenizer()
        assert package.cached(max_objects=6).O == 6


def _package_imports(path):
    """`(module, names)` of every import statement in a source file (names None: `import m`)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None


def test_environment_modules_never_import_the_registry():
    """The registry imports the environments; an environment importing it back (or the package
    `empg_jax.envs` for `register`) would be an import cycle."""
    root = Path(envs.__file__).parent
    packages = [p for p in root.iterdir() if (p / "__init__.py").exists()]
    submodules = {p.stem for p in root.glob("*.py")} | {p.name for p in packages}
    files = [p for p in root.rglob("*.py") if p.name not in ("__init__.py", "registry.py")]
    files += [p / "__init__.py" for p in packages]
    assert len(files) > 20
    for path in files:
        for module, names in _package_imports(path):
            where = f"{path.relative_to(root)} imports {module} {names}"
            assert module != "empg_jax.envs.registry", where
            if names is None:
                assert module != "empg_jax.envs", where
                continue
            assert not (module == "empg_jax" and "envs" in names), where
            if module == "empg_jax.envs":
                assert set(names) <= submodules - {"registry"}, where
