"""TFDS builders (array_record, no TensorFlow) for environment task splits and demonstrations,
and the grain pipeline the trainer reads its SFT batches through.

- `EnvTasks` (`env_tasks/<env>`): one example per task of every split of the environment
  (`task_id`, `task_type`, the task tokens and the first observation, plus their text);
- `EnvDemos` (`env_demos/<env>`, `env_demos/<env>_direct`, `env_demos/<env>_noisy`): one example
  per step of the oracle's episodes in the agent's own prompts (`data.demos.DEMO_FIELDS`: the
  prompt, the answer to imitate, their masks and the outcome) -- the rows SFT trains on;
  `noise` makes demonstrations imperfect on purpose;
- `write_rows` / `read_rows`: the same rows for one training run (the run's own prompt budgets),
  written once by a TFDS builder and read back as a random-access source; `SFTBatches` is the
  grain pipeline over them (deterministic per step, sharded by JAX process, with a checkpointable
  iterator state).

The token ids follow the builder config's tokenizer ("shared": every built-in environment's words
plus the prompt words, as the trainer's agent uses; "own": one environment's); the vocabulary is
stored in the dataset metadata (`info.metadata["vocab"]`), so a reader can decode without
building the environment.

    builder = EnvDemos(config="household", data_dir="/tmp/tfds")
    builder.download_and_prepare()
    source = tfds.data_source("env_demos/household", data_dir="/tmp/tfds", split="train")
    for batch in grain_batches(source, batch_size=32, seed=0):
        ...

Examples are shuffled at write time (TFDS), so use `episode`/`step` to restore order.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import grain
import numpy as np
import tensorflow_datasets as tfds

from empg_jax import envs
from empg_jax.agents import PromptBuilder, PromptSizes, agent_tokenizer
from empg_jax.data import demos

BUILTIN_ENVS = ("household", "shop", "search", "workforce")


@dataclasses.dataclass
class EnvDataConfig(tfds.core.BuilderConfig):
    """Which environment and how to play it.

    Attributes:
      env: registered environment name.
      tokenizer: "shared" (all built-in environments' words) or "own"; both with the prompt words.
      thinking: thinking-mode answers (else direct).
      noise: probability of an imperfect demonstration step (`core.oracle_policy`).
      max_episodes: episodes per split at most (every task when the split has fewer).
      seed: PRNG seed of the oracle and the noise.
    """

    env: str = "household"
    tokenizer: str = "shared"
    thinking: bool = True
    noise: float = 0.0
    max_episodes: int = 512
    seed: int = 0


@functools.cache
def builder_env(name: str, tokenizer: str = "shared") -> Any:
    """The environment object the builders use (cached, so its compiled functions are reused),
    with an agent vocabulary: the environment's words (or every built-in environment's) plus
    the prompt words."""
    if tokenizer not in ("shared", "own"):
        raise ValueError(f"tokenizer must be 'shared' or 'own', got {tokenizer!r}")
    names = sorted(envs.BUILTIN) if tokenizer == "shared" else [name]
    words = [envs.env_class(n).words() for n in {*names, name}]
    return envs.make(name, tokenizer=agent_tokenizer(words))


@functools.cache
def builder_prompts(name: str, tokenizer: str = "shared", thinking: bool = True) -> PromptBuilder:
    """The prompt renderer of the public demonstration datasets: the default section budgets,
    with the prompt length set to the longest prompt they allow."""
    env = builder_env(name, tokenizer)
    mode = "thinking" if thinking else "direct"
    args = (env.tokenizer, env.task_len, env.obs_len, env.action_len)
    sizes = PromptSizes(prompt_len=1 << 30)
    longest = PromptBuilder(*args, sizes, mode).max_tokens()
    return PromptBuilder(*args, dataclasses.replace(sizes, prompt_len=longest), mode)


def _configs(kind: str) -> list[EnvDataConfig]:
    out = []
    for name in BUILTIN_ENVS:
        out.append(EnvDataConfig(name=name, env=name, description=f"{name} {kind}"))
        if kind == "demonstrations":
            out.append(
                EnvDataConfig(
                    name=f"{name}_direct",
                    env=name,
                    thinking=False,
                    description=f"{name} demonstrations, direct mode",
                )  # fmt: skip
            )
            out.append(
                EnvDataConfig(
                    name=f"{name}_noisy",
                    env=name,
                    noise=0.2,
                    description=f"{name} demonstrations, 20% random steps",
                )  # fmt: skip
            )
    return out


class _EnvBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared plumbing: array_record by default, the environment of the config."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    # TFDS derives a checksums path from the module's location with a check that needs the
    # optional `importlib_resources` package; nothing is downloaded here, so skip it.
    code_path = None

    def __init__(self, *, file_format: str | None = None, **kwargs: Any):
        super().__init__(file_format=file_format or "array_record", **kwargs)

    @property
    def env(self) -> Any:
        return builder_env(self.builder_config.env, self.builder_config.tokenizer)

    def _metadata(self) -> tfds.core.MetadataDict:
        return tfds.core.MetadataDict(
            vocab=list(self.env.tokenizer.vocab),
            env=self.builder_config.env,
            task_types=list(self.env.task_types),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        del dl_manager  # everything is generated locally
        return {split: self._generate_examples(split) for split in self.env.splits}

    def _text(self, tokens: np.ndarray) -> str:
        return self.env.tokenizer.decode(tokens)


def _ints(*shape: int) -> tfds.features.Tensor:
    return tfds.features.Tensor(shape=shape, dtype=np.int32)


class EnvTasks(_EnvBuilder):
    """The tasks of every split of a built-in environment (see the module docstring)."""

    BUILDER_CONFIGS = _configs("tasks")

    def _info(self) -> tfds.core.DatasetInfo:
        env = self.env
        features = tfds.features.FeaturesDict(
            {
                "task_id": np.int32,
                "task_type": np.int32,
                "task": _ints(env.task_len),
                "obs": _ints(env.obs_len),
                "task_text": tfds.features.Text(),
                "obs_text": tfds.features.Text(),
            }
        )
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"Task splits of the {self.builder_config.env} environment (empg_jax).",
            features=features,
            metadata=self._metadata(),
        )

    def _generate_examples(self, split: str):
        cfg = self.builder_config
        num = min(int(self.env.default_params(split=split).num_tasks), cfg.max_episodes)
        tasks = demos.generate_tasks(self.env, split, num)
        for i in range(len(tasks["task_id"])):
            yield (
                i,
                {
                    "task_id": tasks["task_id"][i],
                    "task_type": tasks["task_type"][i],
                    "task": tasks["task"][i],
                    "obs": tasks["obs"][i],
                    "task_text": self._text(tasks["task"][i]),
                    "obs_text": self._text(tasks["obs"][i]),
                },
            )


def _row_features(prompt_len: int, answer_len: int) -> dict[str, Any]:
    return {
        "episode": np.int32,
        "step": np.int32,
        "task_id": np.int32,
        "task_type": np.int32,
        "prompt": _ints(prompt_len),
        "prompt_mask": tfds.features.Tensor(shape=(prompt_len,), dtype=np.bool_),
        "answer": _ints(answer_len),
        "answer_mask": tfds.features.Tensor(shape=(answer_len,), dtype=np.bool_),
        "reward": np.float32,
        "won": np.bool_,
        "invalid_format": np.bool_,
    }


class EnvDemos(_EnvBuilder):
    """Oracle demonstrations of a built-in environment in the agent's prompts, one example per
    step (`builder_prompts` renders them)."""

    BUILDER_CONFIGS = _configs("demonstrations")

    @property
    def prompts(self) -> PromptBuilder:
        cfg = self.builder_config
        return builder_prompts(cfg.env, cfg.tokenizer, cfg.thinking)

    def _info(self) -> tfds.core.DatasetInfo:
        features = _row_features(self.prompts.prompt_len, self.env.response_len)
        features["prompt_text"] = tfds.features.Text()
        features["answer_text"] = tfds.features.Text()
        cfg = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                f"Oracle demonstrations of the {cfg.env} environment (empg_jax) in the agent's "
                f"step prompts, thinking={cfg.thinking}, noise={cfg.noise}."
            ),
            features=tfds.features.FeaturesDict(features),
            metadata=self._metadata(),
        )

    def _generate_examples(self, split: str):
        cfg = self.builder_config
        num = min(int(self.env.default_params(split=split).num_tasks), cfg.max_episodes)
        rows = demos.play_demonstrations(
            self.env, self.prompts, split, num, answer_len=self.env.response_len,
            thinking=cfg.thinking, noise=cfg.noise, seed=cfg.seed, progress=True,
        )  # fmt: skip
        for i in range(len(rows["episode"])):
            ex = {k: rows[k][i] for k in demos.DEMO_FIELDS}
            ex["prompt_text"] = self._text(rows["prompt"][i][rows["prompt_mask"][i]])
            ex["answer_text"] = self._text(rows["answer"][i][rows["answer_mask"][i]])
            yield i, ex


def vocab_of(source_or_builder: Any) -> tuple[str, ...]:
    """The vocabulary stored with a prepared dataset (builder or `builder.info`)."""
    info = getattr(source_or_builder, "info", source_or_builder)
    return tuple(info.metadata["vocab"])


def grain_batches(
    source: Any,
    batch_size: int,
    *,
    seed: int = 0,
    shuffle: bool = True,
    num_epochs: int | None = 1,
    drop_text: bool = True,
    drop_remainder: bool = False,
) -> grain.MapDataset:
    """A grain pipeline over a TFDS data source: shuffle, repeat, drop text fields, batch.

    Args:
      source: `tfds.data_source(...)` or `builder.as_data_source()[split]` (random access).
      num_epochs: passes over the data (None repeats forever).
      drop_text: remove the `*_text` fields (bytes) so batches hold only arrays.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    ds = grain.MapDataset.source(source)
    if shuffle:
        ds = ds.shuffle(seed=seed)
    if num_epochs != 1:
        ds = ds.repeat(num_epochs)
    if drop_text:
        ds = ds.map(lambda ex: {k: v for k, v in ex.items() if not k.endswith("_text")})
    return ds.batch(batch_size, drop_remainder=drop_remainder)
