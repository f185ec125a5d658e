"""The SFT data of a training run: demonstration rows written once as a TFDS dataset
(array_record) and read back through a grain pipeline.

Batch t is defined by its step alone: the rows `randint(fold_in(key, t), (B,), 0, num_rows)`.
`SFTBatches` is a grain `MapDataset` over steps whose element t is this process's share of batch
t (rows [p*B/P, (p+1)*B/P) on process p of P, the slice its devices hold of the global batch),
so every process reads only its own rows, the order is deterministic, and the iterator state
(`{"next_index": t}`) saved with a checkpoint resumes the data exactly. The same pipeline runs
over rows held in memory (`sft.data="memory"`, the fast path for tiny runs): the batches are the
same because only the source differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grain
import jax
import numpy as np
import tensorflow_datasets as tfds

from empg_jax.data.demos import DEMO_FIELDS
from empg_jax.data.tfds_builders import _row_features

#: The fields a batch holds (what `training.sft.SFTBatch` is built from).
BATCH_FIELDS = ("prompt", "prompt_mask", "answer", "answer_mask")


class SftRows(tfds.core.GeneratorBasedBuilder):
    """One run's demonstration rows (given in memory), written once as the split "train"."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    code_path = None  # nothing is downloaded; skip TFDS's checksums lookup

    def __init__(self, *, rows: dict[str, np.ndarray] | None = None, **kwargs: Any):
        self._rows = rows
        super().__init__(file_format="array_record", **kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        prompt_len, answer_len = self._rows["prompt"].shape[1], self._rows["answer"].shape[1]
        return tfds.core.DatasetInfo(
            builder=self,
            description="Oracle demonstration rows of one empg_jax training run.",
            features=tfds.features.FeaturesDict(_row_features(prompt_len, answer_len)),
            disable_shuffling=True,  # row i of the source is row i of the run
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        del dl_manager
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(len(self._rows["prompt"])):
            yield i, {k: self._rows[k][i] for k in DEMO_FIELDS}


def write_rows(rows: dict[str, np.ndarray], data_dir: str | Path) -> Path:
    """Writes `rows` (`data.demos.DEMO_FIELDS`) under `data_dir` once; returns the dataset
    folder (an existing one is reused as it is)."""
    builder = SftRows(rows=rows, data_dir=str(data_dir))
    tfds.disable_progress_bar()  # a training run prints its own progress
    builder.download_and_prepare()
    return Path(builder.data_dir)


def read_rows(dataset_dir: str | Path):
    """The random-access source of a dataset written by `write_rows`."""
    return tfds.builder_from_directory(str(dataset_dir)).as_data_source()["train"]


class _MemorySource:
    """Rows held in memory behind the random-access source interface."""

    def __init__(self, rows: dict[str, np.ndarray]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows["prompt"])

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return {k: self.rows[k][i] for k in BATCH_FIELDS}


def memory_source(rows: dict[str, np.ndarray]) -> _MemorySource:
    return _MemorySource(rows)


def batch_rows(key: jax.Array, step: int, batch_size: int, num_rows: int) -> np.ndarray:
    """The row indices of SFT batch `step` (with replacement)."""
    return np.asarray(jax.random.randint(jax.random.fold_in(key, step), (batch_size,), 0, num_rows))


class SFTBatches:
    """The grain pipeline of one run's SFT batches (module docstring).

    Args:
      source: random access to rows (`read_rows` or `memory_source`).
      key: the SFT train state's key (raw uint32 [2]; the same on every process).
      batch_size: B, the global batch.
      num_steps: steps in all (`sft.steps`).
      process_index, process_count: this process and how many share the batch.
    """

    def __init__(
        self,
        source: Any,
        key: jax.Array,
        batch_size: int,
        num_steps: int,
        process_index: int = 0,
        process_count: int = 1,
    ):
        if batch_size % process_count:
            raise ValueError(
                f"sft.batch_rows={batch_size} must be a multiple of the {process_count} processes"
            )
        self.num_rows = len(source)
        share = batch_size // process_count
        lo, hi = process_index * share, (process_index + 1) * share
        key = np.asarray(key)

        def batch(step: int) -> dict[str, np.ndarray]:
            idx = batch_rows(key, step, batch_size, self.num_rows)[lo:hi]
            rows = [source[int(i)] for i in idx]
            return {k: np.stack([np.asarray(r[k]) for r in rows]) for k in BATCH_FIELDS}

        options = grain.ReadOptions(num_threads=1, prefetch_buffer_size=2)
        self.dataset = grain.MapDataset.range(num_steps).map(batch)
        self._iter = iter(self.dataset.to_iter_dataset(options))

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        return next(self._iter)

    def get_state(self) -> dict[str, Any]:
        return self._iter.get_state()

    def set_state(self, state: dict[str, Any]) -> None:
        self._iter.set_state(state)
