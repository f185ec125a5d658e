"""The trainer on an external game: a short GRPO run on a generated TextWorld game, episodes
played through `agents.host_rollout` (`training.Experiment(host_envs=...)`)."""

import math

import numpy as np
import pytest

from configs import base
from empg_jax.agents import agent_tokenizer
from empg_jax.envs import external
from empg_jax.envs.core import NOTHING_HAPPENS
from empg_jax.text.word import split_words
from empg_jax.training import ConfigError, Experiment, read_jsonl, train

HORIZON, TASKS, GROUP = 3, 2, 2


@pytest.fixture(scope="module")
def game(tmp_path_factory):
    pytest.importorskip("textworld", reason="the `textworld` extra is not installed")
    return external.make_textworld_games(str(tmp_path_factory.mktemp("tw")), [1234])[0]


def _tokenizer(game):
    probe = external.TextWorldGame(game)
    obs, info = probe.reset(0)
    texts = [obs, info.task, *info.admissible, *probe.walkthrough(), NOTHING_HAPPENS]
    probe.close()
    words = {w for t in texts for w in split_words(t) if w.isalpha()}
    return agent_tokenizer([sorted(words)])  # the game's words plus the prompt words


def _batch(game, tok):
    return external.ExternalBatch(
        [external.TextWorldGame(game) for _ in range(TASKS * GROUP)],
        tok,
        obs_len=32,
        action_len=10,
        max_admissible=12,
        task_len=48,
        horizon=HORIZON,
    )


def _config():
    c = base.get_config("textworld")  # a label: the environment is given, not registered
    c.env.horizon = HORIZON
    c.env.max_objects = 0
    c.agent.history = 1
    c.agent.obs_tokens = 32
    c.agent.history_obs_tokens = 8
    c.agent.admissible_rows = 12
    c.agent.admissible_tokens = 96
    c.agent.prompt_len = 320
    c.agent.answer_len = 14
    c.model.hidden_size = 32
    c.model.num_layers = 1
    c.model.num_heads = 2
    c.model.num_kv_heads = 1
    c.model.intermediate_size = 64
    c.sft.steps = 0
    c.rl.iterations = 2
    c.rl.tasks_per_iter = TASKS
    c.rl.group_size = GROUP
    c.rl.minibatch_rows = 8
    c.eval.num_tasks = TASKS * GROUP
    c.checkpoint.every = 1
    c.log.tensorboard = False
    return c


@pytest.mark.slow
def test_grpo_on_a_textworld_game(game, tmp_path):
    tok = _tokenizer(game)
    batch = _batch(game, tok)
    try:
        summary = train(_config(), tmp_path, host_envs={"train": batch, "test": batch})
        exp = summary["experiment"]
        ro = exp.play(summary["state"].params, np.asarray([0, 0], np.uint32), "test",
                      np.arange(TASKS * GROUP), 1.0)  # fmt: skip
    finally:
        batch.close()
    recs = read_jsonl(tmp_path / "metrics.jsonl")
    rl = [r for r in recs if r["phase"] == "rl"]
    assert [r["step"] for r in rl] == [1, 2]
    for r in rl:
        # Every episode plays until the game ends or the horizon; each live step is a row.
        assert 1 <= r["length"] <= HORIZON
        assert 0 < r["num_train_rows"] <= TASKS * GROUP * HORIZON
        assert 0.0 <= r["invalid_format"] <= 1.0 and 0.0 <= r["success"] <= 1.0
        for k in ("loss", "pg_loss", "grad_norm", "step_entropy_mean"):
            assert math.isfinite(r[k]), k
    assert summary["before"]["test"]["episodes"] == TASKS * GROUP
    assert [r["step"] for r in recs if r["phase"] == "eval"] == [2]
    assert (tmp_path / "checkpoints" / "2").is_dir()
    # The step prompts carry the game's objective and admissible commands.
    prompt = tok.decode(np.asarray(ro.prompt_NxTxP)[0, 0])
    assert "your task is to" in prompt and "take" in prompt and "trunk" in prompt
    assert np.asarray(ro.valid_NxT)[:, 0].all() and int(np.asarray(ro.length_N).max()) <= HORIZON


class _Wait:
    """A scripted game for the checks that need no real one."""

    def reset(self, seed):
        return "you wait", external.GameInfo(["wait"], 0.0, False, "wait")

    def step(self, command):
        return "you wait", 0.0, False, external.GameInfo(["wait"], 0.0, False, "wait")

    def close(self):
        pass


def test_host_environments_are_checked():
    tok = agent_tokenizer([["you", "wait"]])
    batch = external.ExternalBatch(
        [_Wait() for _ in range(TASKS * GROUP)], tok, obs_len=32, action_len=10, task_len=48
    )
    try:
        c = _config()
        c.sft.steps = 5
        with pytest.raises(ConfigError, match="no oracle demonstrations"):
            Experiment(c, host_envs={"train": batch, "test": batch})
        c = _config()
        c.rl.tasks_per_iter = 4
        with pytest.raises(ConfigError, match="has 4 slots; rl.tasks_per_iter"):
            Experiment(c, host_envs={"train": batch, "test": batch})
        with pytest.raises(ConfigError, match="split 'test' not in textworld's splits"):
            Experiment(_config(), host_envs={"train": batch})
    finally:
        batch.close()
