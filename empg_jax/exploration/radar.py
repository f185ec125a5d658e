"""Radar versus a DRFM jammer as online convex optimisation on the simplex of sub-bands.

Paper: Liu, Pu, Li, Jiu, Luo, "Radar Anti-jamming Strategy Learning via
Domain-knowledge Enhanced Online Convex Optimization", IEEE SAM 2024, https://arxiv.org/abs/2402.16274.
No code was released; the game model, the estimators and all constants below are [reconstructed]
(standard online-learning theory consistent with the abstract) and every knob is an argument.

Game [reconstructed]. At pulse t the frequency-agile radar plays x_t in the simplex over K sub-bands
and transmits on a_t ~ x_t. The jammer's action is a 0/1 vector ell_t over sub-bands (1 = jammed);
the OCO loss is linear, f_t(x) = <x, ell_t>, and the radar's pulse is jammed iff ell_t(a_t) = 1.

Jammers (spec check experiment):
  * `reactive`: a DRFM jammer can only replay what it intercepted: w.p. `replay_prob` it jams the
    radar's previous sub-band a_{t-1}, otherwise one uniform sub-band. Adaptive to the radar.
  * `switching`: oblivious; every `switch_period` pulses it moves to the next of P band profiles
    (cyclically). Profile p jams each sub-band b independently w.p. profiles[p, b].

Loss estimates fed to Hedge (all unbiased for ell_t given the history):
  * `bandit` (Exp3, importance weighted): g(a) = ell_t(a_t) 1{a = a_t} / x_t(a_t).
  * `domain` [reconstructed domain-knowledge estimator]: the radar measures its own sub-band exactly
    and its wideband receiver senses the jamming state of every other sub-band independently with
    probability `sense_prob` (p) after the pulse, so
        g(a) = ell_t(a) 1{a = a_t} + ell_t(a) 1{a != a_t} s_t(a) / p,   s_t(a) ~ Bernoulli(p).
    E[g(a)] = ell_t(a) and the second moment is at most 1/p instead of 1/x_t(a): the regret scales
    as sqrt(T log K / p) rather than Exp3's sqrt(T K log K).
  * `full`: g = ell_t (full information, the lower reference).

Learners: Hedge x_{t+1} ∝ x_t exp(-eta g_t), and the fixed-share variant (Herbster & Warmuth 1998)
x_{t+1} = (1 - alpha) Hedge(x_t) + alpha / K, which tracks a switching comparator with dynamic
regret O(sqrt(T (1 + S) log(KT))) for S switches (the "universal" arm of our design).

Metrics: static regret sum_t f_t(x_t) - min_a sum_t ell_t(a) on the realised losses; dynamic regret
against the best sub-band per `switch_period` segment; jam rate mean_t ell_t(a_t).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

JAMMERS = ("reactive", "switching")
ESTIMATORS = ("bandit", "domain", "full")
# Named arms of the check experiment: (loss estimator, fixed-share on/off).
ARMS = {
    "exp3": ("bandit", False),
    "dk_hedge": ("domain", False),
    "full_hedge": ("full", False),
    "dk_fixed_share": ("domain", True),
}


def default_profiles(num_bands: int = 10, high: float = 0.6, low: float = 0.1) -> jax.Array:
    """Three band profiles for the switching jammer: profile p spares sub-band (3p + 1) mod K.

    Each profile jams every sub-band w.p. `high` except its spared sub-band (w.p. `low`), so the
    per-segment best sub-band changes at every switch [reconstructed from "three band profiles"
    alone].
    """
    if num_bands < 3:
        raise ValueError(f"num_bands must be >= 3 for three profiles, got {num_bands}")
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"need 0 <= low <= high <= 1, got low={low}, high={high}")
    spared = [(3 * p + 1) % num_bands for p in range(3)]
    rows = [[low if b == s else high for b in range(num_bands)] for s in spared]
    return jnp.asarray(rows, jnp.float32)


def reactive_jammer(
    uniform_2: jax.Array, prev_band: jax.Array, num_bands: int, replay_prob: float = 0.8
) -> jax.Array:
    """DRFM replay jammer: the radar's previous sub-band w.p. `replay_prob`, else a uniform one.

    Randomness comes in as uniforms on [0, 1) (the scan draws one uniform vector per pulse, which
    compiles far faster on CPU than several key splits).

    Args:
      uniform_2: two U[0, 1) draws: replay coin and uniform band.
      prev_band: a_{t-1}, int scalar.
      num_bands: K.
      replay_prob: probability of replaying a_{t-1}.

    Returns:
      ell_t, `[K]` float32 0/1 vector with exactly one jammed sub-band.
    """
    chex.assert_shape(uniform_2, (2,))
    chex.assert_rank(prev_band, 0)
    uniform_band = jnp.minimum(jnp.floor(uniform_2[1] * num_bands), num_bands - 1).astype(jnp.int32)
    band = jnp.where(uniform_2[0] < replay_prob, prev_band, uniform_band)
    return jax.nn.one_hot(band, num_bands, dtype=jnp.float32)


def switching_jammer(
    uniform_K: jax.Array, t: jax.Array, profiles_PxK: jax.Array, switch_period: int
) -> jax.Array:
    """Oblivious switching jammer: profile (t // switch_period) mod P, independent Bernoulli bands.

    Args:
      uniform_K: K U[0, 1) draws, one per sub-band.
      t: pulse index.
      profiles_PxK: jam probability of each sub-band under each profile.
      switch_period: pulses per profile.

    Returns:
      ell_t, `[K]` float32 0/1 vector.
    """
    chex.assert_rank([uniform_K, profiles_PxK], [1, 2])
    profile = (t // switch_period) % profiles_PxK.shape[0]
    return (uniform_K < profiles_PxK[profile]).astype(jnp.float32)


def bandit_estimate(loss_K: jax.Array, action: jax.Array, probs_K: jax.Array) -> jax.Array:
    """Exp3 importance-weighted estimate g(a) = ell(a_t) 1{a = a_t} / x(a_t)."""
    chex.assert_rank([loss_K, action, probs_K], [1, 0, 1])
    chex.assert_equal_shape([loss_K, probs_K])
    onehot_K = jax.nn.one_hot(action, loss_K.shape[0], dtype=loss_K.dtype)
    return onehot_K * loss_K[action] / probs_K[action]


def domain_estimate(
    uniform_K: jax.Array, loss_K: jax.Array, action: jax.Array, sense_prob: float = 0.5
) -> jax.Array:
    """Domain-knowledge estimate [reconstructed]: own sub-band exact, others sensed w.p. p, / p.

    g(a) = ell(a) 1{a = a_t} + ell(a) 1{a != a_t} s(a) / p with s(a) = 1{u(a) < p} ~ Bernoulli(p)
    from the uniforms `uniform_K`; unbiased for ell.
    """
    chex.assert_rank([uniform_K, loss_K, action], [1, 1, 0])
    chex.assert_equal_shape([uniform_K, loss_K])
    if isinstance(sense_prob, float | int) and not 0.0 < sense_prob <= 1.0:
        raise ValueError(f"sense_prob must be in (0, 1], got {sense_prob}")
    onehot_K = jax.nn.one_hot(action, loss_K.shape[0], dtype=loss_K.dtype)
    sensed_K = (uniform_K < sense_prob).astype(loss_K.dtype)
    return onehot_K * loss_K + (1.0 - onehot_K) * sensed_K * loss_K / sense_prob


def hedge_step(
    log_probs_K: jax.Array, loss_estimate_K: jax.Array, learning_rate: float, share: float = 0.0
) -> jax.Array:
    """Hedge (exponential weights) on losses, optionally with fixed share, in log space.

    x' = (1 - alpha) softmax(log x - eta g) + alpha / K; alpha = 0 is plain Hedge.

    Returns:
      log x_{t+1}, `[K]`.
    """
    chex.assert_rank([log_probs_K, loss_estimate_K], [1, 1])
    chex.assert_equal_shape([log_probs_K, loss_estimate_K])
    logits_K = jax.nn.log_softmax(log_probs_K - learning_rate * loss_estimate_K)
    # share = 0 reduces exactly to Hedge: log1p(0) = 0 and log(0) = -inf drops the uniform term.
    log_uniform = jnp.log(jnp.asarray(share, logits_K.dtype)) - math.log(log_probs_K.shape[0])
    return jnp.logaddexp(jnp.log1p(-jnp.asarray(share, logits_K.dtype)) + logits_K, log_uniform)


def default_learning_rate(estimator: str, num_bands: int, horizon: int, sense_prob: float) -> float:
    """eta = sqrt(2 ln K / (T v)) with v the second-moment proxy of the estimator [reconstructed].

    The Hedge bound ln K / eta + (eta / 2) sum_t E sum_a x(a) g(a)^2 with one jammed band per pulse
    gives v ~ 1/K (full), 1/(K p) (domain) and 1 (bandit); we use these per-pulse proxies.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    v = {"full": 1.0 / num_bands, "domain": 1.0 / (num_bands * sense_prob), "bandit": 1.0}
    return math.sqrt(2.0 * math.log(num_bands) / (horizon * v[estimator]))


class RadarArm(NamedTuple):
    """Traced description of one (jammer, learner) pair, so all arms share one compiled program.

    Attributes:
      jammer: 0 = reactive, 1 = switching (index into `JAMMERS`), int32 scalar.
      estimator: 0 = bandit, 1 = domain, 2 = full (index into `ESTIMATORS`), int32 scalar.
      learning_rate: Hedge eta.
      share: fixed-share alpha (0 = plain Hedge).
      sense_prob: p of the domain-knowledge estimator.
      replay_prob: replay probability of the reactive jammer.
      profiles: `[P, K]` jam probabilities of the switching jammer.
    """

    jammer: jax.Array
    estimator: jax.Array
    learning_rate: jax.Array
    share: jax.Array
    sense_prob: jax.Array
    replay_prob: jax.Array
    profiles: jax.Array


def make_arm(
    arm: str = "dk_hedge",
    jammer: str = "reactive",
    *,
    num_bands: int = 10,
    horizon: int = 20_000,
    replay_prob: float = 0.8,
    profiles: jax.Array | None = None,
    sense_prob: float = 0.5,
    learning_rate: float | None = None,
    learning_rate_scale: float = 1.0,
    share: float = 1e-3,
) -> RadarArm:
    """Builds a `RadarArm` from the named arm of `ARMS` and jammer of `JAMMERS`.

    `learning_rate=None` uses `learning_rate_scale * default_learning_rate(...)`; `share` is used
    only by the fixed-share arm.
    """
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; expected one of {tuple(ARMS)}")
    if jammer not in JAMMERS:
        raise ValueError(f"unknown jammer {jammer!r}; expected one of {JAMMERS}")
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share}")
    if not 0.0 < sense_prob <= 1.0:
        raise ValueError(f"sense_prob must be in (0, 1], got {sense_prob}")
    if not 0.0 <= replay_prob <= 1.0:
        raise ValueError(f"replay_prob must be in [0, 1], got {replay_prob}")
    estimator, fixed_share = ARMS[arm]
    if learning_rate is None:
        learning_rate = learning_rate_scale * default_learning_rate(
            estimator, num_bands, horizon, sense_prob
        )
    profiles_PxK = default_profiles(num_bands) if profiles is None else jnp.asarray(profiles)
    chex.assert_shape(profiles_PxK, (None, num_bands))
    return RadarArm(
        jammer=jnp.int32(JAMMERS.index(jammer)),
        estimator=jnp.int32(ESTIMATORS.index(estimator)),
        learning_rate=jnp.float32(learning_rate),
        share=jnp.float32(share if fixed_share else 0.0),
        sense_prob=jnp.float32(sense_prob),
        replay_prob=jnp.float32(replay_prob),
        profiles=profiles_PxK.astype(jnp.float32),
    )


class RadarResult(NamedTuple):
    """Per-run outcome (leading arm / seed axes when vmapped).

    Attributes:
      static_regret: sum_t <x_t, ell_t> - min_a sum_t ell_t(a), scalar.
      dynamic_regret: sum_t <x_t, ell_t> - sum_segments min_a sum_{t in seg} ell_t(a), scalar.
      jam_rate: mean_t ell_t(a_t), scalar.
      regret_trace: static regret at every `trace_every`-th pulse, `[T // trace_every]`.
      dynamic_trace: dynamic regret (completed segments plus the running one), same shape.
      final_probs: x_T, `[K]`.
    """

    static_regret: jax.Array
    dynamic_regret: jax.Array
    jam_rate: jax.Array
    regret_trace: jax.Array
    dynamic_trace: jax.Array
    final_probs: jax.Array


def run_radar(
    key: chex.PRNGKey,
    arm: RadarArm,
    *,
    horizon: int = 20_000,
    switch_period: int = 4000,
    trace_every: int = 100,
) -> RadarResult:
    """One radar-versus-jammer run of `horizon` pulses as a single `lax.scan`.

    Args:
      key: PRNG key of the run.
      arm: the traced jammer / learner description (`make_arm`); vmap over stacked arms and keys.
      horizon: T pulses (static).
      switch_period: pulses per switching segment, also the dynamic-regret segment length (static).
      trace_every: stride of the regret traces (static).

    Returns:
      A `RadarResult`.
    """
    if horizon < 1 or horizon % trace_every:
        raise ValueError(
            f"horizon={horizon} must be a positive multiple of trace_every={trace_every}"
        )
    if switch_period < 1:
        raise ValueError(f"switch_period must be >= 1, got {switch_period}")
    chex.assert_rank(arm.profiles, 2)
    num_bands = arm.profiles.shape[1]
    log_k = math.log(num_bands)

    def step(carry, inputs):
        log_x_K, prev_band, cum_loss_K, seg_loss_K, learner_loss, seg_best_sum, jams = carry
        t, k = inputs
        u = jax.random.uniform(k, (3 + 2 * num_bands,))
        loss_K = jnp.where(
            arm.jammer == 0,
            reactive_jammer(u[:2], prev_band, num_bands, arm.replay_prob),
            switching_jammer(u[3 : 3 + num_bands], t, arm.profiles, switch_period),
        )
        x_K = jnp.exp(log_x_K)
        # Inverse-CDF sampling of a_t ~ x_t from one uniform.
        action = jnp.minimum(jnp.sum(jnp.cumsum(x_K) <= u[2]), num_bands - 1)
        # Every estimator is cheap at this size, so compute all and select (one compiled program).
        g_3xK = jnp.stack(
            [
                bandit_estimate(loss_K, action, x_K),
                domain_estimate(u[3 + num_bands :], loss_K, action, arm.sense_prob),
                loss_K,
            ]
        )
        g_K = g_3xK[arm.estimator]
        cum_loss_K = cum_loss_K + loss_K
        seg_loss_K = seg_loss_K + loss_K
        learner_loss = learner_loss + x_K @ loss_K
        jams = jams + loss_K[action]
        seg_end = (t + 1) % switch_period == 0
        seg_best_sum = seg_best_sum + jnp.where(seg_end, seg_loss_K.min(), 0.0)
        static = learner_loss - cum_loss_K.min()
        dynamic = learner_loss - seg_best_sum - jnp.where(seg_end, 0.0, seg_loss_K.min())
        seg_loss_K = jnp.where(seg_end, 0.0, seg_loss_K)
        log_x_K = hedge_step(log_x_K, g_K, arm.learning_rate, arm.share)
        carry = (log_x_K, action, cum_loss_K, seg_loss_K, learner_loss, seg_best_sum, jams)
        return carry, (static, dynamic)

    k_init, k_steps = jax.random.split(key)
    zeros_K = jnp.zeros((num_bands,), jnp.float32)
    carry = (
        jnp.full((num_bands,), -log_k, jnp.float32),
        jax.random.randint(k_init, (), 0, num_bands),
        zeros_K,
        zeros_K,
        jnp.float32(0.0),
        jnp.float32(0.0),
        jnp.float32(0.0),
    )
    inputs = (jnp.arange(horizon), jax.random.split(k_steps, horizon))
    carry, (static_T, dynamic_T) = jax.lax.scan(step, carry, inputs)
    log_x_K, _, _, _, _, _, jams = carry
    return RadarResult(
        static_regret=static_T[-1],
        dynamic_regret=dynamic_T[-1],
        jam_rate=jams / horizon,
        regret_trace=static_T[trace_every - 1 :: trace_every],
        dynamic_trace=dynamic_T[trace_every - 1 :: trace_every],
        final_probs=jnp.exp(log_x_K),
    )


@functools.partial(
    jax.jit, static_argnames=("num_seeds", "horizon", "switch_period", "trace_every")
)
def run_radar_arms(
    key: chex.PRNGKey,
    arms: RadarArm,
    *,
    num_seeds: int,
    horizon: int = 20_000,
    switch_period: int = 4000,
    trace_every: int = 100,
) -> RadarResult:
    """`run_radar` for stacked arms (leading axis N) x `num_seeds` seeds: results are `[N, S, ...]`.

    Every arm sees the same `num_seeds` keys (common random numbers across arms).
    """
    keys_S = jax.random.split(key, num_seeds)
    run = functools.partial(
        run_radar, horizon=horizon, switch_period=switch_period, trace_every=trace_every
    )
    over_seeds = jax.vmap(run, in_axes=(0, None))
    return jax.vmap(over_seeds, in_axes=(None, 0))(keys_S, arms)


def stack_arms(arms: list[RadarArm]) -> RadarArm:
    """Stacks `RadarArm`s along a new leading axis for `run_radar_arms`."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *arms)
