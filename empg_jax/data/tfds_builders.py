"""TFDS builders (array_record, no TensorFlow) for environment task splits and demonstrations.

Two builders, each with one config per built-in environment (stack.md §3: a custom
`GeneratorBasedBuilder` with `file_format="array_record"`, `DatasetInfo(builder=self, ...)` built
directly, read back with `tfds.data_source` / `builder.as_data_source()` and grain):

- `EnvTasks` (`env_tasks/<env>`): one example per task of every split of the environment
  (`task_id`, `task_type`, the task tokens and the first observation, plus their text);
- `EnvDemos` (`env_demos/<env>`, `env_demos/<env>_direct`, `env_demos/<env>_noisy`): one example
  per step of the oracle's episodes (what the policy saw, the oracle's answer and the outcome);
  `noise` makes demonstrations imperfect on purpose (issue #5, "Oracles, demonstrations").

The token ids follow the builder config's tokenizer ("shared": every built-in environment's words,
as `empg_jax.envs.make` uses by default); the vocabulary is stored in the dataset metadata
(`info.metadata["vocab"]`), so a reader can decode without building the environment.

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
from empg_jax.data import demos

BUILTIN_ENVS = ("household", "shop", "search", "workforce")


@dataclasses.dataclass
class EnvDataConfig(tfds.core.BuilderConfig):
    """Which environment and how to play it.

    Attributes:
      env: registered environment name.
      tokenizer: "shared" (all built-in environments' words) or "own".
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
    """The environment object the builders use (cached, so its compiled functions are reused)."""
    return envs.make(name, tokenizer=tokenizer)


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


class EnvDemos(_EnvBuilder):
    """Oracle demonstrations of a built-in environment, one example per step."""

    BUILDER_CONFIGS = _configs("demonstrations")

    def _info(self) -> tfds.core.DatasetInfo:
        env = self.env
        features = tfds.features.FeaturesDict(
            {
                "episode": np.int32,
                "task_id": np.int32,
                "task_type": np.int32,
                "step": np.int32,
                "task": _ints(env.task_len),
                "obs": _ints(env.obs_len),
                "admissible": _ints(env.max_admissible, env.action_len),
                "num_admissible": np.int32,
                "response": _ints(env.response_len),
                "reward": np.float32,
                "won": np.bool_,
                "terminated": np.bool_,
                "truncated": np.bool_,
                "invalid": np.bool_,
                "obs_text": tfds.features.Text(),
                "response_text": tfds.features.Text(),
            }
        )
        cfg = self.builder_config
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                f"Oracle demonstrations of the {cfg.env} environment (empg_jax), "
                f"thinking={cfg.thinking}, noise={cfg.noise}."
            ),
            features=features,
            metadata=self._metadata(),
        )

    def _generate_examples(self, split: str):
        cfg = self.builder_config
        num = min(int(self.env.default_params(split=split).num_tasks), cfg.max_episodes)
        rows = demos.generate_demonstrations(
            self.env, split, num, thinking=cfg.thinking, noise=cfg.noise, seed=cfg.seed,
            progress=True,
        )  # fmt: skip
        for i in range(len(rows["episode"])):
            ex = {k: rows[k][i] for k in demos.DEMO_FIELDS}
            ex["obs_text"] = self._text(rows["obs"][i])
            ex["response_text"] = self._text(rows["response"][i])
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
