"""The environment contract shared by every built-in JAX text environment, and its jit helpers.

A gymnax/Jumanji-style functional API: explicit PRNG keys, immutable `flax.struct` state and
params, a `terminated`/`truncated` split, pure and jit/vmap-able.

Contract (every environment registered with `empg_jax.envs.register` follows it)
--------------------------------------------------------------------------------
Sizes (python ints fixed when the environment object is built, so shapes are static):
  `env.obs_len` O, `env.action_len` L, `env.max_admissible` A (rows of the admissible table),
  `env.task_len` K, `env.thought_len` T.

- `env.reset(key, params) -> (state, obs_O)`; `env.reset_to_task(task_id, params)` gives the same
  episode for a given task index (`0 <= task_id < params.num_tasks`) of `params.split`.
- `env.step(key, state, action_tokens, params) -> (state, obs_O, reward, terminated, truncated,
  info)`.
  * `action_tokens` is an int32 vector of ANY static length: either the raw answer of the policy
    (`... <action> go to fridge 1 </action> <eot>`; the tokens after the first `<action>` up to the
    next `</action>`/`<eot>`/`<eos>`/`<pad>` are used) or the bare action (`go to fridge 1`, read up
    to the first stop token). `parse_action` does this inside jit. An action longer than L tokens,
    one that does not parse, or one that is not admissible leaves the world unchanged, returns the
    observation "Nothing happens." and sets `info["invalid"] = True`. Garbage ids never crash.
  * obs: int32 `[O]` word ids, left-aligned, right-padded with `<pad>` (id 0).
  * reward: float32 scalar; terminated: bool (task solved or ended by the agent); truncated: bool
    (`state.t` reached `params.horizon` without termination).
  * Once `terminated | truncated`, further steps leave the state unchanged and give reward 0 with
    the same flags (episodes are masked, not auto-reset, in the trainer's scan).
  * info (fixed keys and shapes for every environment, so rollouts can stack them):
      - `invalid`  bool `[]`   the action was not admissible (a no-op);
      - `won`      bool `[]`   the task is solved;
      - `task_type` int32 `[]` index into `env.task_types`;
      - `admissible` int32 `[A, L]` the admissible actions of the NEW state, compacted to the
        first `num_admissible` rows (all-pad rows after; for an environment without a finite list
        it holds example actions and says so in its docstring);
      - `num_admissible` int32 `[]`;
      - `score`    float32 `[]` the task score in [0, 1] (1.0 on success where no graded score);
      - `task`     int32 `[K]` the task instruction ("put a clean apple in fridge.").
- `env.info(state, params)` gives the same dict for the current state (`invalid` False), so the
  agent has the admissible list and task right after `reset`.
- `env.oracle(key, state, params) -> action_L` and `env.oracle_thought(key, state, params) ->
  thought_T` (a short reasoning text); `env.oracle_response(key, state, params, thinking=True)`
  joins them as `<think> ... </think> <action> ... </action> <eot>` (or without the think part
  when `thinking=False`), `[env.response_len]`.
- `env.default_params(split=...)`, `env.splits`, `env.task_types`, `env.render(state) -> str`,
  `env.decode(tokens) -> str`, `env.tokenizer`, and the classmethod `Env.words()` (the word list,
  callable without building the environment, used for the shared vocabulary).
- State dataclasses carry at least `t` (int32 steps taken), `terminated`, `truncated` (bool) and
  `task_type`; params are a `flax.struct` dataclass with at least `split` (a static str field),
  `horizon` and `num_tasks` (pytree leaves, may be traced).
- The split only selects tasks: `step`, `info` and the oracle never read `params.split`, so one
  compiled rollout serves every split (`empg_jax.data.demos` relies on it). Optionally an
  environment offers `reset_in_split(task_id, split_index)` with a traceable split index
  (household does), so one compiled reset serves every split too.
- `env.generated_tasks` (class attribute, default False): every task index of a split, also past
  `num_tasks`, is a valid episode generated from (split, index), so an evaluation split can be
  given more tasks than its default size (`eval.split_size`).
- Policies for any environment (played by `empg_jax.agents.rollout` with `act=`):
  `oracle_policy(env, params, thinking, noise)` and `random_policy(env)`.

An environment subclasses `Environment` and implements `_reset_task`, `_step`, `info_for_state`,
`oracle`, `oracle_thought`, `render`, `default_params` and `words`; the base class provides
action parsing, the no-op-after-done rule, truncation and the response formatting.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import chex
import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.text.word import WordTokenizer

NOTHING_HAPPENS = "Nothing happens."
INFO_KEYS = (
    "invalid",
    "won",
    "task_type",
    "admissible",
    "num_admissible",
    "score",
    "task",
)


def compact_tokens(tokens_N: jax.Array, length: int, pad_id: int = 0) -> jax.Array:
    """Moves the non-pad tokens of `tokens_N` to the front, in order, into a `[length]` vector.

    Text is assembled inside jit by concatenating fixed-size padded pieces (template segments,
    names, list items) and compacting once; tokens beyond `length` are dropped.
    """
    chex.assert_rank(tokens_N, 1)
    keep_N = tokens_N != pad_id
    pos_N = jnp.cumsum(keep_N) - 1
    pos_N = jnp.where(keep_N & (pos_N < length), pos_N, length)
    out = jnp.full((length + 1,), pad_id, tokens_N.dtype)
    return out.at[pos_N].set(tokens_N, mode="drop")[:length]


def compact_rows(table_AxL: jax.Array, valid_A: jax.Array, pad_id: int = 0):
    """Moves the valid rows of a table to the front; returns `(table_AxL, count)`."""
    chex.assert_rank([table_AxL, valid_A], [2, 1])
    num_rows = table_AxL.shape[0]
    pos_A = jnp.cumsum(valid_A) - 1
    pos_A = jnp.where(valid_A, pos_A, num_rows)
    out = jnp.full((num_rows + 1, table_AxL.shape[1]), pad_id, table_AxL.dtype)
    out = out.at[pos_A].set(table_AxL, mode="drop")[:num_rows]
    return out, jnp.sum(valid_A).astype(jnp.int32)


def parse_action(
    tokens: jax.Array, action_len: int, tokenizer: WordTokenizer
) -> tuple[jax.Array, jax.Array]:
    """Extracts the action text from a policy answer (or a bare action), inside jit.

    If `<action>` occurs, the action is the tokens after its first occurrence; otherwise the whole
    vector. It ends at the first `</action>`, `<eot>`, `<eos>` or `<pad>`.

    Returns:
      `(action_L, ok)`: the action left-aligned and padded to `action_len`, and `ok` False when
      the action is empty or longer than `action_len` (then `action_L` is all `<unk>`, which
      matches nothing).
    """
    chex.assert_rank(tokens, 1)
    tokens = tokens.astype(jnp.int32)
    n = tokens.shape[0]
    idx_N = jnp.arange(n)
    is_open_N = tokens == tokenizer.action_id
    has_open = jnp.any(is_open_N)
    start = jnp.where(has_open, jnp.argmax(is_open_N) + 1, 0)
    stop_N = (
        (tokens == tokenizer.end_action_id)
        | (tokens == tokenizer.eot_id)
        | (tokens == tokenizer.eos_id)
        | (tokens == tokenizer.pad_id)
    )
    after_N = idx_N >= start
    stop_after_N = stop_N & after_N
    end = jnp.where(jnp.any(stop_after_N), jnp.argmax(stop_after_N), n)
    length = end - start
    take_L = start + jnp.arange(action_len)
    action_L = jnp.where(
        jnp.arange(action_len) < length,
        jnp.take(tokens, take_L, mode="fill", fill_value=tokenizer.pad_id),
        tokenizer.pad_id,
    )
    ok = (length > 0) & (length <= action_len)
    action_L = jnp.where(ok, action_L, tokenizer.unk_id).astype(jnp.int32)
    return action_L, ok


def match_action(action_L: jax.Array, table_AxL: jax.Array, valid_A: jax.Array):
    """Finds `action_L` among the valid rows of an action table: returns `(row, found)`."""
    chex.assert_rank([action_L, table_AxL, valid_A], [1, 2, 1])
    hit_A = jnp.all(table_AxL == action_L[None, :], axis=-1) & valid_A
    return jnp.argmax(hit_A).astype(jnp.int32), jnp.any(hit_A)


def format_response(
    thought_T: jax.Array | None,
    action_L: jax.Array,
    tokenizer: WordTokenizer,
    length: int,
) -> jax.Array:
    """`<think> thought </think> <action> action </action> <eot>` (no think part if None)."""
    tok = tokenizer
    pieces = []
    if thought_T is not None:
        pieces += [jnp.array([tok.think_id], jnp.int32), thought_T.astype(jnp.int32)]
        pieces += [jnp.array([tok.end_think_id], jnp.int32)]
    pieces += [jnp.array([tok.action_id], jnp.int32), action_L.astype(jnp.int32)]
    pieces += [jnp.array([tok.end_action_id, tok.eot_id], jnp.int32)]
    return compact_tokens(jnp.concatenate(pieces), length, tok.pad_id)


class TextTable:
    """Host-side helper: encodes a dict of named template texts into one padded id table.

    `table.ids` is `[num_texts, width]` int32; `table[name]` is the row index, so jitted code picks
    a template with `ids[row]` (a traced row index selects among templates without branching).
    """

    def __init__(self, tokenizer: WordTokenizer, texts: dict[str, str], width: int | None = None):
        unknown = {k: tokenizer.unknown_words(v) for k, v in texts.items()}
        unknown = {k: v for k, v in unknown.items() if v}
        if unknown:
            raise ValueError(f"template words missing from the vocabulary: {unknown}")
        encoded = [tokenizer.encode(t) for t in texts.values()]
        width = width or max(1, max(len(e) for e in encoded))
        self.names = tuple(texts)
        self.index = {k: i for i, k in enumerate(self.names)}
        self.ids = tokenizer.encode_batch(list(texts.values()), width)

    def __getitem__(self, name: str) -> int:
        return self.index[name]

    def row(self, name: str) -> np.ndarray:
        return self.ids[self.index[name]]


class Environment(abc.ABC):
    """Base class of the built-in environments (see the module docstring for the contract)."""

    name: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ()
    generated_tasks: ClassVar[bool] = False
    task_types: ClassVar[tuple[str, ...]] = ()

    obs_len: int
    action_len: int
    max_admissible: int
    task_len: int
    thought_len: int

    def __init__(self, tokenizer: WordTokenizer):
        missing = [w for w in self.words() if w not in tokenizer.vocab and w.isalpha()]
        if missing:
            raise ValueError(
                f"tokenizer lacks {len(missing)} words of {type(self).__name__}, e.g. "
                f"{missing[:8]}; build it with WordTokenizer.from_word_lists([...words()])"
            )
        self.tokenizer = tokenizer

    # ----- to implement -------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def words(cls) -> tuple[str, ...]:
        """Every word the environment may emit or accept (letters only; digits and punctuation
        are always in the vocabulary)."""

    @abc.abstractmethod
    def default_params(self, split: str = "train") -> Any:
        """Params for a split (`split` must be one of `self.splits`)."""

    @abc.abstractmethod
    def _reset_task(self, task_id: jax.Array, params: Any) -> tuple[Any, jax.Array]:
        """Builds the episode of task `task_id` of `params.split`: `(state, obs_O)`."""

    @abc.abstractmethod
    def _step(self, key: jax.Array, state: Any, action_L: jax.Array, ok: jax.Array, params: Any):
        """One transition on a parsed action: `(state, obs_O, reward, terminated, invalid)`.

        `ok` is False when the action failed to parse. The base class increments `state.t`, sets
        `terminated`/`truncated` on the state, freezes finished episodes and builds `info` from the
        returned state with `info_for_state`.
        """

    @abc.abstractmethod
    def info_for_state(self, state: Any, params: Any, invalid: jax.Array) -> dict[str, jax.Array]:
        """The info dict (keys `INFO_KEYS`) of `state`."""

    @abc.abstractmethod
    def oracle(self, key: jax.Array, state: Any, params: Any) -> jax.Array:
        """The oracle's next action `[L]` (a pure function of the state)."""

    @abc.abstractmethod
    def oracle_thought(self, key: jax.Array, state: Any, params: Any) -> jax.Array:
        """The oracle's short reasoning `[T]` for its next action."""

    @abc.abstractmethod
    def render(self, state: Any) -> str:
        """Human-readable description of a (single, unbatched) state."""

    # ----- provided -------------------------------------------------------------------------
    @classmethod
    def own_tokenizer(cls) -> WordTokenizer:
        """A tokenizer over this environment's words alone (tests, single-env runs)."""
        return WordTokenizer.from_word_lists([cls.words()])

    @property
    def response_len(self) -> int:
        return self.thought_len + self.action_len + 5

    def check_params(self, params: Any) -> None:
        if params.split not in self.splits:
            raise ValueError(f"split {params.split!r} not in {self.splits} for {self.name}")

    def reset(self, key: jax.Array, params: Any) -> tuple[Any, jax.Array]:
        """Samples a task of `params.split` uniformly and returns `(state, obs_O)`."""
        self.check_params(params)
        task_id = jax.random.randint(key, (), 0, params.num_tasks)
        return self._reset_task(task_id, params)

    def reset_to_task(self, task_id: jax.Array, params: Any) -> tuple[Any, jax.Array]:
        """The episode of task index `task_id` (deterministic)."""
        self.check_params(params)
        return self._reset_task(jnp.asarray(task_id, jnp.int32), params)

    def info(self, state: Any, params: Any) -> dict[str, jax.Array]:
        return self.info_for_state(state, params, jnp.zeros((), bool))

    def parse_action(self, action_tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        return parse_action(jnp.asarray(action_tokens), self.action_len, self.tokenizer)

    def step(self, key: jax.Array, state: Any, action_tokens: jax.Array, params: Any):
        """One step (see the contract in the module docstring)."""
        self.check_params(params)
        action_L, ok = self.parse_action(action_tokens)
        new_state, obs, reward, terminated, invalid = self._step(key, state, action_L, ok, params)
        t = state.t + 1
        truncated = (t >= params.horizon) & ~terminated
        new_state = new_state.replace(t=t, terminated=terminated, truncated=truncated)
        done = state.terminated | state.truncated
        # A finished episode is frozen: the trainer masks its later rows.
        out_state = jax.tree.map(lambda a, b: jnp.where(done, a, b), state, new_state)
        reward = jnp.where(done, 0.0, reward).astype(jnp.float32)
        info = self.info_for_state(out_state, params, invalid & ~done)
        return out_state, obs, reward, out_state.terminated, out_state.truncated, info

    def oracle_response(
        self, key: jax.Array, state: Any, params: Any, thinking: bool = True
    ) -> jax.Array:
        """The oracle's full answer `[response_len]` in thinking or direct mode."""
        action_L = self.oracle(key, state, params)
        thought_T = self.oracle_thought(key, state, params) if thinking else None
        return format_response(thought_T, action_L, self.tokenizer, self.response_len)

    def decode(self, tokens: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(np.asarray(tokens), **kwargs)

    def encode(self, text: str, length: int | None = None) -> np.ndarray:
        """Text -> ids padded to `length` (default: the action length), for scripted play."""
        return self.tokenizer.encode_padded(text, length or self.action_len, truncate=True)


def random_admissible(key: jax.Array, info: dict[str, jax.Array]) -> jax.Array:
    """A uniformly random row among the `num_admissible` first rows of `info["admissible"]`."""
    n = jnp.maximum(info["num_admissible"], 1)
    return info["admissible"][jax.random.randint(key, (), 0, n)]


def oracle_policy(env: Environment, params: Any, thinking: bool = True, noise: float = 0.0):
    """`policy(key, state, obs, info) -> response` following the oracle.

    Args:
      thinking: `<think>...</think>` before the action (thinking mode) or the action alone.
      noise: probability (a float, or a traced scalar) per step of an imperfect demonstration
        step: a uniformly random admissible action, answered without reasoning (`<think>
        </think>` empty in thinking mode), so an SFT-initialised policy leaves headroom for RL.
    """
    if isinstance(noise, (int, float)) and not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")

    def policy(key, state, obs, info):
        del obs
        k_orc, k_coin, k_rand = jax.random.split(key, 3)
        good = env.oracle_response(k_orc, state, params, thinking=thinking)
        empty = jnp.full((env.thought_len,), env.tokenizer.pad_id, jnp.int32)
        bad = format_response(
            empty if thinking else None,
            random_admissible(k_rand, info),
            env.tokenizer,
            env.response_len,
        )
        return jnp.where(jax.random.uniform(k_coin) < noise, bad, good)

    return policy


def random_policy(env: Environment):
    """`policy(key, state, obs, info) -> response`: a random admissible action, direct mode."""

    def policy(key, state, obs, info):
        del state, obs
        return format_response(None, random_admissible(key, info), env.tokenizer, env.response_len)

    return policy
