"""Divergence-augmented policy optimisation under data reuse: a tabular sparse-reward gridworld.

Paper: Wang*, Li*, Xiong, Zhang,
"Divergence-Augmented Policy Optimization", NeurIPS 2019, https://arxiv.org/abs/2501.15034.
The losses come from `empg_jax.losses` (`divergence_augmented_advantages`, `pgis_loss`,
`ppo_policy_loss`); this module is the environment, the learner and the loop.

Setting. A size x size gridworld (start top-left, goal bottom-right, reward 1 on reaching it, the
episode ends there), 4 moves, deterministic. Tabular softmax policy (logits [S, A]) and tabular
value [S]. Each iteration collects `num_envs` episodes of at most `length` steps with beta = pi_old,
then takes K full-batch gradient passes on that batch (data reuse):

  * advantages: V-trace (rho-bar = c-bar = 1) recomputed with the current pi and V every pass,
    A_t = r_t + gamma_t v_{t+1} - V(s_t), divided by (RMS(A) + 1e-4) as in the released code;
  * policy loss: `pgis_loss` (importance-weighted PG) or `ppo_policy_loss` (PPO-clip) on
    A - lambda sg(D), D = `divergence_returns` with trace truncation c-bar_D (lambda = 0 is no
    divergence; c-bar_D = 0 the one-step KL; c-bar_D = 1 the multi-step divergence);
  * value loss 0.5 mean(min(sg(rho), 3) (V - v_target)^2), total L_pi + 0.5 L_V, global
    grad-norm clip 0.5, Adam (the paper's defaults; the learning rate is larger for tables).

Arms (our design): pgis (lambda 0), PPO-clip, pgis + one-step KL (c-bar_D 0), pgis + multi-step
divergence (c-bar_D 1, lambda in {0.1, 0.5}). Reported per iteration: the success rate of the
batch (return, beta's rollouts) and the exact KL(pi_new || beta) after the K passes, averaged over
the visited states of the batch.

Everything is one jitted program: `train` is a `lax.scan` over iterations, with the K passes a
masked scan of `max_passes` steps, so arms, K and seeds are all vmapped data.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from empg_jax.losses import divergence_augmented_advantages, pgis_loss, ppo_policy_loss

# (name, use_ppo, lambda, c_bar_D) of the check experiment's arms.
ARMS = (
    ("pgis", False, 0.0, 0.0),
    ("ppo_clip", True, 0.0, 0.0),
    ("pgis_kl_1step", False, 0.5, 0.0),
    ("pgis_div_0.1", False, 0.1, 1.0),
    ("pgis_div_0.5", False, 0.5, 1.0),
)
_MOVES = ((0, 1), (1, 0), (0, -1), (-1, 0))  # right, down, left, up


class Arm(NamedTuple):
    """Traced arm description: loss kind, divergence weight and trace truncation, passes K.

    `normalise_divergence` divides D by the same RMS as the advantage, i.e. the policy sees
    (A - lambda D) / RMS(A) instead of A / RMS(A) - lambda D. `lns/dapo` (and our design's "loss as
    implemented") does not normalise D, so this is off by default; it is a probe of how much of
    lambda's effect depends on the reward scale [reconstructed, not the released code].
    """

    use_ppo: jax.Array
    coefficient: jax.Array
    c_bar: jax.Array
    num_passes: jax.Array
    normalise_divergence: jax.Array


def make_arm(
    use_ppo: bool,
    coefficient: float,
    c_bar: float,
    num_passes: int,
    normalise_divergence: bool = False,
) -> Arm:
    """Builds an `Arm` (validated on the host)."""
    if coefficient < 0 or c_bar < 0:
        raise ValueError(f"coefficient and c_bar must be >= 0, got {coefficient}, {c_bar}")
    if num_passes < 1:
        raise ValueError(f"num_passes must be >= 1, got {num_passes}")
    return Arm(
        use_ppo=jnp.bool_(use_ppo),
        coefficient=jnp.float32(coefficient),
        c_bar=jnp.float32(c_bar),
        num_passes=jnp.int32(num_passes),
        normalise_divergence=jnp.bool_(normalise_divergence),
    )


def gridworld_step(
    state: jax.Array, action: jax.Array, size: int, distractor_reward: float = 0.1
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Deterministic move on a size x size grid (walls clip).

    Two terminal cells: the goal (bottom-right, reward 1) and a distractor two cells right of the
    start (reward `distractor_reward`), a trap for policies that commit early [reconstructed: the
    our design asks only for a sparse-reward gridworld].

    Returns:
      (next state, reward, terminated).
    """
    chex.assert_rank([state, action], 0)
    moves = jnp.asarray(_MOVES, jnp.int32)
    row = jnp.clip(state // size + moves[action, 0], 0, size - 1)
    col = jnp.clip(state % size + moves[action, 1], 0, size - 1)
    nxt = row * size + col
    goal = nxt == size * size - 1
    distractor = nxt == 2
    reward = jnp.where(goal, 1.0, jnp.where(distractor, distractor_reward, 0.0))
    return nxt, reward, goal | distractor


class Batch(NamedTuple):
    """One iteration's rollouts, `[B, T]` per field (time-major per trajectory)."""

    states: jax.Array
    actions: jax.Array
    rewards: jax.Array
    discounts: jax.Array  # gamma * (1 - done_t)
    valid: jax.Array
    behaviour_log_probs: jax.Array
    bootstrap_states: jax.Array  # [B]: the state after the last step (for V-trace bootstrap)
    bootstrap_valid: jax.Array  # [B]: 1 when the episode was truncated, not terminated


def rollout(
    key: chex.PRNGKey,
    logits_SxA: jax.Array,
    num_envs: int,
    length: int,
    size: int,
    gamma: float,
    distractor_reward: float = 0.1,
) -> Batch:
    """`num_envs` episodes from the start state under softmax(logits), padded to `length`."""

    def one(k):
        def step(carry, k_t):
            s, alive = carry
            a = jax.random.categorical(k_t, logits_SxA[s])
            nxt, reward, goal = gridworld_step(s, a, size, distractor_reward)
            out = (
                s,
                a,
                jnp.where(alive, reward, 0.0),
                jnp.where(goal, 0.0, gamma),
                alive,
                jax.nn.log_softmax(logits_SxA[s])[a],
            )
            return (jnp.where(alive, nxt, s), alive & ~goal), out

        (last, alive), (s, a, r, disc, valid, logb) = jax.lax.scan(
            step, (jnp.int32(0), jnp.bool_(True)), jax.random.split(k, length)
        )
        return s, a, r, disc, valid, logb, last, alive

    s, a, r, disc, valid, logb, last, alive = jax.vmap(one)(jax.random.split(key, num_envs))
    return Batch(s, a, r, disc, valid.astype(jnp.float32), logb, last, alive.astype(jnp.float32))


def vtrace_advantages(
    values_t: jax.Array,
    bootstrap_value: jax.Array,
    rewards_t: jax.Array,
    discounts_t: jax.Array,
    log_rhos_t: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """V-trace (rho-bar = c-bar = 1) for one trajectory: (value targets v_t, PG advantages).

    v_t = V_t + delta_t + gamma_t c_t (v_{t+1} - V_{t+1}),  delta_t = rho_t (r_t + gamma_t
    V_{t+1} - V_t); advantage A_t = r_t + gamma_t v_{t+1} - V_t (Espeholt et al. 2018,
    https://arxiv.org/abs/1802.01561). No gradient flows through either result.
    """
    chex.assert_rank([values_t, rewards_t, discounts_t, log_rhos_t], 1)
    chex.assert_rank(bootstrap_value, 0)
    values_t = jax.lax.stop_gradient(values_t)
    bootstrap_value = jax.lax.stop_gradient(bootstrap_value)
    rho_t = jnp.minimum(1.0, jnp.exp(jax.lax.stop_gradient(log_rhos_t)))
    next_values_t = jnp.concatenate([values_t[1:], bootstrap_value[None]])
    delta_t = rho_t * (rewards_t + discounts_t * next_values_t - values_t)

    def back(acc, inputs):
        delta, discount, c = inputs
        acc = delta + discount * c * acc
        return acc, acc

    _, diff_t = jax.lax.scan(back, jnp.float32(0.0), (delta_t, discounts_t, rho_t), reverse=True)
    targets_t = values_t + diff_t
    next_targets_t = jnp.concatenate([targets_t[1:], bootstrap_value[None]])
    return targets_t, rewards_t + discounts_t * next_targets_t - values_t


class Params(NamedTuple):
    logits: jax.Array  # [S, A]
    values: jax.Array  # [S]


def loss_fn(
    params: Params, batch: Batch, arm: Arm, *, clip: float = 0.2
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """L_pi + 0.5 L_V for one batch (module docstring)."""
    log_pi_SxA = jax.nn.log_softmax(params.logits)
    logp_BxT = log_pi_SxA[batch.states, batch.actions]
    values_BxT = params.values[batch.states]
    bootstrap_B = params.values[batch.bootstrap_states] * batch.bootstrap_valid
    log_rho_BxT = logp_BxT - batch.behaviour_log_probs
    # Padding after termination has discount 0 at the terminal step and zero reward/valid.
    disc_BxT = batch.discounts * batch.valid
    targets_BxT, adv_BxT = jax.vmap(vtrace_advantages)(
        values_BxT, bootstrap_B, batch.rewards, disc_BxT, log_rho_BxT * batch.valid
    )
    rms = jnp.sqrt((adv_BxT**2 * batch.valid).sum() / jnp.maximum(batch.valid.sum(), 1.0))
    adv_BxT = adv_BxT / (rms + 1e-4)
    # Default (lns/dapo): lambda multiplies the unnormalised D; `normalise_divergence` (`Arm`)
    # scales it by the advantage's 1 / RMS as well (rms carries no gradient: V-trace stops it).
    coefficient = arm.coefficient * jnp.where(arm.normalise_divergence, 1.0 / (rms + 1e-4), 1.0)
    aug = functools.partial(divergence_augmented_advantages, c_bar=arm.c_bar)
    adv_BxT = jax.vmap(lambda a, lp, lb, d: aug(a, lp, lb, d, coefficient=coefficient))(
        adv_BxT, logp_BxT, batch.behaviour_log_probs, disc_BxT
    )
    where = batch.valid > 0
    pg, _ = pgis_loss(logp_BxT, batch.behaviour_log_probs, adv_BxT, where)
    ppo, _ = ppo_policy_loss(
        logp_BxT, batch.behaviour_log_probs, adv_BxT, where, clip_low=clip, clip_high=clip
    )
    policy_loss = jnp.where(arm.use_ppo, ppo, pg)
    weight_BxT = jnp.minimum(jnp.exp(jax.lax.stop_gradient(log_rho_BxT)), 3.0) * batch.valid
    value_loss = (
        0.5
        * (weight_BxT * (values_BxT - targets_BxT) ** 2).sum()
        / jnp.maximum(batch.valid.sum(), 1.0)
    )
    return policy_loss + 0.5 * value_loss, {"policy_loss": policy_loss, "value_loss": value_loss}


class TrainResult(NamedTuple):
    """Per-iteration metrics of one run, `[num_iterations]` each."""

    success: jax.Array  # mean undiscounted return of the batch's episodes
    kl: jax.Array  # KL(pi_new || beta) after the K passes, mean over the batch's valid steps
    max_kl: jax.Array  # the largest per-state KL among visited states


def train(
    key: chex.PRNGKey,
    arm: Arm,
    *,
    num_iterations: int = 200,
    num_envs: int = 32,
    length: int = 32,
    size: int = 5,
    gamma: float = 0.99,
    learning_rate: float = 0.05,
    max_grad_norm: float = 0.5,
    max_passes: int = 16,
    clip: float = 0.2,
    distractor_reward: float = 0.1,
) -> TrainResult:
    """One training run (a `lax.scan` over iterations; vmap over arms and keys)."""
    if max_passes < 1 or num_iterations < 1:
        raise ValueError(f"max_passes and num_iterations must be >= 1, got {max_passes}")
    num_states = size * size
    optimiser = optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate))
    params = Params(jnp.zeros((num_states, 4), jnp.float32), jnp.zeros((num_states,), jnp.float32))
    grad_fn = jax.grad(functools.partial(loss_fn, clip=clip), has_aux=True)

    def iteration(carry, k):
        params, opt_state = carry
        batch = rollout(k, params.logits, num_envs, length, size, gamma, distractor_reward)
        behaviour_logits = params.logits

        def one_pass(carry, i):
            params, opt_state = carry
            grads, _ = grad_fn(params, batch, arm)
            updates, new_opt_state = optimiser.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            active = i < arm.num_passes
            keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(active, n, o), new, old)
            return (keep(new_params, params), keep(new_opt_state, opt_state)), None

        (params, opt_state), _ = jax.lax.scan(one_pass, (params, opt_state), jnp.arange(max_passes))
        log_pi = jax.nn.log_softmax(params.logits)
        log_b = jax.nn.log_softmax(behaviour_logits)
        kl_S = (jnp.exp(log_pi) * (log_pi - log_b)).sum(-1)
        kl_BxT = kl_S[batch.states]
        kl = (kl_BxT * batch.valid).sum() / batch.valid.sum()
        max_kl = jnp.max(jnp.where(batch.valid > 0, kl_BxT, 0.0))
        success = batch.rewards.sum(-1).mean()
        return (params, opt_state), (success, kl, max_kl)

    carry = (params, optimiser.init(params))
    _, (success, kl, max_kl) = jax.lax.scan(iteration, carry, jax.random.split(key, num_iterations))
    return TrainResult(success, kl, max_kl)


_STATIC = (
    "num_seeds",
    "num_iterations",
    "num_envs",
    "length",
    "size",
    "gamma",
    "learning_rate",
    "max_grad_norm",
    "max_passes",
    "clip",
    "distractor_reward",
)


@functools.partial(jax.jit, static_argnames=_STATIC)
def train_arms(key: chex.PRNGKey, arms: Arm, *, num_seeds: int, **kwargs) -> TrainResult:
    """`train` for stacked arms `[N]` x `num_seeds` seeds (same keys per arm): `[N, seeds, I]`."""
    keys_S = jax.random.split(key, num_seeds)
    run = functools.partial(train, **kwargs)
    return jax.vmap(jax.vmap(run, in_axes=(0, None)), in_axes=(None, 0))(keys_S, arms)


def stack_arms(arms: list[Arm]) -> Arm:
    """Stacks `Arm`s along a new leading axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *arms)
