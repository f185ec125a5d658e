"""Everything a run builds from its config, before any training: tokenizer, environment, prompt
builder, policy model, mesh, optimisers and the jitted rollout / SFT / RL functions.

`Experiment(config)` validates the config first and compiles nothing; the jitted functions are
built on first use and reused for the whole run.
"""

from __future__ import annotations

import dataclasses
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
    ChatCodec,
    PromptBuilder,
    PromptSizes,
    Rollout,
    WordCodec,
    agent_tokenizer,
    host_rollout,
    make_rollout,
    reset_episodes,
)
from empg_jax.data.demos import demonstration_rows, jitted_demonstrations
from empg_jax.models import (
    Transformer,
    logical_to_spec,
    make_mesh,
    make_sampler,
    shard_state,
    small_config,
    tiny_config,
    to_host,
)
from empg_jax.text.chat import ChatTokenizer
from empg_jax.training import config as config_lib
from empg_jax.training.distributed import maybe_initialize_distributed
from empg_jax.training.dpo import jit_dpo_update
from empg_jax.training.options import DPOOptions, RLOptions, SFTOptions
from empg_jax.training.rl import jit_rl_update
from empg_jax.training.sft import SFTBatch, jit_sft_step
from empg_jax.training.state import TrainState, create_state, make_optimizer


def model_config(c: ml_collections.ConfigDict, vocab_size: int):
    """The `ModelConfig` of the tiny / small presets, with the vocabulary rounded up to 64."""
    m = c.model
    fields = dict(
        hidden_size=m.hidden_size,
        num_layers=m.num_layers,
        num_heads=m.num_heads,
        num_kv_heads=m.num_kv_heads,
        intermediate_size=m.intermediate_size,
        dtype=m.dtype,
        vocab_size=-(-vocab_size // 64) * 64,
    )
    if m.num_experts:
        fields.update(
            num_experts=m.num_experts,
            num_experts_per_tok=m.experts_per_token,
            moe_intermediate_size=m.moe_intermediate_size,
            first_k_dense=m.first_dense_layers,
        )
    return (tiny_config if m.preset == "tiny" else small_config)(**fields)


def resolve_mesh_shape(shape, device_count: int) -> tuple[int, int, int]:
    """`mesh.shape` with its -1 entry (if any) replaced by the remaining devices."""
    shape = tuple(int(x) for x in shape)
    if -1 in shape:
        rest = int(np.prod([x for x in shape if x != -1]))
        if device_count % rest:
            raise config_lib.ConfigError(
                f"mesh.shape={shape}: {device_count} devices do not split into {rest} x n"
            )
        shape = tuple(device_count // rest if x == -1 else x for x in shape)
    if int(np.prod(shape)) > device_count:
        raise config_lib.ConfigError(
            f"mesh.shape={shape} needs {int(np.prod(shape))} devices; have {device_count}"
        )
    return shape


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
    """The built pieces of a run (module docstring).

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
        self.config = c = config
        self.host_envs = None if host_envs is None else dict(host_envs)
        if self.host_envs is not None:
            self._init_host(c)
        else:
            self._init_env(c)
        self._init_prompts(c)
        self.rl_options = RLOptions.from_config(c)
        self.dpo_options = DPOOptions.from_config(c) if c.rl.algorithm == "dpo" else None
        self.sft_options = SFTOptions.from_config(c)
        if build_model:
            self._init_policy(c)

    # ----- environment and prompts ---------------------------------------------------------
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
        if c.env.name == "household":
            if c.env.max_objects:
                kwargs["max_objects"] = c.env.max_objects
            if c.env.task_types:
                kwargs["task_types"] = tuple(c.env.task_types)
            if c.env.rooms:
                kwargs["rooms"] = tuple(c.env.rooms)
        if c.env.name == "search" and c.env.task_types:
            kwargs["task_types"] = tuple(c.env.task_types)
        if c.env.name == "shop":
            if c.env.num_products:
                kwargs["num_products"] = c.env.num_products
            if c.env.num_test_goals:
                kwargs["num_test_goals"] = c.env.num_test_goals
        if c.env.name == "workforce":
            kwargs.update(p_fail=float(c.env.p_fail), monolithic=bool(c.env.monolithic))
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
        e = self.env
        args = (self.tokenizer, e.task_len, e.obs_len, e.action_len)
        unbounded = dataclasses.replace(sizes, prompt_len=1 << 30)
        longest = PromptBuilder(*args, unbounded, c.agent.mode).max_tokens()
        self.codec = self._make_codec(c)
        config_lib.validate_shapes(c, e, longest, self.codec.vocab_size)
        self.builder = PromptBuilder(*args, sizes, c.agent.mode)
        self.thinking = c.agent.mode == "thinking"
        self.horizon = c.env.horizon
        self.group_size = c.rl.group_size
        self.num_episodes = c.rl.tasks_per_iter * c.rl.group_size

    def _make_codec(self, c: ml_collections.ConfigDict):
        """What the policy reads and writes: the word ids, or a Hugging Face tokenizer (the
        checkpoint's own whenever `model.hf_checkpoint` is set, or `model.tokenizer`)."""
        source = c.model.tokenizer or c.model.hf_checkpoint
        if not source:
            return WordCodec(self.tokenizer, c.agent.prompt_len, c.agent.answer_len)
        try:
            if source == "qwen2.5":
                chat = ChatTokenizer.qwen()
            elif (Path(source) / "tokenizer.json").is_file():
                chat = ChatTokenizer.from_pretrained(source)
            else:
                field = "model.tokenizer" if c.model.tokenizer else "model.hf_checkpoint"
                raise config_lib.ConfigError(
                    f"{field}={source!r} has no tokenizer.json; set model.tokenizer to a folder "
                    "with one, or to 'qwen2.5' (the offline Qwen2.5 vocabulary)"
                )
            return ChatCodec(
                self.tokenizer,
                chat,
                c.agent.prompt_len,
                c.agent.model_prompt_len,
                c.agent.answer_len,
            )
        except config_lib.ConfigError:
            raise
        except (ValueError, OSError, ImportError) as e:  # the tokenizer cannot be used
            raise config_lib.ConfigError(f"tokenizer {source!r}: {e}") from None

    # ----- policy, mesh, optimisers ---------------------------------------------------------
    def _init_policy(self, c: ml_collections.ConfigDict) -> None:
        vocab = self.codec.vocab_size
        if c.model.preset == "hf":
            from empg_jax.models import from_hf

            try:
                model, _ = from_hf(c.model.hf_checkpoint, dtype=c.model.dtype)
            except ValueError as e:  # a damaged or unsupported checkpoint: one line
                raise config_lib.ConfigError(f"model.hf_checkpoint: {e}") from None
            if model.cfg.vocab_size < vocab:
                raise config_lib.ConfigError(
                    f"the checkpoint's embedding has {model.cfg.vocab_size} rows but its "
                    f"tokenizer has {vocab} ids (model.hf_checkpoint={c.model.hf_checkpoint!r})"
                )
        else:
            model = Transformer(model_config(c, vocab), rngs=nnx.Rngs(c.seed))
        # The whole state: MoE router biases are Variables but not Params.
        self.graphdef, params = nnx.split(model)
        self.mesh = make_mesh(resolve_mesh_shape(c.mesh.shape, jax.device_count()))
        self.init_params = shard_state(params, self.mesh)

        # One step-params object for every split (`agents.make_rollout`); each split resets
        # with its own params.
        self._reset = {}
        if self.host_envs is None:
            self.step_params = self._params(c.env.train_split)
            self.rollout_fn = self.make_rollout(c.agent.prefill_chunk, c.agent.share_prefill)
        else:
            self.sampler = make_sampler(
                self.graphdef,
                max_new_tokens=self.codec.answer_len,
                top_k=c.agent.top_k,
                pad_id=self.codec.pad_id,
                prefill_chunk=c.agent.prefill_chunk,
                group_size=self.group_size if c.agent.share_prefill else 1,
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
        self._sft_step = None
        self._rl_step = None

    # ----- helpers -------------------------------------------------------------------------
    def make_rollout(self, prefill_chunk: int, share_prefill: bool):
        """The jitted rollout of this experiment (`agents.make_rollout`) with the given prefill
        settings (`agent.prefill_chunk`, `agent.share_prefill`; benchmarks compare them)."""
        c = self.config
        return make_rollout(
            self.env,
            self.builder,
            self.graphdef,
            horizon=self.horizon,
            answer_len=c.agent.answer_len,
            thinking=self.thinking,
            top_k=c.agent.top_k,
            group_size=self.group_size,
            codec=self.codec,
            prefill_chunk=prefill_chunk,
            share_prefill=share_prefill,
        )

    def _params(self, split: str):
        return self.env.default_params(split).replace(horizon=self.horizon)

    def episode_sharding(self, n: int) -> NamedSharding:
        """N episodes (or rows) on the `data` axis: each device, and each process, gets its
        share of the rollout."""
        return NamedSharding(self.mesh, logical_to_spec(("batch",), dict(self.mesh.shape), (n,)))

    def reset(self, split: str, task_ids: np.ndarray):
        """N episodes reset to `task_ids`, sharded by episode (`episode_sharding`)."""
        n = len(task_ids)
        if hasattr(self.env, "reset_in_split"):  # one compiled reset serves every split
            if (None, n) not in self._reset:
                self._reset[None, n] = jax.jit(
                    jax.vmap(self.env.reset_in_split, in_axes=(0, None)),
                    out_shardings=self.episode_sharding(n),
                )
            split_index = jnp.int32(self.env.splits.index(split))
            return self._reset[None, n](jnp.asarray(task_ids, jnp.int32), split_index)
        if (split, n) not in self._reset:
            p = self._params(split)
            self._reset[split, n] = jax.jit(
                lambda t, p=p: reset_episodes(self.env, p, t),
                out_shardings=self.episode_sharding(n),
            )
        return self._reset[split, n](jnp.asarray(task_ids, jnp.int32))

    def num_tasks(self, split: str) -> int:
        """Tasks of `split`: the environment's size, or `eval.split_size` for an evaluation
        split when set (validated: only for environments with generated tasks)."""
        c = self.config
        if c.eval.split_size and split != c.env.train_split and self.host_envs is None:
            return int(c.eval.split_size)
        if self.host_envs is not None:
            return int(getattr(self.host_envs[split], "num_tasks", 1 << 20))
        return int(self._params(split).num_tasks)

    def batch_sharding(self, batch: Any):
        """Every array with a leading batch axis on the `data` mesh axis; scalars replicated."""

        def spec(x):
            if np.ndim(x) == 0:
                return NamedSharding(self.mesh, PartitionSpec())
            names = ("batch",) + (None,) * (np.ndim(x) - 1)
            return NamedSharding(
                self.mesh, logical_to_spec(names, dict(self.mesh.shape), np.shape(x))
            )

        return jax.tree.map(spec, batch)

    def new_state(self, params, phase: str, key, with_ref: bool | None = None) -> TrainState:
        opt = self.sft_opt if phase == "sft" else self.rl_opt
        if with_ref is None:
            with_ref = phase == "rl" and self.needs_reference
        init = jax.jit(lambda p, k: create_state(p, opt, k, with_ref))
        return init(params, key)

    @property
    def needs_reference(self) -> bool:
        """RL keeps the frozen SFT policy: for the KL penalty, or as DPO's reference."""
        return self.config.rl.kl_coef > 0 or self.dpo_options is not None

    def sft_step(self, state: TrainState, batch: SFTBatch):
        if self._sft_step is None:
            self._sft_step = jit_sft_step(
                self.graphdef,
                self.sft_opt,
                self.sft_options,
                jax.tree.map(lambda x: x.sharding, state),
                self.batch_sharding(batch),
            )
        return self._sft_step(state, batch)

    def rl_step(self, state: TrainState, batch: Rollout):
        sharding = self.batch_sharding(batch)
        if self._rl_step is None:
            jit_update = jit_rl_update if self.dpo_options is None else jit_dpo_update
            opts = self.rl_options if self.dpo_options is None else self.dpo_options
            self._rl_step = jit_update(
                self.graphdef,
                self.rl_opt,
                opts,
                jax.tree.map(lambda x: x.sharding, state),
                sharding,
            )
        # Episodes on the data axis (a rollout, or groups DAPO gathered from several, may come
        # back laid out otherwise; across processes jit does not move them by itself).
        return self._rl_step(state, jax.device_put(batch, sharding))

    # ----- data ----------------------------------------------------------------------------
    def demonstration_rows(self, key) -> dict[str, np.ndarray]:
        """Rows of noisy oracle demonstrations on random tasks of the train split (host
        arrays, `data.demos.DEMO_FIELDS`): the SFT data."""
        c = self.config
        n = c.sft.demo_episodes
        task_ids = np.asarray(jax.random.randint(key, (n,), 0, self.num_tasks(c.env.train_split)))
        state, obs = self.reset(c.env.train_split, task_ids)
        play = jitted_demonstrations(
            self.env, self.builder, self.horizon, c.agent.answer_len, self.thinking, self.codec
        )
        ro = play(
            jax.random.fold_in(key, 1),
            state,
            obs,
            self.step_params,
            jnp.asarray(task_ids),
            float(c.sft.noise),
        )
        rows = demonstration_rows(self._fits(ro))
        if c.sft.success_only:  # OWL: SFT on the expert's successful episodes only
            rows = {k: v[rows["won"]] for k, v in rows.items()}
        return rows

    def _fits(self, ro: Rollout) -> Rollout:
        """`ro`, after checking that no prompt or demonstration answer was cut to fit."""
        cut = to_host(ro.overflow_NxT)
        if cut.any():
            raise config_lib.ConfigError(
                f"{int(cut.sum())} prompts or demonstration answers did not fit the policy's "
                f"lengths ({self.codec.prompt_len} prompt / {self.codec.answer_len} answer "
                "tokens); raise agent.model_prompt_len or agent.answer_len"
            )
        return ro

    def sft_batch(self, local: dict[str, np.ndarray], batch_size: int) -> SFTBatch:
        """The global SFT batch from this process's rows (`data.sft.SFTBatches`): each process
        holds the rows of its own devices."""
        sharding = self.episode_sharding(batch_size)

        def global_array(x):
            shape = (batch_size,) + x.shape[1:]
            return jax.make_array_from_process_local_data(sharding, x, shape)

        return SFTBatch(
            global_array(local["prompt"]),
            global_array(local["prompt_mask"]),
            global_array(local["answer"]),
            global_array(local["answer_mask"]),
        )

    def play(self, params, key, split: str, task_ids: np.ndarray, temperature: float) -> Rollout:
        """Episodes of the tasks `task_ids` of `split` (groups of `rl.group_size` adjacent)."""
        c = self.config
        if self.host_envs is not None:
            return self._fits(
                host_rollout(
                    self.host_envs[split],
                    self.builder,
                    self.sampler,
                    params,
                    key,
                    np.asarray(task_ids),
                    horizon=self.horizon,
                    answer_len=c.agent.answer_len,
                    thinking=self.thinking,
                    temperature=float(temperature),
                    group_size=self.group_size,
                    codec=self.codec,
                )
            )
        # Evaluation keys are host arrays, training keys derive from the sharded state: one
        # placement for both, so the rollout compiles once. The episodes are sharded by reset.
        key = jax.device_put(key, NamedSharding(self.mesh, PartitionSpec()))
        state, obs = self.reset(split, task_ids)
        ro = self.rollout_fn(
            params,
            key,
            state,
            obs,
            self.step_params,
            jnp.asarray(task_ids, jnp.int32),
            jnp.float32(temperature),
        )
        return self._fits(ro)
