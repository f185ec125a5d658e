"""Host-side helpers of the games experiments: arm specs, medians with intervals, ratios.

Arm spec strings (`parse_arm`): "<estimator>-<no-regret>[@option,option,...]", e.g.

    ots-hedge                    OTS with Hedge at the Hedge step (sqrt(8 ln A / T) or anytime)
    ucb-hedge@beta=theory        UCB-Hedge with the GP-UCB theory width beta_t
    iwe-hedge@eta=exp3           Exp3, loss estimator, textbook step sqrt(2 ln A / (A T))
    iwe-hedge@eta=exp3,ix=0.5    Exp3-IX at the textbook step, implicit exploration eta / 2
    iwr-hedge@eta=auer           Auer et al.'s Exp3: reward estimator, gamma from their Cor. 3.2,
                                 eta = gamma / A, uniform mixing gamma
    iwe-hedge@eta=hedge*0.5,mix=0.01   Exp3 at half the Hedge step with mixing 0.01 ("tuned")

Options: eta=<hedge|exp3>[*<multiplier>] or eta=auer; mix=<gamma>; ix=<ratio>; beta=<b|theory>.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from empg_jax.exploration import games


class ArmSpec(NamedTuple):
    """One parsed arm: its label, the traced learner and its family for the ratio tables.

    `family` is "exp3-standard" (a textbook Exp3 tuning: eta=exp3 or eta=auer, multiplier 1),
    "exp3-tuned" (any other Exp3 step), "full" (full information) or "bandit" (everything else).
    """

    label: str
    learner: games.Learner
    family: str


def parse_arm(spec: str, num_actions: int, horizon: int, anytime: bool) -> ArmSpec:
    """Parses an arm spec string (module docstring) into a `games.Learner`."""
    name, _, opts = spec.partition("@")
    if name.count("-") != 1:
        raise ValueError(f"arm {spec!r}: expected '<estimator>-<no-regret>[@options]'")
    estimator, no_regret = name.split("-")
    kwargs: dict = {}
    eta_base, eta_mult = "hedge", 1.0
    for opt in filter(None, opts.split(",")):
        key, eq, value = opt.partition("=")
        if not eq:
            raise ValueError(f"arm {spec!r}: option {opt!r} is not key=value")
        if key == "eta":
            base, _, mult = value.partition("*")
            if base not in ("hedge", "exp3", "auer") or (base == "auer" and mult):
                raise ValueError(f"arm {spec!r}: eta must be hedge[*m], exp3[*m] or auer")
            eta_base, eta_mult = base, float(mult) if mult else 1.0
        elif key == "mix":
            kwargs["mix"] = float(value)
        elif key == "ix":
            kwargs["ix"] = float(value)
        elif key == "beta":
            if value == "theory":
                kwargs["beta_theory"] = True
            else:
                kwargs["beta"] = float(value)
        else:
            raise ValueError(f"arm {spec!r}: unknown option {key!r} (eta, mix, ix, beta)")
    use_anytime = anytime and eta_base != "auer"
    if eta_base == "hedge":
        eta = eta_mult * games.hedge_learning_rate(num_actions, horizon, anytime)
    elif eta_base == "exp3":
        eta = eta_mult * games.exp3_learning_rate(num_actions, horizon, anytime)
    else:  # Auer et al. (2002): eta = gamma / A with uniform mixing gamma; fixed horizon only.
        gamma = games.auer_exp3_gamma(num_actions, horizon)
        eta = gamma / num_actions
        kwargs.setdefault("mix", gamma)
    learner = games.make_learner(
        estimator,
        no_regret,
        learning_rate=eta,
        num_actions=num_actions,
        horizon=horizon,
        anytime=use_anytime,
        **kwargs,
    )
    if estimator in ("iwe", "iwr") and no_regret == "hedge":
        standard = eta_base in ("exp3", "auer") and eta_mult == 1.0
        family = "exp3-standard" if standard else "exp3-tuned"
    else:
        family = "full" if estimator == "full" else "bandit"
    return ArmSpec(spec, learner, family)


def median_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Median with a distribution-free (order-statistic, binomial) confidence interval.

    The interval [x_(l), x_(u)] (1-based order statistics) uses the largest l and smallest u with
    P(Bin(n, 1/2) < l) <= alpha / 2 and P(Bin(n, 1/2) >= u) <= alpha / 2; for n = 32 at 95% these
    are the 10th and 23rd smallest values.
    """
    x = np.sort(np.asarray(values, np.float64).ravel())
    n = x.size
    if n == 0:
        raise ValueError("median_ci needs at least one value")
    alpha = 1.0 - level

    def below(k: int) -> float:  # P(Bin(n, 1/2) <= k)
        return sum(math.comb(n, i) for i in range(k + 1)) / 2**n

    lo = 1  # the largest 1-based rank l with P(Bin(n, 1/2) < l) <= alpha / 2
    while lo < n // 2 and below(lo) <= alpha / 2:
        lo += 1
    hi = n + 1 - lo
    return float(np.median(x)), float(x[lo - 1]), float(x[hi - 1])


def ratio_ci(
    numerator_S: np.ndarray,
    denominator_S: np.ndarray,
    num_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """median(numerator) / median(denominator) with a paired percentile-bootstrap interval.

    Seeds are resampled jointly (both arms ran on the same games and keys).
    """
    num, den = np.asarray(numerator_S, np.float64), np.asarray(denominator_S, np.float64)
    if num.shape != den.shape or num.ndim != 1:
        raise ValueError(f"need two 1-D arrays of one shape, got {num.shape}, {den.shape}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num.size, (num_boot, num.size))
    boot = np.median(num[idx], axis=1) / np.median(den[idx], axis=1)
    alpha = 1.0 - level
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(np.median(num) / np.median(den)), float(lo), float(hi)


def fmt_rounds(value: float, horizon: int) -> str:
    """Rounds as text; values past the horizon (never settled) read '>T'."""
    return f">{horizon}" if value > horizon else f"{value:.0f}"


def fmt_ratio(ratio: tuple[float, float, float], censored_num: bool, censored_den: bool) -> str:
    """'r [lo, hi]'; a censored numerator (the slower arm never settled) makes it a lower bound."""
    r, lo, hi = ratio
    if censored_num and censored_den:
        return "n/a"
    mark = ">=" if censored_num else ("<=" if censored_den else "")
    return f"{mark}{r:.1f}x [{lo:.1f}, {hi:.1f}]"


def bound_ratio_hint(num_actions: int) -> dict[str, float]:
    """Learning-rate ratios that set the samples ratio when the ln A / (eta t) term dominates:
    fixed horizon: eta_Hedge / eta_Exp3 = 2 sqrt(A); anytime: (eta_1 ratio)^2 = 8 A."""
    return {"fixed": 2.0 * math.sqrt(num_actions), "anytime": 8.0 * num_actions}
