"""Host-side adapter: real external text games behind the token contract of the JAX environments.

TextWorld 1.7.0, TextWorldExpress 1.1.0 and ScienceWorld 1.2.3 are Python / Java processes that
cannot run inside `jit`. `ExternalBatch` steps B episodes of one of them in a thread pool and
speaks the same observation / action token contract as `empg_jax.envs.core`:

- `reset(seeds) -> (obs_BxO, info)` and `step(responses_BxN) -> (obs_BxO, reward_B, terminated_B,
  truncated_B, info)`, all NumPy arrays; `info` has the keys of `core.INFO_KEYS` (`invalid`,
  `won`, `task_type`, `admissible [B, A, L]`, `num_admissible`, `score`, `task [B, K]`).
- A response is token ids from the policy; it is decoded with the policy's tokenizer and the text
  between `<action>` and `</action>` (or the whole text when there is no tag) is the command. A
  command outside the game's admissible list is a no-op: it is not sent, the observation is
  "Nothing happens." and `invalid` is set (where the game publishes no list, every command goes
  through). Once an episode is done, further steps are frozen no-ops.
- Rewards are the games' own (score increments); `score` is the game score normalised to [0, 1]
  by its maximum and `won` the game's success flag. Text is tokenized with any tokenizer that has
  `encode(text) -> ids` and `decode(ids) -> text` (`TextTokenizer`): the word-level
  `WordTokenizer` built over the games' words (`word_tokenizer_for`), or a BPE tokenizer trained on
  game text with `tokenizers` (`train_bpe`).

The three games are optional extras (`pip install -e .[envs]`); importing this module does not
import them. Each backend (`TextWorldGame`, `TextWorldExpressGame`, `ScienceWorldGame`) is one
episode stream with `reset(seed) -> (obs, GameInfo)` and `step(command) -> (obs, reward, done,
GameInfo)`.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from empg_jax.envs.core import INFO_KEYS, NOTHING_HAPPENS
from empg_jax.text.word import SPECIAL_TOKENS, WordTokenizer, split_words

_ACTION_RE = re.compile(r"<action>(.*?)(?:</action>|<eot>|<eos>|$)", re.S)


class TextTokenizer(Protocol):
    pad_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Any) -> str: ...


@dataclasses.dataclass
class GameInfo:
    """What a backend reports after reset/step."""

    admissible: list[str] | None  # None: the game publishes no finite list
    score: float  # normalised to [0, 1]
    won: bool
    task: str


class TextGame(Protocol):
    def reset(self, seed: int) -> tuple[str, GameInfo]: ...

    def step(self, command: str) -> tuple[str, float, bool, GameInfo]: ...

    def close(self) -> None: ...


# ----- tokenizers ---------------------------------------------------------------------------------
def word_tokenizer_for(texts: Iterable[str]) -> WordTokenizer:
    """A word-level tokenizer over the words of some game text (plus the standard specials)."""
    words = {w for t in texts for w in split_words(t) if w.isalpha()}
    words |= set(split_words(NOTHING_HAPPENS))
    return WordTokenizer.from_word_lists([sorted(words)])


class BPETokenizer:
    """A `tokenizers.Tokenizer` as a `TextTokenizer` (special tokens kept on decode)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.token_to_id("<pad>")
        if self.pad_id is None:
            raise ValueError("the BPE tokenizer needs a '<pad>' token")

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def decode(self, ids: Any) -> str:
        ids = [int(i) for i in np.asarray(ids).reshape(-1) if int(i) != self.pad_id]
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()


def train_bpe(texts: Iterable[str], vocab_size: int = 2000) -> BPETokenizer:
    """Trains a byte-level BPE tokenizer on game text, with the word tokenizer's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 300:
        raise ValueError(f"vocab_size must be >= 300 (bytes + specials), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(texts), trainer)
    return BPETokenizer(tok)


def extract_command(text: str) -> str:
    """The command inside `<action>...</action>` (or the whole text), whitespace-normalised."""
    match = _ACTION_RE.search(text)
    body = match.group(1) if match else text
    for special in SPECIAL_TOKENS:
        body = body.replace(special, " ")
    return " ".join(body.split())


def _normalise(command: str) -> str:
    """Comparison key: the word tokenizer's pieces, so "go to x" matches "Go to X" and "x ,y"."""
    return " ".join(split_words(command))


# ----- backends -----------------------------------------------------------------------------------
class TextWorldGame:
    """One TextWorld `.z8`/`.ulx` game (`textworld.start`), admissible commands requested."""

    def __init__(self, path: str, admissible: bool = True):
        import textworld

        self.path = path
        infos = textworld.EnvInfos(
            admissible_commands=admissible,
            objective=True,
            won=True,
            max_score=True,
            score=True,
            policy_commands=True,
        )
        self.env = textworld.start(path, infos)
        self.max_score = 1.0

    def _info(self, state) -> GameInfo:
        self.max_score = float(state.get("max_score") or 1.0)
        admissible = state.get("admissible_commands")
        if admissible is not None:
            admissible = [c for c in admissible if c not in ("help",)]
        return GameInfo(
            admissible=admissible,
            score=float(state.get("score") or 0.0) / max(self.max_score, 1e-9),
            won=bool(state.get("won")),
            task=state.get("objective") or "",
        )

    def reset(self, seed: int) -> tuple[str, GameInfo]:
        del seed  # a compiled TextWorld game is deterministic
        state = self.env.reset()
        self._last = float(state.get("score") or 0.0)
        self._walkthrough = list(state.get("policy_commands") or [])
        return state.feedback, self._info(state)

    def walkthrough(self) -> list[str]:
        """The winning command list from the start of the game (recorded at reset)."""
        return list(self._walkthrough)

    def step(self, command: str) -> tuple[str, float, bool, GameInfo]:
        state, score, done = self.env.step(command)
        reward, self._last = float(score) - self._last, float(score)
        return state.feedback, reward, bool(done), self._info(state)

    def close(self) -> None:
        self.env.close()


class TextWorldExpressGame:
    """One TextWorldExpress game stream (`gameName`, `gameParams`, fold), gold path available."""

    def __init__(
        self, game: str = "coin", params: str = "", fold: str = "train", step_limit: int = 100
    ):
        from textworld_express import TextWorldExpressEnv

        self.env = TextWorldExpressEnv(envStepLimit=step_limit)
        self.game, self.params, self.fold = game, params, fold

    def _info(self, info: dict) -> GameInfo:
        return GameInfo(
            admissible=list(info.get("validActions") or []),
            score=float(info.get("score", 0.0)),
            won=bool(info.get("tasksuccess", False)),
            task=info.get("taskDescription", ""),
        )

    def reset(self, seed: int) -> tuple[str, GameInfo]:
        obs, info = self.env.reset(
            seed=int(seed),
            gameFold=self.fold,
            gameName=self.game,
            gameParams=self.params,
            generateGoldPath=True,
        )
        return obs, self._info(info)

    def walkthrough(self) -> list[str]:
        return list(self.env.getGoldActionSequence())

    def step(self, command: str) -> tuple[str, float, bool, GameInfo]:
        obs, reward, done, info = self.env.step(command)
        return obs, float(reward), bool(done), self._info(info)

    def close(self) -> None:
        self.env.close()


class ScienceWorldGame:
    """One ScienceWorld task (`task`, variation = the reset seed modulo the fold's variations)."""

    def __init__(
        self,
        task: str = "find-living-thing",
        fold: str = "train",
        step_limit: int = 100,
        simplification: str = "easy",
    ):
        from scienceworld import ScienceWorldEnv

        self.env = ScienceWorldEnv("", envStepLimit=step_limit)
        self.task, self.fold, self.simplification = task, fold, simplification
        self.env.load(task, 0, simplification, generateGoldPath=True)
        self.loaded = 0
        getter = {
            "train": self.env.get_variations_train,
            "dev": self.env.get_variations_dev,
            "test": self.env.get_variations_test,
        }
        if fold not in getter:
            raise ValueError(f"fold must be train, dev or test, got {fold!r}")
        self.variations = list(getter[fold]())

    def _info(self, info: dict) -> GameInfo:
        return GameInfo(
            admissible=list(info.get("valid") or []),
            score=max(float(info.get("score", 0)), 0.0) / 100.0,
            won=float(info.get("score", 0)) >= 100,
            task=info.get("taskDesc", ""),
        )

    def reset(self, seed: int) -> tuple[str, GameInfo]:
        variation = self.variations[int(seed) % len(self.variations)]
        if variation != self.loaded:  # loading a task costs seconds; reuse the loaded one
            self.env.load(self.task, variation, self.simplification, generateGoldPath=True)
            self.loaded = variation
        obs, info = self.env.reset()
        return obs, self._info(info)

    def walkthrough(self) -> list[str]:
        return list(self.env.get_gold_action_sequence())

    def step(self, command: str) -> tuple[str, float, bool, GameInfo]:
        obs, reward, done, info = self.env.step(command)
        return obs, float(reward) / 100.0, bool(done), self._info(info)

    def close(self) -> None:
        self.env.close()


def make_textworld_games(
    directory: str,
    seeds: Sequence[int],
    world_size: int = 2,
    nb_objects: int = 3,
    quest_length: int = 2,
) -> list[str]:
    """Generates and compiles TextWorld games offline (the Python API behind `tw-make custom`)."""
    import textworld
    from textworld.generator import compile_game, make_game

    os.makedirs(directory, exist_ok=True)
    paths = []
    for seed in seeds:
        options = textworld.GameOptions()
        options.nb_rooms, options.nb_objects, options.quest_length = (
            world_size,
            nb_objects,
            quest_length,
        )
        options.seeds = int(seed)
        options.path = os.path.join(directory, f"tw_custom_{seed}.z8")
        options.file_ext = ".z8"
        paths.append(compile_game(make_game(options), options))
    return paths


# ----- the batched adapter ------------------------------------------------------------------------
class ExternalBatch:
    """B external episodes stepped in a thread pool, with token observations and actions.

    Args:
      games: one backend per episode slot (`TextWorldGame`, ...), B = len(games).
      tokenizer: the policy's tokenizer (`TextTokenizer`).
      obs_len, action_len, max_admissible, task_len: the padded sizes O, L, A, K of the contract
        (longer texts are cut: observations keep their first O tokens).
      horizon: steps before truncation.
      num_threads: worker threads (default min(B, 8)).
    """

    def __init__(
        self,
        games: Sequence[TextGame],
        tokenizer: TextTokenizer,
        obs_len: int = 256,
        action_len: int = 16,
        max_admissible: int = 64,
        task_len: int = 64,
        horizon: int = 50,
        num_threads: int | None = None,
    ):
        if not games:
            raise ValueError("ExternalBatch needs at least one game")
        for name, value in (
            ("obs_len", obs_len),
            ("action_len", action_len),
            ("max_admissible", max_admissible),
            ("task_len", task_len),
            ("horizon", horizon),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        self.games = list(games)
        self.tokenizer = tokenizer
        self.obs_len, self.action_len = obs_len, action_len
        self.max_admissible, self.task_len, self.horizon = max_admissible, task_len, horizon
        self.pool = concurrent.futures.ThreadPoolExecutor(num_threads or min(len(games), 8))
        b = len(games)
        self.t = np.zeros(b, np.int32)
        self.done = np.ones(b, bool)
        self.truncated = np.zeros(b, bool)
        self.infos: list[GameInfo | None] = [None] * b
        self.last_obs = [""] * b
        self.commands: list[str] = [""] * b

    @property
    def batch_size(self) -> int:
        return len(self.games)

    def _pad(self, text: str, length: int) -> np.ndarray:
        ids = list(self.tokenizer.encode(text))[:length]
        out = np.full((length,), self.tokenizer.pad_id, np.int32)
        out[: len(ids)] = ids
        return out

    def _decode(self, ids) -> str:
        """Response ids -> text; ids outside the vocabulary are dropped (garbage never crashes)."""
        ids = np.asarray(ids).reshape(-1).astype(np.int64)
        size = getattr(self.tokenizer, "vocab_size", None)
        if size is not None:
            ids = ids[(ids >= 0) & (ids < size)]
        try:
            return self.tokenizer.decode(ids)
        except (ValueError, IndexError, OverflowError, TypeError):
            return ""

    def _info_arrays(self, invalid: np.ndarray) -> dict[str, np.ndarray]:
        b, a = self.batch_size, self.max_admissible
        adm = np.full((b, a, self.action_len), self.tokenizer.pad_id, np.int32)
        num = np.zeros(b, np.int32)
        for i, info in enumerate(self.infos):
            rows = (info.admissible or [])[:a] if info is not None else []
            num[i] = len(rows)
            for j, cmd in enumerate(rows):
                adm[i, j] = self._pad(cmd, self.action_len)
        return {
            "invalid": invalid.copy(),
            "won": np.array([bool(x and x.won) for x in self.infos]),
            "task_type": np.zeros(b, np.int32),
            "admissible": adm,
            "num_admissible": num,
            "score": np.array([x.score if x else 0.0 for x in self.infos], np.float32),
            "task": np.stack([self._pad(x.task if x else "", self.task_len) for x in self.infos]),
        }

    def reset(self, seeds: Sequence[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Starts one episode per slot (`seeds[i]` for slot i)."""
        if len(seeds) != self.batch_size:
            raise ValueError(f"need {self.batch_size} seeds, got {len(seeds)}")
        results = list(
            self.pool.map(lambda gs: gs[0].reset(gs[1]), zip(self.games, seeds, strict=True))
        )
        self.t[:] = 0
        self.done[:] = False
        self.truncated[:] = False
        self.last_obs = [obs for obs, _ in results]
        self.infos = [info for _, info in results]
        obs = np.stack([self._pad(o, self.obs_len) for o in self.last_obs])
        info = self._info_arrays(np.zeros(self.batch_size, bool))
        assert set(info) == set(INFO_KEYS)
        return obs, info

    def _one(self, i: int, command: str):
        """Steps slot i: `(valid, obs, reward, done, info)`; invalid commands are not sent."""
        info = self.infos[i]
        admissible = info.admissible if info is not None else None
        if admissible is not None:
            # Send the game's own spelling of the matched admissible command.
            match = {_normalise(c): c for c in admissible}.get(_normalise(command))
            if match is None:
                return False, NOTHING_HAPPENS, 0.0, False, info
            command = match
        if not command:
            return False, NOTHING_HAPPENS, 0.0, False, info
        obs, reward, done, new_info = self.games[i].step(command)
        return True, obs, reward, bool(done), new_info

    def step(self, responses: np.ndarray):
        """One step of every live episode; `responses` is `[B, N]` token ids (or B strings)."""
        if len(responses) != self.batch_size:
            raise ValueError(f"need {self.batch_size} responses, got {len(responses)}")
        commands = [r if isinstance(r, str) else self._decode(r) for r in responses]
        commands = [extract_command(c) for c in commands]
        self.commands = commands
        was_done = self.done.copy()
        live = np.flatnonzero(~was_done)
        results = dict(
            zip(live, self.pool.map(self._one, live, [commands[i] for i in live]), strict=True)
        )
        b = self.batch_size
        obs_text, reward = list(self.last_obs), np.zeros(b, np.float32)
        invalid = np.zeros(b, bool)
        for i, (valid, text, r, done, info) in results.items():
            obs_text[i], reward[i], invalid[i] = text, r, not valid
            self.infos[i] = info
            self.done[i] = done
            self.t[i] += 1
            self.last_obs[i] = text
        newly = ~was_done
        self.truncated |= newly & ~self.done & (self.t >= self.horizon)
        terminated = self.done & ~self.truncated
        self.done |= self.truncated
        obs = np.stack([self._pad(o, self.obs_len) for o in obs_text])
        return obs, reward, terminated.copy(), self.truncated.copy(), self._info_arrays(invalid)

    def parse_action(self, response) -> tuple[np.ndarray, bool]:
        """The command of one response as action tokens `[action_len]` and whether it is usable
        (non-empty and not cut): the history entry of `agents.host_rollout`."""
        ids = list(self.tokenizer.encode(extract_command(self._decode(response))))
        out = np.full((self.action_len,), self.tokenizer.pad_id, np.int32)
        out[: min(len(ids), self.action_len)] = ids[: self.action_len]
        return out, 0 < len(ids) <= self.action_len

    def walkthroughs(self) -> list[list[str]]:
        """Each slot's gold command sequence where the backend has one (call right after reset)."""
        return [list(g.walkthrough()) if hasattr(g, "walkthrough") else [] for g in self.games]

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for g in self.games:
            g.close()


def run_commands(
    batch: ExternalBatch,
    plans: Sequence[Sequence[str]],
    wrap: Callable[[str], str] = lambda c: f"<action>{c}</action>",
):
    """Plays fixed command lists through the token path (encode, decode, parse); returns the last
    step's outputs and the summed rewards. Slots whose plan ran out send an empty action."""
    total = np.zeros(batch.batch_size, np.float32)
    out = None
    for t in range(max(len(p) for p in plans)):
        texts = [wrap(p[t]) if t < len(p) else "" for p in plans]
        width = max(len(batch.tokenizer.encode(x)) for x in texts) or 1
        ids = np.full((batch.batch_size, width), batch.tokenizer.pad_id, np.int32)
        for i, x in enumerate(texts):
            enc = batch.tokenizer.encode(x)
            ids[i, : len(enc)] = enc
        out = batch.step(ids)
        total += out[1]
    return out, total
