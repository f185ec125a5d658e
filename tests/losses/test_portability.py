"""`empg_jax/losses` must stay copyable: it may import only jax, chex and `empg_jax.ops`."""

import ast
import pathlib

import empg_jax.losses

ALLOWED = ("jax", "chex", "empg_jax.ops", "empg_jax.losses", "__future__")
PACKAGE = pathlib.Path(empg_jax.losses.__file__).parent


def _imported_modules(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield "." * node.level + (node.module or "")


def test_losses_import_only_jax_chex_and_ops():
    files = sorted(PACKAGE.glob("*.py"))
    assert len(files) >= 5
    for path in files:
        for module in _imported_modules(path):
            ok = any(module == a or module.startswith(a + ".") for a in ALLOWED)
            assert ok, f"{path.name} imports {module!r}; allowed: {ALLOWED}"


def test_public_api_names():
    for name in (
        "group_advantages",
        "rloo_advantages",
        "dynamic_sampling_mask",
        "overlong_penalty",
        "empg_advantages",
        "empg_token_advantages",
        "ppo_policy_loss",
        "kl_penalty",
        "entropy_bonus",
        "divergence_augmented_advantages",
        "pgis_loss",
    ):
        assert callable(getattr(empg_jax.losses, name)), name
        assert name in empg_jax.losses.__all__, name
