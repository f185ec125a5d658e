"""Config validation before anything compiles: one clear line per problem.

Checks unknown and missing keys (against `training.defaults.get_config`), types, that every float
is finite, value domains (option names come from the layers that define them: `losses` for
estimators, scopes, aggregations and KL kinds), ranges (learning rates and temperatures > 0,
0 < top-p <= 1, probabilities in [0, 1], ...), model shapes (heads divide the width, known
dtypes), the mesh, and, once the environment is built (`validate_shapes`), prompts and answers
that cannot fit and splits that do not exist.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import ml_collections

from empg_jax.agents import MODES
from empg_jax.losses import AGGREGATIONS, DPO_SMOOTHING, ESTIMATORS, KL_KINDS, SCOPES
from empg_jax.training.defaults import get_config

ALGORITHMS = ("grpo", "dapo", "dpo")
PRESETS = ("tiny", "small", "hf")
DTYPES = ("float32", "bfloat16", "float16")
SCHEDULES = ("constant", "cosine")

#: Integer fields that must be >= 1.
POSITIVE_INTS = (
    "env.horizon",
    "agent.prompt_len",
    "agent.answer_len",
    "agent.obs_tokens",
    "agent.history_obs_tokens",
    "agent.admissible_rows",
    "agent.admissible_tokens",
    "model.hidden_size",
    "model.num_layers",
    "model.num_heads",
    "model.num_kv_heads",
    "model.intermediate_size",
    "model.experts_per_token",
    "model.moe_intermediate_size",
    "sft.batch_rows",
    "sft.demo_episodes",
    "rl.tasks_per_iter",
    "rl.group_size",
    "rl.epochs",
    "rl.minibatch_rows",
    "rl.plateau.patience",
    "checkpoint.keep",
    "checkpoint.every",
    "eval.every",
    "eval.num_tasks",
)
#: Integer fields that must be >= 0.
NON_NEGATIVE_INTS = (
    "seed",
    "env.max_objects",
    "env.num_products",
    "env.num_test_goals",
    "sft.steps",
    "sft.warmup_steps",
    "rl.iterations",
    "rl.max_resample",
    "rl.pack_len",
    "agent.history",
    "agent.top_k",
    "agent.prefill_chunk",
    "agent.model_prompt_len",
    "rl.telemetry_rows",
    "checkpoint.sft_every",
    "model.num_experts",
    "model.first_dense_layers",
    "log.progress_every",
    "eval.split_size",
)
#: Environment options and the environments that read them (set elsewhere, they are an error).
ENV_OPTIONS = {
    "env.max_objects": ("household",),
    "env.task_types": ("household", "search"),
    "env.rooms": ("household",),
    "env.num_products": ("shop",),
    "env.num_test_goals": ("shop",),
    "env.p_fail": ("workforce",),
    "env.monolithic": ("workforce",),
}
#: Float fields and their allowed range `(low, high, low_open, high_open)`.
FLOAT_RANGES = {
    "sft.lr": (0.0, math.inf, True, True),
    "rl.lr": (0.0, math.inf, True, True),
    "rl.temperature": (0.0, math.inf, True, True),
    "eval.temperature": (0.0, math.inf, False, True),
    "rl.plateau.max_temperature": (0.0, math.inf, True, True),
    "rl.plateau.step": (0.0, math.inf, False, True),
    "rl.plateau.delta": (0.0, math.inf, False, True),
    "sft.weight_decay": (0.0, math.inf, False, True),
    "rl.weight_decay": (0.0, math.inf, False, True),
    "sft.grad_clip": (0.0, math.inf, False, True),
    "rl.grad_clip": (0.0, math.inf, False, True),
    "sft.noise": (0.0, 1.0, False, False),
    "sft.prompt_weight": (0.0, math.inf, False, True),
    "rl.invalid_penalty": (0.0, math.inf, False, True),
    "rl.clip_low": (0.0, 1.0, False, True),
    "rl.clip_high": (0.0, math.inf, False, True),
    "rl.dual_clip": (0.0, math.inf, False, True),
    "rl.kl_coef": (0.0, math.inf, False, True),
    "rl.entropy_coef": (0.0, math.inf, False, True),
    "rl.pass_rate_lo": (0.0, 1.0, False, False),
    "rl.pass_rate_hi": (0.0, 1.0, False, False),
    "rl.dpo_beta": (0.0, math.inf, True, True),
    "rl.dpo_label_smoothing": (0.0, 0.5, False, True),
    "env.p_fail": (0.0, 1.0, False, False),
    "rl.empg.k": (0.0, math.inf, False, True),
    "rl.empg.k_future": (0.0, math.inf, False, True),
    "rl.empg.zeta": (0.0, math.inf, False, True),
    "model.moe_bias_rate": (0.0, math.inf, False, True),
}


class ConfigError(ValueError):
    """Raised with one line per problem found."""


def flat_items(c: Any, prefix: str = "") -> dict[str, Any]:
    """`{"rl.empg.zeta": 0.1, ...}`: every leaf of a (nested) config by its dotted name."""
    out = {}
    for k, v in c.items():
        name = f"{prefix}{k}"
        if isinstance(v, ml_collections.ConfigDict | dict):
            out.update(flat_items(v, name + "."))
        else:
            out[name] = v
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _range_text(low, high, low_open, high_open) -> str:
    if high == math.inf:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def validate(config: ml_collections.ConfigDict, *, check_env_name: bool = True):
    """Raises `ConfigError` listing every problem (one line each); returns the config otherwise.

    `check_env_name=False` accepts any `env.name` (a label, for host environments that are not
    registered; `training.Experiment(host_envs=...)`).
    """
    env_name = config.get("env", {}).get("name", "household")
    known = flat_items(get_config(env_name if isinstance(env_name, str) else "household"))
    given = flat_items(config)
    errors = [f"unknown config key {k!r}" for k in sorted(set(given) - set(known))]
    errors += [f"missing config key {k!r}" for k in sorted(set(known) - set(given))]
    if errors:
        raise ConfigError("\n".join(errors))

    for name, value in given.items():
        default = known[name]
        if isinstance(default, bool) and not isinstance(value, bool):
            errors.append(f"{name}={value!r} must be True or False")
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append(f"{name}={value!r} must be a finite number")
    for name in POSITIVE_INTS:
        if not _is_int(given[name]) or given[name] <= 0:
            errors.append(f"{name}={given[name]!r} must be a positive integer")
    for name in NON_NEGATIVE_INTS:
        if not _is_int(given[name]) or given[name] < 0:
            errors.append(f"{name}={given[name]!r} must be a non-negative integer")
    for name, (low, high, low_open, high_open) in FLOAT_RANGES.items():
        v = given[name]
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            if not any(e.startswith(f"{name}=") for e in errors):
                errors.append(f"{name}={v!r} must be a number {_range_text(*FLOAT_RANGES[name])}")
            continue
        below = v <= low if low_open else v < low
        above = v >= high if high_open else v > high
        if below or above:
            errors.append(f"{name}={v!r} must be {_range_text(low, high, low_open, high_open)}")
    _add_choice_errors(given, errors, check_env_name)
    if errors:  # the relations below assume numbers of the right kind
        raise ConfigError("\n".join(errors))
    c = config
    if c.rl.dual_clip and c.rl.dual_clip <= 1.0:
        errors.append(f"rl.dual_clip={c.rl.dual_clip} must be > 1 (or 0 to disable)")
    if c.rl.group_size < 2 and c.rl.iterations > 0:
        errors.append(f"rl.group_size={c.rl.group_size} must be >= 2 for group advantages")
    if c.rl.pass_rate_lo > c.rl.pass_rate_hi:
        errors.append(
            f"rl.pass_rate_lo={c.rl.pass_rate_lo} must be <= rl.pass_rate_hi={c.rl.pass_rate_hi}"
        )
    if c.rl.pack_len and c.rl.pack_len % 32:
        errors.append(f"rl.pack_len={c.rl.pack_len} must be a multiple of 32 (or 0: automatic)")
    elif c.rl.pack_len and c.rl.pack_len < c.agent.prompt_len + c.agent.answer_len:
        errors.append(
            f"rl.pack_len={c.rl.pack_len} is shorter than one step row (agent.prompt_len + "
            f"agent.answer_len = {c.agent.prompt_len + c.agent.answer_len}); raise it or set 0 "
            "(automatic)"
        )
    m = c.model
    if m.preset != "hf":
        if m.hidden_size % m.num_heads:
            errors.append(
                f"model.num_heads={m.num_heads} must divide model.hidden_size={m.hidden_size}"
            )
        if m.num_heads % m.num_kv_heads:
            errors.append(
                f"model.num_kv_heads={m.num_kv_heads} must divide model.num_heads={m.num_heads}"
            )
    if m.num_experts and m.experts_per_token > m.num_experts:
        errors.append(
            f"model.experts_per_token={m.experts_per_token} must be <= "
            f"model.num_experts={m.num_experts}"
        )
    if m.num_experts and m.first_dense_layers >= m.num_layers:
        errors.append(
            f"model.first_dense_layers={m.first_dense_layers} leaves no MoE layer of "
            f"model.num_layers={m.num_layers}"
        )
    for field, owners in ENV_OPTIONS.items():
        if c.env.name not in owners and c.env[field.split(".")[1]]:
            errors.append(f"{field} is an option of {' and '.join(owners)}, not {c.env.name}")
    if c.rl.algorithm == "dpo" and m.num_experts:
        errors.append("rl.algorithm='dpo' does not rebalance MoE routers; use model.num_experts=0")
    if m.preset == "hf" and not m.hf_checkpoint:
        errors.append("model.preset='hf' needs model.hf_checkpoint (a local folder)")
    if m.hf_checkpoint and not Path(m.hf_checkpoint).is_dir():
        errors.append(f"model.hf_checkpoint={m.hf_checkpoint!r} is not a folder")
    if m.tokenizer not in ("", "qwen2.5") and not Path(m.tokenizer).is_dir():
        errors.append(
            f"model.tokenizer={m.tokenizer!r} must be '', 'qwen2.5' or a folder with tokenizer.json"
        )
    shape = tuple(c.mesh.shape) if isinstance(c.mesh.shape, tuple | list) else ()
    if len(shape) != 3 or not all(_is_int(x) and (x >= 1 or x == -1) for x in shape):
        errors.append(
            f"mesh.shape={c.mesh.shape!r} must be 3 integers (data, fsdp, tensor), each >= 1 "
            "or -1 (all remaining devices)"
        )
    elif sum(x == -1 for x in shape) > 1:
        errors.append(f"mesh.shape={shape} may have at most one -1")
    if errors:
        raise ConfigError("\n".join(errors))
    return config


def _add_choice_errors(given: dict[str, Any], errors: list[str], check_env_name: bool) -> None:
    """Appends one line per field whose value is not one of its options."""

    def choice(name, options):
        if given[name] not in options:
            errors.append(f"{name}={given[name]!r} is not one of {tuple(options)}")

    if check_env_name:
        from empg_jax import envs

        choice("env.name", envs.names())
    choice("rl.algorithm", ALGORITHMS)
    choice("rl.estimator", ESTIMATORS)
    choice("rl.scope", SCOPES)
    choice("rl.aggregation", AGGREGATIONS)
    choice("rl.kl_kind", KL_KINDS)
    choice("rl.dpo_smoothing", DPO_SMOOTHING)
    choice("agent.mode", MODES)
    choice("model.preset", PRESETS)
    choice("model.dtype", DTYPES)
    choice("sft.schedule", SCHEDULES)
    choice("nonfinite", ("stop", "skip"))
    choice("sft.data", ("tfds", "memory"))


def from_json(path: str | Path) -> ml_collections.ConfigDict:
    """Rebuilds the config a run saved as `config.json` (`training.train`).

    JSON has no tuples: lists become tuples again where the defaults have a tuple, so the
    result validates and builds exactly like the original. Keys added to the defaults after
    the run was saved take their defaults; keys since removed stay (and fail validation).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read the run config {path}: {e}") from None
    schema = get_config(data.get("env", {}).get("name", "household"))

    def convert(value, ref):
        if isinstance(value, dict):
            sub = ref if isinstance(ref, ml_collections.ConfigDict | dict) else {}
            return {k: convert(v, sub.get(k)) for k, v in value.items()}
        if isinstance(value, list) and isinstance(ref, tuple):
            return tuple(tuple(x) if isinstance(x, list) else x for x in value)
        return value

    schema.update(convert(data, schema))
    return schema


def validate_shapes(
    config: ml_collections.ConfigDict, env: Any, builder_max_tokens: int, vocab_size: int
) -> None:
    """Checks that need the built environment and tokenizer, still before compiling."""
    errors = []
    c = config
    if builder_max_tokens > c.agent.prompt_len:
        errors.append(
            f"agent.prompt_len={c.agent.prompt_len} is shorter than the longest prompt "
            f"({builder_max_tokens} tokens); raise it or lower the agent.*_tokens budgets"
        )
    need = env.action_len + 3 + (env.thought_len + 2 if c.agent.mode == "thinking" else 0)
    if c.agent.answer_len < need:
        errors.append(
            f"agent.answer_len={c.agent.answer_len} cannot hold a {c.agent.mode} answer of "
            f"{env.name} (needs {need} tokens)"
        )
    if c.agent.top_k > vocab_size:
        errors.append(f"agent.top_k={c.agent.top_k} must be <= the vocabulary size {vocab_size}")
    if c.eval.split_size and not getattr(env, "generated_tasks", False):
        errors.append(
            f"eval.split_size={c.eval.split_size}: {env.name}'s evaluation splits are fixed; "
            "use 0 (only environments with generated tasks can be given more)"
        )
    for split in (c.env.train_split, *c.env.eval_splits):
        if split not in env.splits:
            errors.append(f"split {split!r} not in {env.name}'s splits {env.splits}")
    if errors:
        raise ConfigError("\n".join(errors))
