"""HyperAgent: linear (closed form) and neural (hypermodel trained with optax) posterior sampling.

Paper: Li, Xu, Han, Luo, "Q-Star Meets Scalable Posterior Sampling:
Bridging Theory and Practice via HyperAgent", ICML 2024, https://arxiv.org/abs/2402.10228; the
GPT-HyperAgent / Ensemble++ follow-up https://arxiv.org/abs/2407.13195.

Linear agents share `posterior.LinearPosterior` and differ only in how they pick theta each step:

    ts          theta ~ N(mu_t, Sigma_t) (exact Thompson sampling, Cholesky, O(d^3) per step)
    greedy      theta = mu_t (xi = 0)
    hyperagent  theta = mu_t + A_t xi, xi ~ N(0, I), buffer z uniform on the sphere (spec check)
    ensemble    theta = mu_t + A_t sqrt(M) e_m, m uniform, buffer z ~ N(0, I/M) (classic ensembles)

Neural hypermodel (spec (b) "Hypermodel", index xi in R^M, A actions):

    f_theta(x, xi)_a = s_post <h_w(x), W_a xi + b_a> + s_prior <h_0(x), W0_a xi + b0_a>

h_w is a trainable ReLU MLP, h_0 a frozen random copy, W (A*D x M) and b trainable, W0, b0 frozen
with rows of W0 Gaussian normalised to unit norm x prior_std and b0 a unit vector x prior_std. Loss
(spec (b) "Loss"), with a fixed z_i per buffered transition and a set {xi_j} per update:

    L = mean_i mean_j (y_i + sigma <xi_j, z_i> - f(x_i, xi_j)_{a_i})^2 + (beta / |D|) R

R is the mean squared hypermodel output mean_j mean_k (W xi_j + b)_k^2, the reference code's reading
of ||W||^2 [reconstructed from the authors' released code]. Ensemble sampling (index kind
`oh`) and greedy (no prior branch, xi = 0) run on the same code.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from empg_jax.exploration import bandits
from empg_jax.exploration import posterior as post

LINEAR_AGENTS = ("ts", "greedy", "hyperagent", "ensemble")
# The experiment programs are long scans of tiny ops: LLVM's optimisation passes cost far more
# compile time (tens of seconds on a loaded 2-core CPU) than they save at run time.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
NEURAL_AGENTS = ("hyperagent", "ensemble", "greedy")

# ---------------------------------------------------------------------------------------------
# Linear agents on the linear bandit (closed-form posterior).
# ---------------------------------------------------------------------------------------------


def _agent_id(agent: str) -> int:
    if agent not in LINEAR_AGENTS:
        raise ValueError(f"unknown linear agent {agent!r}; expected one of {LINEAR_AGENTS}")
    return LINEAR_AGENTS.index(agent)


def _padded_perturbation(
    key: chex.PRNGKey, num_index: jax.Array, max_index: int, gaussian: jax.Array
) -> jax.Array:
    """Buffer z in the first `num_index` of `max_index` coordinates: sphere or N(0, I/M).

    Padding lets every agent and every M share one compiled program; a normalised Gaussian
    restricted to the first M coordinates is exactly uniform on S^{M-1}.
    """
    g = jax.random.normal(key, (max_index,)) * (jnp.arange(max_index) < num_index)
    return jnp.where(gaussian, g / jnp.sqrt(num_index), g / jnp.linalg.norm(g))


def _choose_theta(
    key: chex.PRNGKey,
    state: post.LinearPosterior,
    agent_id: int | jax.Array,
    num_index: jax.Array,
) -> jax.Array:
    """The parameter the agent acts greedily on this step (module table), padded index."""
    max_index = state.factor.shape[1]
    mask = jnp.arange(max_index) < num_index

    def ts(key):
        return post.sample_exact(key, state)

    def greedy(key):
        return state.mean

    def hyperagent(key):
        return post.sample_with_index(state, jax.random.normal(key, (max_index,)) * mask)

    def ensemble(key):
        member = jax.random.randint(key, (), 0, num_index)
        xi = jnp.sqrt(num_index) * jax.nn.one_hot(member, max_index)
        return post.sample_with_index(state, xi)

    branches = (ts, greedy, hyperagent, ensemble)
    if isinstance(agent_id, int):
        # A static agent compiles only its own branch (no Cholesky in a HyperAgent-only program).
        return branches[agent_id](key)
    return jax.lax.switch(agent_id, branches, key)


def _run_linear(
    key: chex.PRNGKey,
    env: bandits.LinearBandit,
    num_steps: int,
    agent_id: int | jax.Array,
    num_index: int | jax.Array,
    max_index: int,
    prior_std: float = 1.0,
) -> jax.Array:
    d = env.arms.shape[1]
    gaussian_z = agent_id == LINEAR_AGENTS.index("ensemble")
    k_init, k_run = jax.random.split(key)
    z0_dxm = jax.vmap(lambda k: _padded_perturbation(k, num_index, max_index, gaussian_z))(
        jax.random.split(k_init, d)
    )
    state = post.LinearPosterior(
        mean=jnp.zeros((d,)),
        cov=prior_std**2 * jnp.eye(d),
        precision=jnp.eye(d) / prior_std**2,
        factor=prior_std * z0_dxm,
        noise_std=env.noise_std,
    )

    def step(state, key_t):
        k_act, k_rew, k_z = jax.random.split(key_t, 3)
        theta_d = _choose_theta(k_act, state, agent_id, num_index)
        arm = jnp.argmax(env.arms @ theta_d)
        reward, regret = bandits.pull(k_rew, env, arm)
        z_m = _padded_perturbation(k_z, num_index, max_index, gaussian_z)
        return post.update(state, env.arms[arm], reward, z_m), regret

    _, regret_T = jax.lax.scan(step, state, jax.random.split(k_run, num_steps))
    return regret_T


def run_linear_agent(
    key: chex.PRNGKey,
    env: bandits.LinearBandit,
    num_steps: int,
    agent: str = "hyperagent",
    num_index: int = 10,
    prior_std: float = 1.0,
) -> jax.Array:
    """Runs one linear agent for `num_steps` pulls as one `lax.scan`; vmap over keys/envs for seeds.

    The agent's prior is N(0, prior_std^2 I) with A_0 = prior_std Z_0 (rows of Z_0 from the buffer
    distribution: sphere for HyperAgent, N(0, I/M) for ensembles) and its noise model is the
    environment's sigma.

    Returns:
      Per-step pseudo-regret, `[num_steps]`.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if num_index < 1:
        raise ValueError(f"num_index must be >= 1, got {num_index}")
    return _run_linear(key, env, num_steps, _agent_id(agent), num_index, num_index, prior_std)


@functools.partial(
    jax.jit,
    static_argnames=("num_steps", "max_index", "dim", "num_arms"),
    compiler_options=FAST_COMPILE,
)
def _linear_sweep(keys_S, agent_ids_C, num_indices_C, num_steps, max_index, dim, num_arms, noise):
    def one(agent_id, num_index, key):
        k_env, k_agent = jax.random.split(key)
        env = bandits.make_linear_bandit(k_env, dim, num_arms, 1.0, noise)
        return _run_linear(k_agent, env, num_steps, agent_id, num_index, max_index)

    over_seeds = jax.vmap(one, in_axes=(None, None, 0))
    return jax.vmap(over_seeds, in_axes=(0, 0, None))(agent_ids_C, num_indices_C, keys_S)


def run_linear_sweep(
    keys_S: jax.Array,
    agents: tuple[tuple[str, int], ...],
    num_steps: int,
    dim: int = 10,
    num_arms: int = 100,
    noise_std: float = 1.0,
) -> jax.Array:
    """HyperAgent check experiment: every (agent, M) of `agents` on S seeds, one compiled program.

    Seed s uses the same bandit instance for every agent (common random numbers), so differences
    between agents are not instance noise.

    Returns:
      Per-step pseudo-regret, `[C, S, num_steps]` for the C entries of `agents`.
    """
    if not agents:
        raise ValueError("agents must name at least one (agent, num_index) pair")
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    ids = jnp.asarray([_agent_id(a) for a, _ in agents], jnp.int32)
    ms = [int(m) for _, m in agents]
    if min(ms) < 1:
        raise ValueError(f"every num_index must be >= 1, got {ms}")
    return _linear_sweep(
        keys_S, ids, jnp.asarray(ms, jnp.int32), num_steps, max(ms), dim, num_arms, noise_std
    )


# ---------------------------------------------------------------------------------------------
# Neural hypermodel.
# ---------------------------------------------------------------------------------------------


class Hypermodel(NamedTuple):
    """Parameters of one branch: ReLU MLP features and the linear hypermodel head.

    Attributes:
      layers: tuple of (weight [in, out], bias [out]) per hidden layer.
      head_w: W, `[A, D, M]`.
      head_b: b, `[A, D]`.
    """

    layers: tuple[tuple[jax.Array, jax.Array], ...]
    head_w: jax.Array
    head_b: jax.Array


class HypermodelConfig(NamedTuple):
    """Static hypermodel settings (spec (b) defaults of the bandit `run_nonlinear.py` column)."""

    num_index: int = 4
    hidden: tuple[int, ...] = (64, 64)
    num_actions: int = 1
    prior_std: float = 1.0
    prior_scale: float = 5.0
    posterior_scale: float = 1.0
    noise_std: float = 0.1
    weight_decay: float = 0.01


DEFAULT_HYPERMODEL = HypermodelConfig()


def _mlp_init(key: chex.PRNGKey, sizes: tuple[int, ...]) -> tuple[tuple[jax.Array, jax.Array], ...]:
    layers = []
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    for k, (n_in, n_out) in zip(jax.random.split(key, len(pairs)), pairs, strict=True):
        kw, kb = jax.random.split(k)
        bound = 1.0 / jnp.sqrt(n_in)
        layers.append(
            (
                jax.random.uniform(kw, (n_in, n_out), minval=-bound, maxval=bound),
                jax.random.uniform(kb, (n_out,), minval=-bound, maxval=bound),
            )
        )
    return tuple(layers)


def _unit_rows(key: chex.PRNGKey, shape: tuple[int, ...]) -> jax.Array:
    g = jax.random.normal(key, shape)
    return g / jnp.linalg.norm(g, axis=-1, keepdims=True)


def hypermodel_init(
    key: chex.PRNGKey, input_dim: int, config: HypermodelConfig = DEFAULT_HYPERMODEL
) -> tuple[Hypermodel, Hypermodel]:
    """Returns (trainable params, frozen prior params) of the hypermodel.

    Trainable head: W Xavier-normal, b a unit vector x prior_std per action; prior head: rows of W0
    (length M) Gaussian normalised to unit norm x prior_std, b0 a unit vector x prior_std.
    """
    if input_dim < 1:
        raise ValueError(f"input_dim must be >= 1, got {input_dim}")
    sizes = (input_dim, *config.hidden)
    feat = sizes[-1]
    a, m = config.num_actions, config.num_index
    k_body, k_w, k_b, k_pbody, k_pw, k_pb = jax.random.split(key, 6)
    xavier = jnp.sqrt(2.0 / (m + a * feat))
    params = Hypermodel(
        layers=_mlp_init(k_body, sizes),
        head_w=xavier * jax.random.normal(k_w, (a, feat, m)),
        head_b=config.prior_std * _unit_rows(k_b, (a, feat)),
    )
    prior = Hypermodel(
        layers=_mlp_init(k_pbody, sizes),
        head_w=config.prior_std * _unit_rows(k_pw, (a, feat, m)),
        head_b=config.prior_std * _unit_rows(k_pb, (a, feat)),
    )
    return params, prior


def features(params: Hypermodel, x_ND: jax.Array) -> jax.Array:
    """h(x): the last hidden ReLU layer of the MLP (the identity without hidden layers)."""
    h = x_ND
    for w, b in params.layers:
        h = jax.nn.relu(h @ w + b)
    return h


def head_apply(params: Hypermodel, h_NxF: jax.Array, xi_JxM: jax.Array) -> jax.Array:
    """<h(x_n), W_a xi_j + b_a> for all n, j, a: `[N, J, A]`."""
    theta_JxAxF = jnp.einsum("afm,jm->jaf", params.head_w, xi_JxM) + params.head_b
    return jnp.einsum("nf,jaf->nja", h_NxF, theta_JxAxF)


def hypermodel_apply(
    params: Hypermodel,
    prior: Hypermodel,
    x_ND: jax.Array,
    xi_JxM: jax.Array,
    config: HypermodelConfig = DEFAULT_HYPERMODEL,
) -> jax.Array:
    """f(x_n, xi_j)_a = s_post <h_w(x), W_a xi + b_a> + s_prior <h_0(x), W0_a xi + b0_a>.

    Returns:
      Values `[N, J, A]` for N inputs, J indices and A actions.
    """
    chex.assert_rank([x_ND, xi_JxM], 2)
    out = config.posterior_scale * head_apply(params, features(params, x_ND), xi_JxM)
    if config.prior_scale:
        prior = jax.lax.stop_gradient(prior)
        out = out + config.prior_scale * head_apply(prior, features(prior, x_ND), xi_JxM)
    return out


def hypermodel_loss(
    params: Hypermodel,
    prior: Hypermodel,
    x_ND: jax.Array,
    action_N: jax.Array,
    y_N: jax.Array,
    z_NxM: jax.Array,
    xi_JxM: jax.Array,
    buffer_size: jax.Array,
    config: HypermodelConfig = DEFAULT_HYPERMODEL,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Perturbed-target loss of seed system (b): returns (loss, metrics).

    L = mean_n mean_j (y_n + sigma <xi_j, z_n> - f(x_n, xi_j)_{a_n})^2 + (beta/|D|) R(params).
    """
    chex.assert_rank([x_ND, action_N, y_N, z_NxM, xi_JxM], [2, 1, 1, 2, 2])
    chex.assert_equal_shape_prefix([x_ND, action_N, y_N, z_NxM], 1)
    f_NxJxA = hypermodel_apply(params, prior, x_ND, xi_JxM, config)
    f_NxJ = jnp.take_along_axis(f_NxJxA, action_N[:, None, None], axis=-1)[..., 0]
    target_NxJ = y_N[:, None] + config.noise_std * z_NxM @ xi_JxM.T
    mse = jnp.mean((jax.lax.stop_gradient(target_NxJ) - f_NxJ) ** 2)
    theta = jnp.einsum("afm,jm->jaf", params.head_w, xi_JxM) + params.head_b
    reg = jnp.mean(theta**2)
    loss = mse + config.weight_decay / jnp.maximum(buffer_size, 1.0) * reg
    return loss, {"mse": mse, "reg": reg}


# ---------------------------------------------------------------------------------------------
# Neural agent on the linear bandit (arm features are the network inputs).
# ---------------------------------------------------------------------------------------------


class NeuralAgentConfig(NamedTuple):
    """Static settings of the neural bandit agent (spec (b) `run_nonlinear.py` defaults).

    `index_kind`/`update_kind`/`buffer_kind` follow our design's sp/pn/sp; ensemble sampling uses
    oh/oh/gs and greedy ignores the index (xi = 0) and drops the prior branch.
    """

    agent: str = "hyperagent"
    hypermodel: HypermodelConfig = HypermodelConfig()
    index_kind: str = "sp"
    update_kind: str = "pn"
    buffer_kind: str = "sp"
    num_update_samples: int = 16
    learning_rate: float = 1e-3
    batch_size: int = 128
    update_start: int = 128
    update_every: int = 4


DEFAULT_NEURAL_AGENT = NeuralAgentConfig()


def neural_agent_config(agent: str = "hyperagent", **overrides: Any) -> NeuralAgentConfig:
    """Agent config with the per-agent index kinds filled in; `overrides` replace any field."""
    if agent not in NEURAL_AGENTS:
        raise ValueError(f"unknown neural agent {agent!r}; expected one of {NEURAL_AGENTS}")
    base = NeuralAgentConfig(agent=agent)
    if agent == "ensemble":
        base = base._replace(index_kind="oh", update_kind="oh", buffer_kind="gs")
    if agent == "greedy":
        base = base._replace(hypermodel=base.hypermodel._replace(prior_scale=0.0))
    return base._replace(**overrides)


class NeuralBuffer(NamedTuple):
    """Fixed-capacity replay of (x, action, reward, z) with the number of filled rows."""

    x: jax.Array
    action: jax.Array
    reward: jax.Array
    z: jax.Array
    count: jax.Array


def buffer_init(capacity: int, input_dim: int, num_index: int) -> NeuralBuffer:
    return NeuralBuffer(
        x=jnp.zeros((capacity, input_dim)),
        action=jnp.zeros((capacity,), jnp.int32),
        reward=jnp.zeros((capacity,)),
        z=jnp.zeros((capacity, num_index)),
        count=jnp.zeros((), jnp.int32),
    )


def buffer_add(
    buf: NeuralBuffer, x: jax.Array, action: jax.Array, reward: jax.Array, z: jax.Array
) -> NeuralBuffer:
    i = buf.count % buf.x.shape[0]
    return NeuralBuffer(
        x=buf.x.at[i].set(x),
        action=buf.action.at[i].set(action),
        reward=buf.reward.at[i].set(reward),
        z=buf.z.at[i].set(z),
        count=buf.count + 1,
    )


def train_step(
    key: chex.PRNGKey,
    params: Hypermodel,
    prior: Hypermodel,
    opt_state: optax.OptState,
    buf: NeuralBuffer,
    config: NeuralAgentConfig,
    optimizer: optax.GradientTransformation,
) -> tuple[Hypermodel, optax.OptState, dict[str, jax.Array]]:
    """One Adam step on a uniform minibatch of the filled part of the buffer."""
    k_idx, k_xi = jax.random.split(key)
    filled = jnp.minimum(buf.count, buf.x.shape[0])
    idx = jax.random.randint(k_idx, (config.batch_size,), 0, jnp.maximum(filled, 1))
    xi_JxM = post.update_index_set(
        k_xi, config.hypermodel.num_index, config.update_kind, config.num_update_samples
    )
    (loss, metrics), grads = jax.value_and_grad(hypermodel_loss, has_aux=True)(
        params,
        prior,
        buf.x[idx],
        buf.action[idx],
        buf.reward[idx],
        buf.z[idx],
        xi_JxM,
        filled.astype(jnp.float32),
        config.hypermodel,
    )
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, {"loss": loss, **metrics}


def act_index(key: chex.PRNGKey, config: NeuralAgentConfig) -> jax.Array:
    """The index of one decision: xi from `index_kind`, or 0 for greedy."""
    m = config.hypermodel.num_index
    if config.agent in ("greedy", "egreedy"):
        return jnp.zeros((1, m))
    return post.sample_index(key, m, config.index_kind, (1,))


def run_neural_agent(
    key: chex.PRNGKey,
    env: bandits.LinearBandit,
    num_steps: int,
    config: NeuralAgentConfig = DEFAULT_NEURAL_AGENT,
) -> jax.Array:
    """Neural HyperAgent (or ensemble / greedy) on a linear bandit; arms are the network inputs.

    The loop is an outer scan over blocks of `update_every` pulls, each followed by one Adam step
    (masked out before `update_start`), so the update is not a `cond` that vmap would turn into
    always-computed selects.

    Returns:
      Per-step pseudo-regret, `[num_steps]` (num_steps rounded up to a multiple of update_every
      is run; the extra steps are dropped).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    hcfg = config.hypermodel
    if hcfg.num_actions != 1:
        raise ValueError(f"arm-feature bandits need num_actions=1, got {hcfg.num_actions}")
    k_init, k_run = jax.random.split(key)
    d = env.arms.shape[1]
    params, prior = hypermodel_init(k_init, d, hcfg)
    optimizer = optax.adam(config.learning_rate)
    opt_state = optimizer.init(params)
    num_blocks = -(-num_steps // config.update_every)
    buf = buffer_init(num_blocks * config.update_every, d, hcfg.num_index)
    prior_feat_KxF = features(prior, env.arms)

    def act(carry, key_t):
        params, buf = carry
        k_xi, k_rew, k_z = jax.random.split(key_t, 3)
        xi_1xM = act_index(k_xi, config)
        values_K = (
            config.hypermodel.posterior_scale
            * head_apply(params, features(params, env.arms), xi_1xM)[:, 0, 0]
        )
        if hcfg.prior_scale:
            values_K += hcfg.prior_scale * head_apply(prior, prior_feat_KxF, xi_1xM)[:, 0, 0]
        arm = jnp.argmax(values_K)
        reward, regret = bandits.pull(k_rew, env, arm)
        z_m = post.sample_perturbation(k_z, hcfg.num_index, config.buffer_kind)
        return (params, buffer_add(buf, env.arms[arm], jnp.int32(0), reward, z_m)), regret

    def block(carry, key_b):
        params, opt_state, buf = carry
        k_acts, k_train = jax.random.split(key_b)
        (params, buf), regret = jax.lax.scan(
            act, (params, buf), jax.random.split(k_acts, config.update_every)
        )
        new_params, new_opt, _ = train_step(
            k_train, params, prior, opt_state, buf, config, optimizer
        )
        ready = buf.count >= config.update_start
        params, opt_state = jax.tree.map(
            lambda new, old: jnp.where(ready, new, old), (new_params, new_opt), (params, opt_state)
        )
        return (params, opt_state, buf), regret

    _, regret = jax.lax.scan(block, (params, opt_state, buf), jax.random.split(k_run, num_blocks))
    return regret.reshape(-1)[:num_steps]


@functools.partial(
    jax.jit,
    static_argnames=("num_steps", "config", "dim", "num_arms"),
    compiler_options=FAST_COMPILE,
)
def run_neural_seeds(
    keys_S: jax.Array,
    num_steps: int,
    config: NeuralAgentConfig,
    dim: int,
    num_arms: int,
    noise_std: float = 1.0,
) -> jax.Array:
    """Neural agent over S seeds (vmapped), each on a fresh linear bandit: `[S, T]` regret."""

    def one(key):
        k_env, k_agent = jax.random.split(key)
        env = bandits.make_linear_bandit(k_env, dim, num_arms, 1.0, noise_std)
        return run_neural_agent(k_agent, env, num_steps, config)

    return jax.vmap(one)(keys_S)


# ---------------------------------------------------------------------------------------------
# Contextual bandit with one head per action (GPT-HyperAgent's moderation setting).
# ---------------------------------------------------------------------------------------------

CONTEXTUAL_AGENTS = ("hyperagent", "ensemble", "greedy", "egreedy")


def contextual_agent_config(agent: str = "hyperagent", **overrides: Any) -> NeuralAgentConfig:
    """Config for `run_contextual_agent` (spec (b) moderation `run_llm.py` column).

    Defaults: M = 4, N_pS = 16, index pm/pm/sp, sigma = 0.01, Adam 1e-3, prior / posterior scale
    0.1 / 0.1, weight decay 0.01, updates every step from t = 2, two actions. `egreedy` is greedy
    (no prior branch, xi = 0) plus uniform random actions with probability `epsilon`.
    """
    if agent not in CONTEXTUAL_AGENTS:
        raise ValueError(f"unknown contextual agent {agent!r}; expected {CONTEXTUAL_AGENTS}")
    hyper = HypermodelConfig(
        num_index=4, num_actions=2, prior_scale=0.1, posterior_scale=0.1, noise_std=0.01
    )
    base = NeuralAgentConfig(
        agent=agent,
        hypermodel=hyper,
        index_kind="pm",
        update_kind="pm",
        buffer_kind="sp",
        batch_size=2,
        update_start=2,
        update_every=1,
    )
    if agent == "ensemble":
        base = base._replace(index_kind="oh", update_kind="oh", buffer_kind="gs")
    if agent in ("greedy", "egreedy"):
        base = base._replace(hypermodel=hyper._replace(prior_scale=0.0))
    return base._replace(**overrides)


def run_contextual_agent(
    key: chex.PRNGKey,
    contexts_TxD: jax.Array,
    rewards_TxA: jax.Array,
    config: NeuralAgentConfig,
    epsilon: float = 0.1,
) -> jax.Array:
    """One pass over a context stream: act, observe the chosen action's reward, train.

    Args:
      key: PRNG key.
      contexts_TxD: context features x_t (e.g. transformer features of post t).
      rewards_TxA: reward of every action at step t (only the chosen one is revealed).
      config: `contextual_agent_config(...)`; `hypermodel.num_actions` must equal A.
      epsilon: exploration rate of the `egreedy` agent (ignored by the others).

    Returns:
      Per-step regret max_a r_t[a] - r_t[a_t], `[T]` (T rounded down to a multiple of
      `update_every`).
    """
    chex.assert_rank([contexts_TxD, rewards_TxA], 2)
    chex.assert_equal_shape_prefix([contexts_TxD, rewards_TxA], 1)
    hcfg = config.hypermodel
    if hcfg.num_actions != rewards_TxA.shape[1]:
        raise ValueError(
            f"hypermodel.num_actions={hcfg.num_actions} but rewards have {rewards_TxA.shape[1]}"
        )
    num_blocks = contexts_TxD.shape[0] // config.update_every
    if num_blocks < 1:
        raise ValueError(f"need at least update_every={config.update_every} contexts")
    t_used = num_blocks * config.update_every
    d = contexts_TxD.shape[1]
    k_init, k_run = jax.random.split(key)
    params, prior = hypermodel_init(k_init, d, hcfg)
    optimizer = optax.adam(config.learning_rate)
    opt_state = optimizer.init(params)
    buf = buffer_init(t_used, d, hcfg.num_index)

    def act(carry, inp):
        params, buf = carry
        key_t, x_d, r_a = inp
        k_xi, k_eps, k_rand, k_z = jax.random.split(key_t, 4)
        values_A = hypermodel_apply(params, prior, x_d[None], act_index(k_xi, config), hcfg)[0, 0]
        action = jnp.argmax(values_A)
        if config.agent == "egreedy":
            explore = jax.random.bernoulli(k_eps, epsilon)
            action = jnp.where(explore, jax.random.randint(k_rand, (), 0, r_a.shape[0]), action)
        z_m = post.sample_perturbation(k_z, hcfg.num_index, config.buffer_kind)
        buf = buffer_add(buf, x_d, action.astype(jnp.int32), r_a[action], z_m)
        return (params, buf), jnp.max(r_a) - r_a[action]

    def block(carry, inp):
        params, opt_state, buf = carry
        key_b, x_bxd, r_bxa = inp
        k_acts, k_train = jax.random.split(key_b)
        (params, buf), regret = jax.lax.scan(
            act, (params, buf), (jax.random.split(k_acts, config.update_every), x_bxd, r_bxa)
        )
        new_params, new_opt, _ = train_step(
            k_train, params, prior, opt_state, buf, config, optimizer
        )
        ready = buf.count >= config.update_start
        params, opt_state = jax.tree.map(
            lambda new, old: jnp.where(ready, new, old), (new_params, new_opt), (params, opt_state)
        )
        return (params, opt_state, buf), regret

    blocks = (
        jax.random.split(k_run, num_blocks),
        contexts_TxD[:t_used].reshape(num_blocks, config.update_every, d),
        rewards_TxA[:t_used].reshape(num_blocks, config.update_every, -1),
    )
    _, regret = jax.lax.scan(block, (params, opt_state, buf), blocks)
    return regret.reshape(-1)
