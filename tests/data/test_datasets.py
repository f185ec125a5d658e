"""The demonstration rows, the TFDS builders (array_record, no TensorFlow) and the trainer's SFT
data pipeline through grain."""

import sys

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from empg_jax.data import demos, sft, tfds_builders
from empg_jax.data.tfds_builders import EnvDataConfig, EnvDemos, EnvTasks, grain_batches

ENV = tfds_builders.builder_env("household", "own")
PROMPTS = tfds_builders.builder_prompts("household", "own", True)
N = 4  # episodes per split in these tests


def _play(split, noise=0.0, seed=3):
    return demos.play_demonstrations(
        ENV, PROMPTS, split, N, answer_len=ENV.response_len, noise=noise, seed=seed
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    cfg = dict(env="household", tokenizer="own", max_episodes=N, seed=3)
    demo = EnvDemos(config=EnvDataConfig(name="household_test", **cfg), data_dir=data_dir)
    demo.download_and_prepare()
    tasks = EnvTasks(config=EnvDataConfig(name="household_test", **cfg), data_dir=data_dir)
    tasks.download_and_prepare()
    return data_dir, demo, tasks


def _sorted(rows):
    order = np.lexsort((rows["step"], rows["episode"]))
    return {k: np.asarray(v)[order] for k, v in rows.items()}


@pytest.mark.slow
def test_demonstrations_round_trip(prepared):
    data_dir, demo, _ = prepared
    assert "tensorflow" not in sys.modules
    assert tfds_builders.vocab_of(demo) == ENV.tokenizer.vocab
    for split in ENV.splits:
        source = tfds.data_source("env_demos/household_test", data_dir=data_dir, split=split)
        got = _sorted({k: np.stack([ex[k] for ex in source]) for k in demos.DEMO_FIELDS})
        want = _sorted(_play(split))
        assert set(got["episode"]) == set(range(N))
        for k in demos.DEMO_FIELDS:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{split}/{k}")
        # every episode is won by its last step, with one reward of 10
        last = np.r_[got["episode"][1:] != got["episode"][:-1], True]
        assert got["won"][last].all() and got["reward"].sum() == 10.0 * N
        text = source[0]["answer_text"].decode()
        assert text.startswith("<think> ") and text.endswith("</action> <eot>")
        assert source[0]["prompt_text"].decode().startswith("you are an expert agent.")


def test_rows_are_the_agents_own_demonstration_steps():
    """`play_demonstrations` is the trainer's generator (`agents.demonstrations`) row by row:
    the prompts render the agent's prompt, the answers are the oracle's, padding steps are gone."""
    rows = _play("valid_seen")
    assert rows["prompt"].shape[1] == PROMPTS.prompt_len
    np.testing.assert_array_equal(rows["prompt_mask"], rows["prompt"] != ENV.tokenizer.pad_id)
    first = ENV.tokenizer.decode(rows["prompt"][0][rows["prompt_mask"][0]])
    assert first.startswith("you are an expert agent. your task is to:")
    assert not rows["invalid_format"].any()
    steps = np.bincount(rows["episode"])
    assert (steps >= 1).all() and len(steps) == N
    np.testing.assert_array_equal(rows["step"][: steps[0]], np.arange(steps[0]))


@pytest.mark.slow
def test_tasks_round_trip_and_grain(prepared):
    data_dir, _, tasks = prepared
    src = tasks.as_data_source()
    for split in ENV.splits:
        got = sorted(src[split], key=lambda ex: ex["task_id"])
        want = demos.generate_tasks(ENV, split, N)
        np.testing.assert_array_equal([ex["task_id"] for ex in got], want["task_id"])
        np.testing.assert_array_equal(np.stack([ex["obs"] for ex in got]), want["obs"])
        assert got[0]["task_text"].decode() == ENV.decode(want["task"][0])
    source = tfds.data_source("env_demos/household_test", data_dir=data_dir, split="train")
    batches = list(grain_batches(source, 3, seed=0, num_epochs=2))
    assert sum(len(b["episode"]) for b in batches) == 2 * len(source)
    assert batches[0]["prompt"].shape == (3, PROMPTS.prompt_len)
    assert "prompt_text" not in batches[0]
    again = list(grain_batches(source, 3, seed=0, num_epochs=2))  # reproducible shuffling
    np.testing.assert_array_equal(batches[1]["prompt"], again[1]["prompt"])


def test_noise_makes_imperfect_demonstrations():
    clean, noisy = _play("valid_seen"), _play("valid_seen", noise=1.0)
    think, end_think = ENV.tokenizer.think_id, ENV.tokenizer.end_think_id
    # with noise 1 every step is a random admissible action without reasoning
    np.testing.assert_array_equal(noisy["answer"][:, :2], [[think, end_think]] * len(noisy["step"]))
    assert not clean["invalid_format"].any() and not noisy["invalid_format"].any()
    assert clean["won"].all() and len(noisy["episode"]) > len(clean["episode"])


def test_sft_batches_equal_from_tfds_and_memory_and_resume_exactly(tmp_path):
    """The trainer's two data paths give the same batches; a process gets its share; the
    iterator state resumes the data exactly; batch t is rows randint(fold_in(key, t))."""
    rows = _play("train")
    path = sft.write_rows(rows, tmp_path / "data")
    on_disk, in_memory = sft.read_rows(path), sft.memory_source(rows)
    assert len(on_disk) == len(in_memory) == len(rows["prompt"])
    key = jax.random.PRNGKey(11)
    a = sft.SFTBatches(on_disk, key, 8, 5)
    b = sft.SFTBatches(in_memory, key, 8, 5)
    first = [next(a) for _ in range(5)]
    for t, (x, y) in enumerate(zip(first, [next(b) for _ in range(5)], strict=True)):
        idx = np.asarray(jax.random.randint(jax.random.fold_in(key, t), (8,), 0, len(on_disk)))
        for k in sft.BATCH_FIELDS:
            np.testing.assert_array_equal(x[k], y[k])
            np.testing.assert_array_equal(x[k], rows[k][idx])
    resumed = sft.SFTBatches(on_disk, key, 8, 5)
    resumed.set_state({"next_index": 3})
    np.testing.assert_array_equal(next(resumed)["prompt"], first[3]["prompt"])
    halves = [sft.SFTBatches(on_disk, key, 8, 5, p, 2) for p in (0, 1)]
    joined = np.concatenate([next(h)["answer"] for h in halves])
    np.testing.assert_array_equal(joined, first[0]["answer"])
    with pytest.raises(ValueError, match="multiple of the 3 processes"):
        sft.SFTBatches(on_disk, key, 8, 5, 0, 3)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_episodes"):
        demos.task_ids_for(ENV, "train", 0)
    with pytest.raises(ValueError, match="noise"):
        _play("train", noise=1.5)
    with pytest.raises(ValueError, match="split"):
        demos.generate_tasks(ENV, "test", 2)
    with pytest.raises(ValueError, match="batch_size"):
        grain_batches([], 0)
