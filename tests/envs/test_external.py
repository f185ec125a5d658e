"""Tests of the host-side adapter over real external text games (optional extras)."""

import numpy as np
import pytest

from empg_jax.envs import external
from empg_jax.envs.core import INFO_KEYS, NOTHING_HAPPENS


class _Counter:
    """A tiny deterministic text game: say the number after the current one, three times."""

    def __init__(self):
        self.n = 0

    def _info(self):
        return external.GameInfo(
            [f"say {self.n + 1}", "wait"], self.n / 3, self.n >= 3, "count to three"
        )

    def reset(self, seed):
        self.n = int(seed) % 2
        return f"you are at {self.n}", self._info()

    def step(self, command):
        if command == f"say {self.n + 1}":
            self.n += 1
            return f"you are at {self.n}", 1.0, self.n >= 3, self._info()
        return "you wait", 0.0, False, self._info()

    def walkthrough(self):
        return [f"say {k}" for k in range(self.n + 1, 4)]

    def close(self):
        pass


def _word_tok():
    return external.word_tokenizer_for(["you are at wait say count to three"])


def test_adapter_contract_with_a_scripted_game():
    tok = _word_tok()
    batch = external.ExternalBatch(
        [_Counter(), _Counter()],
        tok,
        obs_len=8,
        action_len=4,
        max_admissible=4,
        task_len=6,
        horizon=4,
    )
    obs, info = batch.reset([0, 1])
    assert set(info) == set(INFO_KEYS) and obs.shape == (2, 8)
    assert tok.decode(obs[1]) == "you are at 1"
    assert tok.decode(info["admissible"][0, 0]) == "say 1" and info["num_admissible"][0] == 2
    plans = batch.walkthroughs()
    assert plans == [["say 1", "say 2", "say 3"], ["say 2", "say 3"]]
    # Slot 1 finishes first and stays frozen; slot 0 needs its three steps.
    (obs, reward, term, trunc, info), total = external.run_commands(batch, plans)
    np.testing.assert_array_equal(total, [3.0, 2.0])
    assert term.all() and not trunc.any() and info["won"].all()
    np.testing.assert_allclose(info["score"], 1.0)
    # Invalid and garbage: no-ops flagged invalid, never sent; truncation at the horizon.
    batch.reset([0, 0])
    garbage = np.array([[5, 99, 3, 0], [tok.action_id, tok.end_action_id, 0, 0]])
    for _ in range(4):
        obs, reward, term, trunc, info = batch.step(garbage)
        assert info["invalid"].all() and (reward == 0).all()
        assert tok.decode(obs[0]) == tok.decode(tok.encode(NOTHING_HAPPENS))
    assert trunc.all() and not term.any()
    with pytest.raises(ValueError, match="seeds"):
        batch.reset([0])
    batch.close()


def test_extract_command():
    assert external.extract_command("<think> hmm </think><action> go  east </action><eot>") == (
        "go east"
    )
    assert external.extract_command("open door") == "open door"
    assert external.extract_command("<action>take key") == "take key"


def test_bpe_tokenizer_round_trip():
    pytest.importorskip("tokenizers")
    texts = ["you are in a kitchen . there is a fridge", "open fridge", "take apple from fridge"]
    bpe = external.train_bpe(texts * 20, vocab_size=320)
    ids = bpe.encode("<action>open fridge</action>")
    assert external.extract_command(bpe.decode(ids)) == "open fridge"
    batch = external.ExternalBatch([_Counter()], bpe, obs_len=32, action_len=16, horizon=5)
    batch.reset([0])
    (_, _, term, _, info), total = external.run_commands(batch, batch.walkthroughs())
    assert term.all() and info["won"].all() and total[0] == 3.0


@pytest.fixture(scope="module")
def tw_game(tmp_path_factory):
    pytest.importorskip("textworld", reason="the `textworld` extra is not installed")
    return external.make_textworld_games(str(tmp_path_factory.mktemp("tw")), [1234])[0]


@pytest.mark.slow
def test_textworld_walkthrough_wins_through_tokens(tw_game):
    games = [external.TextWorldGame(tw_game) for _ in range(2)]
    obs_text, _ = games[0].reset(0)
    tok = external.word_tokenizer_for([obs_text, *games[0].walkthrough()])
    batch = external.ExternalBatch(games, tok, obs_len=128, action_len=12, horizon=30)
    obs, info = batch.reset([0, 0])
    plans = batch.walkthroughs()
    assert plans[0] and info["num_admissible"].min() > 0
    # Slot 1 first sends an inadmissible command, then the walkthrough.
    plans[1] = ["dance wildly", *plans[1]]
    (obs, reward, term, trunc, info), total = external.run_commands(batch, plans)
    assert term.all() and info["won"].all()
    np.testing.assert_allclose(info["score"], 1.0)
    assert total[0] == total[1] > 0
    batch.close()


@pytest.mark.slow
def test_textworld_express_gold_paths():
    pytest.importorskip("textworld_express", reason="the `textworld-express` extra is absent")
    games = [
        external.TextWorldExpressGame("coin", "numLocations=3,numDistractorItems=0")
        for _ in range(2)
    ]
    tok = external.word_tokenizer_for(["coin north south east west"])
    batch = external.ExternalBatch(games, tok, obs_len=64, action_len=8, horizon=30)
    obs, info = batch.reset([1, 2])
    plans = batch.walkthroughs()
    tok = external.word_tokenizer_for([c for p in plans for c in p] + ["look around"])
    batch.tokenizer = tok
    (obs, reward, term, trunc, info), total = external.run_commands(batch, plans)
    assert term.all() and info["won"].all()
    batch.close()


@pytest.mark.slow
def test_scienceworld_passes_admissible_and_scores_through():
    pytest.importorskip("scienceworld", reason="the `scienceworld` extra is not installed")
    game = external.ScienceWorldGame("find-living-thing")
    obs_text, info0 = game.reset(0)
    tok = external.word_tokenizer_for([obs_text, *info0.admissible[:50], "look around"])
    batch = external.ExternalBatch(
        [game], tok, obs_len=96, action_len=12, max_admissible=8, horizon=5
    )
    obs, info = batch.reset([0])
    assert info["num_admissible"][0] == 8 and info["score"][0] < 1
    (obs, reward, term, trunc, info), _ = external.run_commands(batch, [["look around"]])
    assert not info["invalid"][0] and "room" in tok.decode(obs[0])
    batch.close()
