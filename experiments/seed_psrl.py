"""PSRL-VTR on random linear mixture MDPs: the regret slope, what sets it, and the prior dependence.

One compiled program runs every setting of `config.settings` (agent variants and instance sets)
over the same number of instances and episodes; each setting is a comma-separated list of
overrides of the defaults (`alpha`, `noise_std`, `jitter`, `features` vtr|model, `projection`
kernel|simplex|none, `model_noise_std`, `instance_seed`, `basis_concentration`).

    python -m experiments.seed_psrl                                     # slope to K = 10^4, causes
    python -m experiments.seed_psrl --config=configs/exploration/psrl_prior.py   # prior table

Tables: the log-log slope of the instance-mean cumulative regret on [slope_start, K] with a
bootstrap 95% interval over instances, local slopes on sub-windows, the median per-instance slope,
per-episode regret early and late; and, for `config.prior_settings`, the Bayesian regret at
`config.prior_episodes` (mean over instances with a bootstrap interval).
"""

from __future__ import annotations

import os
import sys
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from absl import flags
from ml_collections import config_flags

from empg_jax.exploration import psrl

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import _cli

FLAGS = flags.FlagValues()
DEFAULT_CONFIG = "configs/exploration/psrl.py"
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, f"config file (default {DEFAULT_CONFIG})", flag_values=FLAGS
)

FEATURES = ("vtr", "model")
PROJECTIONS = ("kernel", "simplex", "none")


def _choice(options: tuple[str, ...]):
    def parse(value: str) -> int:
        if value not in options:
            raise ValueError(f"{value!r} is not one of {options}")
        return options.index(value)

    return parse


_KEYS = {
    "alpha": float,
    "noise_std": float,
    "jitter": float,
    "features": _choice(FEATURES),
    "projection": _choice(PROJECTIONS),
    "model_noise_std": float,
    "instance_seed": int,
    "basis_concentration": float,
}


def parse_setting(setting: str, config) -> dict:
    """The defaults of `config` with the overrides of one setting string."""
    out = {
        "alpha": config.alpha,
        "noise_std": config.noise_std,
        "jitter": config.prior_jitter,
        "features": FEATURES.index(config.features),
        "projection": PROJECTIONS.index(config.projection),
        "model_noise_std": config.model_noise_std,
        "instance_seed": config.seed,
        "basis_concentration": config.basis_concentration,
    }
    for item in filter(None, setting.split(",")):
        key, eq, value = item.strip().partition("=")
        if not eq or key not in _KEYS:
            raise ValueError(f"setting {setting!r}: {item!r} is not one of {sorted(_KEYS)}=value")
        try:
            out[key] = _KEYS[key](value)
        except ValueError as err:
            raise ValueError(f"setting {setting!r}: bad value for {key}: {err}") from None
    return out


def run(config, settings: list[str]) -> np.ndarray:
    """Per-episode regret `[G, instances, K]` for every setting."""
    parsed = [parse_setting(s, config) for s in settings]
    grids = []
    for p in parsed:
        grid = psrl.make_mdp_grid(
            p["instance_seed"],
            (p["alpha"],),
            config.num_seeds,
            num_states=config.num_states,
            num_actions=config.num_actions,
            num_features=config.num_features,
            basis_concentration=p["basis_concentration"],
        )
        grids.append(grid)
    mdps = jax.tree.map(lambda *xs: jnp.concatenate(xs), *grids)

    def col(key, dtype):
        return jnp.asarray([p[key] for p in parsed], dtype)

    start = time.time()
    print(
        f"[psrl] {len(settings)} settings x {config.num_seeds} instances x K={config.num_episodes}",
        flush=True,
    )
    out = psrl.run_psrl_grid(
        jax.random.key(config.seed),
        mdps,
        col("alpha", jnp.float32),
        col("noise_std", jnp.float32),
        col("jitter", jnp.float32),
        col("features", jnp.int32),
        col("projection", jnp.int32),
        col("model_noise_std", jnp.float32),
        num_episodes=config.num_episodes,
        horizon=config.horizon,
    )
    regret = np.asarray(out.regret)
    print(f"[psrl] done in {time.time() - start:.1f}s", flush=True)
    return regret


def slope_with_ci(
    regret_SxK: np.ndarray, start: int, stop: int | None = None, num_boot: int = 500, seed: int = 0
) -> tuple[float, float, float]:
    """Slope of log mean cumulative regret on [start, stop] with a bootstrap interval over
    instances."""
    cum = regret_SxK.cumsum(-1)[:, :stop]
    slope = psrl.loglog_slope(cum.mean(0), start)
    rng = np.random.default_rng(seed)
    n = cum.shape[0]
    boots = [psrl.loglog_slope(cum[rng.integers(0, n, n)].mean(0), start) for _ in range(num_boot)]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return slope, float(lo), float(hi)


def mean_with_ci(values: np.ndarray, num_boot: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    v = np.asarray(values, np.float64)
    boots = v[rng.integers(0, v.size, (num_boot, v.size))].mean(1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return float(v.mean()), float(lo), float(hi)


def slope_table(settings: list[str], regret: np.ndarray, config) -> str:
    k = regret.shape[-1]
    windows = [(a, b) for a, b in config.slope_windows if b <= k]
    lines = [
        f"log-log slope of the instance-mean cumulative regret ({config.num_seeds} instances, "
        f"K = {k}; [95% bootstrap CI over instances])",
        "",
        f"| setting | slope on [{config.slope_start}, {k}] | "
        + " | ".join(f"local [{a}, {b}]" for a, b in windows)
        + " | per-instance slope, median [IQR] | regret/episode: first 250 | [2500, 3000] "
        "| last 500 | regret at K, mean [CI] |",
        "|---|---|" + "---|" * len(windows) + "---|---|---|---|---|",
    ]
    for name, reg in zip(settings, regret, strict=True):
        s, lo, hi = slope_with_ci(reg, config.slope_start)
        local = []
        for a, b in windows:
            ls, llo, lhi = slope_with_ci(reg, a, b, num_boot=200)
            local.append(f"{ls:.3f} [{llo:.2f}, {lhi:.2f}]")
        cum = reg.cumsum(-1)
        per = [psrl.loglog_slope(np.maximum(c, 1e-9), config.slope_start) for c in cum]
        q1, q2, q3 = np.quantile(per, [0.25, 0.5, 0.75])
        m, mlo, mhi = mean_with_ci(cum[:, -1])
        lines.append(
            f"| {name or 'default'} | {s:.3f} [{lo:.3f}, {hi:.3f}] | "
            + " | ".join(local)
            + f" | {q2:.2f} [{q1:.2f}, {q3:.2f}] | {reg[:, :250].mean():.4f} "
            f"| {reg[:, 2500:3000].mean():.4f} | {reg[:, -500:].mean():.5f} "
            f"| {m:.1f} [{mlo:.1f}, {mhi:.1f}] |"
        )
    return "\n".join(lines)


def prior_table(settings: list[str], regret: np.ndarray, config) -> str:
    d, k = config.num_features, config.prior_episodes
    lines = [
        f"Bayesian regret at K = {k} (theta* ~ Dirichlet(alpha), the agent's prior its "
        f"moment-matched Gaussian; mean over {config.num_seeds} instances [95% bootstrap CI])",
        "",
        "| setting | prior Var(theta_i) | Bayesian regret | slope on "
        f"[{config.slope_start}, {k}] [CI] |",
        "|---|---|---|---|",
    ]
    for name, reg in zip(settings, regret, strict=True):
        p = parse_setting(name, config)
        var = (1 / d) * (1 - 1 / d) / (d * p["alpha"] + 1)
        m, lo, hi = mean_with_ci(reg[:, :k].sum(-1))
        s, slo, shi = slope_with_ci(reg[:, :k], config.slope_start)
        lines.append(
            f"| {name} | {var:.4f} | {m:.2f} [{lo:.2f}, {hi:.2f}] "
            f"| {s:.3f} [{slo:.2f}, {shi:.2f}] |"
        )
    return "\n".join(lines)


def plot(settings: list[str], regret: np.ndarray, config, path: str) -> None:
    fig, ax = plt.subplots(1, 1, figsize=(6.5, 4.5))
    ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
    k = np.arange(1, regret.shape[-1] + 1)
    for name, reg in zip(settings, regret, strict=True):
        ax.loglog(k, reg.cumsum(-1).mean(0), lw=1, label=name or "default")
    base = regret[0].cumsum(-1).mean(0)
    for slope, ls in ((0.5, "--"), (0.4, ":")):
        ref = base[config.slope_start - 1] * (k / config.slope_start) ** slope
        ax.loglog(k, ref, "k", ls=ls, lw=0.8, label=f"slope {slope}")
    ax.set_xlabel("episode k")
    ax.set_ylabel("mean cumulative regret")
    ax.legend(fontsize=6)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _main() -> None:
    config = _CONFIG.value
    settings = list(config.settings) + list(config.prior_settings)
    try:
        for setting in settings:
            parse_setting(setting, config)
    except ValueError as err:
        raise _cli.UsageError(str(err)) from None
    regret = run(config, settings)
    n = len(config.settings)
    if n:
        print()
        print(slope_table(list(config.settings), regret[:n], config))
    if config.prior_settings:
        print()
        print(prior_table(list(config.prior_settings), regret[n:], config))
    plot(settings, regret, config, config.figure)
    print(f"[psrl] figure: {config.figure}")


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv, default_config=DEFAULT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
