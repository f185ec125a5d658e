# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Logit dynamics of softmax policy gradients
#
# For a softmax policy $P = \mathrm{softmax}(z)$, a sampled action $c$, advantage $A$ and learning
# rate $\eta$, the policy-gradient step on the logits is $\Delta z = \eta A\,\nabla_z \log P_c =
# \eta A (e_c - P)$, so
#
# $$\|\Delta z\|_2 = |\eta A|\,\sqrt{1 - 2P_c + C(P)}, \qquad C(P) = \sum_j P_j^2 .$$
#
# (Y. Li, *Logit Dynamics in Softmax Policy Gradient Methods*, arXiv:2506.12912. Wang et al.,
# *Entropy-Modulated Policy Gradients*, arXiv:2509.09265, state the on-policy expectation of
# section 2, item 4, as their Proposition 1.)
#
# The notebook (1) checks the formula in `empg_jax.ops` against float64 autodiff on $10^5$ random
# cases, (2) checks its corollaries, (3) measures the logit change of real SGD steps on softmax
# policies and compares it with the formula, (4) splits steps by the probability of the chosen
# action, and (5) shows what EMPG's entropy scaling does and does not do. Every printed number
# is computed here; every stated property is an `assert`, so the notebook fails if one breaks.
#
# Render with `make notebooks` (executed `.ipynb` + PNGs under `analysis/figures/`).

# %%
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

if "MPLBACKEND" not in os.environ:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import optax

from empg_jax import ops
from empg_jax.losses import empg_advantages

FIGURES = Path(os.environ.get("EMPG_FIGURES_DIR", Path("analysis") / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
SEED = int(os.environ.get("EMPG_SEED", "0"))
print("jax", jax.__version__, "devices:", jax.devices()[0].platform, "figures ->", FIGURES)

# %% [markdown]
# ## 1. The formula against float64 autodiff
# $10^5$ random cases: $n \in [2, 1000]$ actions, log-uniform so that small action sets, where
# confident rows are common, are well represented (logits padded to 1000 with $-\infty$ so one
# compiled shape serves every $n$), Gaussian logits with a scale log-uniform in $[0.1, 10]$,
# $\eta A \in [-2, 2]$. The logits are drawn as float32 values, the inputs of
# `ops.logit_update_norm` (which computes in float32), and promoted exactly to float64 for the
# references, so both sides see the same numbers. Two float64 references, both
# $|\eta A|\,\|\nabla_z \log P_c\|$ by `jax.grad` under `jax.enable_x64`:
#
# - (a) the gradient of `jax.nn.log_softmax(z)[c]`. Its $c$ component $1 - P_c$ is formed by
#   subtraction, so where $1 - P_c < 10^{-8}$ even float64 keeps fewer than 8 digits;
# - (b) the gradient of $\log P_c = -\mathrm{log1p}\big(\sum_{j \ne c} e^{z_j - z_c}\big)$, which
#   subtracts nothing and is accurate on every case.

# %%
CASES, V, CHUNK = 100_000, 1000, 10_000


def log_pc_softmax(z, c):
    return jax.nn.log_softmax(z)[c]


def log_pc_log1p(z, c):
    others = (jnp.arange(z.shape[0]) != c) & jnp.isfinite(z)
    return -jnp.log1p(jnp.sum(jnp.where(others, jnp.exp(z - z[c]), 0.0)))


@jax.jit
def cases_and_references(chunk):
    """CHUNK random cases and both float64 references; trace and call with x64 enabled.

    The logits and eta*A are drawn as float32 values (what the float32 formula is fed) and
    promoted exactly to float64 for the references.
    """
    keys = jax.random.split(jax.random.fold_in(jax.random.key(SEED), chunk), 5)
    n = jnp.exp(jax.random.uniform(keys[0], (CHUNK,), minval=np.log(2), maxval=np.log(V + 1)))
    n = jnp.clip(n.astype(jnp.int32), 2, V)
    scale = jnp.exp(jax.random.uniform(keys[1], (CHUNK, 1), jnp.float32, np.log(0.1), np.log(10)))
    z32 = jax.random.normal(keys[2], (CHUNK, V), jnp.float32) * scale
    z32 = jnp.where(jnp.arange(V) < n[:, None], z32, -jnp.inf)
    c = jax.random.randint(keys[3], (CHUNK,), 0, n).astype(jnp.int32)
    eta_a32 = jax.random.uniform(keys[4], (CHUNK,), jnp.float32, -2.0, 2.0)
    z, eta_a = z32.astype(jnp.float64), eta_a32.astype(jnp.float64)

    def norm(log_pc):
        grad = jax.vmap(jax.grad(log_pc))(z, c)
        return jnp.abs(eta_a) * jnp.sqrt(jnp.sum(jnp.where(jnp.isfinite(z), grad, 0.0) ** 2, -1))

    p = jax.nn.softmax(z)
    one_minus_pc = jnp.sum(jnp.where(jnp.arange(V) == c[:, None], 0.0, p), -1)
    return (n, z32, c, eta_a32), (norm(log_pc_softmax), norm(log_pc_log1p), one_minus_pc)


formula_f32 = jax.jit(ops.logit_update_norm)
err_b, diff_ab, confident, smallest = [], [], [], []
for chunk in range(CASES // CHUNK):
    with jax.enable_x64(True):
        inputs, references = cases_and_references(chunk)
        norm_a, norm_b, one_minus_pc = map(np.asarray, references)
    assert norm_a.dtype == norm_b.dtype == one_minus_pc.dtype == np.float64
    formula = np.asarray(formula_f32(*inputs[1:]))
    assert formula.dtype == np.float32
    good = one_minus_pc > 1e-8  # where (a) still has at least ~8 digits
    err_b.append(np.abs(formula - norm_b) / norm_b)
    diff_ab.append((np.abs(norm_a - norm_b) / norm_b)[good])
    confident.append(~good)
    smallest.append(one_minus_pc.min())
    if chunk == 0:  # kept for the corollaries
        first_chunk = (*map(np.asarray, inputs), one_minus_pc)
err_b, diff_ab, confident = map(np.concatenate, (err_b, diff_ab, confident))

print(f"{CASES} random cases, n in [2, {V}], references in float64")
print(f"(a) vs (b) where 1 - P_c > 1e-8: max relative difference {diff_ab.max():.1e}")
print(
    "formula (ops, float32) vs autodiff (b, float64): max relative error",
    f"{err_b.max():.2e} over all cases; {err_b[confident].max():.2e} over the",
    f"{confident.sum()} cases with 1 - P_c < 1e-8 (down to {min(smallest):.0e})",
)
assert diff_ab.max() < 1e-6 and confident.sum() > 0
assert err_b.max() < 1e-5

# %% [markdown]
# ## 2. Corollaries
# 1. The components of $\Delta z$ sum to zero (the step is orthogonal to the all-ones direction,
#    which softmax ignores).
# 2. Sandwich: $(1-P_c)\sqrt{n/(n-1)} \le \sqrt{1-2P_c+C} \le \sqrt2\,(1-P_c)$.
# 3. To first order, $\Delta \log P_c \approx \eta A (1 - 2P_c + C)$: the relative error of this
#    approximation shrinks in proportion to $\eta$.
# 4. On-policy ($c \sim P$): $E\|\Delta z\|^2/(\eta A)^2 = 1 - C(P) = 1 - e^{-H_2(P)}$ (Monte
#    Carlo; $H_2$ is the Rényi-2 entropy). Wang et al. state this, with the first bound of
#    item 5, as their Proposition 1.
# 5. $1 - C(P) \le 1 - e^{-H(P)} \le H(P)$; also $1 - C \le 1 - 1/n$ and, by Fano's inequality,
#    $1 - C \ge (H - \log 2)/\log(n-1)$.

# %%
n0, z0, c0, eta_a0, one_minus_pc0 = first_chunk
update = np.asarray(jax.jit(ops.logit_update)(z0, c0, eta_a0), np.float64)
update_norm = np.linalg.norm(update, axis=-1)
sum_ratio = np.abs(update.sum(-1)) / update_norm
print(f"1. max |sum_j dz_j| / ||dz|| over {CHUNK} cases: {sum_ratio.max():.1e}")
assert sum_ratio.max() < 1e-6

unit = np.asarray(jax.jit(ops.logit_update_norm)(z0, c0), np.float64)
lower, upper = one_minus_pc0 * np.sqrt(n0 / (n0 - 1)), np.sqrt(2) * one_minus_pc0
ratio = unit / one_minus_pc0
print(
    f"2. norm / (1 - P_c) spans [{ratio.min():.4f}, {ratio.max():.4f}];",
    f"bounds [1, {np.sqrt(2):.4f}]",
)
assert np.all(unit >= lower * (1 - 1e-5)) and np.all(unit <= upper * (1 + 1e-5))

rng = np.random.default_rng(SEED)  # corollaries 3-5 draw with NumPy


def log_softmax_np(z):
    shifted = z - z.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


z10 = rng.normal(size=(512, 10)) * 2.0  # NumPy float64 throughout
c10, a10 = rng.integers(0, 10, 512), rng.uniform(-2.0, 2.0, 512)
p10 = np.exp(log_softmax_np(z10))
rows = np.arange(512)
first_order_errors = []
for eta in (1e-2, 1e-3, 1e-4):
    dz = eta * a10[:, None] * (np.eye(10)[c10] - p10)
    actual = log_softmax_np(z10 + dz)[rows, c10] - log_softmax_np(z10)[rows, c10]
    predicted = eta * a10 * (1 - 2 * p10[rows, c10] + np.sum(p10**2, -1))
    first_order_errors.append(np.max(np.abs(actual - predicted) / np.abs(predicted)))
    print(
        f"3. eta={eta:g}: max relative error of eta*A*(1-2P_c+C) as d log P_c = "
        f"{first_order_errors[-1]:.1e}"
    )
shrink = np.array(first_order_errors[:-1]) / np.array(first_order_errors[1:])
assert np.all((shrink > 8) & (shrink < 12)), shrink  # error ~ eta: a first-order approximation

NUM_DRAWS = 20_000


@jax.jit
def monte_carlo(logits_Px10, key):
    """Per policy: mean and standard error of ||dz||^2/(eta A)^2 over NUM_DRAWS draws c ~ P."""
    actions = jax.random.categorical(key, logits_Px10, shape=(NUM_DRAWS, logits_Px10.shape[0]))
    sq = (
        ops.logit_update_norm(
            jnp.broadcast_to(logits_Px10, (NUM_DRAWS, *logits_Px10.shape)), actions
        )
        ** 2
    )
    return sq.mean(0), sq.std(0) / np.sqrt(NUM_DRAWS)


logits_mc = jnp.log(jnp.asarray(rng.dirichlet(np.full(10, 0.5), 64), jnp.float32))
mc_mean, mc_stderr = monte_carlo(logits_mc, jax.random.key(SEED + 4))
mc_z = np.asarray((mc_mean - (1.0 - ops.collision_probability(logits_mc))) / mc_stderr)
print(
    f"4. Monte Carlo E||dz||^2/(eta A)^2 vs 1 - C over 64 policies ({NUM_DRAWS} draws each):",
    f"largest |difference| = {np.abs(mc_z).max():.2f} standard errors",
)
assert np.abs(mc_z).max() < 5.0
one_minus_c_h2 = 1 - jnp.exp(-ops.renyi2_entropy(logits_mc))
assert jnp.allclose(1.0 - ops.collision_probability(logits_mc), one_minus_c_h2, atol=1e-6)

N_DIR = 50
dir_logits = jnp.log(jnp.asarray(rng.dirichlet(np.full(N_DIR, 0.3), 10_000), jnp.float32))
one_minus_c = np.asarray(1.0 - ops.collision_probability(dir_logits), np.float64)
entropy = np.asarray(ops.entropy_from_logits(dir_logits), np.float64)
tol = 1e-6
assert np.all(one_minus_c <= 1 - np.exp(-entropy) + tol) and np.all(1 - np.exp(-entropy) <= entropy)
assert np.all(one_minus_c <= 1 - 1 / N_DIR + tol)
assert np.all(one_minus_c >= (entropy - np.log(2)) / np.log(N_DIR - 1) - tol)
print(
    f"5. on 10,000 Dirichlet(0.3) distributions over {N_DIR} actions:",
    "(H - log 2)/log(n-1) <= 1 - C <= 1 - exp(-H) <= H and 1 - C <= 1 - 1/n all hold",
)

# %% [markdown]
# ## 3. Measured: the logit change of an SGD step
# The checks above evaluate formulas. Here the update is *measured*: a parametrised softmax policy
# takes one `optax.sgd` step on the loss $-A \log \pi_\theta(c)$ (gradient ascent on the
# surrogate $A \log \pi_\theta(c)$, gradient by `jax.grad`), and $\Delta z = z_{\theta'} -
# z_\theta$ is read off the policy's logits before and after. All of it runs in float64 so the
# difference of logits keeps its digits; the formula is `ops.logit_update_norm` in float32.
#
# **Tabular policy** ($z = \theta$). The Jacobian $\partial z/\partial\theta$ is the identity, so
# one SGD step moves the logits by exactly $\eta A (e_c - P)$. A 10-armed bandit: Gaussian rewards
# (sd 0.5) with arm means spread in $[0, 1]$, advantage $A_t = r_t - b_t$ with a running-average
# baseline, $\eta = 0.5$, 512 independent runs of 400 steps (vmapped).

# %%
ARMS, STEPS, RUNS, ETA = 10, 400, 512, 0.5
optimizer = optax.sgd(ETA)


def pg_loss(params, logits_fn, action, advantage):
    return -advantage * jax.nn.log_softmax(logits_fn(params))[action]


def sgd_logit_change(params, opt_state, logits_fn, action, advantage):
    """One SGD step on -A log pi(action); returns (params', opt_state', logits' - logits)."""
    grads = jax.grad(pg_loss)(params, logits_fn, action, advantage)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    return new_params, opt_state, logits_fn(new_params) - logits_fn(params)


def tabular_logits(params):
    return params["z"]


def bandit_run(key):
    arm_means = jnp.linspace(0.0, 1.0, ARMS)

    def step(carry, key_t):
        params, opt_state, baseline = carry
        k_a, k_r = jax.random.split(key_t)
        z = tabular_logits(params)
        action = jax.random.categorical(k_a, z)
        reward = arm_means[action] + 0.5 * jax.random.normal(k_r)
        advantage = reward - baseline
        params, opt_state, dz = sgd_logit_change(
            params, opt_state, tabular_logits, action, advantage
        )
        p = jax.nn.softmax(z)
        others = jnp.where(jnp.arange(ARMS) == action, 0.0, p)
        log = {
            "measured": jnp.linalg.norm(dz),
            "formula": ops.logit_update_norm(z, action, advantage, ETA),
            "vector_gap": jnp.linalg.norm(dz - ops.logit_update(z, action, advantage, ETA)),
            "component_sum": jnp.abs(jnp.sum(dz)),
            "eta_a": jnp.abs(ETA * advantage),
            "advantage": advantage,
            "p_chosen": p[action],
            "one_minus_pc": others.sum(),
            "p_other_max": others.max(),
            "collision": jnp.sum(p * p),
            "p_best": p[ARMS - 1],
            "entropy": ops.entropy_from_logits(z),
            "one_minus_c": 1.0 - ops.collision_probability(z),
        }
        return (params, opt_state, baseline + 0.05 * (reward - baseline)), log

    params = {"z": jnp.zeros(ARMS)}
    init = (params, optimizer.init(params), jnp.zeros(()))
    return jax.lax.scan(step, init, jax.random.split(key, STEPS))[1]


with jax.enable_x64(True):
    logs = jax.jit(jax.vmap(bandit_run))(jax.random.split(jax.random.key(SEED + 6), RUNS))
    assert logs["measured"].dtype == jnp.float64
    logs = jax.tree.map(np.asarray, logs)
norm_err = np.abs(logs["measured"] - logs["formula"]) / logs["measured"]
vector_err = logs["vector_gap"] / logs["measured"]
print(
    f"{RUNS * STEPS} SGD steps; measured ||dz|| spans [{logs['measured'].min():.1e}, "
    f"{logs['measured'].max():.2f}]"
)
print(f"max relative error, measured ||dz|| vs |eta A| sqrt(1 - 2P_c + C): {norm_err.max():.2e}")
print(f"max ||dz_measured - eta A (e_c - P)|| / ||dz_measured||: {vector_err.max():.2e}")
sum_err = logs["component_sum"] / logs["measured"]
print(f"max |sum_j dz_j| / ||dz|| of the measured steps: {sum_err.max():.1e}")
assert norm_err.max() < 1e-5 and vector_err.max() < 1e-5 and sum_err.max() < 1e-5
print(
    f"mean entropy {logs['entropy'][:, 0].mean():.3f} -> {logs['entropy'][:, -1].mean():.3f} nats;",
    f"mean P(best arm) at the last step {logs['p_best'][:, -1].mean():.2f}",
)

# %% [markdown]
# **$E\|\Delta z\|^2$ against $1 - C(P_t)$.** Given the history, $c_t \sim P_t$, so the residual
# $r = \|\Delta z_t\|^2/(\eta A_t)^2 - (1 - C(P_t))$ has mean zero at every step (corollary 4).
# Over all runs and steps the self-normalised sum $\sum r / \sqrt{\sum r^2}$ is then about
# standard normal; it is computed overall and for each block of 50 steps.

# %%
unit_sq = (logs["measured"] / logs["eta_a"]) ** 2
residual = unit_sq - logs["one_minus_c"]


def t_stat(r):
    return r.sum() / np.sqrt((r**2).sum())


block_t = [t_stat(residual[:, start : start + 50]) for start in range(0, STEPS, 50)]
print(
    f"mean ||dz||^2/(eta A)^2 vs mean 1 - C: first 10 steps {unit_sq[:, :10].mean():.3f} vs "
    f"{logs['one_minus_c'][:, :10].mean():.3f}, last 50 steps {unit_sq[:, -50:].mean():.4f} vs "
    f"{logs['one_minus_c'][:, -50:].mean():.4f}"
)
print(
    f"self-normalised residual sum: overall {t_stat(residual):+.2f}, per 50-step block",
    " ".join(f"{t:+.1f}" for t in block_t),
)
assert abs(t_stat(residual)) < 4 and max(abs(t) for t in block_t) < 4

# %% [markdown]
# **Linear policy** ($z = W x + b$, input $x \in \mathbb{R}^d$). Here
# $\partial z/\partial\theta$ is not the identity: the SGD step changes $W$ by
# $\eta A (e_c - P) x^\top$ and $b$ by $\eta A (e_c - P)$, so the logits at $x$ move by
# $\eta A (1 + \|x\|^2)(e_c - P)$ — the same direction, with the step size scaled by the
# kernel $1 + \|x\|^2$ of this parametrisation. 4,096 random cases, $n = 10$, $d = 16$.


# %%
def linear_case(key):
    k_w, k_b, k_x, k_s, k_c, k_a = jax.random.split(key, 6)
    params = {
        "w": jax.random.normal(k_w, (ARMS, 16), jnp.float64),
        "b": jax.random.normal(k_b, (ARMS,), jnp.float64),
    }
    x = jax.random.normal(k_x, (16,), jnp.float64) * jax.random.uniform(
        k_s, (), jnp.float64, 0.01, 1
    )

    def logits_fn(p):
        return p["w"] @ x + p["b"]

    action = jax.random.randint(k_c, (), 0, ARMS)
    advantage = jax.random.uniform(k_a, (), jnp.float64, -2.0, 2.0)
    _, _, dz = sgd_logit_change(params, optimizer.init(params), logits_fn, action, advantage)
    kernel = 1.0 + x @ x
    predicted = ops.logit_update_norm(logits_fn(params), action, advantage, ETA * kernel)
    return jnp.linalg.norm(dz), predicted, kernel


with jax.enable_x64(True):
    measured_lin, predicted_lin, kernel_lin = map(
        np.asarray,
        jax.jit(jax.vmap(linear_case))(jax.random.split(jax.random.key(SEED + 7), 4096)),
    )
lin_err = np.abs(measured_lin - predicted_lin) / measured_lin
print(
    f"linear policy, 4096 SGD steps, 1 + ||x||^2 in [{kernel_lin.min():.2f}, "
    f"{kernel_lin.max():.2f}]: max relative error vs (1 + ||x||^2) |eta A| sqrt(1 - 2P_c + C) "
    f"= {lin_err.max():.2e}"
)
assert lin_err.max() < 1e-5

# %%
t = np.arange(STEPS)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].plot(t, unit_sq.mean(0), label=r"mean measured $\|\Delta z\|^2/(\eta A)^2$")
axes[0].plot(t, logs["one_minus_c"].mean(0), "--", label=r"mean $1 - C(P_t)$")
axes[0].plot(t, logs["entropy"].mean(0) / np.log(ARMS), ":", label=r"mean $H(P_t)/\log 10$")
axes[0].set_xlabel("step")
axes[0].set_title("512 bandit runs: update size tracks 1 - C(P) as entropy falls")
axes[0].legend()
every = slice(None, None, 23)
axes[1].loglog(logs["measured"].ravel()[every], logs["formula"].ravel()[every], ".", ms=2)
lims = [logs["measured"].min(), logs["measured"].max()]
axes[1].plot(lims, lims, "k-", lw=0.5)
axes[1].set_xlabel(r"$\|z_{\theta'} - z_\theta\|$ measured after an SGD step")
axes[1].set_ylabel(r"$|\eta A|\sqrt{1-2P_c+C}$ (ops, float32)")
axes[1].set_title(f"measured vs formula: max relative error {norm_err.max():.1e}")
fig.tight_layout()
fig.savefig(FIGURES / "logit_dynamics_bandit.png", dpi=120)

# %% [markdown]
# ## 4. Confident and right vs confident and wrong
# Steps split by the probability $P_c$ of the **chosen** action, under a peaked policy:
#
# - *confident, chosen action dominant*: $P_c > 0.9$ and $A > 0$. Prediction (sandwich):
#   $\|\Delta z\|/|\eta A| \le \sqrt2 (1 - P_c) \to 0$ as $P_c \to 1$;
# - *confident, another action dominant*: some $P_j > 0.9$, $j \ne c$ (so $P_c < 0.1$).
#   Prediction: $\|\Delta z\|/|\eta A| = \sqrt{1 + C - 2P_c} \ge \sqrt{1 + 0.81 - 0.2}$, which
#   tends to $\sqrt 2$, the largest possible step, as the other action's probability tends to 1.
#
# "Dominant" is not "best": not every bandit run ends on the best arm (see the mean P(best arm)
# printed above), and the logit step does not depend on which arm is best, only on $P$ and $c$.
#
# Left: the bandit's steps. Right: a controlled sweep, one SGD step on a 10-action policy whose
# dominant action has probability $1 - \delta$ (the rest share $\delta$), choosing either the
# dominant action or another one; the lines are the predictions computed in NumPy.

# %%
unit_norm = logs["measured"] / logs["eta_a"]
dominant_chosen = (logs["p_chosen"] > 0.9) & (logs["advantage"] > 0)
other_dominant = logs["p_other_max"] > 0.9
upper_cc = np.sqrt(2) * logs["one_minus_pc"][dominant_chosen]
lower_cc = np.sqrt(ARMS / (ARMS - 1)) * logs["one_minus_pc"][dominant_chosen]
assert np.all(unit_norm[dominant_chosen] <= upper_cc * (1 + 1e-5))
assert np.all(unit_norm[dominant_chosen] >= lower_cc * (1 - 1e-5))
predicted_cw = np.sqrt(1 + logs["collision"][other_dominant] - 2 * logs["p_chosen"][other_dominant])
cw_err = np.abs(unit_norm[other_dominant] - predicted_cw) / predicted_cw
assert cw_err.max() < 1e-5 and unit_norm[other_dominant].min() >= np.sqrt(1 + 0.81 - 0.2)
cc_ratio = unit_norm[dominant_chosen] / logs["one_minus_pc"][dominant_chosen]
print(
    f"bandit steps, chosen action dominant (P_c > 0.9, A > 0): n = {dominant_chosen.sum()},",
    f"||dz|| / (|eta A| (1 - P_c)) in [{cc_ratio.min():.4f}, {cc_ratio.max():.4f}]",
    f"(sandwich: [{np.sqrt(ARMS / (ARMS - 1)):.4f}, {np.sqrt(2):.4f}])",
)
for lo, hi in ((0.9, 0.99), (0.99, 0.999), (0.999, 1.0)):
    sel = dominant_chosen & (logs["p_chosen"] > lo) & (logs["p_chosen"] <= hi)
    if sel.any():
        print(
            f"  P_c in ({lo}, {hi}]: n = {sel.sum():6d}, mean 1 - P_c = "
            f"{logs['one_minus_pc'][sel].mean():.5f}, mean ||dz||/|eta A| = "
            f"{unit_norm[sel].mean():.5f}"
        )
print(
    f"bandit steps, another action dominant (max_(j!=c) P_j > 0.9): n = {other_dominant.sum()},",
    f"||dz||/|eta A| in [{unit_norm[other_dominant].min():.3f}, "
    f"{unit_norm[other_dominant].max():.3f}], max relative error vs sqrt(1 + C - 2P_c) "
    f"{cw_err.max():.1e}",
)
print(
    f"mean ||dz||/|eta A|: chosen dominant {unit_norm[dominant_chosen].mean():.4f}, "
    f"another dominant {unit_norm[other_dominant].mean():.4f}"
)

deltas = np.logspace(-7, np.log10(0.5), 40)


def sweep_case(delta):
    z = jnp.log(jnp.concatenate([jnp.array([1.0 - delta]), jnp.full((ARMS - 1,), delta / 9)]))
    params = {"z": z}
    state = optimizer.init(params)
    dz_right = sgd_logit_change(params, state, tabular_logits, 0, 1.0)[2]
    dz_wrong = sgd_logit_change(params, state, tabular_logits, 1, -1.0)[2]
    return jnp.linalg.norm(dz_right) / ETA, jnp.linalg.norm(dz_wrong) / ETA


def predicted_unit_norm(p, c):
    """sqrt(1 - 2P_c + C) in NumPy float64, with 1 - P_c as the sum of the other probabilities."""
    others = np.delete(p, c)
    return np.sqrt(others.sum() ** 2 + np.sum(others**2))


with jax.enable_x64(True):
    sweep_right, sweep_wrong = map(np.asarray, jax.vmap(sweep_case)(jnp.asarray(deltas)))
sweep_p = [np.concatenate([[1 - d], np.full(ARMS - 1, d / 9)]) for d in deltas]
pred_right = np.array([predicted_unit_norm(p, 0) for p in sweep_p])
pred_wrong = np.array([predicted_unit_norm(p, 1) for p in sweep_p])
sweep_err = max(
    np.max(np.abs(sweep_right / pred_right - 1)), np.max(np.abs(sweep_wrong / pred_wrong - 1))
)
print(
    f"sweep, delta = 1 - P_dominant from {deltas[0]:.0e} to {deltas[-1]}: max relative error "
    f"vs prediction {sweep_err:.1e}; at delta = {deltas[0]:.0e}: dominant chosen "
    f"{sweep_right[0]:.2e}, another chosen {sweep_wrong[0]:.7f} (sqrt 2 = {np.sqrt(2):.7f})"
)
assert sweep_err < 1e-6
assert sweep_right[0] < 2 * deltas[0] and abs(sweep_wrong[0] - np.sqrt(2)) < 1e-6

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
rest = ~(dominant_chosen | other_dominant)
every = slice(None, None, 11)
for sel, colour, label in (
    (rest, "0.7", "other steps"),
    (dominant_chosen, "tab:green", r"chosen action dominant ($P_c > 0.9$, $A > 0$)"),
    (other_dominant, "tab:red", r"another action dominant ($P_j > 0.9$, $j \neq c$)"),
):
    x, y = logs["p_chosen"][sel][every], unit_norm[sel][every]
    axes[0].scatter(x, y, s=2, c=colour, alpha=0.5, label=label, rasterized=True)
grid = np.linspace(0, 1, 200)
axes[0].plot(grid, np.sqrt(2) * (1 - grid), "k:", lw=0.8, label=r"$\sqrt{2}(1 - P_c)$")
axes[0].plot(grid, np.sqrt(10 / 9) * (1 - grid), "k--", lw=0.8, label=r"$\sqrt{n/(n-1)}(1 - P_c)$")
axes[0].set_xlabel(r"probability of the chosen action $P_c$")
axes[0].set_ylabel(r"measured $\|\Delta z\| / |\eta A|$")
axes[0].set_title("bandit SGD steps")
axes[0].legend(markerscale=4, fontsize=8)
axes[1].loglog(deltas, sweep_wrong, "o", c="tab:red", ms=4, label="another action chosen")
axes[1].loglog(deltas, pred_wrong, "k-", lw=0.8, label=r"$\sqrt{1 + C - 2P_c}$")
axes[1].loglog(deltas, sweep_right, "o", c="tab:green", ms=4, label="dominant action chosen")
axes[1].loglog(
    deltas, pred_right, "k--", lw=0.8, label=r"$\sqrt{1 - 2P_c + C} = \sqrt{10/9}\,\delta$"
)
axes[1].axhline(np.sqrt(2), c="0.5", lw=0.5)
axes[1].set_xlabel(r"$\delta = 1 - P_{\mathrm{dominant}}$ (10 actions)")
axes[1].set_ylabel(r"measured $\|\Delta z\| / |\eta A|$")
axes[1].set_title(r"one SGD step: $\to 0$ vs $\to \sqrt{2}$ as the policy peaks")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(FIGURES / "logit_dynamics_confidence.png", dpi=120)

# %% [markdown]
# ## 5. What EMPG's entropy scaling does
# EMPG (Wang et al., arXiv:2509.09265) changes only the advantage of each step. With $H$ the
# step's entropy (the mean token entropy of the rollout policy over the step's generated tokens),
# min-max normalised over the batch to $\tilde H \in [0, 1]$:
#
# $$A_\mathrm{mod} = g\,A + \zeta\, e^{-k' \tilde H_\mathrm{next}}, \qquad
#   g = \frac{e^{-k\tilde H}}{\mathrm{mean}_\mathrm{batch}\, e^{-k\tilde H}},$$
#
# then the batch mean of $A_\mathrm{mod}$ is subtracted. So $g$ averages to 1, the batch's most
# certain steps get $g > 1$ (a larger step than plain policy gradient) and its most uncertain
# steps $g < 1$ (a smaller one), the two ends differing by the factor $e^k$. Every step that has
# a next step also earns a "future clarity" bonus between $\zeta e^{-k'}$ and $\zeta$, largest
# when the next step is the batch's most certain, added whatever the sign of $A$.
#
# $g$ is a function of $H$ alone. Two steps of equal entropy get the same $g$ whether the sampled
# action was the policy's favourite or an outsider and whatever the sign of $A$, so $g$ scales
# the two kinds of step of section 4 by the same factor and leaves their ratio as it is (the
# bonus and the mean shift do not depend on $P_c$ either). What section 2 does supply is the
# paper's motivation: on-policy, $E\|\Delta z\|^2/(\eta A)^2 = 1 - C(P) \le 1 - e^{-H}$, so
# low-entropy steps move the logits little in expectation, and $g > 1$ scales them up.
#
# A toy batch of 8 steps from two trajectories ($A = +1$ and $A = -1$), with $k = k' = 1$,
# $\zeta = 0.1$. Rows 0 and 1 have the same low entropy and opposite advantages.

# %%
step_entropy = jnp.array([0.05, 0.05, 0.3, 0.6, 0.9, 1.2, 1.6, 2.0])
trajectory_adv = jnp.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
next_step = jnp.array([2, 3, 4, 5, 6, 7, -1, -1])
empg_adv, aux = empg_advantages(step_entropy, trajectory_adv, next_step, k=1.0, zeta=0.1)
empg_adv, g, bonus = (np.asarray(x, np.float64) for x in (empg_adv, aux["g"], aux["bonus"]))
print(" row   H      A      g    bonus   A_EMPG")
for i in range(8):
    print(
        f"{i:4d} {float(step_entropy[i]):5.2f} {float(trajectory_adv[i]):+5.1f} {g[i]:6.3f} "
        f"{bonus[i]:6.3f} {empg_adv[i]:+7.3f}"
    )
print(
    f"mean g = {g.mean():.6f}; g(lowest H) / g(highest H) = {g[0] / g[-1]:.6f} (e = {np.e:.6f});"
    f" mean A_EMPG = {empg_adv.mean():.1e}"
)
assert abs(g.mean() - 1) < 1e-6 and abs(empg_adv.mean()) < 1e-6
assert g[0] == g[1]  # equal entropy, opposite advantages: the same scale
assert np.all(np.diff(g[1:]) < 0) and g[0] > 1 > g[-1]
assert abs(g[0] / g[-1] - np.e) < 1e-5
has_next = np.asarray(next_step) >= 0
assert np.all((bonus[has_next] >= 0.1 / np.e - 1e-7) & (bonus[has_next] <= 0.1 + 1e-7))
assert np.all(bonus[~has_next] == 0)
print("figures:", sorted(p.name for p in FIGURES.glob("logit_dynamics_*.png")))
