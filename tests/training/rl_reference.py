"""An independent reference of the RL update for the wiring tests: a rollout batch built with
the real sampler, and NumPy / plain-JAX re-computations of everything the update wires together.

Nothing here calls the code under test (`empg_jax.training`, `empg_jax.losses`): advantages are
NumPy loops over groups and episodes, log-probs come from the model applied to each row's real
tokens alone (no padding, default positions, no segment masks), and the PPO / KL / entropy terms
are written out from their formulas.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from empg_jax.agents import Rollout
from empg_jax.models import Transformer, make_sampler, tiny_config

CFG = tiny_config(
    vocab_size=64, hidden_size=32, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_size=64
)
B, G, T, P, L = 2, 4, 2, 10, 6
N, S = B * G, B * G * T
PAD = 5  # a pad id that is not 0: token 0 is an ordinary token of the prompts
STOPS = tuple(range(40, 52))  # a sixth of the vocabulary ends an answer: unequal lengths
TEMPERATURE = 1.3


def model():
    return nnx.split(Transformer(CFG, rngs=nnx.Rngs(0)))


def rollout_batch(graphdef, params, *, seed: int = 1, valid_NxT=None, reward_N=None) -> Rollout:
    """N episodes x T steps sampled at `TEMPERATURE` from random left-padded prompts; episodes
    3 and 6 end after their first step; answers stop at any of `STOPS` (unequal lengths)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, P + 1, size=S)
    prompt = rng.integers(0, 64, size=(S, P))
    prompt[prompt == PAD] = 0
    mask = np.arange(P)[None, :] >= (P - lengths)[:, None]
    prompt = np.where(mask, prompt, PAD)
    sampler = make_sampler(graphdef, max_new_tokens=L, pad_id=PAD)
    out = sampler(
        params,
        jnp.asarray(prompt),
        jnp.asarray(mask),
        jax.random.PRNGKey(seed),
        jnp.asarray(STOPS),
        temperature=TEMPERATURE,
    )
    if valid_NxT is None:
        valid_NxT = np.ones((N, T), bool)
        valid_NxT[[3, 6], 1] = False
    if reward_N is None:
        reward_N = np.array([10.0, 0, 0, 10, 10, 10, 0, 10], np.float32)
    valid_NxT = np.asarray(valid_NxT, bool)
    step = lambda x: jnp.asarray(np.asarray(x).reshape((N, T) + np.shape(x)[1:]))  # noqa: E731
    answer_mask = np.asarray(out.mask) & valid_NxT.reshape(S)[:, None]
    return Rollout(
        prompt_NxTxP=step(prompt.astype(np.int32)),
        prompt_mask_NxTxP=step(mask),
        answer_NxTxL=step(out.tokens),
        answer_mask_NxTxL=step(answer_mask),
        old_log_probs_NxTxL=step(out.log_probs),
        token_entropy_NxTxL=step(out.entropies),
        valid_NxT=jnp.asarray(valid_NxT),
        invalid_format_NxT=jnp.asarray((np.arange(S) % 5 == 0).reshape(N, T) & valid_NxT),
        invalid_action_NxT=jnp.zeros((N, T), bool),
        step_reward_NxT=jnp.zeros((N, T), jnp.float32),
        overflow_NxT=jnp.zeros((N, T), bool),
        reward_N=jnp.asarray(reward_N, jnp.float32),
        won_N=jnp.asarray(np.asarray(reward_N) > 0),
        score_N=jnp.zeros((N,), jnp.float32),
        length_N=jnp.asarray(valid_NxT.sum(1), jnp.int32),
        truncated_N=jnp.zeros((N,), bool),
        task_type_N=jnp.zeros((N,), jnp.int32),
        task_id_N=jnp.arange(N, dtype=jnp.int32) // G,
        temperature=jnp.float32(TEMPERATURE),
        group_size=G,
    )


# ----- advantages, in NumPy ------------------------------------------------------------------
def step_entropy(batch: Rollout) -> np.ndarray:
    """Mean token entropy over each step's generated tokens, `[S]` (0 for an empty row)."""
    ent = np.asarray(batch.token_entropy_NxTxL, np.float64).reshape(S, L)
    m = np.asarray(batch.answer_mask_NxTxL).reshape(S, L)
    return np.array([ent[r][m[r]].mean() if m[r].any() else 0.0 for r in range(S)])


def advantages(batch: Rollout, *, dynamic=False, pass_rate=None, empg=None, penalty=0.1):
    """GRPO (episode scope) -> group filters -> optional EMPG; returns `(adv_S, train_S)`."""
    n_ep, t_len = np.asarray(batch.valid_NxT).shape
    valid = np.asarray(batch.valid_NxT)
    bad = np.asarray(batch.invalid_format_NxT) & valid
    ret = np.asarray(batch.reward_N, np.float64)
    won = np.asarray(batch.won_N)
    adv = np.zeros((n_ep, t_len))
    train = np.zeros((n_ep, t_len), bool)
    for g0 in range(0, n_ep, G):
        eps = list(range(g0, g0 + G))
        score = np.array([ret[e] - penalty * bad[e].sum() for e in eps])
        z = (score - score.mean()) / (score.std(ddof=1) + 1e-6)
        keep = True
        if dynamic:
            keep = ret[eps].max() > ret[eps].min()
        if pass_rate is not None:
            rate = won[eps].mean()
            keep = keep and pass_rate[0] <= rate <= pass_rate[1]
        for i, e in enumerate(eps):
            train[e] = valid[e] & keep
            adv[e] = np.where(train[e], z[i], 0.0)
    adv, train = adv.reshape(-1), train.reshape(-1)
    if empg is None:
        return adv, train
    h = step_entropy(batch)
    ht = h[train]
    hn = np.where(train, (h - ht.min()) / (ht.max() - ht.min() + 1e-8), 0.0)
    scale = np.exp(-empg["k"] * hn)
    g = scale / (scale[train].mean() + 1e-8)
    out = np.zeros(S)
    for r in np.flatnonzero(train):
        e, t = divmod(r, t_len)
        bonus = 0.0
        if t + 1 < t_len and train[r + 1]:
            bonus = empg["zeta"] * np.exp(-empg["k_future"] * hn[r + 1])
        out[r] = g[r] * adv[r] + bonus
    out[train] -= out[train].mean()
    return out, train


# ----- the loss, in plain JAX on right-aligned rows -------------------------------------------
def _right_aligned(batch: Rollout):
    """Each row's real prompt tokens, then its answer, then filler: under causal attention the
    filler cannot reach earlier positions, so default positions and no mask are exact."""
    prompt = np.asarray(batch.prompt_NxTxP).reshape(S, P)
    pmask = np.asarray(batch.prompt_mask_NxTxP).reshape(S, P)
    answer = np.asarray(batch.answer_NxTxL).reshape(S, L)
    tokens = np.zeros((S, P + L), np.int32)
    n_prompt = pmask.sum(1)
    for r in range(S):
        row = np.concatenate([prompt[r][pmask[r]], answer[r]])
        tokens[r, : len(row)] = row
    take = n_prompt[:, None] - 1 + np.arange(L)[None, :]  # positions predicting the answer
    return jnp.asarray(tokens), jnp.asarray(take), jnp.asarray(answer)


def log_probs(graphdef, params, batch: Rollout):
    """log pi_T of every answer token `[S, L]` and the tempered logits `[S, L, V]`."""
    tokens, take, answer = _right_aligned(batch)
    logits = nnx.merge(graphdef, params)(tokens).astype(jnp.float32)
    logits = jnp.take_along_axis(logits, take[..., None], axis=1) / TEMPERATURE
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), answer[..., None], axis=-1)[..., 0]
    return logp, logits


def row_log_probs(graphdef, params, batch: Rollout, r: int):
    """Row r's answer log-probs from the model run on that row's real tokens alone."""
    prompt = np.asarray(batch.prompt_NxTxP).reshape(S, P)[r]
    pmask = np.asarray(batch.prompt_mask_NxTxP).reshape(S, P)[r]
    answer = np.asarray(batch.answer_NxTxL).reshape(S, L)[r]
    tokens = np.concatenate([prompt[pmask], answer])
    logits = nnx.merge(graphdef, params)(jnp.asarray(tokens)[None])[0].astype(jnp.float32)
    n_prompt = int(pmask.sum())
    logits = logits[n_prompt - 1 : n_prompt - 1 + L] / TEMPERATURE
    return jax.nn.log_softmax(logits)[jnp.arange(L), answer]


def loss(
    graphdef,
    params,
    batch: Rollout,
    adv_S,
    train_S,
    *,
    clip_low=0.2,
    clip_high=0.28,
    dual_clip=3.0,
    kl_coef=0.0,
    ref_params=None,
    entropy_coef=0.0,
):
    """Token-mean PPO-clip (dual clip) + kl_coef * k3 KL to `ref_params` - entropy_coef * H."""
    mask = jnp.asarray(np.asarray(batch.answer_mask_NxTxL).reshape(S, L) & train_S[:, None])
    old = jnp.asarray(batch.old_log_probs_NxTxL).reshape(S, L)
    a = jnp.asarray(adv_S, jnp.float32)[:, None]
    n_tok = jnp.sum(mask)
    logp, logits = log_probs(graphdef, params, batch)
    ratio = jnp.exp(logp - old)
    unclipped = -a * ratio
    clip = -a * jnp.clip(ratio, 1 - clip_low, 1 + clip_high)
    per = jnp.maximum(unclipped, clip)
    per = jnp.where(a < 0, jnp.minimum(per, -dual_clip * a), per)
    mean = lambda x: jnp.sum(jnp.where(mask, x, 0.0)) / n_tok  # noqa: E731
    pg = mean(per)
    kl = jnp.zeros(())
    if kl_coef:
        ref_logp, _ = log_probs(graphdef, ref_params, batch)
        d = jax.lax.stop_gradient(ref_logp) - logp
        kl = mean(jnp.exp(d) - d - 1.0)
    ent = mean(-jnp.sum(jax.nn.softmax(logits) * jax.nn.log_softmax(logits), -1))
    total = pg + kl_coef * kl - entropy_coef * ent
    aux = {"pg_loss": pg, "kl": kl, "policy_entropy": ent, "clip_fraction": mean(clip > unclipped)}
    return total, aux
