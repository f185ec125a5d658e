"""The verl-agent step prompt, rendered as word tokens inside `jit` with a fixed length P.

EMPG (Wang et al., "Harnessing Uncertainty: Entropy-Modulated Policy Gradients for Long-Horizon LLM
Agents", https://arxiv.org/abs/2509.09265) trains in verl-agent's step format (the paper's
training setup): every step is a fresh single-turn prompt holding, in order,

1. the task description;
2. "prior to this step, you have already taken N step(s)";
3. the last h observations and the actions taken after them (history_length h = 2);
4. the current observation;
5. the admissible actions;
6. the instruction: reason inside `<think> </think>`, then answer inside `<action> </action>`
   (thinking mode), or answer inside `<action> </action>` directly (direct mode; GLM-4.5's hybrid
   modes, chosen per config).

The wording is ours and shorter than verl-agent's (a word-level vocabulary; same sections in the
same order) [reconstructed]. Each section has a token budget (observations and the admissible list
are cut to it); the sections are joined, compacted (`envs.core.compact_tokens`) and shifted right,
so the prompt is LEFT-padded with `<pad>` (id 0) and ends right before the answer. A training
forward over `prompt ++ answer` then predicts answer token j from position P - 1 + j, with RoPE
positions counting real tokens only, exactly as the sampler (`models.sample`) places them.

`PromptBuilder.render` is the jitted renderer (one episode; vmap it), `PromptBuilder.render_text`
the plain-Python text of the same prompt (tests compare `tokenizer.encode(render_text(...))` with
the jitted tokens; it is also how to show a prompt to a person).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

from empg_jax.envs.core import compact_tokens
from empg_jax.text.word import WordTokenizer, split_words

MODES = ("direct", "thinking")

# Fixed texts of the prompt. Every word here joins the vocabulary (`prompt_words`).
TEXTS = {
    "head": "you are an expert agent. your task is to:",
    "taken_0": "\nprior to this step, you have already taken",
    "taken_1": "step(s). below are the most recent observations and the actions you took:",
    "hist_obs": "\n[observation:",
    "hist_act": "action:",
    "hist_end": "]",
    "current": "\nyou are now at step",
    "current_1": "and your current observation is:",
    "admissible": "\nyour admissible actions of the current situation are: [",
    "adm_sep": ",",
    "adm_end": "].",
    "direct": "\nnow it's your turn to take an action. choose an admissible action and present "
    "it within <action> </action> tags.",
    "thinking": "\nnow it's your turn to take an action. you should first reason step-by-step "
    "about the current situation within <think> </think> tags, then choose an admissible action "
    "and present it within <action> </action> tags.",
}


def prompt_words() -> tuple[str, ...]:
    """The letter words of the prompt templates (add them to the vocabulary)."""
    words = {w for t in TEXTS.values() for w in split_words(t) if w.isalpha()}
    return tuple(sorted(words))


def agent_tokenizer(env_words: Sequence[Sequence[str]]) -> WordTokenizer:
    """One word vocabulary over environments' word lists plus the prompt words."""
    return WordTokenizer.from_word_lists([*env_words, prompt_words()])


@dataclasses.dataclass(frozen=True)
class PromptSizes:
    """Token budgets of the prompt sections (static ints).

    Attributes:
      history: h, the number of past (observation, action) pairs shown (verl-agent: 2).
      obs_tokens: budget of the current observation (longer ones are cut).
      history_obs_tokens: budget of each past observation.
      admissible_rows: at most this many admissible actions are listed.
      admissible_tokens: budget of the whole admissible list (cut at the end).
      prompt_len: P, the fixed prompt length; validated against the sum of the budgets.
    """

    history: int = 2
    obs_tokens: int = 64
    history_obs_tokens: int = 24
    admissible_rows: int = 32
    admissible_tokens: int = 160
    prompt_len: int = 416


class PromptBuilder:
    """Renders the step prompt of one episode inside jit (see the module docstring).

    Args:
      tokenizer: the word tokenizer; must hold `prompt_words()`.
      task_len, obs_len, action_len: the environment's sizes K, O, L.
      sizes: section budgets and P.
      mode: "direct" or "thinking" (which instruction is shown).
    """

    def __init__(
        self,
        tokenizer: WordTokenizer,
        task_len: int,
        obs_len: int,
        action_len: int,
        sizes: PromptSizes = PromptSizes(),
        mode: str = "direct",
    ):
        if mode not in MODES:
            raise ValueError(f"agent mode must be one of {MODES}, got {mode!r}")
        missing = [w for w in prompt_words() if w not in tokenizer.vocab]
        if missing:
            raise ValueError(
                f"tokenizer lacks the prompt words {missing[:8]}; build it with "
                "agents.agent_tokenizer([...env words...])"
            )
        self.tokenizer = tokenizer
        self.task_len, self.obs_len, self.action_len = task_len, obs_len, action_len
        self.sizes = sizes
        self.mode = mode
        self._ids = {k: np.asarray(tokenizer.encode(v), np.int32) for k, v in TEXTS.items()}
        need = self.max_tokens()
        if need > sizes.prompt_len:
            raise ValueError(
                f"prompt needs up to {need} tokens (task {task_len}, obs {sizes.obs_tokens}, "
                f"{sizes.history} x history obs {sizes.history_obs_tokens} + action "
                f"{action_len}, admissible {sizes.admissible_tokens}) > prompt_len "
                f"{sizes.prompt_len}; raise agent.prompt_len or lower the budgets"
            )

    # ----- sizes ---------------------------------------------------------------------------
    def max_tokens(self) -> int:
        """The longest prompt the budgets allow (<= P is checked at construction)."""
        s, ids = self.sizes, self._ids
        fixed = len(ids["head"]) + len(ids["taken_0"]) + len(ids["taken_1"]) + 2
        fixed += len(ids["current"]) + 2 + len(ids["current_1"]) + len(ids["admissible"])
        fixed += len(ids["adm_end"]) + len(ids[self.mode])
        hist = s.history * (
            len(ids["hist_obs"]) + s.history_obs_tokens + len(ids["hist_act"]) + self.action_len
        )
        hist += s.history * len(ids["hist_end"])
        return fixed + self.task_len + hist + s.obs_tokens + s.admissible_tokens

    @property
    def prompt_len(self) -> int:
        return self.sizes.prompt_len

    # ----- jitted rendering ----------------------------------------------------------------
    def _const(self, name: str) -> jax.Array:
        return jnp.asarray(self._ids[name])

    def _number(self, n: jax.Array) -> jax.Array:
        """Digits of 0 <= n < 1000 without leading zeros, `[3]` padded."""
        digits = jnp.asarray(self.tokenizer.digit_ids)
        n = jnp.clip(n, 0, 999)
        d = jnp.stack([n // 100, (n // 10) % 10, n % 10])
        show = jnp.array([True, True, True]) & (jnp.array([100, 10, 1]) <= jnp.maximum(n, 1))
        return jnp.where(show, digits[d], self.tokenizer.pad_id).astype(jnp.int32)

    def _admissible_list(self, admissible_AxL: jax.Array, num_admissible: jax.Array) -> jax.Array:
        s = self.sizes
        rows = min(s.admissible_rows, admissible_AxL.shape[0])
        table = admissible_AxL[:rows].astype(jnp.int32)
        shown = jnp.arange(rows) < num_admissible
        last = jnp.arange(rows) == jnp.minimum(num_admissible, rows) - 1
        sep = jnp.where(shown & ~last, self._ids["adm_sep"][0], self.tokenizer.pad_id)
        table = jnp.where(shown[:, None], table, self.tokenizer.pad_id)
        flat = jnp.concatenate([table, sep[:, None].astype(jnp.int32)], axis=1).reshape(-1)
        return compact_tokens(flat, s.admissible_tokens, self.tokenizer.pad_id)

    def render(
        self,
        task_K: jax.Array,
        num_steps: jax.Array,
        hist_obs_HxO: jax.Array,
        hist_act_HxL: jax.Array,
        hist_valid_H: jax.Array,
        obs_O: jax.Array,
        admissible_AxL: jax.Array,
        num_admissible: jax.Array,
    ) -> tuple[jax.Array, jax.Array]:
        """The left-padded prompt `[P]` int32 and its mask `[P]` bool for one episode step.

        Args:
          task_K: the task text.
          num_steps: N, steps already taken (int32 scalar).
          hist_obs_HxO, hist_act_HxL: the last h observations (oldest first) and the actions
            taken after them; rows where `hist_valid_H` is False are left out.
          obs_O: the current observation.
          admissible_AxL, num_admissible: the admissible actions (first `num_admissible` rows).
        """
        s, pad = self.sizes, self.tokenizer.pad_id
        h = s.history
        chex.assert_rank([task_K, obs_O, admissible_AxL], [1, 1, 2])
        if h:
            chex.assert_shape(
                [hist_obs_HxO, hist_act_HxL, hist_valid_H], [(h, None), (h, None), (h,)]
            )
        c = self._const
        pieces = [c("head"), task_K.astype(jnp.int32), c("taken_0"), self._number(num_steps)]
        pieces.append(c("taken_1"))
        for i in range(h):
            keep = hist_valid_H[i]
            hist = jnp.concatenate(
                [
                    c("hist_obs"),
                    hist_obs_HxO[i, : s.history_obs_tokens].astype(jnp.int32),
                    c("hist_act"),
                    hist_act_HxL[i].astype(jnp.int32),
                    c("hist_end"),
                ]
            )
            pieces.append(jnp.where(keep, hist, pad))
        pieces += [c("current"), self._number(num_steps + 1), c("current_1")]
        pieces += [obs_O[: s.obs_tokens].astype(jnp.int32), c("admissible")]
        pieces += [self._admissible_list(admissible_AxL, num_admissible), c("adm_end")]
        pieces.append(c(self.mode))
        compact = compact_tokens(jnp.concatenate(pieces), s.prompt_len, pad)
        n = jnp.sum(compact != pad)
        prompt = jnp.roll(compact, s.prompt_len - n)
        mask = jnp.arange(s.prompt_len) >= s.prompt_len - n
        return jnp.where(mask, prompt, pad), mask

    # ----- plain-text counterpart ----------------------------------------------------------
    def render_text(
        self,
        task: str,
        num_steps: int,
        history: Sequence[tuple[str, str]],
        obs: str,
        admissible: Sequence[str],
    ) -> str:
        """The same prompt as text (inputs already cut to their budgets by the caller)."""
        t = TEXTS
        parts = [t["head"], task, t["taken_0"], str(num_steps), t["taken_1"]]
        for o, a in history[-self.sizes.history :] if self.sizes.history else []:
            parts += [t["hist_obs"], o, t["hist_act"], a, t["hist_end"]]
        parts += [t["current"], str(num_steps + 1), t["current_1"], obs, t["admissible"]]
        parts += [" , ".join(admissible[: self.sizes.admissible_rows]), t["adm_end"]]
        parts.append(t[self.mode])
        return " ".join(parts)


def answer_format_ok(
    answer_L: jax.Array, mask_L: jax.Array, tokenizer: WordTokenizer, thinking: bool
) -> jax.Array:
    """True when an answer follows the step format (invalid answers take the format penalty).

    Direct mode: `<action>` then a later `</action>`. Thinking mode: additionally starts with
    `<think>` and has `</think>` before `<action>`. Tokens outside `mask_L` are ignored.
    """
    chex.assert_rank([answer_L, mask_L], 1)
    n = answer_L.shape[0]
    idx = jnp.arange(n)
    mask_L = mask_L.astype(bool)

    def first(tok):
        hit = (answer_L == tok) & mask_L
        return jnp.where(jnp.any(hit), jnp.argmax(hit), n)

    open_a, close_a = first(tokenizer.action_id), first(tokenizer.end_action_id)
    ok = (open_a < n) & (close_a < n) & (close_a > open_a)
    # The action must be the first `</action>` after `<action>`; a second `<action>` is invalid.
    second_open = jnp.any((answer_L == tokenizer.action_id) & mask_L & (idx > open_a))
    ok = ok & ~second_open
    if thinking:
        open_t, close_t = first(tokenizer.think_id), first(tokenizer.end_think_id)
        ok = ok & (open_t == 0) & (close_t < open_a) & (close_t > open_t)
    return ok
