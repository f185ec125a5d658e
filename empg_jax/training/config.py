"""Config validation before anything compiles: one clear error line per problem.

Checks unknown keys (against `configs/base.py`), value domains (algorithm, estimator, scope,
aggregation, KL kind, agent mode, model preset, environment and split names), positive sizes,
impossible shapes (a prompt that cannot fit `agent.prompt_len`, an answer too short for the
environment's action, a mesh that needs more devices than exist, mini-batches that the data axis
cannot split).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_collections

ALGORITHMS = ("grpo", "dapo")
ESTIMATORS = ("grpo", "drgrpo", "rloo")
SCOPES = ("episode", "cross_step")
PRESETS = ("tiny", "small", "hf")
AGGREGATIONS = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
)
KL_KINDS = ("k1", "k2", "k3")
MODES = ("direct", "thinking")


class ConfigError(ValueError):
    """Raised with one line per problem found."""


def _keys(c: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in c.items():
        name = f"{prefix}{k}"
        if isinstance(v, ml_collections.ConfigDict | dict):
            out.update(_keys(v, name + "."))
        else:
            out[name] = v
    return out


def validate(
    config: ml_collections.ConfigDict,
    schema: ml_collections.ConfigDict | None = None,
    *,
    check_env_name: bool = True,
):
    """Raises `ConfigError` listing every problem (one line each); returns the config otherwise.

    `check_env_name=False` accepts any `env.name` (a label, for host environments that are not
    registered; `training.Experiment(host_envs=...)`).
    """
    from configs import base

    errors: list[str] = []
    env_name = config.get("env", {}).get("name", "household")
    schema = schema or base.get_config(env_name)
    known, given = _keys(schema), _keys(config)
    for k in sorted(set(given) - set(known)):
        errors.append(f"unknown config key {k!r}")
    for k in sorted(set(known) - set(given)):
        errors.append(f"missing config key {k!r}")
    if errors:
        raise ConfigError("\n".join(errors))

    def choice(name, value, options):
        if value not in options:
            errors.append(f"{name}={value!r} is not one of {options}")

    def positive(name, value):
        if not isinstance(value, int) or value <= 0:
            errors.append(f"{name}={value!r} must be a positive integer")

    c = config
    from empg_jax import envs

    if check_env_name:
        choice("env.name", c.env.name, envs.names())
    choice("rl.algorithm", c.rl.algorithm, ALGORITHMS)
    choice("rl.estimator", c.rl.estimator, ESTIMATORS)
    choice("rl.scope", c.rl.scope, SCOPES)
    choice("rl.aggregation", c.rl.aggregation, AGGREGATIONS)
    choice("rl.kl_kind", c.rl.kl_kind, KL_KINDS)
    choice("agent.mode", c.agent.mode, MODES)
    choice("model.preset", c.model.preset, PRESETS)
    choice("sft.schedule", c.sft.schedule, ("constant", "cosine"))
    for name in (
        "env.horizon",
        "agent.prompt_len",
        "agent.answer_len",
        "agent.obs_tokens",
        "agent.history_obs_tokens",
        "agent.admissible_rows",
        "agent.admissible_tokens",
        "sft.batch_rows",
        "sft.demo_episodes",
        "rl.tasks_per_iter",
        "rl.group_size",
        "rl.epochs",
        "rl.minibatch_rows",
        "checkpoint.keep",
        "checkpoint.every",
        "model.experts_per_token",
        "model.moe_intermediate_size",
        "eval.every",
        "eval.num_tasks",
    ):
        section, key = name.split(".")
        positive(name, c[section][key])
    for name in (
        "sft.steps",
        "rl.iterations",
        "rl.max_resample",
        "agent.history",
        "agent.top_k",
        "checkpoint.sft_every",
        "sft.warmup_steps",
        "model.num_experts",
        "model.first_dense_layers",
    ):
        section, key = name.split(".")
        if not isinstance(c[section][key], int) or c[section][key] < 0:
            errors.append(f"{name}={c[section][key]!r} must be a non-negative integer")
    if not 0.0 <= c.sft.noise <= 1.0:
        errors.append(f"sft.noise={c.sft.noise} must be in [0, 1]")
    if not 0.0 <= c.rl.clip_low < 1.0:
        errors.append(f"rl.clip_low={c.rl.clip_low} must be in [0, 1)")
    if c.rl.clip_high < 0:
        errors.append(f"rl.clip_high={c.rl.clip_high} must be >= 0")
    if c.rl.dual_clip and c.rl.dual_clip <= 1.0:
        errors.append(f"rl.dual_clip={c.rl.dual_clip} must be > 1 (or 0 to disable)")
    for name in ("rl.lr", "sft.lr"):
        section, key = name.split(".")
        if c[section][key] <= 0:
            errors.append(f"{name}={c[section][key]} must be positive")
    if c.rl.temperature <= 0:
        errors.append(f"rl.temperature={c.rl.temperature} must be positive for RL sampling")
    if c.rl.group_size < 2 and c.rl.iterations > 0:
        errors.append(f"rl.group_size={c.rl.group_size} must be >= 2 for group advantages")
    if not 0.0 <= c.rl.pass_rate_lo <= c.rl.pass_rate_hi <= 1.0:
        errors.append(
            f"rl.pass_rate_lo={c.rl.pass_rate_lo}, rl.pass_rate_hi={c.rl.pass_rate_hi} must "
            "satisfy 0 <= lo <= hi <= 1"
        )
    if c.model.num_experts and c.model.experts_per_token > c.model.num_experts:
        errors.append(
            f"model.experts_per_token={c.model.experts_per_token} must be <= "
            f"model.num_experts={c.model.num_experts}"
        )
    if c.model.num_experts and c.model.first_dense_layers >= c.model.num_layers:
        errors.append(
            f"model.first_dense_layers={c.model.first_dense_layers} leaves no MoE layer of "
            f"model.num_layers={c.model.num_layers}"
        )
    if c.model.moe_bias_rate < 0:
        errors.append(f"model.moe_bias_rate={c.model.moe_bias_rate} must be >= 0")
    if c.model.preset == "hf" and not c.model.hf_checkpoint:
        errors.append("model.preset='hf' needs model.hf_checkpoint (a local folder)")
    if len(tuple(c.mesh.shape)) != 3:
        errors.append(f"mesh.shape={tuple(c.mesh.shape)} must have 3 entries (data, fsdp, tensor)")
    if errors:
        raise ConfigError("\n".join(errors))
    return config


def from_json(path: str | Path) -> ml_collections.ConfigDict:
    """Rebuilds the config a run saved as `config.json` (`training.train`).

    JSON has no tuples: lists become tuples again where `configs/base.py` has a tuple, so the
    result validates and builds exactly like the original. Keys added to `configs/base.py` after
    the run was saved take their defaults; keys since removed stay (and fail validation).
    """
    from configs import base

    data = json.loads(Path(path).read_text())
    schema = base.get_config(data.get("env", {}).get("name", "household"))

    def convert(value, ref):
        if isinstance(value, dict):
            sub = ref if isinstance(ref, ml_collections.ConfigDict | dict) else {}
            return {k: convert(v, sub.get(k)) for k, v in value.items()}
        if isinstance(value, list) and isinstance(ref, tuple):
            return tuple(tuple(x) if isinstance(x, list) else x for x in value)
        return value

    schema.update(convert(data, schema))
    return schema


def validate_shapes(config: ml_collections.ConfigDict, env: Any, builder_max_tokens: int) -> None:
    """Checks that need the built environment (sizes) but still run before compiling."""
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
    for split in (c.env.train_split, *c.env.eval_splits):
        if split not in env.splits:
            errors.append(f"split {split!r} not in {env.name}'s splits {env.splits}")
    if errors:
        raise ConfigError("\n".join(errors))
