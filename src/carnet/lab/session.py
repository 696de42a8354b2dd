"""What a lab session does, as plain functions: no Streamlit here, so each can be tested alone.

Choose a scenario (a preset, or an uploaded file read in memory), run it with a progress
callback, draw the report's charts (:mod:`carnet.analysis.charts`, the very functions of
report.html),
audit it (:mod:`carnet.analysis.audit`), compare it with a pinned baseline on common random numbers
(:func:`carnet.analysis.replicates.differences`), list the wrongfully sanctioned and read their
dossiers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc

from carnet.analysis.audit import Audit, audit, responses_off, without_responses
from carnet.analysis.charts import CHARTS, NotApplicableError
from carnet.result import Dossier, Result, simulate
from carnet.runs.memory import check_memory
from carnet.scenario.loading import DEFAULT_PRESET, load_scenario, parse_bytes, validate
from carnet.scenario.schema import Scenario
from carnet.sim.output_names import check as check_names
from carnet.sim.timeline import check as check_timeline

#: Citizens of a scenario opened in the lab, unless it has fewer: a year runs in about a second.
LAB_POPULATION = 100_000
#: How many times a run reports its progress (a bar redrawn every day would slow it down).
PROGRESS_STEPS = 40
#: The charts the lab shows first, by name (the others follow): what a class looks at first.
FIRST_CHARTS = ("grades", "wrongful", "impact", "privacy-source", "mobility")
CHART_BY_NAME = {chart.name: chart for chart in CHARTS}

Progress = Callable[[float, str], None]


@dataclass
class LabRun:
    """One run of the lab: the scenario and its result; its charts and audit once asked for."""

    scenario: Scenario
    result: Result
    seconds: dict[str, float]  # how long each stage took
    without_responses: Result | None = None  # the same run with no response to the system
    number: int = 0  # the how-manieth run of the session
    _figures: dict[str, go.Figure | str] = field(default_factory=dict, repr=False)
    _audit: Audit | None = field(default=None, repr=False)

    def figure(self, name: str) -> go.Figure | str:
        """The chart called ``name`` of :data:`~carnet.analysis.charts.CHARTS`, or why not.

        Drawn once, on first use, by the chart's own function: the figure of report.html.
        """
        if name not in self._figures:
            started = time.perf_counter()
            try:
                self._figures[name] = CHART_BY_NAME[name].draw(self.result)
            except NotApplicableError as why:
                self._figures[name] = str(why)
            self.seconds["charts"] = self.seconds.get("charts", 0.0) + (
                time.perf_counter() - started
            )
        return self._figures[name]

    @property
    def figures(self) -> dict[str, go.Figure | str]:
        """Every chart, in :func:`chart_order`, drawn if it was not yet."""
        return {name: self.figure(name) for name in chart_order()}

    @property
    def audit(self) -> Audit:
        """The harm audit of the run (computed once, on first use)."""
        if self._audit is None:
            started = time.perf_counter()
            self._audit = audit(self.result, without_responses=self.without_responses)
            self.seconds["audit"] = time.perf_counter() - started
        return self._audit


def lab_size(scenario: Scenario) -> Scenario:
    """``scenario`` with at most :data:`LAB_POPULATION` citizens (the knob can raise it)."""
    if scenario.population.size <= LAB_POPULATION:
        return scenario
    return load_scenario(scenario, population=LAB_POPULATION)


def preset(name: str = DEFAULT_PRESET) -> Scenario:
    """A preset, sized for the lab."""
    return lab_size(load_scenario(name))


def from_upload(name: str, data: bytes) -> Scenario:
    """A scenario from an uploaded file's bytes, read and validated in memory as the CLI does.

    Nothing is written: the bytes are decoded and parsed within the loader's bounds (size,
    nesting, aliases, numbers) and validated with the same errors as ``carnet validate``.

    Raises:
        ScenarioError: naming every problem, with its path (or line and column).
    """
    scenario = validate(parse_bytes(data, name), name)
    check_names(scenario, name)
    check_timeline(scenario, name)
    return lab_size(scenario)


def warm_up() -> float:
    """Run a tiny scenario that goes through every phase, audit and chart; return its seconds.

    The first run in a process compiles (or loads from numba's cache) every kernel, and imports
    plotly; done once when the lab starts, it keeps that cost out of the first real run.
    """
    started = time.perf_counter()
    tiny = run(load_scenario("china", population=2000, days=260))  # past the seats' allocation
    tiny.figures  # noqa: B018  (drawn for their side effect: plotly's first figures are slow)
    tiny.audit  # noqa: B018  (and every audit function has been through its first call)
    return time.perf_counter() - started


def chart_order() -> list[str]:
    """The names of the report's charts, :data:`FIRST_CHARTS` first."""
    first = [name for name in FIRST_CHARTS if name in CHART_BY_NAME]
    return first + [c.name for c in CHARTS if c.name not in first]


def run(
    scenario: Scenario,
    *,
    behaviour: bool = False,
    progress: Progress | None = None,
    threads: int | None = None,
) -> LabRun:
    """Simulate ``scenario`` (its charts and audit are drawn on demand: :class:`LabRun`).

    With ``behaviour``, the scenario also runs without responses (:func:`responses_off`), so
    that the audit counts the acts deterred and chilled. ``progress`` is called with the share
    done and a line of text, about :data:`PROGRESS_STEPS` times per run.

    Raises:
        RunError: if the run is predicted not to fit in memory.
    """
    # simulate writes no checkpoints; with behaviour, a second run is held beside the first.
    check_memory(scenario, checkpoints=False, then=responses_off(scenario) if behaviour else None)
    runs = 2 if behaviour else 1
    days = scenario.run.days
    every = max(1, days // PROGRESS_STEPS)

    def report(k: int, what: str) -> Callable[[int, int], None]:
        def on_day(done: int, total: int) -> None:
            if progress is not None and (done % every == 0 or done == total):
                progress((k + done / total) / runs, f"{what}: day {done:,} of {total:,}")

        return on_day

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    result = simulate(scenario, threads=threads, progress=report(0, "simulating"))
    seconds["simulate"] = time.perf_counter() - started
    without = None
    if behaviour:
        started = time.perf_counter()
        progress_off = report(1, "without responses")
        without = without_responses(scenario, threads=threads, progress=progress_off)
        seconds["without responses"] = time.perf_counter() - started
    return LabRun(scenario, result, seconds, without_responses=without)


def differences(baseline: LabRun, current: LabRun) -> dict[str, pa.Table]:
    """Every audit number of ``current`` against ``baseline``: ``a``, ``b``, ``difference``.

    Both were run on their scenario's seed; with the same seed (common random numbers) each
    difference is the effect of what changed between the scenarios, not chance.
    """
    from carnet.analysis.replicates import differences as paired

    tables = paired([(baseline.audit, current.audit)])
    return {name: t.drop_columns(["low", "high"]) for name, t in tables.items()}


def scenario_changes(a: Scenario, b: Scenario) -> list[tuple[str, Any, Any]]:
    """What differs between two scenarios: each value's path, its value in ``a`` and in ``b``.

    A list or mapping that only one of them has, or whose length differs, is one change.
    """
    from carnet.scenario.paths import format_path

    changes: list[tuple[str, Any, Any]] = []

    def walk(x: Any, y: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
            for key in x:
                walk(x[key], y[key], (*path, key))
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, (*path, i))
        elif x != y:
            changes.append((format_path(path), x, y))

    walk(a.model_dump(mode="python"), b.model_dump(mode="python"), ())
    return changes


def changed_only(table: pa.Table) -> pa.Table:
    """The rows of a differences table whose difference is not zero."""
    return table.filter(pc.not_equal(table["difference"], 0.0))


def wrongfully_sanctioned(result: Result) -> pa.Table:
    """The panel's citizens sanctioned for acts they did not do, the most wronged first.

    Read from the ledger: acts recorded with negative points whose ``truly_done`` is false
    (someone else's act pinned on them, or a false denunciation). One row per citizen: their
    group, how many such sanctions, the points they cost, and the first day.
    """
    ledger = result.ledger
    wrong = ledger.filter(
        pc.and_(
            pc.and_(pc.equal(ledger["kind"], "act"), pc.less(ledger["points"], 0)),
            pc.invert(ledger["truly_done"]),
        )
    )
    by = (
        wrong.select(["citizen", "day", "points"])
        .group_by("citizen")
        .aggregate([("points", "count"), ("points", "sum"), ("day", "min")])
    )
    pop = result.population
    group = pop["group"].cast(pa.string()) if pa.types.is_dictionary(pop["group"].type) else None
    groups = pa.table({"citizen": pop["citizen"], "group": group or pop["group"]})
    table = pa.table(
        {
            "citizen": by["citizen"],
            "wrongful_sanctions": by["points_count"],
            "points_lost": pc.negate(by["points_sum"].cast(pa.int64())),
            "first_day": by["day_min"],
        }
    ).join(groups, "citizen")
    table = table.select(["citizen", "group", "wrongful_sanctions", "points_lost", "first_day"])
    return table.sort_by(
        [
            ("wrongful_sanctions", "descending"),
            ("points_lost", "descending"),
            ("citizen", "ascending"),
        ]
    )


def timeline(dossier: Dossier) -> pa.Table:
    """A dossier's rows as a table: what the system recorded, and what really happened."""
    rows: dict[str, list[Any]] = {
        k: [] for k in ("day", "recorded", "source", "points", "balance", "what really happened")
    }
    wrongful: list[bool] = []
    for row in dossier.rows:
        truth, tone = dossier.truth(row)
        kind = row.get("kind")
        what = row.get("behaviour") if kind == "act" else f"{kind} ({row.get('behaviour')})"
        for col, value in zip(
            rows,
            (row.get("day"), what, row.get("source") or "", row.get("points"), row.get("balance"),
             truth),
            strict=True,
        ):  # fmt: skip
            rows[col].append(value)
        wrongful.append(tone == "wrongful")
    return pa.table({"wrongful": wrongful, **rows})
