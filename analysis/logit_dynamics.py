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
# rate $\eta$, the policy-gradient step on the logits is $\Delta z = \eta A (e_c - P)$ and
#
# $$\|\Delta z\|_2 = |\eta A|\,\sqrt{1 - 2P_c + C(P)}, \qquad C(P) = \sum_j P_j^2 .$$
#
# (Y. Li, *Logit Dynamics in Softmax Policy Gradient Methods*, arXiv:2506.12912; the EMPG paper's
# Proposition 1, arXiv:2509.09265.) This notebook checks the formula against autodiff, shows its
# corollaries numerically (`spec/empg.md` §5.2), and runs the 10-armed bandit of §5.4: the update
# norm
# logged at every step equals the formula, and $E\|\Delta z\|^2$ tracks $1 - C(P_t)$ while the
# entropy collapses. Every number below is computed by `empg_jax.ops`.
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

from empg_jax import ops

FIGURES = Path(os.environ.get("EMPG_FIGURES_DIR", Path("analysis") / "figures"))
FIGURES.mkdir(parents=True, exist_ok=True)
SEED = int(os.environ.get("EMPG_SEED", "0"))
key = jax.random.key(SEED)
print("jax", jax.__version__, "devices:", jax.devices()[0].platform, "figures ->", FIGURES)

# %% [markdown]
# ## 1. The formula against autodiff
# Random logits of sizes $n \in [2, 1000]$ (padded to 1000 with $-\infty$ so one compiled shape
# serves all sizes). The reference is $|\eta A|\,\|\nabla_z \log\mathrm{softmax}(z)_c\|$ from
# `jax.grad` in float64; `ops.logit_update_norm` runs in float32.

# %%
V, ROWS = 1000, 4096
k_n, k_z, k_c, k_a, key = jax.random.split(key, 5)
n = jax.random.randint(k_n, (ROWS,), 2, V + 1)
z = jax.random.normal(k_z, (ROWS, V)) * jax.random.uniform(k_z, (ROWS, 1), minval=0.1, maxval=6.0)
z = jnp.where(jnp.arange(V)[None] < n[:, None], z, -jnp.inf)
c = jax.random.randint(k_c, (ROWS,), 0, n)
eta_a = jax.random.uniform(k_a, (ROWS,), minval=-2.0, maxval=2.0)

formula = jax.jit(ops.logit_update_norm)(z, c, eta_a)


def _autodiff_norm(z_v, c_, ea):
    g = jax.grad(lambda x: jax.nn.log_softmax(x)[c_])(z_v)
    return jnp.abs(ea) * jnp.sqrt(jnp.sum(jnp.where(jnp.isfinite(z_v), g, 0.0) ** 2))


with jax.enable_x64(True):
    autodiff = np.asarray(
        jax.jit(jax.vmap(_autodiff_norm))(
            jnp.asarray(z, jnp.float64), c, jnp.asarray(eta_a, jnp.float64)
        )
    )
p64 = np.asarray(jax.nn.softmax(np.asarray(z, np.float64)))
# Autodiff forms 1 - P_c by subtraction; past 1 - P_c < 1e-9 even float64 loses the digits.
well_conditioned = (1.0 - p64[np.arange(ROWS), np.asarray(c)]) > 1e-9
rel = np.abs(np.asarray(formula) - autodiff) / np.maximum(autodiff, 1e-300)
print(f"{ROWS} random cases, n in [2, {V}]")
print(f"max relative error, formula (f32) vs autodiff (f64): {rel[well_conditioned].max():.2e}")
assert rel[well_conditioned].max() < 1e-5

# %% [markdown]
# ## 2. Corollaries
# 1. The components of $\Delta z$ sum to zero.
# 2. Sandwich: $(1-P_c)\sqrt{n/(n-1)} \le \sqrt{1-2P_c+C} \le \sqrt2\,(1-P_c)$.
# 3. To first order, $\Delta \log P_c \approx \eta A (1 - 2P_c + C)$.
# 4. On-policy: $E_{c\sim P}\|\Delta z\|^2/(\eta A)^2 = 1 - C(P)$ (Monte Carlo below).
# 5. $1 - C(P) \le 1 - e^{-H(P)} \le H(P)$ on Dirichlet-random distributions.

# %%
update = jax.jit(ops.logit_update)(z, c, eta_a)
print("1. max |sum_j dz_j|:", float(jnp.max(jnp.abs(update.sum(-1)))))

unit = np.asarray(jax.jit(ops.logit_update_norm)(z, c))
# 1 - P_c as the sum of the other probabilities: no cancellation for confident rows.
one_minus_pc = np.where(np.arange(V)[None] == np.asarray(c)[:, None], 0.0, p64).sum(-1)
n_np = np.asarray(n)
lower, upper = one_minus_pc * np.sqrt(n_np / (n_np - 1)), np.sqrt(2) * one_minus_pc
print(
    "2. sandwich holds:",
    bool(np.all(unit >= lower * (1 - 1e-5)) and np.all(unit <= upper * (1 + 1e-5))),
    f"(ratio norm/(1-P_c) spans [{(unit / one_minus_pc).min():.3f}, "
    f"{(unit / one_minus_pc).max():.3f}], bounds [1, 1.414])",
)

z10 = jax.random.normal(jax.random.key(SEED + 1), (512, 10)) * 2.0
c10 = jax.random.randint(jax.random.key(SEED + 2), (512,), 0, 10)
with jax.enable_x64(True):
    z10_64 = jnp.asarray(z10, jnp.float64)
    logp_before = jnp.take_along_axis(jax.nn.log_softmax(z10_64), c10[:, None], -1)[:, 0]
    for eta_small in (1e-2, 1e-3, 1e-4):
        p10 = jax.nn.softmax(z10_64)
        dz = eta_small * (jax.nn.one_hot(c10, 10, dtype=jnp.float64) - p10)
        logp_after = jnp.take_along_axis(jax.nn.log_softmax(z10_64 + dz), c10[:, None], -1)[:, 0]
        predicted = eta_small * (1 - 2 * p10[jnp.arange(512), c10] + jnp.sum(p10**2, -1))
        rel_err = float(jnp.max(jnp.abs(logp_after - logp_before - predicted) / predicted))
        print(
            f"3. eta={eta_small:g}: max rel. error of eta*A*(1-2P_c+C) as d log P_c = {rel_err:.1e}"
        )

num_samples = 20_000
dirichlet_p = jax.random.dirichlet(jax.random.key(SEED + 3), jnp.full((10,), 0.5), (64,))
logits_mc = jnp.log(dirichlet_p)
actions_mc = jax.vmap(lambda k, lg: jax.random.categorical(k, lg, shape=(num_samples,)))(
    jax.random.split(jax.random.key(SEED + 4), 64), logits_mc
)
sq = jax.vmap(lambda lg, a: ops.logit_update_norm(jnp.broadcast_to(lg, (num_samples, 10)), a) ** 2)(
    logits_mc, actions_mc
)
mc = sq.mean(-1)
target = 1.0 - ops.collision_probability(logits_mc)
print(
    f"4. Monte Carlo E||dz||^2 vs 1 - C over 64 policies ({num_samples} draws each):",
    f"max |diff| = {float(jnp.max(jnp.abs(mc - target))):.4f}",
    f"(MC standard error ~ {float(jnp.max(sq.std(-1))) / np.sqrt(num_samples):.4f})",
)

dir_p = jax.random.dirichlet(jax.random.key(SEED + 5), jnp.full((50,), 0.3), (10_000,))
dir_logits = jnp.log(dir_p)
one_minus_c = 1.0 - ops.collision_probability(dir_logits)
entropy = ops.entropy_from_logits(dir_logits)
print(
    "5. 1 - C <= 1 - exp(-H) <= H on 10,000 Dirichlet(0.3) distributions:",
    bool(
        jnp.all(one_minus_c <= 1 - jnp.exp(-entropy) + 1e-6)
        and jnp.all(1 - jnp.exp(-entropy) <= entropy + 1e-6)
    ),
)

# %% [markdown]
# ## 3. A 10-armed softmax policy-gradient bandit
# Tabular logits $z \in \mathbb{R}^{10}$, Gaussian rewards with arm means spread in $[0, 1]$,
# advantage $A_t = r_t - b_t$ with a running-average baseline, $\eta = 0.5$. Every step logs
# $\|\Delta z_t\|$ measured from the applied update vector, the formula's value, $P_{c_t}$,
# $H(P_t)$ and $1 - C(P_t)$. 512 independent runs are vmapped.

# %%
ARMS, STEPS, RUNS, ETA = 10, 400, 512, 0.5
arm_means = jnp.linspace(0.0, 1.0, ARMS)


def bandit_run(key):
    def step(carry, key_t):
        logits, baseline = carry
        k_a, k_r = jax.random.split(key_t)
        action = jax.random.categorical(k_a, logits)
        reward = arm_means[action] + 0.5 * jax.random.normal(k_r)
        advantage = reward - baseline
        delta = ops.logit_update(logits, action, advantage, ETA)
        log = {
            "measured_norm": jnp.linalg.norm(delta),
            "formula_norm": ops.logit_update_norm(logits, action, advantage, ETA),
            "unit_sq_norm": ops.logit_update_norm(logits, action) ** 2,
            "p_chosen": jax.nn.softmax(logits)[action],
            "entropy": ops.entropy_from_logits(logits),
            "one_minus_c": 1.0 - ops.collision_probability(logits),
            "correct": action == ARMS - 1,
        }
        return (logits + delta, baseline + 0.05 * (reward - baseline)), log

    _, logs = jax.lax.scan(step, (jnp.zeros(ARMS), jnp.float32(0.0)), jax.random.split(key, STEPS))
    return logs


logs = jax.jit(jax.vmap(bandit_run))(jax.random.split(jax.random.key(SEED + 6), RUNS))
logs = jax.tree.map(np.asarray, logs)
nonzero = logs["measured_norm"] > 1e-30
rel_err = (
    np.abs(logs["measured_norm"] - logs["formula_norm"])[nonzero] / (logs["measured_norm"][nonzero])
)
print(
    f"{RUNS * STEPS} logged steps: max |measured - formula| / measured = {rel_err.max():.2e}",
    "(float32 rounding of the norm of the update vector)",
)
assert rel_err.max() < 1e-5
print(
    "final mean entropy:",
    f"{logs['entropy'][:, -1].mean():.3f} nats (start {np.log(ARMS):.3f});",
    f"P(best arm) at the end: {logs['correct'][:, -50:].mean():.2f}",
)

# %%
t = np.arange(STEPS)
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].plot(t, logs["unit_sq_norm"].mean(0), label=r"mean $\|\Delta z\|^2/(\eta A)^2$ (measured)")
axes[0].plot(t, logs["one_minus_c"].mean(0), "--", label=r"mean $1 - C(P_t)$")
axes[0].plot(t, logs["entropy"].mean(0) / np.log(ARMS), ":", label=r"mean $H(P_t)/\log 10$")
axes[0].set_xlabel("step")
axes[0].set_title("update size tracks 1 - C(P) as entropy collapses")
axes[0].legend()
axes[1].plot(logs["measured_norm"].ravel()[::37], logs["formula_norm"].ravel()[::37], ".", ms=2)
lim = float(logs["measured_norm"].max())
axes[1].plot([0, lim], [0, lim], "k-", lw=0.5)
axes[1].set_xlabel(r"$\|\Delta z\|$ measured from the update vector")
axes[1].set_ylabel(r"$|\eta A|\sqrt{1-2P_c+C}$")
axes[1].set_title("every logged step lies on the diagonal")
fig.tight_layout()
fig.savefig(FIGURES / "logit_dynamics_bandit.png", dpi=120)
tracking_gap = np.abs(logs["unit_sq_norm"].mean(0) - logs["one_minus_c"].mean(0)).max()
print(f"max over t of |mean ||dz||^2/(eta A)^2 - mean (1 - C)| = {tracking_gap:.4f}")

# %% [markdown]
# ## 4. Update size against entropy and against $P_c$
# Confident-correct steps (the best arm chosen with high probability) barely move the logits;
# a confident-wrong step (a low-probability arm chosen from a peaked policy) moves them by about
# $\sqrt{1 + C}$ — the asymmetry EMPG corrects by re-scaling advantages with step entropy.

# %%
unit_norm = np.sqrt(logs["unit_sq_norm"]).ravel()
p_c = logs["p_chosen"].ravel()
ent = logs["entropy"].ravel()
correct = logs["correct"].ravel()
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
sub = slice(None, None, 7)
for mask, colour, label in (
    (~correct, "tab:red", "wrong: a sub-optimal arm chosen"),
    (correct, "tab:green", "correct: the best arm chosen"),
):
    for ax, x in ((axes[0], ent), (axes[1], p_c)):
        ax.scatter(
            x[sub][mask[sub]], unit_norm[sub][mask[sub]], s=2, c=colour, alpha=0.4, label=label
        )
grid = np.linspace(0, 1, 100)
axes[1].plot(grid, 1 - grid, "k--", lw=0.8, label=r"$1 - P_c$")
axes[1].plot(grid, np.sqrt(2) * (1 - grid), "k:", lw=0.8, label=r"$\sqrt{2}(1 - P_c)$")
axes[0].set_xlabel("entropy H(P) (nats)")
axes[1].set_xlabel(r"probability of the chosen action $P_c$")
for ax in axes:
    ax.set_ylabel(r"$\|\Delta z\| / |\eta A|$")
    ax.legend(markerscale=4)
fig.tight_layout()
fig.savefig(FIGURES / "logit_dynamics_norm_vs_entropy.png", dpi=120)

confident = logs["entropy"] < 0.5
cc = np.sqrt(logs["unit_sq_norm"])[confident & logs["correct"]]
cw = np.sqrt(logs["unit_sq_norm"])[confident & ~logs["correct"]]
print(f"steps with H < 0.5 nats: confident-correct n={cc.size}, confident-wrong n={cw.size}")
if cc.size and cw.size:
    print(
        f"mean ||dz||/|eta A|: confident-correct {cc.mean():.4f}, confident-wrong {cw.mean():.4f}"
        f" (ratio {cw.mean() / cc.mean():.0f}x)"
    )
print("figures:", sorted(p.name for p in FIGURES.glob("logit_dynamics_*.png")))
