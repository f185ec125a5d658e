"""Tests for the GPT-HyperAgent content-moderation bandit."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from empg_jax.exploration import bandits
from empg_jax.exploration import hyperagent as ha
from empg_jax.exploration import text_bandit as tb
from empg_jax.testing import run_variants


def test_generate_posts_signal_and_vocabulary():
    texts, scores = tb.generate_posts(np.random.default_rng(0), 400)
    assert len(texts) == 400 and scores.min() >= 0 and scores.max() <= 1
    tok = tb.make_tokenizer()
    assert all(not tok.unknown_words(t) for t in texts[:50])
    harmful = np.array(
        [sum(w in tb.HARMFUL_WORDS for w in t.split()) / len(t.split()) for t in texts]
    )
    assert np.corrcoef(harmful, scores)[0, 1] > 0.5
    with pytest.raises(ValueError, match="cue"):
        tb.generate_posts(np.random.default_rng(0), 3, cue=0.0)


def test_moderation_rewards_exact():
    scores = jnp.asarray([0.1, 0.5, 0.51, 0.9])
    want = np.array([[0.5, 1.0], [0.5, 1.0], [0.5, -0.5], [0.5, -0.5]])
    for name, out in run_variants(tb.moderation_rewards, scores):
        np.testing.assert_allclose(out, want, err_msg=name)


def test_transformer_features_ignore_padding():
    tok = tb.make_tokenizer()
    model = tb.make_feature_model(len(tok), seed=0, hidden_size=32, num_layers=1)
    texts = ["love the park", "scam fraud the market news"]
    short = tb.transformer_features(model, tok.encode_batch(texts, 6), tok.pad_id, batch=4)
    long = tb.transformer_features(model, tok.encode_batch(texts, 10), tok.pad_id, batch=4)
    assert short.shape == (2, 32)
    # A causal decoder never lets later pad tokens change earlier hidden states.
    np.testing.assert_allclose(short, long, atol=1e-5)
    assert not np.allclose(short[0], short[1])


def test_contextual_agent_rejects_bad_shapes():
    cfg = ha.contextual_agent_config("hyperagent")
    with pytest.raises(ValueError, match="num_actions"):
        ha.run_contextual_agent(jax.random.key(0), jnp.zeros((4, 3)), jnp.zeros((4, 3)), cfg)
    with pytest.raises(ValueError, match="unknown contextual agent"):
        ha.contextual_agent_config("ucb")


@pytest.mark.slow
def test_text_bandit_reduced_hyperagent_beats_epsilon_greedy():
    """Reduced moderation run: 3 seeds x 2000 posts; HyperAgent below epsilon-greedy."""
    config = ml_collections.ConfigDict(
        dict(hidden=(), num_index=4, batch_size=32, noise_std=0.1, posterior_scale=1.0,
             prior_scale=0.05, learning_rate=1e-3)
    )  # fmt: skip
    streams = [tb.make_stream(s, 2000) for s in range(3)]
    x = np.stack([s[0] for s in streams])
    r = np.stack([s[1] for s in streams])
    keys = jax.random.split(jax.random.key(0), 3)
    out = {
        agent: bandits.regret_summary(
            np.asarray(tb.run_agent_seeds(keys, x, r, tb.agent_config(agent, config), 0.1)), 500
        )
        for agent in ("hyperagent", "egreedy")
    }
    hold = bandits.regret_summary(r.max(-1) - r[..., tb.HOLD], 500)
    assert out["hyperagent"]["mean"] < out["egreedy"]["mean"] < hold["mean"], (out, hold)
    assert out["hyperagent"]["late"] < out["egreedy"]["late"], out
