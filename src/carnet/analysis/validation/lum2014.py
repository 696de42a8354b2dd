"""Lum, Swarup, Eubank & Hawdon (2014): contagious sanctions widen and prolong a sentence gap.

Lum et al. ("The contagious nature of imprisonment", *J. R. Soc. Interface* 11: 20140409) model
incarceration as an SIS contagion on a social network and find that two groups whose sentences
last 17 and 14 months end with incarceration rates whose ratio far exceeds 17/14, and that
equalising the sentences does not close the gap at once. carnet's analogue (docs/contagion.md): a
sanction (a negative record that still counts) is the infected state, its lifetime the sentence,
and each block of citizens (the neighbourhood) multiplies its negative acts by
``1 + neighbours x P / n``, ``P`` the block's live sanctions.

**Two societies, not two groups.** carnet draws a citizen's group independently of the block, so
two groups of one scenario share every neighbourhood and see the same pressure: their ratio is
then the term ratio exactly (docs/contagion.md, "two groups in one block"). Lum et al.'s gap
needs groups that live mostly among their own; the check runs the limit of that, two societies
apart: the preset ``validation-lum2014`` (426 days, 14 months) and the same with
``rules.lifetime_days: 517`` (17 months), on the same seeds (common random numbers).

**The exact expectation.** Every act is a sanction (one point, the floor out of reach), seen
always, with no deterrence, and the clip is far above the multiplier, so each block is a linear
Hawkes process: a citizen's acts on day ``d`` are Poisson with mean ``r (1 + s S_{d-1})``,
``S_{d-1}`` the block's live sanctions per citizen at the end of the day before, and taking
expectations is exact (the intensity is linear in the past). :func:`expected_prevalence`
propagates the expected acts and live sanctions per citizen day by day, with each day's
lifetime (a timeline's change applies to the acts after it; those before keep theirs). Its
fixed point is ``S = r L / (1 - s r L)`` (:func:`stationary_prevalence`), so the ratio of the
two societies' prevalences is ``(L_b / L_a) (1 - s r L_a) / (1 - s r L_b)``: 17/14 amplified.
Without contagion (``s = 0``) each society's stock is ``r L`` (Little's law: the same entry rate,
a stay of exactly ``L`` days, no early ends), and the ratio is exactly ``L_b / L_a``.

**Rows.** Over days 4500 .. 4999 (the transient is then below 0.04% of the prevalence), the
17-month society's prevalence equals its exact expectation, the prevalence ratio (a) exceeds
517/426 and (a') equals the exact ratio; without contagion (b) it equals 517/426 (over days
517 .. 1016 of shorter runs: the stock is stationary from day ``L - 1`` on). In a third run,
on day 3649 (a timeline's last day) a timeline gives the 17-month society sentences of 426 days
too; over days 4166 .. 4348, when every 517-day sanction has ended, (c) the prevalence gap is
still above 0 (without contagion it is exactly 0 then) and (c') equals its exact expectation. Every
figure is a mean over seeds with its standard error over seeds; tolerance 4 SE.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from carnet.analysis.validation.checks import Check, Row
from carnet.scenario.loading import load_scenario
from carnet.scenario.paths import set as set_value
from carnet.scenario.schema import Scenario

F64 = npt.NDArray[np.float64]

#: Sentences of 14 and 17 months, in days (Lum et al.'s two groups).
SHORT_DAYS, LONG_DAYS = 426, 517
#: The steady state's window (days), the day the sentences are equalised, the gap's window.
STEADY = (4500, 5000)
EQUALISED = 3649  # a timeline's last possible day
AFTER = (EQUALISED + LONG_DAYS, EQUALISED + LONG_DAYS + 183)
#: The runs without contagion: their stock is stationary after LONG_DAYS; the same window's length.
OFF_DAYS = LONG_DAYS + STEADY[1] - STEADY[0]
#: Seeds: quick, full.
SEEDS = (4, 40)
SOURCE = "Lum, Swarup, Eubank & Hawdon, J. R. Soc. Interface 11: 20140409 (2014)"


def expected_prevalence(rate: float, neighbours: float, lifetimes: npt.ArrayLike) -> F64:
    """The expected live sanctions per citizen at the end of each day.

    Args:
        rate: a citizen's acts a day without contagion (``r``); every act is a sanction.
        neighbours: the rise of the rate per live sanction per citizen of the block (``s``).
        lifetimes: the lifetime in days of the sanctions of each day of the run (its length).

    A citizen's expected acts on day ``d`` are ``r (1 + s S_{d-1})`` (``S_{-1} = 0``), and a
    sanction of day ``d0`` with lifetime ``L`` is live at the end of days ``d0 .. d0 + L - 1``.
    """
    life = np.asarray(lifetimes, dtype=np.int64)
    days = len(life)
    ends = np.zeros(days + 1)  # ends[d]: the expected sanctions whose last live day is d - 1
    live, out = 0.0, np.empty(days)
    for d in range(days):
        acts = rate * (1.0 + neighbours * live)  # live: S_{d-1}, what day d's behave reads
        live += acts - ends[d]
        if d + life[d] <= days:
            ends[d + life[d]] += acts
        out[d] = live
    return out


def stationary_prevalence(rate: float, neighbours: float, lifetime: int) -> float:
    """The fixed point ``r L / (1 - s r L)`` of :func:`expected_prevalence` (``s r L < 1``)."""
    branching = neighbours * rate * lifetime
    if branching >= 1.0:
        raise ValueError(f"branching ratio {branching} >= 1: no stationary prevalence")
    return rate * lifetime / (1.0 - branching)


def societies(s: Scenario) -> dict[str, Scenario]:
    """The check's five runs: 14 and 17 months with contagion, the 17 equalised, and without."""
    if s.rules.lifetime_days != SHORT_DAYS or s.responses.contagion is None:
        raise ValueError(f"{s.name}: needs rules.lifetime_days {SHORT_DAYS} and contagion")
    equalise = [{"day": EQUALISED, "set": {"rules.lifetime_days": SHORT_DAYS}}]
    # Without contagion the stock is exact from day L - 1 on: a run one window past 517 days.
    off = {"responses.contagion.neighbours": 0.0, "run.days": OFF_DAYS}
    return {
        "short": s,
        "long": set_value(s, {"rules.lifetime_days": LONG_DAYS}),
        "equalised": set_value(
            s, {"rules.lifetime_days": LONG_DAYS, "timeline": equalise, "run.days": AFTER[1]}
        ),
        "short_off": set_value(s, off),
        "long_off": set_value(s, {**off, "rules.lifetime_days": LONG_DAYS}),
    }


def live_sanctions(s: Scenario, seed: int) -> F64:
    """A run's live sanctions per citizen at the end of each day (sanctions less their ends)."""
    from carnet.result import simulate

    (behaviour,) = [b.name for b in s.behaviours if b.kind == "negative"]
    m = simulate(s, seed=seed).metrics
    scored = m[f"scored_{behaviour}"].to_numpy()
    expired = m[f"expired_{behaviour}"].to_numpy()
    return np.asarray(np.cumsum(scored) - np.cumsum(expired), np.float64) / s.population.size


def _mean_se(x: list[float]) -> tuple[float, float]:
    a = np.asarray(x)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a)))


def run(quick: bool) -> list[Row]:
    """The check's rows (see the module's docstring)."""
    s = load_scenario("validation-lum2014")
    runs = societies(s)
    (offence,) = [b for b in s.behaviours if b.kind == "negative"]
    contagion = s.responses.contagion
    assert contagion is not None
    rate, spread = offence.rate_per_year / 365.0, contagion.neighbours
    seeds = SEEDS[0 if quick else 1]
    steady, after = slice(*STEADY), slice(*AFTER)
    level, ratio, ratio_off, gap = [], [], [], []
    for seed in range(1, seeds + 1):
        live = {name: live_sanctions(x, seed) for name, x in runs.items()}
        level.append(float(live["long"][steady].mean()))
        ratio.append(level[-1] / float(live["short"][steady].mean()))
        off_window = slice(LONG_DAYS, OFF_DAYS)
        ratio_off.append(
            float(live["long_off"][off_window].mean() / live["short_off"][off_window].mean())
        )
        gap.append(float(live["equalised"][after].mean() - live["short"][after].mean()))
    days = s.run.days
    short = expected_prevalence(rate, spread, np.full(days, SHORT_DAYS))
    long = expected_prevalence(rate, spread, np.full(days, LONG_DAYS))
    lives = np.where(np.arange(AFTER[1]) < EQUALISED, LONG_DAYS, SHORT_DAYS)
    equalised = expected_prevalence(rate, spread, lives)
    exact_level = float(long[steady].mean())
    exact_ratio = exact_level / float(short[steady].mean())
    exact_gap = float(equalised[after].mean() - short[after].mean())
    stationary = stationary_prevalence(rate, spread, LONG_DAYS)
    terms = LONG_DAYS / SHORT_DAYS
    basis = f"4 SE over {seeds} seeds"
    v, v_se = _mean_se(level)
    r, r_se = _mean_se(ratio)
    off, off_se = _mean_se(ratio_off)
    g, g_se = _mean_se(gap)
    window = f"days {STEADY[0]}..{STEADY[1] - 1}"
    later = f"days {AFTER[0]}..{AFTER[1] - 1}, after equalising on day {EQUALISED}"
    hawkes = "exact expectation of the linear Hawkes process, day by day"
    amplified = stationary / stationary_prevalence(rate, spread, SHORT_DAYS)
    return [
        Row("lum2014", f"sanctions in force per citizen, 17 months, with contagion ({window})",
            exact_level, f"{hawkes} (stationary r L / (1 - s r L) = {stationary:.6g})", v, v_se,
            "=", 4 * v_se, basis),
        Row("lum2014", f"prevalence ratio, 17 against 14 months, with contagion ({window})",
            terms, f"{SOURCE}: far above the sentence ratio 517/426", r, r_se, ">", 4 * r_se,
            basis),
        Row("lum2014", f"prevalence ratio, 17 against 14 months, with contagion ({window})",
            exact_ratio, f"{hawkes} (stationary (L_b/L_a)(1 - s r L_a)/(1 - s r L_b) = "
            f"{amplified:.6g})", r, r_se, "=", 4 * r_se, basis),
        Row("lum2014", f"prevalence ratio, 17 against 14 months, no contagion (days "
            f"{LONG_DAYS}..{OFF_DAYS - 1})",
            terms, "Little's law: the same entry rate, stays of exactly 517 and 426 days",
            off, off_se, "=", 4 * off_se, basis),
        Row("lum2014", f"prevalence gap, 17 less 14 months, sanctions per citizen ({later})",
            0.0, f"{SOURCE}: equal sentences do not close the gap (no contagion: exactly 0)",
            g, g_se, ">", 4 * g_se, basis),
        Row("lum2014", f"prevalence gap, 17 less 14 months, sanctions per citizen ({later})",
            exact_gap, hawkes, g, g_se, "=", 4 * g_se, basis),
    ]  # fmt: skip


CHECK = Check(
    name="lum2014",
    title="Lum, Swarup, Eubank & Hawdon (J. R. Soc. Interface 2014), contagious incarceration",
    run=run,
)
