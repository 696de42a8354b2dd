"""Calibration: the values of a scenario's parameters that make carnet fit observed figures.

A calibration spec names a scenario and its varied ``parameters`` as a sensitivity analysis
does (:mod:`carnet.analysis.experiment`), the ``targets`` to fit, and how hard to search::

    scenario: china
    population: 50000
    days: 4110
    set: {lists.blacklist.warm_up_days: 0}   # values every trial holds (optional)
    start: 2013-10-01          # the date of day 0: targets may then give a date or a year
    scale: {population: 1400000000}   # carnet's counts x 1.4e9 / 50,000 (or a number)
    parameters:
      lists.blacklist.lawsuits_per_year: [0.05, 1.0]
      lists.blacklist.exit_per_year: {low: 0.1, high: 5, log: true}
    targets: blacklist-counts.csv      # a CSV beside the spec, or a list of rows
    trials: 40                 # parameter values tried (Optuna's TPE sampler)
    replicates: 2              # seeds per trial, the same for every trial (common random numbers)
    batch: 4                   # trials asked at once, run in parallel
    seed: 0                    # the sampler's

A target is a ``figure`` at a ``day`` (or ``date``, or ``year``), its ``observed`` value, and the
``likelihood`` of that value given the model's: ``normal`` (with ``sigma``), ``poisson`` (counts)
or ``binomial`` (``observed`` successes of ``n``). A figure is one of carnet's headline figures
(:mod:`carnet.analysis.figures`: ``listings[blacklist,all]``, of the whole run: no day) or a
daily metric: ``daily.COLUMN[group]`` is its value on the day (a year: the year's last day),
``total.COLUMN[group]`` its sum from day 0 through the day (counts "since the list began"),
``yearly.COLUMN[group]`` its sum over the year (or the 365 days ending on the day). The model's
value is the figure times ``scale`` (the spec's, or the row's own), averaged over the replicates.

The log-likelihood of a trial is the sum over targets of the log-likelihood of the replicates'
mean: the mean is the estimate of the model's expected value, which is what each likelihood's
parameter stands for (a mean of log-likelihoods would also charge a trial for the variance of
its replicates, favouring parameters that make the model less noisy, not closer).

Trials are asked from Optuna in batches of ``batch``, each with a sampler seeded by the seed and
the trial's number, and told in order once the batch's cells have run: the sequence of trials
depends on nothing but the spec, however many workers run the cells and wherever a run stopped.
The study lives in a journal file in the output folder (``journal.log``: appends under a lock,
safe for many processes, unlike SQLite's locks). Started again, a calibration tells the trials
asked but not told (their cells, kept in ``cells/``, are read, not run again), asks what its
batch still lacks, and goes on: it ends with the same tables as a run never stopped.

Each parameter gets a profile-likelihood interval from the trials: the range of its values
among trials with ``2 (best logL - logL) <= 3.84`` (chi-square, one degree of freedom, 95%).
It is the projection of the likelihood's 95% region onto the parameter as far as the trials
have sampled it: an inner approximation that widens towards the exact profile interval as
trials fill the region (``within`` says how many trials define it).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.analysis import ensemble, figures
from carnet.analysis.experiment import (
    Parameter,
    Problems,
    base_scenario,
    parse_parameters,
    require,
)
from carnet.analysis.experiment import unknown_keys as _unknown_keys
from carnet.errors import ScenarioError
from carnet.scenario.loading import parse_yaml
from carnet.scenario.paths import set as set_values
from carnet.scenario.schema import Scenario

F64 = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]

KEYS = ("scenario", "population", "days", "set", "start", "scale", "parameters", "targets",
        "trials", "replicates", "batch", "seed")  # fmt: skip
TARGET_KEYS = ("figure", "day", "date", "year", "observed", "likelihood", "sigma", "n", "scale",
               "source")  # fmt: skip
LIKELIHOODS = ("normal", "poisson", "binomial")
PREFIXES = ("daily", "total", "yearly")
#: chi-square with one degree of freedom, 95%: the profile interval's threshold on 2 dlogL.
CHI2_95 = 3.841458820694124
#: Optuna's TPE samples at random before it models: a calibration needs more trials than that.
STARTUP_TRIALS = 10
#: A model mean of 0 where counts were seen would make logL infinite: it counts as this.
FLOOR = 1e-12
JOURNAL = "journal.log"
STUDY = "carnet-calibration"
TRIALS, FITS, PARAMETERS, BEST, CALIBRATED, PAGE = (
    "trials.parquet", "fits.parquet", "parameters.parquet", "best.json", "calibrated.yaml",
    "fit.html",
)  # fmt: skip


# --- targets and their likelihoods --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One observed figure: what carnet computes for it, over which days, and its likelihood."""

    figure: str  # as the spec writes it
    series: str | None  # the daily trajectory it reads (``daily.COLUMN[group]``), or None
    how: str  # "daily", "total", "yearly", or "headline" (of the whole run)
    first: int  # the first day it sums (yearly), else its day
    day: int  # its day (the run's last for a headline figure)
    label: str  # the day, date or year as written
    observed: float
    likelihood: str
    sigma: float | None
    n: float | None
    scale: float
    source: str = ""

    def value(self, series: F64 | None, headline: float) -> float:
        """Carnet's figure for this target in one replicate, scaled."""
        if self.how == "headline" or series is None:
            return headline * self.scale
        if self.how == "daily":
            return float(series[self.day]) * self.scale
        first = 0 if self.how == "total" else self.first
        return float(series[first : self.day + 1].sum()) * self.scale

    def log_likelihood(self, model: float) -> float:
        """The log-likelihood of ``observed`` given the model's mean ``model``."""
        return log_likelihood(self.likelihood, self.observed, model, self.sigma, self.n)

    def interval(self) -> tuple[float, float]:
        """The observed value's 95% interval under its own likelihood (for the page)."""
        y = self.observed
        if self.likelihood == "normal":
            spread = 1.96 * (self.sigma or 0.0)
        elif self.likelihood == "poisson":
            spread = 1.96 * math.sqrt(max(y, 0.0))
        else:
            n = self.n or 1.0
            spread = 1.96 * math.sqrt(n * (y / n) * (1 - y / n))
        return y - spread, y + spread


def log_likelihood(kind: str, y: float, m: float, sigma: float | None, n: float | None) -> float:
    """Log p(y | m): normal N(m, sigma), Poisson(m), or binomial(n, m / n); m the expected value.

    A Poisson mean or binomial probability of 0 (or 1) where it makes ``y`` impossible counts
    as :data:`FLOOR` away from it, so that a trial far off has a finite, very low logL.
    """
    if kind == "normal":
        assert sigma is not None
        return -0.5 * math.log(2 * math.pi * sigma**2) - (y - m) ** 2 / (2 * sigma**2)
    if kind == "poisson":
        return y * math.log(max(m, FLOOR)) - max(m, 0.0) - math.lgamma(y + 1)
    assert n is not None
    p = min(max(m / n, FLOOR), 1 - FLOOR)
    choose = math.lgamma(n + 1) - math.lgamma(y + 1) - math.lgamma(n - y + 1)
    return choose + y * math.log(p) + (n - y) * math.log1p(-p)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        found = float(value)
    except (TypeError, ValueError):
        return None
    return found if math.isfinite(found) else None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _figure(base: Scenario, name: str, where: str) -> tuple[str | None, str, Problems]:
    """(the trajectory read, how, problems) of a target's figure."""
    prefix, dot, rest = name.partition(".")
    if dot and prefix in PREFIXES:
        parsed = figures.parse_daily(f"daily.{rest}")
        if parsed is None:
            return None, prefix, [(where, f"{name!r}: a trajectory is {prefix}.COLUMN[group]")]
        column, group = parsed
        from carnet.sim.output_names import metric_columns

        known = [c for c, _ in metric_columns(base) if c not in ("day", "group")]
        if column not in known:
            return None, prefix, [(where, f"no daily metric {column!r}; known: {', '.join(known)}")]
        groups = [g.name for g in base.population.groups]
        if group is not None and group not in groups:
            return None, prefix, [(where, f"no group {group!r}; known: {', '.join(groups)}")]
        return f"daily.{rest.strip()}", prefix, []
    try:
        family, key = figures.parse(name)
    except ValueError as exc:
        more = "; or a trajectory: daily.COLUMN[group], total.COLUMN[group], yearly.COLUMN[group]"
        return None, "headline", [(where, f"{exc}{more}")]
    if key is None:
        wanted = ",".join(figures.FAMILIES[family].keys)
        return None, "headline", [(where, f"{name!r}: name one row of it, {family}[{wanted}]")]
    return None, "headline", []


def _when(
    row: dict[str, Any], how: str, base: Scenario, start: dt.date | None, where: str
) -> tuple[int, int, str, Problems]:
    """(first day, day, label, problems) of a target row."""
    given = [k for k in ("day", "date", "year") if row.get(k) not in (None, "")]
    last = base.run.days - 1
    if how == "headline":
        if given:
            return (
                0,
                last,
                "",
                [
                    (
                        f"{where}.{given[0]}",
                        "a headline figure is of the whole "
                        "run: give no day (or use a daily., total. or yearly. figure)",
                    )
                ],
            )
        return 0, last, "end", []
    if len(given) != 1:
        return 0, 0, "", [(where, "give one of day, date or year")]
    key = given[0]
    value = row[key]
    if key == "day":
        day = _number(value)
        if day is None or day != round(day):
            return 0, 0, "", [(f"{where}.day", f"a whole day, not {value!r}")]
        first, end, label = int(day) - 364, int(day), f"day {int(day)}"
    else:
        if start is None:
            return 0, 0, "", [(f"{where}.{key}", f"a {key} needs the spec's start (day 0's date)")]
        if key == "date":
            when = _date(value)
            if when is None:
                return 0, 0, "", [(f"{where}.date", f"a date as YYYY-MM-DD, not {value!r}")]
            end, label = (when - start).days, when.isoformat()
            first = end - 364
        else:
            year = _number(value)
            if year is None or year != round(year):
                return 0, 0, "", [(f"{where}.year", f"a year, not {value!r}")]
            first = (dt.date(int(year), 1, 1) - start).days
            end, label = (dt.date(int(year), 12, 31) - start).days, str(int(year))
    if not 0 <= end <= last:
        return 0, 0, "", [(f"{where}.{key}", f"{label} is day {end}, outside the run's days "
                           f"0..{last}")]  # fmt: skip
    if how == "yearly" and first < 0:
        return 0, 0, "", [(f"{where}.{key}", f"the year up to {label} begins before day 0")]
    return max(first, 0), end, label, []


def _target(
    row: Any, i: int, base: Scenario, start: dt.date | None, scale: float
) -> tuple[Target | None, Problems]:
    where = f"targets.{i}"
    if not isinstance(row, dict):
        return None, [(where, "a mapping: figure, day (or date, year), observed, likelihood, ...")]
    problems = [(f"{where}.{k}", m) for k, m in _unknown_keys(row, TARGET_KEYS, "a target")]
    name = str(row.get("figure") or "").strip()
    if not name:
        return None, [*problems, (f"{where}.figure", "missing: the figure to fit")]
    series, how, wrong = _figure(base, name, f"{where}.figure")
    problems += wrong
    first, day, label, wrong = _when(row, how, base, start, where) if not wrong else (0, 0, "", [])
    problems += wrong
    observed = _number(row.get("observed"))
    if observed is None:
        problems.append((f"{where}.observed", f"a number, not {row.get('observed')!r}"))
    kind = str(row.get("likelihood") or "").strip()
    sigma, n = _number(row.get("sigma")), _number(row.get("n"))
    if kind not in LIKELIHOODS:
        problems.append((f"{where}.likelihood", f"{kind!r}; one of {', '.join(LIKELIHOODS)}"))
    elif kind == "normal" and (sigma is None or sigma <= 0):
        problems.append((f"{where}.sigma", "a normal likelihood needs sigma > 0"))
    elif kind == "poisson" and observed is not None and observed < 0:
        problems.append((f"{where}.observed", "a Poisson count is >= 0"))
    elif kind == "binomial":
        if n is None or n <= 0:
            problems.append((f"{where}.n", "a binomial likelihood needs n > 0 trials"))
        elif observed is not None and not 0 <= observed <= n:
            problems.append((f"{where}.observed", f"binomial successes lie in 0..n ({n:g})"))
    own = row.get("scale")
    if own not in (None, ""):
        found = _number(own)
        if found is None or found <= 0:
            problems.append((f"{where}.scale", f"a number above 0, not {own!r}"))
        else:
            scale = found
    if problems or observed is None:
        return None, problems
    source = str(row.get("source") or "")
    target = Target(name, series, how, first, day, label, observed, kind, sigma, n, scale, source)
    return target, []


def read_targets(path: Path) -> list[dict[str, Any]]:
    """The rows of a targets CSV (a header row of the target keys; empty cells are absent).

    Lines starting with ``#`` are comments.
    """
    with path.open(newline="", encoding="utf-8") as f:
        lines = (line for line in f if not line.startswith("#"))
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                for row in csv.DictReader(lines)]  # fmt: skip
    return [{k: v for k, v in row.items() if v != ""} for row in rows]


# --- the spec -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A parsed calibration spec."""

    path: Path
    base: Scenario
    parameters: list[Parameter]
    targets: list[Target]
    trials: int
    replicates: int
    batch: int
    seed: int
    start: dt.date | None
    fingerprint: str = field(default="", compare=False)

    @property
    def seeds(self) -> list[int]:
        """The replicates' seeds, the same for every trial: common random numbers."""
        return [self.base.run.seed + r for r in range(self.replicates)]

    @property
    def request(self) -> ensemble.Request:
        """What each cell keeps: the targets' headline figures and trajectories."""
        heads = tuple(dict.fromkeys(t.figure for t in self.targets if t.how == "headline"))
        daily = tuple(dict.fromkeys(t.series for t in self.targets if t.series is not None))
        return ensemble.Request(heads, daily)

    def cells(self, values: dict[str, float | int]) -> list[ensemble.Cell]:
        """The cells of a trial: its values at each replicate's seed."""
        return [ensemble.Cell(dict(values), seed) for seed in self.seeds]


def _count(
    doc: dict[str, Any], key: str, default: int, low: int, what: str
) -> tuple[int, Problems]:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        return default, [(key, f"{what}: a whole number >= {low}, not {value!r}")]
    return value, []


def load_spec(path: Path) -> Spec:
    """Read and check a calibration spec.

    Raises:
        ScenarioError: naming each problem's path in the spec (``targets.3.figure``,
            ``parameters.PATH``, ``trials``), all at once.
        CarnetError: when the ``evidence`` extra (Optuna, Dask) is not installed.
    """
    require("optuna", "calibration")
    require("distributed", "calibration")
    where = str(path)
    doc = parse_yaml(path.read_text(encoding="utf-8"), where)
    problems = _unknown_keys(doc, KEYS, "a calibration spec")
    base = base_scenario(doc, path)
    fixed = doc.get("set", {})
    if not isinstance(fixed, dict):
        problems.append(("set", "a mapping of scenario paths to the values every trial holds"))
    elif fixed:
        try:
            base = set_values(base, {str(k): v for k, v in fixed.items()}, source=where)
        except ScenarioError as exc:
            problems += [(f"set.{p}" if p else "set", m) for p, m in exc.problems]
    try:
        parameters = parse_parameters(base, doc.get("parameters"), where)
    except ScenarioError as exc:
        problems += exc.problems
        parameters = []
    start = None
    if doc.get("start") is not None:
        start = _date(doc["start"])
        if start is None:
            problems.append(("start", f"the date of day 0 as YYYY-MM-DD, not {doc['start']!r}"))
    scale, given = 1.0, doc.get("scale", 1.0)
    if isinstance(given, dict) and set(given) == {"population"} and _number(given["population"]):
        scale = float(given["population"]) / base.population.size
    elif _number(given) is not None and float(given) > 0:
        scale = float(given)
    else:
        problems.append(("scale", f"a number above 0, or {{population: N}}, not {given!r}"))
    rows = doc.get("targets")
    if isinstance(rows, str):
        csv_path = path.parent / rows
        if not csv_path.is_file():
            problems.append(("targets", f"no file {rows!r} beside the spec"))
            rows = []
        else:
            rows = read_targets(csv_path)
    if not isinstance(rows, list) or not rows:
        problems.append(("targets", "a list of targets, or a CSV file of them beside the spec"))
        rows = []
    targets = []
    for i, row in enumerate(rows):
        found, wrong = _target(row, i, base, start, scale)
        problems += wrong
        if found is not None:
            targets.append(found)
    least = max(STARTUP_TRIALS, 5 * len(parameters))
    trials, wrong = _count(doc, "trials", least, 1, "trials")
    problems += wrong
    if not wrong and trials < least:
        problems.append(("trials", f"{trials} are too few: TPE samples {STARTUP_TRIALS} at random "
                         f"before it models; give at least {least} (5 per parameter, "
                         f"{STARTUP_TRIALS} in all)"))  # fmt: skip
    replicates, wrong = _count(doc, "replicates", 1, 1, "replicates")
    problems += wrong
    batch, wrong = _count(doc, "batch", 4, 1, "batch")
    problems += wrong
    seed, wrong = _count(doc, "seed", 0, 0, "seed")
    problems += wrong
    if problems:
        raise ScenarioError(where, problems)
    fingerprint = hashlib.sha256(
        json.dumps(
            [base.model_dump(mode="json"), [p.__dict__ for p in parameters],
             [t.__dict__ for t in targets], replicates, batch, seed],
            sort_keys=True, default=str,
        ).encode()
    ).hexdigest()[:20]  # fmt: skip
    return Spec(path, base, parameters, targets, trials, replicates, batch, seed, start,
                fingerprint)  # fmt: skip


# --- trials -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """A trial's figures: per target, the replicates' values (scaled), their mean and its logL."""

    values: F64  # [target, replicate]
    means: F64  # [target]
    log_likelihoods: F64  # [target]

    @property
    def log_likelihood(self) -> float:
        """The trial's log-likelihood: the sum over targets."""
        return float(self.log_likelihoods.sum())


Read = dict[str, tuple[dict[str, float], dict[str, F64]]]


def per_cell(table: pa.Table) -> Read:
    """A cells' table as {cell: (headline figures, trajectories by name)}."""
    out: dict[str, tuple[dict[str, float], dict[str, list[tuple[int, float]]]]] = {}
    keys, names, values = (table[c].to_pylist() for c in ("cell", "figure", "value"))
    for key, name, value in zip(keys, names, values, strict=True):
        heads, days = out.setdefault(key, ({}, {}))
        series, at, day = name.rpartition("@")
        if at and day.isdigit():
            days.setdefault(series, []).append((int(day), value))
        else:
            heads[name] = value
    result: Read = {}
    for key, (heads, days) in out.items():
        arrays = {}
        for name, pairs in days.items():
            a = np.zeros(max(d for d, _ in pairs) + 1)
            for d, v in pairs:
                a[d] = v
            arrays[name] = a
        result[key] = (heads, arrays)
    return result


def fit(spec: Spec, cells: Sequence[ensemble.Cell], found: pa.Table | Read) -> Fit:
    """A trial's fit from its cells' figures (a cells' table, or :func:`per_cell` of one)."""
    read = per_cell(found) if isinstance(found, pa.Table) else found
    values = np.array([[t.value(read[c.key][1].get(t.series or ""), read[c.key][0].get(t.figure,
                        math.nan)) for c in cells] for t in spec.targets])  # fmt: skip
    means = values.mean(axis=1)
    logl = np.array([t.log_likelihood(float(m)) for t, m in zip(spec.targets, means, strict=True)])
    return Fit(values, means, logl)


def _repair(journal: Path) -> None:
    """Cut a journal's last line if a kill left it half written (Optuna would append after it)."""
    if not journal.is_file():
        return
    data = journal.read_bytes()
    if data and not data.endswith(b"\n"):
        with journal.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


def _study(spec: Spec, out: Path) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _repair(out / JOURNAL)
    storage = JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    study = optuna.create_study(
        study_name=STUDY, storage=storage, direction="maximize", load_if_exists=True
    )
    mine = study.user_attrs.get("spec")
    if mine is None:
        study.set_user_attr("spec", spec.fingerprint)
    elif mine != spec.fingerprint:
        raise ScenarioError(str(spec.path), [("", f"{out} holds a calibration of another spec "
                            "(scenario, parameters, targets, replicates, batch or seed differ): "
                            "give another --out")])  # fmt: skip
    return study


def _distributions(spec: Spec) -> dict[str, Any]:
    from optuna.distributions import FloatDistribution, IntDistribution

    return {
        p.path: IntDistribution(int(p.low), int(p.high), log=p.log)
        if p.integer
        else FloatDistribution(p.low, p.high, log=p.log)
        for p in spec.parameters
    }


def _ask(study: Any, spec: Spec, number: int) -> None:
    """Ask trial ``number`` with a sampler of its own seed: the same values on every resume."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.sampler = optuna.samplers.TPESampler(
            seed=spec.seed * 1_000_003 + number, n_startup_trials=STARTUP_TRIALS, multivariate=True
        )
        trial = study.ask(_distributions(spec))
    assert trial.number == number, (trial.number, number)


def _values(spec: Spec, params: dict[str, Any]) -> dict[str, float | int]:
    return {p.path: p.cast(params[p.path]) for p in spec.parameters}


@dataclass
class Outcome:
    """What a calibration did and found."""

    folder: Path
    trials: pa.Table
    parameters: pa.Table
    best: dict[str, Any]
    resumed: int = 0  # trials already told when it started
    evaluated: int = 0  # trials this call told


def calibrate(
    spec: Spec,
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Run the trials not done yet in ``out``; write every output; return what was found."""
    import os

    from carnet.runs.dask import client_for
    from carnet.runs.faults import point

    out.mkdir(parents=True, exist_ok=True)
    study = _study(spec, out)
    finished = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    resumed, evaluated = len(finished & set(range(spec.trials))), 0
    if progress is not None:
        progress(resumed, spec.trials)
    count = workers or os.cpu_count() or 1
    if resumed < spec.trials:
        with client_for(scheduler, count) as client:
            address = client.scheduler_info()["address"]  # one cluster for every batch
            for first in range(0, spec.trials, spec.batch):
                numbers = range(first, min(first + spec.batch, spec.trials))
                asked = {t.number: t for t in study.get_trials(deepcopy=False)}
                if all(n in asked and asked[n].state.is_finished() for n in numbers):
                    continue
                for n in numbers:  # the batch's trials not asked yet, asked in order
                    if n not in asked:
                        _ask(study, spec, n)
                        point("calibration/asked")
                asked = {t.number: t for t in study.get_trials(deepcopy=False)}
                todo = [n for n in numbers if not asked[n].state.is_finished()]
                cells = {n: spec.cells(_values(spec, asked[n].params)) for n in todo}
                every = [c for n in todo for c in cells[n]]
                found = per_cell(ensemble.run_cells(
                    spec.base, every, spec.request, out, scheduler=address, workers=count,
                ))  # fmt: skip
                for n in todo:  # told in order: the next batch sees the same history
                    study.tell(n, fit(spec, cells[n], found).log_likelihood)
                    evaluated += 1
                    point("calibration/told")
                if progress is not None:
                    progress(numbers.stop, spec.trials)
    trials = [t for t in study.get_trials(deepcopy=False) if t.number < spec.trials]
    if not any(t.value is not None and math.isfinite(t.value) for t in trials):
        raise ScenarioError(str(spec.path), [("targets", "no trial has a finite likelihood")])
    outcome = write_outputs(spec, out, trials)
    outcome.resumed, outcome.evaluated = resumed, evaluated
    return outcome


# --- outputs ------------------------------------------------------------------------------------


def _unit(p: Parameter, x: F64) -> F64:
    """Values of ``p`` on [0, 1] of its range (log scale if ``log``), where TPE samples them."""
    if p.log:
        return (np.log(x) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
    return (x - p.low) / (p.high - p.low)


def _from_unit(p: Parameter, z: float) -> float:
    z = min(max(z, 0.0), 1.0)
    if p.log:
        return math.exp(math.log(p.low) + z * (math.log(p.high) - math.log(p.low)))
    return p.low + z * (p.high - p.low)


def quadratic(z: F64, logl: F64) -> tuple[F64, F64] | None:
    """The maximum and covariance (``(-H)^-1``) of a quadratic fitted to logL near its top.

    ``z`` is [trial, parameter] on the unit scale. The fit takes the trials with 2 dlogL within
    four times the interval's threshold (far from the top no likelihood is quadratic); None
    where they are fewer than twice the quadratic's coefficients, or the fit is not concave.
    """
    d = z.shape[1]
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    coefficients = 1 + d + len(pairs)
    take = np.flatnonzero(2 * (logl.max() - logl) <= 4 * CHI2_95)
    if len(take) < 2 * coefficients:
        return None
    zz = z[take]
    design = np.column_stack([np.ones(len(take)), zz] + [zz[:, i] * zz[:, j] for i, j in pairs])
    beta, *_ = np.linalg.lstsq(design, logl[take], rcond=None)
    g = beta[1 : 1 + d]
    h = np.zeros((d, d))
    for (i, j), b in zip(pairs, beta[1 + d :], strict=True):
        h[i, j] = h[j, i] = 2 * b if i == j else b
    if not np.all(np.linalg.eigvalsh(h) < 0):
        return None
    covariance = np.asarray(np.linalg.inv(-h), np.float64)
    top = np.asarray(np.linalg.solve(-h, g), np.float64)
    return top, covariance


def intervals(
    parameters: Sequence[Parameter], values: F64, logl: F64
) -> list[tuple[float, float, int, str]]:
    """Each parameter's profile-likelihood 95% interval from the trials: (low, high, within, how).

    ``values`` is [trial, parameter], ``logl`` the trials' log-likelihoods (finite ones only).
    The sampled interval is the range of a parameter over trials with ``2 (max logL - logL) <=
    3.84``: each of them lies in the profile interval, which it approximates from inside. Where
    a concave quadratic fits logL near its top (on the unit scale where trials were sampled), its
    profile interval, ``z_max +- sqrt(3.84 V_jj)``, is joined to the sampled one: it reaches
    where trials did not (``how`` says "quadratic"; else "trials"). Both end inside the ranges.
    """
    inside = 2 * (logl.max() - logl) <= CHI2_95
    z = np.column_stack([_unit(p, values[:, j]) for j, p in enumerate(parameters)])
    fitted = quadratic(z, logl)
    out = []
    for j, p in enumerate(parameters):
        low, high = float(values[inside, j].min()), float(values[inside, j].max())
        how = "trials"
        if fitted is not None:
            top, covariance = fitted
            spread = math.sqrt(CHI2_95 * covariance[j, j])
            low = min(low, _from_unit(p, float(top[j]) - spread))
            high = max(high, _from_unit(p, float(top[j]) + spread))
            how = "quadratic"
        out.append((low, high, int(inside.sum()), how))
    return out


def write_outputs(spec: Spec, out: Path, trials: Sequence[Any]) -> Outcome:
    """trials.parquet, fits.parquet, parameters.parquet, best.json, calibrated.yaml, fit.html."""
    from carnet.analysis.calibration_page import page_html
    from carnet.runs.directory import atomic_write, parquet_bytes
    from carnet.scenario.loading import to_yaml

    trials = sorted(trials, key=lambda t: t.number)
    done = [t for t in trials if t.value is not None and math.isfinite(t.value)]
    numbers = [t.number for t in trials]
    logl = np.array([t.value if t.value is not None else math.nan for t in trials], np.float64)
    columns: dict[str, Any] = {
        "trial": pa.array(numbers, pa.int64()),
        "state": pa.array([t.state.name for t in trials], pa.string()),
    }
    for p in spec.parameters:
        kind = pa.int64() if p.integer else pa.float64()
        columns[p.path] = pa.array([_values(spec, t.params)[p.path] for t in trials], kind)
    columns["log_likelihood"] = pa.array(logl, pa.float64())
    table = pa.table(columns)
    atomic_write(out / TRIALS, parquet_bytes(table))

    fits: dict[int, Fit] = {}
    rows: dict[str, list[Any]] = {k: [] for k in (
        "trial", "target", "figure", "at", "day", "observed", "likelihood", "model", "low",
        "high", "log_likelihood")}  # fmt: skip
    for t in done:
        cells = spec.cells(_values(spec, t.params))
        fits[t.number] = f = fit(spec, cells, ensemble.read_cells(out, cells))
        for i, target in enumerate(spec.targets):
            for key, value in (("trial", t.number), ("target", i), ("figure", target.figure),
                               ("at", target.label), ("day", target.day),
                               ("observed", target.observed), ("likelihood", target.likelihood),
                               ("model", float(f.means[i])), ("low", float(f.values[i].min())),
                               ("high", float(f.values[i].max())),
                               ("log_likelihood", float(f.log_likelihoods[i]))):  # fmt: skip
                rows[key].append(value)
    atomic_write(out / FITS, parquet_bytes(pa.table(rows)))

    order = sorted(done, key=lambda t: (-float(t.value), t.number))
    best = order[0]
    best_values = _values(spec, best.params)
    finite = np.isfinite(logl)
    values = np.column_stack([np.asarray(table[p.path].to_numpy(zero_copy_only=False),
                                         np.float64)[finite] for p in spec.parameters])  # fmt: skip
    found = intervals(spec.parameters, values, logl[finite])
    ranges = {p.path: found[j] for j, p in enumerate(spec.parameters)}
    parameters = pa.table({
        "parameter": [p.path for p in spec.parameters],
        "best": [float(best_values[p.path]) for p in spec.parameters],
        "low": [ranges[p.path][0] for p in spec.parameters],
        "high": [ranges[p.path][1] for p in spec.parameters],
        "within": pa.array([ranges[p.path][2] for p in spec.parameters], pa.int64()),
        "interval": [ranges[p.path][3] for p in spec.parameters],
        "range_low": [p.low for p in spec.parameters],
        "range_high": [p.high for p in spec.parameters],
    })  # fmt: skip
    atomic_write(out / PARAMETERS, parquet_bytes(parameters))
    summary = {
        "trial": best.number,
        "log_likelihood": float(best.value),
        "parameters": {k: {"best": v, "low": ranges[k][0], "high": ranges[k][1],
                           "trials_within": ranges[k][2], "interval": ranges[k][3]}
                       for k, v in best_values.items()},
        "interval": "profile likelihood 95%: 2 (best logL - logL) <= 3.84, over the trials "
        "(trials) joined to a quadratic's fitted to logL near its top (quadratic)",
        "trials": len(trials),
        "replicates": spec.replicates,
    }  # fmt: skip
    atomic_write(out / BEST, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
    calibrated = set_values(spec.base, dict(best_values))
    atomic_write(out / CALIBRATED, to_yaml(calibrated).encode("utf-8"))
    top = [t.number for t in order[:3]]
    series = _series(spec, out, [_values(spec, order[i].params) for i in range(len(top))])
    page = page_html(spec, table, parameters, {n: fits[n] for n in top}, series, CHI2_95)
    atomic_write(out / PAGE, page.encode("utf-8"))
    return Outcome(out, table, parameters, summary)


def _series(
    spec: Spec, out: Path, trials: Sequence[dict[str, float | int]]
) -> list[dict[str, F64]]:
    """For each of ``trials``: each trajectory target's figure, day by day, [replicate, day]."""
    found = []
    for values in trials:
        cells = spec.cells(values)
        read = per_cell(ensemble.read_cells(out, cells))
        mine: dict[str, F64] = {}
        for t in spec.targets:
            if t.series is None or t.how == "yearly" or t.figure in mine:
                continue
            rows = [read[c.key][1][t.series] for c in cells]
            stacked = np.array(rows) * t.scale
            mine[t.figure] = np.cumsum(stacked, axis=1) if t.how == "total" else stacked
        found.append(mine)
    return found
