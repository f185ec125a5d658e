"""Tests of the demonstration generator and the TFDS builders (array_record, no TensorFlow)."""

import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from empg_jax.data import demos, tfds_builders
from empg_jax.data.tfds_builders import EnvDataConfig, EnvDemos, EnvTasks, grain_batches

ENV = tfds_builders.builder_env("household", "own")
N = 4  # episodes per split in these tests


def _sorted(rows):
    order = np.lexsort((rows["step"], rows["episode"]))
    return {k: np.asarray(v)[order] for k, v in rows.items()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    cfg = dict(env="household", tokenizer="own", max_episodes=N, seed=3)
    demo = EnvDemos(config=EnvDataConfig(name="household_test", **cfg), data_dir=data_dir)
    demo.download_and_prepare()
    tasks = EnvTasks(config=EnvDataConfig(name="household_test", **cfg), data_dir=data_dir)
    tasks.download_and_prepare()
    return data_dir, demo, tasks


@pytest.mark.slow
def test_demonstrations_round_trip(prepared):
    data_dir, demo, _ = prepared
    assert "tensorflow" not in sys.modules
    assert tfds_builders.vocab_of(demo) == ENV.tokenizer.vocab
    for split in ENV.splits:
        source = tfds.data_source("env_demos/household_test", data_dir=data_dir, split=split)
        got = _sorted({k: np.stack([ex[k] for ex in source]) for k in demos.DEMO_FIELDS})
        want = _sorted(demos.generate_demonstrations(ENV, split, N, seed=3))
        assert set(got["episode"]) == set(range(N))
        for k in demos.DEMO_FIELDS:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{split}/{k}")
        # every episode is won by its last step, with one reward of 10
        last = np.r_[got["episode"][1:] != got["episode"][:-1], True]
        assert got["won"][last].all() and got["reward"].sum() == 10.0 * N
        text = source[0]["response_text"].decode()
        assert text.startswith("<think> ") and text.endswith("</action> <eot>")


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
    assert batches[0]["obs"].shape == (3, ENV.obs_len)
    assert "obs_text" not in batches[0]
    # reproducible shuffling
    again = list(grain_batches(source, 3, seed=0, num_epochs=2))
    np.testing.assert_array_equal(batches[1]["obs"], again[1]["obs"])


@pytest.mark.slow
def test_noise_makes_imperfect_demonstrations():
    clean = demos.generate_demonstrations(ENV, "valid_seen", N, seed=3, noise=0.0)
    noisy = demos.generate_demonstrations(ENV, "valid_seen", N, seed=3, noise=1.0)
    assert not clean["invalid"].any()
    # with noise 1 every step is a random admissible action without reasoning
    think_end = ENV.tokenizer.end_think_id
    first = noisy["response"][:, :2]
    np.testing.assert_array_equal(first[:, 0], ENV.tokenizer.think_id)
    np.testing.assert_array_equal(first[:, 1], think_end)
    assert not noisy["invalid"].any()  # random, yet admissible
    won_clean = clean["won"][np.r_[clean["episode"][1:] != clean["episode"][:-1], True]]
    assert won_clean.all()
    assert len(noisy["episode"]) > len(clean["episode"])  # random play takes longer


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_episodes"):
        demos.task_ids_for(ENV, "train", 0)
    with pytest.raises(ValueError, match="noise"):
        demos.generate_demonstrations(ENV, "train", 2, noise=1.5)
    with pytest.raises(ValueError, match="split"):
        demos.generate_tasks(ENV, "test", 2)
    with pytest.raises(ValueError, match="batch_size"):
        grain_batches([], 0)
