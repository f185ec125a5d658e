"""Scaling of samples-to-threshold with the joint action space K^n, and the radar link.

    python -m experiments.seed_games --config=configs/exploration/games_scaling.py

`run_scaling`: the layered routing game of `empg_jax.exploration.games_routing` over series of
(players n, width, stages) sizes; every player has K = width^stages routes. Per size and arm the
median over seeds of the rounds until max_i Reg_i(t)/t settles at or below the threshold; a log-log
fit of samples on K^n (exponent with a bootstrap interval over seeds) per arm and series, and the
figure. `run_radar_link` (called by the Fig. 1 run): radar versus the reactive DRFM jammer as an
unknown game (`games_radar`), plus the domain-knowledge Hedge and Exp3 of `radar` as references.
"""

from __future__ import annotations

import os
import time

import jax
import matplotlib
import numpy as np

from empg_jax.exploration import games, games_radar, games_routing, radar
from experiments import _games_stats as games_stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def parse_scaling_arm(spec: str, num_actions: int, config):
    """`games_stats.parse_arm` plus the "+cells" suffix (per-cell learner); returns (arm, cells)."""
    cells = spec.endswith("+cells")
    parsed = games_stats.parse_arm(
        spec.removesuffix("+cells"), num_actions, config.horizon, config.anytime
    )
    return parsed._replace(label=spec), cells


def run_size(config, players: int, width: int, stages: int) -> dict[str, np.ndarray]:
    """Per-seed settling rounds (`[S]`) of every scaling arm on one (n, width, stages) size."""
    num_routes = width**stages
    seeds = [config.seed * 100_003 + s for s in range(config.num_seeds)]
    instances = [games_routing.routing_game(s, players, width, stages) for s in seeds]
    specs = [parse_scaling_arm(a, num_routes, config) for a in config.arms]
    structured = [a for a, cells in specs if not cells]
    per_cell = [a for a, cells in specs if cells]
    if per_cell and players * num_routes**players > config.max_cells:
        per_cell = []
    out = {}
    start = time.time()
    if structured:
        trace = games_routing.self_play_arms(
            jax.random.key(config.seed + 1),
            games.stack(instances),
            games.stack([a.learner for a in structured]),
            num_players=players,
            num_seeds=config.num_seeds,
            noise_std=float(config.noise_std),
            prior_std=float(config.routing_prior_std),
            horizon=config.horizon,
            trace_every=config.trace_every,
            with_ucb=any(a.label.startswith("ucb") for a in structured),
        )
        for i, a in enumerate(structured):
            out[a.label] = np.asarray(trace[i])
    if per_cell:
        cell_games = [games_routing.to_matrix_game(g, players) for g in instances]
        res = games.self_play_arms(
            jax.random.key(config.seed + 1),
            games.stack(cell_games),
            games.stack([a.learner for a in per_cell]),
            num_seeds=config.num_seeds,
            noise_std=float(config.noise_std),
            prior_mean=float(config.prior_mean),
            prior_std=float(config.prior_std),
            horizon=config.horizon,
            trace_every=config.trace_every,
        )
        for i, a in enumerate(per_cell):
            out[a.label] = np.asarray(res.regret_trace[i][:, 0, 0])
    print(
        f"[scaling] n={players} K={num_routes} K^n={num_routes**players}: "
        f"{time.time() - start:.1f}s",
        flush=True,
    )
    return {k: games.settle_round(v, config.threshold, config.trace_every) for k, v in out.items()}


def fit_exponent(
    sizes: np.ndarray,
    settles: list,
    horizon: int,
    scales: np.ndarray | None = None,
    num_boot: int = 1000,
):
    """Least-squares slope of log(scale * median rounds) on log size, over the sizes whose median
    settled within the horizon (`scales`: e.g. the number of players, to count rounds x players);
    a percentile-bootstrap interval resamples seeds within every size. Returns (slope, lo, hi,
    number of sizes used)."""
    sizes = np.asarray(sizes, np.float64)
    scales = np.ones_like(sizes) if scales is None else np.asarray(scales, np.float64)
    med = np.array([np.median(s) for s in settles])
    ok = med <= horizon
    if ok.sum() < 2:
        return float("nan"), float("nan"), float("nan"), int(ok.sum())
    x = np.log(sizes[ok])
    slope = np.polyfit(x, np.log(med[ok] * scales[ok]), 1)[0]
    rng = np.random.default_rng(0)
    boots = []
    kept = [s for s, k in zip(settles, ok, strict=True) if k]
    for _ in range(num_boot):
        m = np.array([np.median(s[rng.integers(0, s.size, s.size)]) for s in kept])
        boots.append(np.polyfit(x, np.log(m * scales[ok]), 1)[0])
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return float(slope), float(lo), float(hi), int(ok.sum())


def run_scaling(config) -> None:
    results = {}
    for series, sizes in config.series:
        results[series] = [(tuple(size), run_size(config, *size)) for size in sizes]
    lines = []
    for series, rows in results.items():
        arms = list(rows[0][1])
        for extra in (a for _, r in rows for a in r if a not in arms):
            arms.append(extra)
        exp3 = [a for a in arms if a.startswith(("iwe", "iwr"))]
        lines += [
            f"\n## series {series}: rounds until max_i Reg_i(t)/t settles <= {config.threshold} "
            f"(median over {config.num_seeds} seeds [95% CI]; >T = not within "
            f"T = {config.horizon})\n",
            "| n | K | K^n | "
            + " | ".join(arms)
            + "".join(f" | {a} / ots-hedge" for a in exp3)
            + " |",
            "|---|---|---|" + "---|" * (len(arms) + len(exp3)),
        ]
        for (players, width, stages), st in rows:
            k = width**stages
            cells = []
            for a in arms:
                if a not in st:
                    cells.append("-")
                    continue
                m, lo, hi = games_stats.median_ci(st[a])
                f = games_stats.fmt_rounds
                cells.append(
                    f"{f(m, config.horizon)} [{f(lo, config.horizon)}, {f(hi, config.horizon)}]"
                )
            for a in exp3:
                if "ots-hedge" not in st or a not in st:
                    cells.append("-")
                    continue
                cens = (
                    np.median(st[a]) > config.horizon,
                    np.median(st["ots-hedge"]) > config.horizon,
                )
                r = games_stats.ratio_ci(st[a], st["ots-hedge"])
                cells.append(games_stats.fmt_ratio(r, *cens))
            lines.append(f"| {players} | {k} | {k**players} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "| arm | exponent of rounds vs K^n [95% CI] | of rounds x n | sizes fitted |",
            "|---|---|---|---|",
        ]
        for a in arms:
            got = [(size, st[a]) for size, st in rows if a in st]
            joint = np.array([(w**s) ** n for (n, w, s), _ in got], np.float64)
            sett = [v for _, v in got]
            players = np.array([n for (n, _, _), _ in got], np.float64)
            e = fit_exponent(joint, sett, config.horizon)
            e_n = fit_exponent(joint, sett, config.horizon, scales=players)
            lines.append(
                f"| {a} | {e[0]:.3f} [{e[1]:.3f}, {e[2]:.3f}] | {e_n[0]:.3f} "
                f"[{e_n[1]:.3f}, {e_n[2]:.3f}] | {e[3]}/{len(got)} |"
            )
    print("\n".join(lines))
    plot_scaling(results, config)


def plot_scaling(results: dict, config) -> None:
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4.2))
    for ax, (series, rows) in zip(np.atleast_1d(axes), results.items(), strict=True):
        arms = []
        for _, st in rows:
            arms += [a for a in st if a not in arms]
        for a in arms:
            pts = [((w**s) ** n, np.median(st[a])) for (n, w, s), st in rows if a in st]
            x, y = np.array(pts, np.float64).T
            settled = y <= config.horizon
            (line,) = ax.plot(x[settled], y[settled], "o-", ms=3, lw=1, label=a)
            ax.plot(
                x[~settled],
                np.full((~settled).sum(), config.horizon),
                "^",
                color=line.get_color(),
                ms=5,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axhline(config.horizon, color="k", lw=0.6, ls=":")
        ax.set_xlabel("joint action space K^n")
        ax.set_ylabel(f"rounds to settle <= {config.threshold} (median)")
        ax.set_title(f"routing game, series {series}", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    os.makedirs(os.path.dirname(config.figure) or ".", exist_ok=True)
    fig.savefig(config.figure, dpi=120)
    plt.close(fig)
    print(f"[scaling] figure: {config.figure}")


def run_radar_link(config):
    """Radar versus the reactive DRFM jammer: per-arm settling rounds, plus `radar`'s references.

    Returns ((traces by label, thresholds, horizon, stride) for the figure, table text).
    """
    k, horizon, stride = config.radar_bands, config.radar_horizon, config.trace_every
    specs = [games_stats.parse_arm(a, k, horizon, config.anytime) for a in config.radar_arms]
    start = time.time()
    trace = games_radar.radar_play_arms(
        jax.random.key(config.seed + 2),
        games.stack([a.learner for a in specs]),
        num_seeds=config.num_seeds,
        noise_std=float(config.radar_noise_std),
        prior_mean=float(config.prior_mean),
        prior_std=float(config.prior_std),
        num_bands=k,
        horizon=horizon,
        trace_every=stride,
    )
    traces = {a.label: np.asarray(trace[i]) for i, a in enumerate(specs)}
    # References from the radar OCO module: exact losses, its own step sizes.
    ref_arms = [
        radar.make_arm(name, "reactive", num_bands=k, horizon=horizon)
        for name in ("dk_hedge", "exp3")
    ]
    ref = radar.run_radar_arms(
        jax.random.key(config.seed + 2),
        radar.stack_arms(ref_arms),
        num_seeds=config.num_seeds,
        horizon=horizon,
        trace_every=stride,
    )
    t = np.arange(1, horizon // stride + 1) * stride
    for i, name in enumerate(
        ("radar.dk_hedge (sensed bands, exact loss)", "radar.exp3 (exact loss)")
    ):
        traces[name] = np.asarray(ref.regret_trace[i]) / t
    print(f"[radar] {len(traces)} arms x {config.num_seeds} seeds: {time.time() - start:.1f}s")
    std = [a.label for a in specs if a.family == "exp3-standard"]
    lines = [
        f"\n## radar vs reactive DRFM jammer (K = {k} bands, replay 0.8, noise "
        f"{config.radar_noise_std}, T = {horizon}, {config.num_seeds} seeds)"
    ]
    for th in config.radar_thresholds:
        st = {a: games.settle_round(v, th, stride) for a, v in traces.items()}
        best = min(std, key=lambda a: np.median(st[a])) if std else None
        lines += [
            f"\nthreshold {th}; best standard Exp3: {best}\n",
            "| arm | pulses to settle, median [95% CI] | seeds settled | best standard "
            "Exp3 / arm |",
            "|---|---|---|---|",
        ]
        for a, s in st.items():
            m, lo, hi = games_stats.median_ci(s)
            f = games_stats.fmt_rounds
            ratio = ""
            if best is not None and not a.startswith(("iwe", "iwr", "radar.exp3")):
                r = games_stats.ratio_ci(st[best], s)
                ratio = games_stats.fmt_ratio(r, np.median(st[best]) > horizon, m > horizon)
            lines.append(
                f"| {a} | {f(m, horizon)} [{f(lo, horizon)}, {f(hi, horizon)}] "
                f"| {int((s <= horizon).sum())}/{s.size} | {ratio} |"
            )
    panel = (
        {a: v[:, None, None, :] for a, v in traces.items()},
        config.radar_thresholds,
        horizon,
        stride,
    )
    return panel, "\n".join(lines)
