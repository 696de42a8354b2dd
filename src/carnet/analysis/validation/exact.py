"""carnet's own exact references: the minimal model by dynamic programming, Little's law.

**The minimal model** (``shared/bench-minimal.md``, preset ``minimal``): no citizen affects
another, so each is an independent Markov chain on its points ``floor .. ceiling``. On a day, the
*observed* acts of behaviour ``k`` number ``Poisson(rate_k / 365 × detect_k × f(grade))`` (a
Poisson process thinned by detection; ``f`` is the deterrence factor of the grade at the start
of the day, for negative behaviours only), independently across behaviours; the day's change is
``Σ_k delta_k × count_k``, clamped to ``[floor, ceiling]`` after the day. :func:`exact_path`
propagates the exact distribution of points day by day (a convolution of the points' law with
each deterrence class's law of a day's change), which gives every grade's exact share, the mean
and the variance each day. Each behaviour's Poisson law is cut where the mass left out is below
``1e-15 / (behaviours × days)`` a day, so the mass neglected over the whole run is below 1e-15.

carnet clamps after each act rather than after the day; the two differ only on a day whose
acts carry the points past a bound before the day ends. :func:`exact_path` bounds the
probability of such a day (``clamp_bound``: the mass whose start plus the day's gains alone
passes the ceiling, or plus its losses alone the floor, summed over days): ``< 1e-14`` for
the minimal model, which is then exactly what carnet runs (floating-point rounding loses
about 1e-13 of the mass over a year, far below any standard error here).

The check compares carnet's grade shares at 1,000,000 citizens (pooled over seeds in the full
suite) with the exact ones: each citizen is an independent draw, so a share's standard error is
binomial, ``sqrt(p (1 - p) / n)`` from the exact ``p`` and the ``n`` citizens pooled.

**Little's law** (preset ``validation-little``): at steady state, a list's mean stock ``L`` is
its entry rate ``λ`` times the mean time ``W`` a listing lasts. A listing of term ``T`` days that
ends early at a daily hazard ``r`` (carnet: ``min(T, 1 + ⌊E / r⌋)`` days, ``E`` exponential)
lasts ``Σ_{k=1}^{T} e^{-(k-1) r} = (1 - e^{-T r}) / (1 - e^{-r})`` days on average. The check
measures ``λ`` (entries a day), ``W`` (the mean length of the listings that end, read from the
ledger) and ``L`` (the mean end-of-day stock) over the second year of a run whose list was warmed
up for ten years, on several seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from carnet.analysis.validation.checks import Check, Row
from carnet.scenario.loading import load_scenario
from carnet.scenario.schema import Scenario

F64 = npt.NDArray[np.float64]

#: The mass of the whole run's laws that the Poisson cut may leave out.
NEGLECTED = 1e-15


@dataclass(frozen=True)
class Behaviour:
    """One behaviour of the chain: its acts a day, detection, points, and whether deterred."""

    name: str
    rate_per_year: float
    detect: float
    delta: int
    negative: bool


@dataclass(frozen=True)
class Chain:
    """A citizen's points as a Markov chain: the minimal model's parameters.

    ``grades`` are (name, lowest points) from the best down, the last one's lowest being the
    floor; ``deterrence`` multiplies negative behaviours' rates by grade (default 1).
    """

    start: int
    floor: int
    ceiling: int
    grades: tuple[tuple[str, int], ...]
    deterrence: tuple[tuple[str, float], ...]
    behaviours: tuple[Behaviour, ...]

    def factor_of_state(self) -> F64:
        """The deterrence factor of each state ``floor .. ceiling``."""
        factors = dict(self.deterrence)
        return self._graded(lambda name: factors.get(name, 1.0))

    def grade_of_state(self) -> npt.NDArray[np.int64]:
        """The index in :attr:`grades` of each state's grade."""
        index = {name: i for i, (name, _) in enumerate(self.grades)}
        return self._graded(lambda name: float(index[name])).astype(np.int64)

    def _graded(self, value: Callable[[str], float]) -> F64:
        # From the lowest grade up: each grade overwrites the states at or above its floor.
        points = np.arange(self.floor, self.ceiling + 1)
        out = np.empty(len(points))
        for name, low in reversed(self.grades):
            out[points >= low] = value(name)
        return out


#: The minimal model as shared/bench-minimal.md states it (transcribed; the preset must match).
MINIMAL = Chain(
    start=1000,
    floor=0,
    ceiling=1200,
    grades=(("AAA", 1050), ("AA", 1030), ("A", 960), ("B", 850), ("C", 600), ("D", 0)),
    deterrence=(("C", 0.7), ("D", 0.5)),
    behaviours=(
        Behaviour("red_light", 2.0, 0.6, -5, True),
        Behaviour("late_payment", 1.0, 0.9, -10, True),
        Behaviour("drunk_driving", 0.05, 0.5, -50, True),
        Behaviour("bribery", 0.01, 0.2, -50, True),
        Behaviour("volunteering", 4.0, 0.7, 5, False),
        Behaviour("blood_donation", 0.5, 1.0, 5, False),
        Behaviour("denounce_corruption", 0.05, 1.0, 20, False),
        Behaviour("labour_medal", 0.01, 1.0, 30, False),
    ),
)


def chain_of(s: Scenario) -> Chain:
    """The chain a scenario of the minimal model's form runs.

    Raises:
        ValueError: where ``s`` has something the chain does not model (naming it).
    """
    problems = []
    if len(s.population.groups) != 1 or s.population.groups[0].awareness != 1.0:
        problems.append("one group, fully aware")
    if s.population.groups[0].start is not None:
        problems.append("one start for everyone")
    if s.lists.blacklist or s.lists.redlist or s.gates or s.companies or s.appeals:
        problems.append("no lists, gates, companies or appeals")
    if s.denunciations is not None or s.lending is not None or s.platforms or s.timeline:
        problems.append("no denunciations, lending, platforms or timeline")
    r = s.responses
    if (r.punished, r.household, r.coworkers, r.chilling) != (1.0, 1.0, 1.0, 0.0):
        problems.append("no deterrence of the punished, no chilling")
    if r.contagion is not None or r.incentives is not None:
        problems.append("no contagion or incentives")
    behaviours = []
    for b in s.behaviours:
        rule = s.rules.points[b.name]
        if (
            b.by_group
            or b.by_region
            or b.by_income
            or (b.by_area.urban, b.by_area.rural)
            != (
                1.0,
                1.0,
            )
        ):
            problems.append(f"{b.name}: one rate for everyone")
        if b.kind == "lawful":
            problems.append(f"{b.name}: no lawful behaviours")
        if len(b.observed_by) != 1 or rule.yearly_cap is not None:
            problems.append(f"{b.name}: one source, no cap")
            continue
        source = next(x for x in s.sources if x.name == b.observed_by[0].source)
        if source.misattribution or source.attention is not None or source.by_group:
            problems.append(f"{b.name}: no misattribution or attention")
        detect = b.observed_by[0].detect
        behaviours.append(
            Behaviour(b.name, b.rate_per_year, detect, rule.points, b.kind == "negative")
        )
    expire = [s.rules.lifetime_days, *(s.rules.points[b.name].lifetime_days for b in s.behaviours)]
    if any(d is not None for d in expire) or s.rules.lifetime_by_group:
        problems.append("records that never expire")
    if problems:
        raise ValueError(f"{s.name} is not a chain of the minimal model's form: {problems}")
    grades = tuple(
        (g.name, s.rules.floor if g.min_points is None else g.min_points) for g in s.grades
    )
    return Chain(
        start=s.population.start_points,
        floor=s.rules.floor,
        ceiling=s.rules.ceiling,
        grades=grades,
        deterrence=tuple(sorted(r.deterrence.items())),
        behaviours=tuple(behaviours),
    )


def poisson_cut(mean: float, tail: float) -> int:
    """The least ``K`` with ``P(N > K) < tail`` for ``N ~ Poisson(mean)``."""
    k, term = 0, math.exp(-mean)
    while True:
        # P(N > k): the terms after k, summed directly (no cancellation); they fall fast.
        rest, t = 0.0, term
        for j in range(k + 1, k + 200):
            t *= mean / j
            rest += t
            if t < rest * 1e-18:
                break
        if rest < tail:
            return k
        k += 1
        term *= mean / k


def day_law(chain: Chain, factor: float, tail: float) -> tuple[int, F64]:
    """The law of a day's change at deterrence ``factor``: (lowest change, probabilities)."""
    low, pmf = 0, np.ones(1)
    for b in chain.behaviours:
        mean = b.rate_per_year / 365.0 * b.detect * (factor if b.negative else 1.0)
        k = poisson_cut(mean, tail)
        counts = np.arange(k + 1)
        p = np.exp(-mean + counts * math.log(mean) - np.array([math.lgamma(c + 1) for c in counts]))
        step = np.zeros(abs(b.delta) * k + 1)
        step[counts * abs(b.delta)] = p
        if b.delta < 0:
            step, low = step[::-1], low + b.delta * k
        pmf = np.convolve(pmf, step)
    return low, pmf


@dataclass(frozen=True)
class ExactPath:
    """The exact law of a citizen's points after each day.

    ``shares[d, g]``: the probability of grade ``g`` (:attr:`Chain.grades`' order) at the end of
    day ``d`` (0-based, as carnet's metrics count days); ``mean[d]``, ``var[d]`` of points;
    ``clamp_bound``: a bound on the probability that clamping after each act (carnet) and after
    the day (this chain) differ on some day of the run.
    """

    shares: F64
    mean: F64
    var: F64
    clamp_bound: float


def _spread(mass: F64, low: int, pmf: F64, n: int) -> F64:
    """``mass`` (states 0..n-1) moved by a change of law (low, pmf), clamped to the states."""
    moved = np.convolve(mass, pmf)  # moved[i] is state i + low
    where = np.clip(np.arange(len(moved)) + low, 0, n - 1)
    return np.bincount(where, weights=moved, minlength=n).astype(np.float64)


def _beyond(mass: F64, low: int, pmf: F64, n: int) -> float:
    """The mass that a change of law (low, pmf) would carry outside the states 0..n-1."""
    moved = np.convolve(mass, pmf)
    at = np.arange(len(moved)) + low
    return float(moved[(at < 0) | (at >= n)].sum())


def exact_path(chain: Chain, days: int) -> ExactPath:
    """Propagate the chain's law of points over ``days`` days (see the module's docstring)."""
    n = chain.ceiling - chain.floor + 1
    tail = NEGLECTED / (len(chain.behaviours) * days)
    factor = chain.factor_of_state()
    grade = chain.grade_of_state()
    classes = sorted(set(factor.tolist()))
    laws = {f: day_law(chain, f, tail) for f in classes}
    gains = Chain(**{**chain.__dict__, "behaviours": tuple(b for b in chain.behaviours
                                                           if b.delta > 0)})  # fmt: skip
    losses = Chain(**{**chain.__dict__, "behaviours": tuple(b for b in chain.behaviours
                                                            if b.delta < 0)})  # fmt: skip
    one_sided = {f: (day_law(gains, f, tail), day_law(losses, f, tail)) for f in classes}
    points = np.arange(chain.floor, chain.ceiling + 1, dtype=np.float64)
    mass = np.zeros(n)
    mass[chain.start - chain.floor] = 1.0
    shares = np.empty((days, len(chain.grades)))
    mean, var = np.empty(days), np.empty(days)
    bound = 0.0
    for d in range(days):
        new = np.zeros(n)
        for f in classes:
            part = np.where(factor == f, mass, 0.0)
            if not part.any():
                continue
            new += _spread(part, *laws[f], n)
            # A day's path can pass a bound only if its gains alone, or its losses alone, do.
            bound += sum(_beyond(part, *law, n) for law in one_sided[f])
        mass = new
        shares[d] = np.bincount(grade, weights=mass, minlength=len(chain.grades))
        mean[d] = float(mass @ points)
        var[d] = float(mass @ (points - mean[d]) ** 2)
    return ExactPath(shares, mean, var, bound)


# --- the check --------------------------------------------------------------------------------

#: Citizens of each run of the minimal model.
CITIZENS = 1_000_000
#: The bias of grade A's share the full suite must detect at 4 SE (0.05 percentage points).
DETECT_BIAS = 0.0005
#: The days (0-based) whose grade shares are compared: mid-year and the last.
MINIMAL_DAYS = (182, 364)
#: Seeds of validation-little: quick, full.
LITTLE_SEEDS = (4, 50)
SOURCE_DP = "exact: dynamic programming over the points (bench-minimal.md; Poisson cut < 1e-15)"


def seeds_to_detect(p: float, bias: float = DETECT_BIAS, citizens: int = CITIZENS) -> int:
    """Seeds of ``citizens`` each so that 4 binomial SE of a share ``p`` are at most ``bias``."""
    return math.ceil(p * (1.0 - p) / (bias / 4.0) ** 2 / citizens)


def _no_panel(s: Scenario) -> Scenario:
    from carnet.scenario.paths import set as set_value

    return set_value(s, {"run.panel.full_up_to": 0, "run.panel.sample": 0})


def minimal_rows(quick: bool) -> list[Row]:
    """The minimal preset's grade shares and mean points against the exact chain."""
    from carnet.result import simulate

    s = _no_panel(load_scenario("minimal", population=CITIZENS))
    chain = chain_of(s)
    if chain != MINIMAL:
        raise ValueError(
            f"the preset minimal is not bench-minimal.md's model: {chain} != {MINIMAL}"
        )
    path = exact_path(chain, s.run.days)
    a = [name for name, _ in chain.grades].index("A")
    seeds = 1 if quick else seeds_to_detect(float(path.shares[-1, a]))
    names = [name for name, _ in chain.grades]
    counts = np.zeros((len(MINIMAL_DAYS), len(names)))
    points = 0.0
    for seed in range(1, seeds + 1):
        m = simulate(s, seed=seed).metrics
        for i, d in enumerate(MINIMAL_DAYS):
            counts[i] += [m[f"grade_{g}"][d].as_py() for g in names]
        points += m["points_sum"][s.run.days - 1].as_py()
    n = seeds * CITIZENS
    basis = f"4 binomial SE, {n:,} citizens ({seeds} seed{'s' if seeds > 1 else ''})"
    rows = []
    for i, d in enumerate(MINIMAL_DAYS):
        for g, name in enumerate(names):
            p = float(path.shares[d, g])
            se = math.sqrt(p * (1.0 - p) / n)
            rows.append(Row("exact", f"minimal: share of grade {name}, day {d + 1}", p,
                            SOURCE_DP, counts[i, g] / n, se, "=", 4 * se, basis))  # fmt: skip
    last = s.run.days - 1
    se = math.sqrt(path.var[last] / n)
    rows.append(Row("exact", f"minimal: mean points, day {last + 1}", float(path.mean[last]),
                    SOURCE_DP, points / n, se, "=", 4 * se,
                    f"4 SE (exact sd / sqrt(n)), {n:,} citizens"))  # fmt: skip
    return rows


def listing_days(term_days: int, exit_per_day: float) -> float:
    """The exact mean days of a listing of term ``term_days`` with an early-exit hazard."""
    if exit_per_day == 0.0:
        return float(term_days)
    return -math.expm1(-term_days * exit_per_day) / -math.expm1(-exit_per_day)


@dataclass(frozen=True)
class QueueFigures:
    """One run's blacklist over the window: entries a day, mean length, mean stock."""

    arrivals: float
    length: float
    stock: float
    drift: float  # mean stock over the window minus over the year before it


def queue_figures(s: Scenario, seed: int) -> QueueFigures:
    """Little's law's three figures of a run of ``s`` over its last ``term_days`` days."""
    import pyarrow.compute as pc

    from carnet.result import simulate

    bl = s.lists.blacklist
    if bl is None or bl.term_days_by_group or s.run.days < 2 * bl.term_days:
        raise ValueError(f"{s.name}: needs a blacklist of one term and two terms of days")
    result = simulate(s, seed=seed)
    m, window = result.metrics, bl.term_days
    first = s.run.days - window
    stock = m["blacklisted"].to_numpy()
    entries = m["blacklist_entries"].to_numpy()[first:]
    ledger = result.ledger
    kinds = pc.cast(["listing", "delisting"], "string")
    ledger = ledger.filter(pc.is_in(pc.cast(ledger["kind"], "string"), value_set=kinds))
    day = ledger["day"].to_numpy().astype(np.int64)
    citizen = ledger["citizen"].to_numpy()
    ends = pc.cast(ledger["kind"], "string").to_numpy(zero_copy_only=False) == "delisting"
    order = np.lexsort((day, citizen))  # stable: a day's exit comes before that day's entry
    day, citizen, ends = day[order], citizen[order], ends[order]
    # Every listing that ends in the window began in the run (a listing lasts at most a term):
    # the row before its end is its start.
    end = np.flatnonzero(ends & (day >= first))
    began = end - 1
    if (began < 0).any() or ends[began].any() or (citizen[began] != citizen[end]).any():
        raise ValueError(f"{s.name}: a listing's end without its start in the ledger")
    return QueueFigures(
        arrivals=float(entries.mean()),
        length=float((day[end] - day[began]).mean()),
        stock=float(stock[first:].mean()),
        drift=float(stock[first:].mean() - stock[first - window : first].mean()),
    )


def _mean_se(x: list[float]) -> tuple[float, float]:
    a = np.asarray(x)
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a)))


def little_rows(quick: bool) -> list[Row]:
    """The blacklist of validation-little: L = λ W, W exact, and no drift (stationarity)."""
    s = load_scenario("validation-little")
    bl = s.lists.blacklist
    assert bl is not None
    seeds = LITTLE_SEEDS[0 if quick else 1]
    runs = [queue_figures(s, seed) for seed in range(1, seeds + 1)]
    basis = f"4 SE over {seeds} seeds"
    ratio, ratio_se = _mean_se([r.stock / (r.arrivals * r.length) for r in runs])
    w, w_se = _mean_se([r.length for r in runs])
    drift, drift_se = _mean_se([r.drift for r in runs])
    exact_w = listing_days(bl.term_days, bl.exit_per_year / 365.0)
    little = "Little's law: L = λW (λ entries a day, W mean days of the listings ending)"
    return [
        Row("exact", "validation-little: blacklist's mean stock over λW, L / (λW)", 1.0, little,
            ratio, ratio_se, "=", 4 * ratio_se, basis),
        Row("exact", "validation-little: mean days listed W", exact_w,
            "exact: (1 - e^(-T r)) / (1 - e^(-r)), term T, exit hazard r a day", w, w_se, "=",
            4 * w_se, basis),
        Row("exact", "validation-little: mean stock, second year minus first", 0.0,
            "stationary from day 0 (ten years of warm-up)", drift, drift_se, "=", 4 * drift_se,
            basis),
    ]  # fmt: skip


def run(quick: bool) -> list[Row]:
    """The check's rows: the minimal model against its exact chain, then Little's law."""
    return minimal_rows(quick) + little_rows(quick)


CHECK = Check(
    name="exact",
    title="carnet's exact references: the minimal model by dynamic programming; Little's law",
    run=run,
)
