"""The training program: SFT warm-start on oracle demonstrations, then RL (GRPO / DAPO, optional
EMPG), with evaluation, metrics, checkpoints and exact resume.

EMPG: Wang et al., "Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM
Agents", https://arxiv.org/abs/2509.09265 (`empg.md` §3 for the training setup).

Exact resume: every random draw comes from `TrainState.key` folded with a counter (SFT step, RL
iteration, resampling attempt, epoch), the SFT data is regenerated from the seed, and the loop state
(phase, counters, sampling temperature, plateau tracker) is saved as JSON with the train state.
A run resumed from step k therefore reproduces the uninterrupted run's metrics and parameters
on CPU.

Multi-host: when the standard variables are set (`JAX_COORDINATOR_ADDRESS` or
`COORDINATOR_ADDRESS`, plus `JAX_NUM_PROCESSES`/`JAX_PROCESS_ID`, or a SLURM / TPU / Open MPI
launcher that `jax.distributed.initialize()` detects), `maybe_initialize_distributed` calls
`jax.distributed.initialize()` before any device is touched; then run the same command on every
host, with `--config.mesh.shape='(-1,1,1)'` to put every device on the data axis.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

from empg_jax import envs
from empg_jax.agents import (
    PromptBuilder,
    PromptSizes,
    Rollout,
    agent_tokenizer,
    demonstrations,
    host_rollout,
    make_rollout,
    reset_episodes,
    rows,
)
from empg_jax.models import (
    Transformer,
    logical_to_spec,
    make_mesh,
    make_sampler,
    shard_state,
    small_config,
    tiny_config,
)
from empg_jax.training import config as config_lib
from empg_jax.training.checkpoint import Checkpointer
from empg_jax.training.metrics import MetricsWriter
from empg_jax.training.steps import (
    TrainState,
    create_state,
    jit_rl_update,
    jit_sft_step,
    make_optimizer,
)

_DIST_VARS = (
    "JAX_COORDINATOR_ADDRESS",
    "COORDINATOR_ADDRESS",
    "SLURM_JOB_ID",
    "OMPI_COMM_WORLD_SIZE",
)
PROGRESS_KEYS = ("success", "reward", "length", "invalid_format", "entropy", "kl", "clip_fraction")


def maybe_initialize_distributed() -> bool:
    """`jax.distributed.initialize()` when a multi-process launch is detected (module docstring)."""
    if not any(os.environ.get(v) for v in _DIST_VARS):
        return False
    if jax.distributed.is_initialized():
        return True
    jax.distributed.initialize()
    return True


def _model_config(c: ml_collections.ConfigDict, vocab_size: int):
    m = c.model
    vocab = -(-vocab_size // 64) * 64
    fields = dict(
        hidden_size=m.hidden_size,
        num_layers=m.num_layers,
        num_heads=m.num_heads,
        num_kv_heads=m.num_kv_heads,
        intermediate_size=m.intermediate_size,
        dtype=m.dtype,
        vocab_size=vocab,
    )
    if m.num_experts:
        fields.update(
            num_experts=m.num_experts,
            num_experts_per_tok=m.experts_per_token,
            moe_intermediate_size=m.moe_intermediate_size,
            first_k_dense=m.first_dense_layers,
        )
    return (tiny_config if m.preset == "tiny" else small_config)(**fields)


@dataclasses.dataclass(frozen=True)
class HostEnvSpec:
    """What the trainer reads of a host (external) environment: sizes, splits, task types."""

    name: str
    tokenizer: Any
    task_len: int
    obs_len: int
    action_len: int
    splits: tuple[str, ...]
    task_types: tuple[str, ...] = ("all",)
    thought_len: int = 0


class Experiment:
    """Everything built from a config: tokenizer, environment, prompt builder, model, mesh, the
    jitted rollout / SFT / RL functions. Validation runs first; nothing compiles here.

    `host_envs` (optional) maps split names to batched host environments (the interface of
    `agents.host_rollout`, e.g. `envs.external.ExternalBatch` with one slot per episode of an
    iteration, `rl.tasks_per_iter * rl.group_size`); then `env.name` is only a label, episodes
    run through `host_rollout`, task ids are the games' reset seeds and SFT is unavailable (no
    oracle demonstrations). Each host environment needs `tokenizer` (with the prompt words,
    `agents.agent_tokenizer`), `task_len`, `obs_len`, `action_len`, `batch_size`, and may set
    `num_tasks` (default: the seeds 0..2^20-1) and `task_types`.

    `build_model=False` stops after the environment, prompt and shape checks (every check that
    needs no model: e.g. for accelerator configs whose checkpoint is not on this machine).
    """

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        host_envs: dict[str, Any] | None = None,
        *,
        build_model: bool = True,
    ):
        config_lib.validate(config, check_env_name=host_envs is None)
        maybe_initialize_distributed()
        c = self.config = config
        self.host_envs = None if host_envs is None else dict(host_envs)
        if self.host_envs is not None:
            self._init_host(c)
        else:
            self._init_env(c)
        self._init_prompts(c)
        if build_model:
            self._init_policy(c)

    def _init_host(self, c: ml_collections.ConfigDict) -> None:
        if c.env.train_split not in self.host_envs:
            raise config_lib.ConfigError(
                f"env.train_split={c.env.train_split!r} has no host environment "
                f"(given: {sorted(self.host_envs)})"
            )
        if c.sft.steps:
            raise config_lib.ConfigError(
                f"sft.steps={c.sft.steps}: a host environment has no oracle demonstrations; "
                "set sft.steps=0"
            )
        n = c.rl.tasks_per_iter * c.rl.group_size
        for split, env in self.host_envs.items():
            if getattr(env, "batch_size", n) != n:
                raise config_lib.ConfigError(
                    f"host environment of split {split!r} has {env.batch_size} slots; "
                    f"rl.tasks_per_iter * rl.group_size = {n}"
                )
        first = self.host_envs[c.env.train_split]
        self.tokenizer = first.tokenizer
        self.env = HostEnvSpec(
            name=c.env.name,
            tokenizer=first.tokenizer,
            task_len=first.task_len,
            obs_len=first.obs_len,
            action_len=first.action_len,
            splits=tuple(self.host_envs),
            task_types=tuple(getattr(first, "task_types", ("all",))),
        )

    def _init_env(self, c: ml_collections.ConfigDict) -> None:
        self.env_cls = envs.env_class(c.env.name)
        self.tokenizer = agent_tokenizer([self.env_cls.words()])
        kwargs = {}
        if c.env.name == "household" and c.env.max_objects:
            kwargs["max_objects"] = c.env.max_objects
        if c.env.name == "household" and c.env.task_types:
            kwargs["task_types"] = tuple(c.env.task_types)
        if c.env.name == "household" and c.env.rooms:
            kwargs["rooms"] = tuple(c.env.rooms)
        self.env = envs.make(c.env.name, tokenizer=self.tokenizer, **kwargs)

    def _init_prompts(self, c: ml_collections.ConfigDict) -> None:
        sizes = PromptSizes(
            history=c.agent.history,
            obs_tokens=c.agent.obs_tokens,
            history_obs_tokens=c.agent.history_obs_tokens,
            admissible_rows=c.agent.admissible_rows,
            admissible_tokens=c.agent.admissible_tokens,
            prompt_len=max(c.agent.prompt_len, 1),
        )
        unbounded = dataclasses.replace(sizes, prompt_len=1 << 30)
        longest = PromptBuilder(
            self.tokenizer,
            self.env.task_len,
            self.env.obs_len,
            self.env.action_len,
            unbounded,
            c.agent.mode,
        ).max_tokens()
        config_lib.validate_shapes(c, self.env, longest)
        self.builder = PromptBuilder(
            self.tokenizer,
            self.env.task_len,
            self.env.obs_len,
            self.env.action_len,
            sizes,
            c.agent.mode,
        )
        self.thinking = c.agent.mode == "thinking"
        self.horizon = c.env.horizon
        self.num_episodes = c.rl.tasks_per_iter * c.rl.group_size

    def _init_policy(self, c: ml_collections.ConfigDict) -> None:
        if c.model.preset == "hf":
            from empg_jax.models import from_hf

            model = from_hf(c.model.hf_checkpoint)
            if model.cfg.vocab_size < self.tokenizer.vocab_size:
                raise config_lib.ConfigError(
                    f"model vocabulary {model.cfg.vocab_size} < tokenizer "
                    f"{self.tokenizer.vocab_size}"
                )
        else:
            model = Transformer(_model_config(c, self.tokenizer.vocab_size), rngs=nnx.Rngs(c.seed))
        # The whole state: MoE router biases are Variables but not Params (steps.py docstring).
        self.graphdef, params = nnx.split(model)
        shape = tuple(int(x) for x in c.mesh.shape)
        if shape[0] == -1:
            shape = (jax.device_count() // int(np.prod(shape[1:])),) + shape[1:]
        if int(np.prod(shape)) > jax.device_count():
            raise config_lib.ConfigError(
                f"mesh.shape={shape} needs {int(np.prod(shape))} devices; have {jax.device_count()}"
            )
        self.mesh = make_mesh(shape)
        self.init_params = shard_state(params, self.mesh)

        # Environment params: one step-params object for every split (module docstring of
        # agents.rollout); each split resets with its own params.
        self._reset = {}
        if self.host_envs is None:
            self.step_params = self._params(c.env.train_split)
            self.rollout_fn = make_rollout(
                self.env,
                self.builder,
                self.graphdef,
                horizon=self.horizon,
                answer_len=c.agent.answer_len,
                thinking=self.thinking,
                top_k=c.agent.top_k,
            )
        else:
            self.sampler = make_sampler(
                self.graphdef, max_new_tokens=c.agent.answer_len, top_k=c.agent.top_k
            )
        cosine = c.sft.schedule == "cosine"
        self.sft_opt = make_optimizer(
            c.sft.lr,
            c.sft.weight_decay,
            c.sft.grad_clip,
            decay_steps=c.sft.steps if cosine else 0,
            warmup_steps=c.sft.warmup_steps,
        )
        self.rl_opt = make_optimizer(c.rl.lr, c.rl.weight_decay, c.rl.grad_clip)
        r = c.rl
        self.rl_static = {
            "estimator": r.estimator,
            "scope": r.scope,
            "invalid_penalty": float(r.invalid_penalty),
            "dynamic_sampling": bool(r.dynamic_sampling),
            "pass_rate_range": (r.pass_rate_lo, r.pass_rate_hi) if r.pass_rate_filter else None,
            "empg": (
                {
                    "k": r.empg.k,
                    "k_future": r.empg.k_future,
                    "zeta": r.empg.zeta,
                    "use_scaling": r.empg.use_scaling,
                    "use_bonus": r.empg.use_bonus,
                }
                if r.empg.enabled
                else None
            ),
            "clip_low": r.clip_low,
            "clip_high": r.clip_high,
            "dual_clip": r.dual_clip or None,
            "aggregation": r.aggregation,
            "kl_coef": float(r.kl_coef),
            "kl_kind": r.kl_kind,
            "entropy_coef": float(r.entropy_coef),
            "epochs": r.epochs,
            "minibatch_rows": r.minibatch_rows,
            "moe_bias_rate": float(c.model.moe_bias_rate),
        }
        self._sft_step = None
        self._rl_step = None

    # ----- helpers -------------------------------------------------------------------------
    def _params(self, split: str):
        p = self.env.default_params(split)
        return p.replace(horizon=self.horizon)

    def reset(self, split: str, task_ids: np.ndarray):
        if split not in self._reset:
            p = self._params(split)
            self._reset[split] = jax.jit(lambda t, p=p: reset_episodes(self.env, p, t))
        return self._reset[split](jnp.asarray(task_ids, jnp.int32))

    def num_tasks(self, split: str) -> int:
        if self.host_envs is not None:
            return int(getattr(self.host_envs[split], "num_tasks", 1 << 20))
        return int(self._params(split).num_tasks)

    def batch_sharding(self, batch: dict[str, Any]):
        def spec(x):
            names = ("batch",) + (None,) * (np.ndim(x) - 1)
            if np.ndim(x) == 0:
                return NamedSharding(self.mesh, PartitionSpec())
            return NamedSharding(
                self.mesh, logical_to_spec(names, dict(self.mesh.shape), np.shape(x))
            )

        return jax.tree.map(spec, batch)

    def state_shardings(self, state: TrainState):
        return jax.tree.map(lambda x: x.sharding, state)

    def new_state(self, params, phase: str, key, with_ref: bool | None = None) -> TrainState:
        opt = self.sft_opt if phase == "sft" else self.rl_opt
        if with_ref is None:
            with_ref = phase == "rl" and self.config.rl.kl_coef > 0
        init = jax.jit(lambda p, k: create_state(p, opt, k, with_ref))
        return init(params, key)

    def sft_step(self, state, batch):
        if self._sft_step is None:
            self._sft_step = jit_sft_step(
                self.graphdef,
                self.sft_opt,
                self.state_shardings(state),
                self.batch_sharding(batch),
                moe_bias_rate=float(self.config.model.moe_bias_rate),
                prompt_weight=float(self.config.sft.prompt_weight),
            )
        return self._sft_step(state, batch)

    def rl_step(self, state, batch):
        if self._rl_step is None:
            self._rl_step = jit_rl_update(
                self.graphdef,
                self.rl_opt,
                self.rl_static,
                self.state_shardings(state),
                self.batch_sharding(batch),
            )
        return self._rl_step(state, batch)

    # ----- data ----------------------------------------------------------------------------
    def demonstration_rows(self, key) -> dict[str, np.ndarray]:
        """Valid rows of noisy oracle demonstrations on the train split (host arrays)."""
        c = self.config
        n = c.sft.demo_episodes
        task_ids = jax.random.randint(key, (n,), 0, self.num_tasks(c.env.train_split))
        state, obs = self.reset(c.env.train_split, task_ids)
        demo = jax.jit(
            lambda k, s, o, t: demonstrations(
                self.env,
                self.builder,
                k,
                s,
                o,
                self.step_params,
                t,
                horizon=self.horizon,
                answer_len=c.agent.answer_len,
                thinking=self.thinking,
                noise=c.sft.noise,
            )
        )
        ro = demo(jax.random.fold_in(key, 1), state, obs, task_ids)
        r = rows(ro)
        keep = np.asarray(r["valid"])
        return {
            k: np.asarray(r[k])[keep] for k in ("prompt_tokens", "answer_tokens", "answer_mask")
        }

    def play(self, params, key, split: str, task_ids: np.ndarray, temperature: float) -> Rollout:
        n = len(task_ids)
        group = np.arange(n) // self.config.rl.group_size
        if self.host_envs is not None:
            c = self.config
            return host_rollout(
                self.host_envs[split],
                self.builder,
                self.sampler,
                params,
                key,
                np.asarray(task_ids),
                group,
                horizon=self.horizon,
                answer_len=c.agent.answer_len,
                thinking=self.thinking,
                temperature=float(temperature),
            )
        # Evaluation keys are host arrays, training keys derive from the sharded state: one
        # placement for both, so the rollout compiles once.
        key = jax.device_put(key, NamedSharding(self.mesh, PartitionSpec()))
        state, obs = self.reset(split, task_ids)
        return self.rollout_fn(
            params,
            key,
            state,
            obs,
            self.step_params,
            jnp.asarray(task_ids, jnp.int32),
            jnp.asarray(group, jnp.int32),
            jnp.float32(temperature),
        )

    def evaluate(self, params, split: str, key, num_tasks: int | None = None) -> dict[str, float]:
        """Success (overall and per task type), reward and length on tasks 0..num_tasks-1."""
        c = self.config
        total = min(num_tasks or c.eval.num_tasks, self.num_tasks(split))
        n = self.num_episodes
        won, ttype, reward, length, bad = [], [], [], [], []
        for start in range(0, total, n):
            ids = np.arange(start, start + n) % total
            ro = self.play(params, jax.random.fold_in(key, start), split, ids, c.eval.temperature)
            take = min(n, total - start)
            won.append(np.asarray(ro.won)[:take])
            ttype.append(np.asarray(ro.task_type)[:take])
            reward.append(np.asarray(ro.reward)[:take])
            length.append(np.asarray(ro.length)[:take])
            v = np.asarray(ro.valid)[:take]
            bad.append((np.asarray(ro.invalid_format)[:take] & v).sum() / max(v.sum(), 1))
        won, ttype = np.concatenate(won), np.concatenate(ttype)
        out = {
            "success": float(won.mean()),
            "reward": float(np.concatenate(reward).mean()),
            "length": float(np.concatenate(length).mean()),
            "invalid_format": float(np.mean(bad)),
            "episodes": float(total),
        }
        for i, name in enumerate(self.env.task_types):
            sel = ttype == i
            if sel.any():
                out[f"success/{name}"] = float(won[sel].mean())
        return out

    def rollout_batch(self, state: TrainState, iteration: int, temperature: float):
        """The RL batch of one iteration: B tasks x G samples, with DAPO resampling on the host."""
        c = self.config
        b, g = c.rl.tasks_per_iter, c.rl.group_size
        base = jax.random.fold_in(jax.random.fold_in(state.key, 7), iteration)
        attempts = (c.rl.max_resample if c.rl.dynamic_sampling else 0) + 1
        kept: list[tuple[Rollout, int]] = []
        first = None
        for a in range(attempts):
            k_task, k_roll = jax.random.split(jax.random.fold_in(base, a))
            tasks = np.asarray(
                jax.random.randint(k_task, (b,), 0, self.num_tasks(c.env.train_split))
            )
            ro = self.play(
                state.params, k_roll, c.env.train_split, np.repeat(tasks, g), temperature
            )
            first = ro if first is None else first
            if not c.rl.dynamic_sampling:
                return ro, 1, b
            r = np.asarray(ro.reward).reshape(b, g)
            for grp in np.flatnonzero(r.max(1) > r.min(1)):
                if len(kept) < b:
                    kept.append((ro, int(grp)))
            if len(kept) >= b:
                break
        # Fill the batch with kept groups first; missing slots keep groups of the first batch
        # (all-equal ones, masked by the dynamic-sampling filter in the update).
        n_kept = len(kept)
        used = {grp for r_, grp in kept if r_ is first}
        fill = [grp for grp in range(b) if grp not in used]
        sources = kept + [(first, grp) for grp in fill[: b - n_kept]]
        parts = [
            jax.tree.map(lambda x, grp=grp: x[grp * g : (grp + 1) * g], r_) for r_, grp in sources
        ]
        ro = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
        ro = ro.replace(group_id=jnp.repeat(jnp.arange(b, dtype=jnp.int32), g))
        return ro, a + 1, n_kept


def _episode_metrics(ro: Rollout, task_types) -> dict[str, float]:
    won = np.asarray(ro.won)
    v = np.asarray(ro.valid)
    out = {
        "success": float(won.mean()),
        "reward": float(np.asarray(ro.reward).mean()),
        "score": float(np.asarray(ro.score).mean()),
        "length": float(np.asarray(ro.length).mean()),
        "invalid_format": float((np.asarray(ro.invalid_format) & v).sum() / max(v.sum(), 1)),
        "invalid_action": float((np.asarray(ro.invalid_action) & v).sum() / max(v.sum(), 1)),
    }
    tt = np.asarray(ro.task_type)
    for i, name in enumerate(task_types):
        if (tt == i).any():
            out[f"success/{name}"] = float(won[tt == i].mean())
    return out


def train(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    stream=None,
    host_envs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) SFT then RL; returns a summary with the before/after evaluations.

    `host_envs`: train on host (external) environments, one per split (see `Experiment`).
    """
    exp = Experiment(config, host_envs)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=2))
    ckpt = Checkpointer(
        workdir / "checkpoints", config.checkpoint.keep, config.checkpoint.async_save
    )
    writer = MetricsWriter(workdir, config.log.tensorboard, stream)
    try:  # an interrupted run still finishes its pending (async) checkpoint
        return _train(exp, workdir, ckpt, writer)
    finally:
        ckpt.close()
        writer.close()


def _train(exp: Experiment, workdir: Path, ckpt: Checkpointer, writer: MetricsWriter):
    c = exp.config
    root = jax.random.PRNGKey(c.seed)
    k_sft, k_rl, k_demo, k_eval = jax.random.split(root, 4)
    meta: dict[str, Any] = {
        "phase": "sft" if c.sft.steps > 0 else "rl",
        "sft_step": 0,
        "rl_iteration": 0,
        "temperature": float(c.rl.temperature),
        "plateau_best": -1.0,
        "plateau_count": 0,
        "before": None,
    }
    state = exp.new_state(exp.init_params, meta["phase"], k_sft if meta["phase"] == "sft" else k_rl)
    latest = ckpt.latest_step() if c.checkpoint.resume else None
    resumed_rl = None
    if latest is not None:
        saved = ckpt.read_meta(latest)
        # A checkpoint saved with another rl.kl_coef holds (or lacks) the KL reference: restore
        # it as saved, then add or drop the reference.
        saved_ref = saved.get("reference")
        want_ref = saved["phase"] == "rl" and c.rl.kl_coef > 0
        if saved["phase"] != meta["phase"] or saved_ref not in (None, want_ref):
            state = exp.new_state(exp.init_params, saved["phase"], k_rl, with_ref=saved_ref)
        try:
            state, meta = ckpt.restore(state, latest)
        except ValueError:
            if saved_ref is not None or saved["phase"] != "rl":
                raise
            # Checkpoints written before "reference" was recorded: try the other structure.
            other = exp.new_state(exp.init_params, "rl", k_rl, with_ref=not want_ref)
            state, meta = ckpt.restore(other, latest)
        state = _match_reference(state, want_ref, meta, latest)
        # The saved temperature is run state only once the plateau schedule may have raised it;
        # before RL starts, or with the schedule off, it is the config's (so an RL run started
        # from an SFT checkpoint samples at its own `rl.temperature`).
        if meta["rl_iteration"] == 0 or not c.rl.plateau.enabled:
            if meta["temperature"] != float(c.rl.temperature):
                print(
                    f"[resume] sampling temperature {float(c.rl.temperature):g} from the config "
                    f"(checkpoint: {meta['temperature']:g})",
                    file=writer.stream,
                    flush=True,
                )
            meta["temperature"] = float(c.rl.temperature)
        step_now = meta["sft_step"] if meta["phase"] == "sft" else meta["rl_iteration"]
        writer.truncate(meta["phase"], step_now, keep_before=meta["before"] is not None)
        resumed_rl = meta["rl_iteration"] if meta["phase"] == "rl" else None
        print(
            f"[resume] {workdir} from checkpoint {latest} ({meta['phase']} step {step_now})",
            file=writer.stream,
            flush=True,
        )

    def save(global_step):
        meta["reference"] = state.ref_params is not None
        ckpt.save(global_step, state, meta)

    def periodic_eval(iteration):
        for split in c.env.eval_splits:
            res = exp.evaluate(state.params, split, k_eval)
            writer.write("eval", iteration, {f"{split}/{k}": v for k, v in res.items()})

    # ----- SFT ---------------------------------------------------------------------------
    if meta["phase"] == "sft":
        demo = exp.demonstration_rows(k_demo)
        num = len(demo["prompt_tokens"])
        for step in range(meta["sft_step"], c.sft.steps):
            idx = np.asarray(
                jax.random.randint(jax.random.fold_in(state.key, step), (c.sft.batch_rows,), 0, num)
            )
            batch = {k: jnp.asarray(v[idx]) for k, v in demo.items()}
            state, m = exp.sft_step(state, batch)
            scalars = writer.write("sft", step + 1, m)
            if (step + 1) % max(c.log.progress_every * 10, 1) == 0 or step + 1 == c.sft.steps:
                writer.progress("sft", step + 1, c.sft.steps, scalars, ("sft_loss", "grad_norm"))
            meta["sft_step"] = step + 1
            every = c.checkpoint.sft_every
            if every and (step + 1) % every == 0 and step + 1 < c.sft.steps:
                save(step + 1)
        meta["phase"] = "rl"
        params = state.params
        state = exp.new_state(params, "rl", k_rl)
        save(c.sft.steps)

    # ----- RL ----------------------------------------------------------------------------
    if meta["before"] is None and c.eval.before_rl:
        meta["before"] = {
            split: exp.evaluate(state.params, split, k_eval) for split in c.env.eval_splits
        }
        for split, res in meta["before"].items():
            writer.write("eval_before", 0, {f"{split}/{k}": v for k, v in res.items()})
    if resumed_rl and resumed_rl % c.eval.every == 0 and resumed_rl < c.rl.iterations:
        # `truncate` dropped this evaluation (written before the checkpoint, and not
        # told apart from a shorter run's final one): redo it, as the uninterrupted run has it.
        periodic_eval(resumed_rl)
    for it in range(meta["rl_iteration"], c.rl.iterations):
        t0 = time.perf_counter()
        ro, attempts, kept = exp.rollout_batch(state, it, meta["temperature"])
        jax.block_until_ready(ro)
        t1 = time.perf_counter()
        batch = rows(ro)
        batch["temperature"] = jnp.float32(meta["temperature"])
        state, m = exp.rl_step(state, batch)
        jax.block_until_ready(state)
        t2 = time.perf_counter()
        m = dict(m)
        m.update(_episode_metrics(ro, exp.env.task_types))
        m["temperature"] = meta["temperature"]
        m["resample_attempts"] = attempts
        m["kept_groups"] = kept
        m["time/rollout_tokens_per_s"] = float(np.asarray(ro.answer_mask).sum()) / (t1 - t0)
        m["time/update_tokens_per_s"] = float(m["num_train_rows"]) * c.agent.answer_len / (t2 - t1)
        m["time/iteration_s"] = t2 - t0
        scalars = writer.write("rl", it + 1, m)
        scalars["entropy"] = scalars.get("step_entropy_mean", float("nan"))
        if (it + 1) % c.log.progress_every == 0:
            writer.progress("rl", it + 1, c.rl.iterations, scalars, PROGRESS_KEYS)
        if c.rl.plateau.enabled:
            if scalars["reward"] > meta["plateau_best"] + c.rl.plateau.delta:
                meta["plateau_best"], meta["plateau_count"] = scalars["reward"], 0
            else:
                meta["plateau_count"] += 1
                if meta["plateau_count"] >= c.rl.plateau.patience:
                    meta["temperature"] = min(
                        meta["temperature"] + c.rl.plateau.step, c.rl.plateau.max_temperature
                    )
                    meta["plateau_count"] = 0
        meta["rl_iteration"] = it + 1
        if (it + 1) % c.eval.every == 0 and it + 1 < c.rl.iterations:
            periodic_eval(it + 1)
        if (it + 1) % c.checkpoint.every == 0 or it + 1 == c.rl.iterations:
            save(c.sft.steps + it + 1)
    after = {split: exp.evaluate(state.params, split, k_eval) for split in c.env.eval_splits}
    for split, res in after.items():
        writer.write("eval", c.rl.iterations, {f"{split}/{k}": v for k, v in res.items()})
    return {"before": meta["before"], "after": after, "state": state, "experiment": exp}


def _match_reference(state: TrainState, want_ref: bool, meta: dict, step: int) -> TrainState:
    """Adds or drops the frozen KL reference of a restored state to match `rl.kl_coef`.

    At the end of SFT (RL iteration 0) the reference is the current parameters, as in an
    uninterrupted run; later in RL the SFT parameters are gone, so enabling KL there is an error.
    """
    has_ref = state.ref_params is not None
    if want_ref == has_ref:
        return state
    if not want_ref:
        return state.replace(ref_params=None)
    if meta["phase"] == "rl" and meta["rl_iteration"] == 0:
        return state.replace(ref_params=jax.tree.map(jnp.copy, state.params))
    raise config_lib.ConfigError(
        f"rl.kl_coef > 0 but checkpoint {step} (RL iteration {meta['rl_iteration']}) was saved "
        "without a KL reference; resume with rl.kl_coef=0 or start from the end-of-SFT checkpoint"
    )


def load_params(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    step: int | None = None,
    host_envs: dict[str, Any] | None = None,
):
    """Restores the policy parameters of a run's checkpoint (latest by default).

    Returns `(experiment, params, meta)`; `meta["global_step"]` is the checkpoint's step.
    `host_envs`: as for `train` (runs on external games).
    """
    exp = Experiment(config, host_envs)
    ckpt = Checkpointer(Path(workdir) / "checkpoints", config.checkpoint.keep, False)
    steps = sorted(ckpt.manager.all_steps())
    if not steps:
        ckpt.close()
        raise ValueError(f"no checkpoint under {workdir}/checkpoints")
    step = steps[-1] if step is None else step
    if step not in steps:
        ckpt.close()
        raise ValueError(f"no checkpoint {step} under {workdir}/checkpoints (have {steps})")
    meta = ckpt.read_meta(step)
    root = jax.random.PRNGKey(config.seed)
    template = exp.new_state(exp.init_params, meta["phase"], root)
    state, meta = ckpt.restore(template, step)
    ckpt.close()
    return exp, state.params, {**meta, "global_step": int(step)}
