"""GPT-HyperAgent's content-moderation bandit on a generated stream of short posts.

GPT-HyperAgent (Li, Xu, Luo,
https://arxiv.org/abs/2407.13195). Each post has a latent harmfulness score s in [0, 1]; action 0
holds the post back (human review) for reward 0.5, action 1 publishes it for +1 if s <= 0.5 and
-0.5 otherwise. Regret = best reward - chosen reward.

The stream is generated locally [reconstructed; the paper uses a hate-speech data set]: s ~ U(0, 1)
and every word of a post is, independently, a harmful word with probability `cue * s`, a friendly
word with probability `cue * (1 - s)` and a neutral word otherwise. Word counts are thus a noisy
signal of s, so even a perfect model faces ambiguous posts near s = 0.5.

Features: the empg_jax transformer (`empg_jax.models.Transformer`, a tiny randomly initialised
Qwen2-style decoder; nothing is downloaded) reads the word-tokenised post
(`empg_jax.text.word.WordTokenizer`), and the mean of its final hidden states over the post's tokens
is the context. Unlike the paper, the transformer stays frozen and a trainable MLP under the
hypermodel head adapts to the task; the hypermodel head is the same for HyperAgent, ensemble,
greedy and epsilon-greedy (`hyperagent.run_contextual_agent`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from empg_jax.exploration import hyperagent as ha

HOLD, PUBLISH = 0, 1
HOLD_REWARD = 0.5
NEUTRAL_WORDS = (
    "the", "today", "game", "weather", "coffee", "team", "music", "city", "news", "photo",
    "weekend", "movie", "food", "trip", "street", "school", "park", "book", "train", "market",
)  # fmt: skip
FRIENDLY_WORDS = (
    "love", "thanks", "happy", "welcome", "congrats", "kind", "support", "enjoy", "great",
    "beautiful", "friends", "proud",
)  # fmt: skip
HARMFUL_WORDS = (
    "scam", "threat", "insult", "hate", "abuse", "spam", "attack", "fraud", "harass", "liar",
    "idiot", "fake",
)  # fmt: skip


def generate_posts(
    rng: np.random.Generator, num_posts: int, length: tuple[int, int] = (6, 12), cue: float = 0.7
) -> tuple[list[str], np.ndarray]:
    """Generates `num_posts` posts and their latent harmfulness scores (host-side, NumPy).

    Args:
      rng: NumPy generator (explicit seed for reproducibility).
      num_posts: N.
      length: inclusive range of words per post.
      cue: P(harmful word) = cue * s and P(friendly word) = cue * (1 - s); must be in (0, 1].

    Returns:
      (texts, scores `[N]` in [0, 1]).
    """
    if num_posts < 1:
        raise ValueError(f"num_posts must be >= 1, got {num_posts}")
    if not 0 < cue <= 1:
        raise ValueError(f"cue must be in (0, 1], got {cue}")
    lo, hi = length
    if not 1 <= lo <= hi:
        raise ValueError(f"length must be 1 <= lo <= hi, got {length}")
    scores = rng.uniform(0.0, 1.0, num_posts)
    pools = (NEUTRAL_WORDS, FRIENDLY_WORDS, HARMFUL_WORDS)
    texts = []
    for s in scores:
        n = int(rng.integers(lo, hi + 1))
        kinds = rng.choice(3, size=n, p=(1 - cue, cue * (1 - s), cue * s))
        texts.append(" ".join(pools[k][rng.integers(len(pools[k]))] for k in kinds))
    return texts, scores


def moderation_rewards(scores_N: jax.Array) -> jax.Array:
    """Rewards of (hold, publish) per post: 0.5, and +1 if s <= 0.5 else -0.5: `[N, 2]`."""
    publish = jnp.where(scores_N <= 0.5, 1.0, -0.5)
    return jnp.stack([jnp.full_like(publish, HOLD_REWARD), publish], axis=-1)


def make_tokenizer():
    """Word-level tokenizer over the generator's words (specials, punctuation, digits, words)."""
    from empg_jax.text.word import WordTokenizer

    return WordTokenizer.from_word_lists([NEUTRAL_WORDS, FRIENDLY_WORDS, HARMFUL_WORDS])


def make_feature_model(vocab_size: int, seed: int, hidden_size: int = 64, num_layers: int = 2):
    """A tiny randomly initialised empg_jax transformer used as a frozen feature extractor."""
    from empg_jax.models import Transformer, tiny_config

    cfg = tiny_config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_layers=num_layers,
        intermediate_size=4 * hidden_size,
        max_position_embeddings=64,
    )
    return Transformer(cfg, rngs=nnx.Rngs(seed))


@nnx.jit
def _pooled_hidden(model, tokens_BxL: jax.Array, pad_id: int) -> jax.Array:
    hidden_BxLxD = model.hidden_states(tokens_BxL).astype(jnp.float32)
    mask_BxL = (tokens_BxL != pad_id).astype(jnp.float32)
    return jnp.einsum("bld,bl->bd", hidden_BxLxD, mask_BxL) / jnp.maximum(
        mask_BxL.sum(-1, keepdims=True), 1.0
    )


def transformer_features(
    model, tokens_NxL: np.ndarray, pad_id: int, batch: int = 256
) -> np.ndarray:
    """Mean of the final hidden states over each post's non-pad tokens: `[N, D]`."""
    if tokens_NxL.ndim != 2:
        raise ValueError(f"tokens must be [N, L], got shape {tokens_NxL.shape}")
    out = []
    for i in range(0, tokens_NxL.shape[0], batch):
        chunk = tokens_NxL[i : i + batch]
        pad = batch - chunk.shape[0]
        # Fixed chunk shape: one compiled program for the whole stream.
        padded = np.pad(chunk, ((0, pad), (0, 0)), constant_values=pad_id)
        out.append(np.asarray(_pooled_hidden(model, jnp.asarray(padded), pad_id))[: chunk.shape[0]])
    return np.concatenate(out, axis=0)


def make_stream(
    seed: int,
    num_posts: int,
    max_len: int = 12,
    cue: float = 0.7,
    hidden_size: int = 64,
    num_layers: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One seed's stream: (features `[N, D + 1]`, rewards `[N, 2]`, scores `[N]`).

    The posts, the transformer's initialisation and hence the features all depend on `seed`.
    """
    rng = np.random.default_rng(seed)
    texts, scores = generate_posts(rng, num_posts, (max(1, max_len // 2), max_len), cue)
    tok = make_tokenizer()
    tokens = tok.encode_batch(texts, max_len)
    model = make_feature_model(len(tok), seed, hidden_size, num_layers)
    feats = transformer_features(model, tokens, tok.pad_id)
    # A constant feature gives the linear hypermodel head a per-action intercept.
    feats = np.concatenate([feats, np.ones((num_posts, 1), feats.dtype)], axis=1)
    return feats, np.asarray(moderation_rewards(jnp.asarray(scores))), scores


@functools.partial(jax.jit, static_argnames=("config",), compiler_options=ha.FAST_COMPILE)
def run_agent_seeds(
    keys_S: jax.Array,
    contexts_SxTxD: jax.Array,
    rewards_SxTxA: jax.Array,
    config: ha.NeuralAgentConfig,
    epsilon: float = 0.1,
) -> jax.Array:
    """`hyperagent.run_contextual_agent` vmapped over seeds: per-step regret `[S, T]`."""
    return jax.vmap(ha.run_contextual_agent, in_axes=(0, 0, 0, None, None))(
        keys_S, contexts_SxTxD, rewards_SxTxA, config, epsilon
    )


def agent_config(agent: str, config) -> ha.NeuralAgentConfig:
    """`hyperagent.contextual_agent_config` with the experiment's overrides (a ConfigDict)."""
    base = ha.contextual_agent_config(
        agent, batch_size=config.batch_size, learning_rate=config.learning_rate
    )
    hyper = base.hypermodel._replace(
        hidden=tuple(config.hidden),
        num_index=config.num_index,
        noise_std=config.noise_std,
        posterior_scale=config.posterior_scale,
        prior_scale=config.prior_scale if agent in ("hyperagent", "ensemble") else 0.0,
    )
    return base._replace(hypermodel=hyper)
