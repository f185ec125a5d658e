"""Optimistic Thompson sampling in unknown games: samples to a target average regret per learner.

Three experiments, chosen by `config.experiment`:

    python -m experiments.seed_games  # Fig. 1, Braess, radar
    python -m experiments.seed_games --config=configs/exploration/games_knobs.py  # knob sweep
    python -m experiments.seed_games --config=configs/exploration/games_scaling.py  # scaling

`fig1`: self-play on random 50 x 50 general-sum matrix games (a new game per seed), the learners of
the paper's Fig. 1 plus references; a table of samples until the average regret settles at or below
each threshold (median over seeds with an order-statistic 95% interval) and the ratios to the best
standard-tuned and the best tuned Exp3 (paired bootstrap intervals); then the Braess routing game
and the radar-versus-DRFM-jammer link, one table each. `knobs`: the same ratios for every setting in
`config.settings` (noise, prior, eta schedule, horizon, ...), for all regret definitions and for
rounds or rounds x players. `scaling`: `experiments._games_scaling`.
"""

from __future__ import annotations

import os
import sys
import time

import jax
import matplotlib
import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from empg_jax.exploration import games
from experiments import _games_stats as games_stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import _cli

FLAGS = flags.FlagValues()
DEFAULT_CONFIG = "configs/exploration/games.py"
_CONFIG = config_flags.DEFINE_config_file(
    "config", None, f"config file (default {DEFAULT_CONFIG})", flag_values=FLAGS
)


def run_arms(config, game_list: list, arm_specs: list, label: str) -> dict[str, np.ndarray]:
    """Self-play of every arm on `game_list` (one game per seed); returns label -> `[S, 4, 2, B]`
    regret traces (`games.REGRETS` x `games.AGGREGATES` x traced rounds)."""
    start = time.time()
    print(f"[games] {label}: {len(arm_specs)} arms x {len(game_list)} seeds, T={config.horizon}")
    out = games.self_play_arms(
        jax.random.key(config.seed + 1),
        games.stack(game_list),
        games.stack([a.learner for a in arm_specs]),
        num_seeds=len(game_list),
        noise_std=float(config.noise_std),
        prior_mean=float(config.prior_mean),
        prior_std=float(config.prior_std),
        horizon=config.horizon,
        trace_every=config.trace_every,
    )
    trace = np.asarray(out.regret_trace)
    print(f"[games] {label}: done in {time.time() - start:.1f}s", flush=True)
    return {a.label: trace[i] for i, a in enumerate(arm_specs)}


def settle(
    trace_Sx4x2xB: np.ndarray,
    config,
    threshold: float,
    regret: str = "expected",
    aggregate: str = "max",
) -> np.ndarray:
    """Per-seed settling round for one regret definition and aggregation over players."""
    r, g = games.REGRETS.index(regret), games.AGGREGATES.index(aggregate)
    return games.settle_round(trace_Sx4x2xB[:, r, g], threshold, config.trace_every)


def best_of(settles: dict[str, np.ndarray], labels: list[str]) -> str | None:
    """The label with the smallest median settling round (ties: the first)."""
    if not labels:
        return None
    return min(labels, key=lambda k: np.median(settles[k]))


def samples_table(results: dict, specs: list, config, threshold: float, num_players: int) -> str:
    """Per-arm settling rounds (median [95% CI]), seeds settled, and the ratios to the best Exp3."""
    horizon = config.horizon
    settles = {k: settle(v, config, threshold) for k, v in results.items()}
    std = [a.label for a in specs if a.family == "exp3-standard"]
    tuned = [a.label for a in specs if a.family in ("exp3-standard", "exp3-tuned")]
    best_std, best_any = best_of(settles, std), best_of(settles, tuned)
    lines = [
        f"threshold {threshold}; best standard-tuned Exp3: {best_std}; best Exp3 of all "
        f"(tuned on these seeds): {best_any}",
        "",
        "| arm | rounds to settle, median [95% CI] | rounds x players | seeds settled "
        "| best standard Exp3 / arm | best Exp3 / arm |",
        "|---|---|---|---|---|---|",
    ]
    for a in specs:
        s = settles[a.label]
        med, lo, hi = games_stats.median_ci(s)
        cells = []
        for ref in (best_std, best_any):
            if ref is None or a.family.startswith("exp3"):
                cells.append("")
                continue
            cens_num = np.median(settles[ref]) > horizon
            cens_den = med > horizon
            ratio = games_stats.ratio_ci(settles[ref], s)
            cells.append(games_stats.fmt_ratio(ratio, cens_num, cens_den))
        f = games_stats.fmt_rounds
        lines.append(
            f"| {a.label} | {f(med, horizon)} [{f(lo, horizon)}, {f(hi, horizon)}] "
            f"| {f(med * num_players, horizon * num_players)} "
            f"| {int((s <= horizon).sum())}/{s.size} | {cells[0]} | {cells[1]} |"
        )
    return "\n".join(lines)


def regret_definitions_table(results: dict, specs: list, config, threshold: float) -> str:
    """Median settling round of every arm under every regret definition / aggregation."""
    cols = [(r, "max") for r in games.REGRETS] + [("expected", "mean")]
    lines = [
        f"threshold {threshold}: median rounds to settle per regret definition "
        "(max or mean over players)",
        "",
        "| arm | " + " | ".join(f"{r} ({g})" for r, g in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for a in specs:
        cells = [
            games_stats.fmt_rounds(
                float(np.median(settle(results[a.label], config, threshold, r, g))),
                config.horizon,
            )
            for r, g in cols
        ]
        lines.append(f"| {a.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(panels: dict, config, path: str) -> None:
    """Seed-mean max-over-players expected average regret per arm, one panel per game."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2))
    for ax, (name, (results, thresholds, _, stride)) in zip(
        np.atleast_1d(axes), panels.items(), strict=True
    ):
        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
        for label, trace in results.items():
            t = np.arange(1, trace.shape[-1] + 1) * stride
            style = "--" if "-rm" in label else "-"
            ax.plot(t, trace[:, 0, 0].mean(0), style, lw=1, label=label)
        for th in thresholds:
            ax.axhline(th, color="k", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(5e-3, 1.0)
        ax.set_title(name, fontsize=7)
        ax.set_xlabel("round t")
        ax.set_ylabel("max_i Reg_i(t) / t (seed mean)")
        ax.legend(fontsize=5.5, ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def matrix_games(config) -> list:
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    return [games.matrix_game(k, config.matrix_actions) for k in keys]


def parse_arms(config, num_actions: int) -> list:
    specs = [
        games_stats.parse_arm(s, num_actions, config.horizon, config.anytime) for s in config.arms
    ]
    labels = [a.label for a in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate arms: {labels}")
    return specs


def describe(config) -> str:
    schedule = "anytime eta_t = eta_1 / sqrt(t)" if config.anytime else "fixed eta (horizon T)"
    return (
        f"T = {config.horizon}, {config.num_seeds} seeds, noise {config.noise_std}, prior "
        f"N({config.prior_mean}, {config.prior_std}^2), {schedule}"
    )


def run_fig1(config) -> None:
    from experiments import _games_scaling as games_scaling

    specs = parse_arms(config, config.matrix_actions)
    name = f"matrix {config.matrix_actions}x{config.matrix_actions}"
    results = run_arms(config, matrix_games(config), specs, name)
    print(f"\n## {name}: {describe(config)}")
    for th in config.thresholds:
        print()
        print(samples_table(results, specs, config, th, num_players=2))
    for th in config.thresholds:
        print()
        print(regret_definitions_table(results, specs, config, th))
    panels = {
        f"{name}, {describe(config)}": (
            results,
            config.thresholds,
            config.horizon,
            config.trace_every,
        )
    }
    if config.braess_players:
        braess = games.congestion_game(config.braess_players)
        n_routes = int(braess.payoffs.shape[1])
        bconf = ml_collections.ConfigDict(config.to_dict())
        bconf.horizon = config.braess_horizon
        bspecs = parse_arms(bconf, n_routes)
        bres = run_arms(bconf, [braess] * config.num_seeds, bspecs, "braess")
        bname = f"Braess routing, {config.braess_players} players, {n_routes} routes"
        print(f"\n## {bname}: {describe(bconf)}")
        for th in config.braess_thresholds:
            print()
            print(samples_table(bres, bspecs, bconf, th, num_players=config.braess_players))
        panels[bname] = (bres, config.braess_thresholds, bconf.horizon, config.trace_every)
    if config.radar_arms:
        rres, rtext = games_scaling.run_radar_link(config)
        print(rtext)
        panels["radar vs reactive DRFM jammer"] = rres
    plot_curves(panels, config, config.figure)
    print(f"[games] figure: {config.figure}")


def apply_setting(config, setting: str):
    """A copy of `config` with the comma-separated key=value overrides of one knob setting."""
    new = ml_collections.ConfigDict(config.to_dict())
    for item in filter(None, setting.split(",")):
        key, eq, value = item.partition("=")
        if not eq or key not in new:
            raise ValueError(f"setting {setting!r}: {item!r} is not key=value of a config field")
        old = new[key]
        new[key] = (value in ("1", "true", "True")) if isinstance(old, bool) else type(old)(value)
    return new


def budget_samples(config, game_list: list, thresholds) -> tuple[dict, list]:
    """'Experimental budget' reading of samples: for every budget T in `config.budgets` run every
    arm with its step tuned to T (fixed eta) and keep Reg(T)/T; per seed, samples = the smallest
    budget from which on every larger budget ends at or below the threshold. Returns
    ({threshold: {label: [S]}}, specs)."""
    finals = []
    for budget in config.budgets:
        bconf = ml_collections.ConfigDict(config.to_dict())
        bconf.horizon, bconf.trace_every = int(budget), int(budget)
        specs = parse_arms(bconf, config.matrix_actions)
        res = run_arms(bconf, game_list, specs, f"budget {budget}")
        finals.append({k: v[:, 0, 0, -1] for k, v in res.items()})  # expected, max over players
    budgets = np.asarray(config.budgets)
    out = {}
    for th in thresholds:
        out[th] = {}
        for a in specs:
            above = np.stack([f[a.label] for f in finals], -1) > th  # [S, budgets]
            last = np.where(above.any(-1), above.shape[-1] - 1 - np.argmax(above[:, ::-1], -1), -1)
            nxt = np.minimum(last + 1, len(budgets) - 1)
            out[th][a.label] = np.where(last + 1 < len(budgets), budgets[nxt], budgets[-1] + 1)
    return out, specs


def run_knobs(config) -> None:
    """One run per setting; per setting, the settle medians of the key arms and the ratios."""
    game_list = matrix_games(config)
    rows = {th: [] for th in config.thresholds}
    defs_rows = []
    for setting in config.settings:
        sconf = apply_setting(config, setting)
        if sconf.budget:
            samples, specs = budget_samples(sconf, game_list, config.thresholds)
            sconf.horizon = int(config.budgets[-1])
            for th in config.thresholds:
                rows[th].append(knob_row(samples[th], specs, sconf, setting))
            continue
        specs = parse_arms(sconf, config.matrix_actions)
        results = run_arms(sconf, game_list, specs, setting or "base")
        for th in config.thresholds:
            st = {k: settle(v, sconf, th) for k, v in results.items()}
            rows[th].append(knob_row(st, specs, sconf, setting or "base"))
        if setting in config.definitions_for:
            defs_rows.append(
                (
                    setting or "base",
                    regret_definitions_table(results, specs, sconf, config.thresholds[0]),
                )
            )
    for th in config.thresholds:
        print(
            f"\n## knob sweep, threshold {th} ({config.num_seeds} seeds per setting; medians "
            "of rounds to settle, ratio = best Exp3 / OTS-Hedge with paired bootstrap 95% CI)\n"
        )
        print(
            "| setting | T | OTS-Hedge | OTS-RM | UCB-Hedge (beta 2) | UCB-Hedge (theory beta) "
            "| best standard Exp3 | ratio | best Exp3 incl. tuned | ratio | UCB theory / OTS |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(rows[th]))
    for setting, text in defs_rows:
        print(f"\n## regret definitions, setting {setting}\n")
        print(text)


def knob_row(st: dict, specs: list, config, name: str) -> str:
    """One row of the knob table from per-seed samples `st` (label -> `[S]`)."""
    horizon = config.horizon
    f = games_stats.fmt_rounds

    def med(label):
        return f(float(np.median(st[label])), horizon) if label in st else "-"

    std = [a.label for a in specs if a.family == "exp3-standard"]
    anyx = [a.label for a in specs if a.family.startswith("exp3")]
    best_std, best_any = best_of(st, std), best_of(st, anyx)
    ots = "ots-hedge"

    def ratio(ref, arm=ots):
        if ref is None or arm not in st:
            return "-"
        cens_num, cens_den = np.median(st[ref]) > horizon, np.median(st[arm]) > horizon
        return games_stats.fmt_ratio(games_stats.ratio_ci(st[ref], st[arm]), cens_num, cens_den)

    return (
        f"| {name} | {horizon} | {med(ots)} | {med('ots-rm')} | {med('ucb-hedge')} "
        f"| {med('ucb-hedge@beta=theory')} | {best_std}: {med(best_std)} | {ratio(best_std)} "
        f"| {best_any}: {med(best_any)} | {ratio(best_any)} "
        f"| {ratio('ucb-hedge@beta=theory')} |"
    )


def _main() -> None:
    config = _CONFIG.value
    from experiments import _games_scaling as games_scaling

    runs = {"fig1": run_fig1, "knobs": run_knobs, "scaling": games_scaling.run_scaling}
    if config.experiment not in runs:
        raise _cli.UsageError(f"unknown experiment {config.experiment!r}: fig1, knobs or scaling")
    # Validate every arm spec and knob setting before the long runs start (one-line errors).
    try:
        if config.experiment == "scaling":
            for spec in config.arms:
                games_scaling.parse_scaling_arm(spec, 2, config)
        else:
            parse_arms(config, config.matrix_actions)
        for setting in config.settings:
            apply_setting(config, setting)
    except ValueError as err:
        raise _cli.UsageError(str(err)) from None
    runs[config.experiment](config)


def main(argv: list[str] | None = None) -> int:
    return _cli.run(_main, FLAGS, argv, default_config=DEFAULT_CONFIG)


if __name__ == "__main__":
    sys.exit(main())
