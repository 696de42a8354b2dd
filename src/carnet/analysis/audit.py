"""The harm audit: what the system got wrong, whom it excluded, what it took, how behaviour bent.

carnet knows what no real system knows: whether each sanctioned act happened and who did it. This
module turns a run's exact aggregates (and its panel, for distributions) into the audit's tables,
each by group, and where it applies by region or income quintile:

========================  ====================================================================
``sanctions``             point deductions, wrongful ones by cause, their share, per 100,000
``listings``              blacklist entries and listed days, wrongful ones (citizens, companies)
``gates``                 approval rates, wrongful refusals, disparate impact with 95% intervals
``inequality``            Gini of points at the start and the end
``mobility``              grade at day 0, and half-way, → grade at the end
``time_in_grade``         share of citizen-days in each grade, and below each band
``privacy``               data points collected per citizen-year, by source and sensitivity
``behaviour``             acts deterred and lawful acts chilled, against the run without responses
``appeals``               appeals filed and won, wrongful sanctions left standing
``sanctions_by_place``    sanctions and wrongful ones by region and income quintile (panel)
========================  ====================================================================

Every table is long and plain (text keys, numeric values), so that replicates stack and compare
(:mod:`carnet.analysis.replicates`) without knowing what each table holds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carnet.result import Result, simulate
from carnet.scenario.pathsyntax import parse_path
from carnet.scenario.schema import Change, Scenario
from carnet.sim.parameters import POINTS_OFFSET, compile_parameters
from carnet.sim.simulation import Progress

Z95 = 1.959963984540054  # two-sided 95% normal quantile
F64 = npt.NDArray[np.float64]


@dataclass
class Audit:
    """The audit of one run: one table per question (see the module's docstring)."""

    sanctions: pa.Table
    listings: pa.Table
    gates: pa.Table
    inequality: pa.Table
    mobility: pa.Table
    time_in_grade: pa.Table
    privacy: pa.Table
    behaviour: pa.Table  # empty unless the run without responses was given
    appeals: pa.Table
    sanctions_by_place: pa.Table  # by region and income quintile, from the panel's ledger

    def tables(self) -> dict[str, pa.Table]:
        """Every table, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def save(self, folder: str | Path) -> Path:
        """Write each table as ``<folder>/<name>.parquet`` (atomically); return the folder."""
        from carnet.runs.directory import write_tables

        return write_tables(self.tables(), Path(folder))


def responses_off(s: Scenario) -> Scenario:
    """``s`` with no response to the system: the counterfactual for deterrence and chilling.

    Random streams are keyed by what they draw, not by the responses, so the two runs share
    their random numbers: every difference in acts is the responses' doing.
    """
    from carnet.scenario.schema import Responses

    off = Responses(deterrence={}, punished=1.0, household=1.0, coworkers=1.0, chilling=0.0)
    update: dict[str, object] = {"responses": off, "timeline": _without_responses(s.timeline)}
    if s.companies is not None:
        update["companies"] = s.companies.model_copy(update={"responses": off})
    return s.model_copy(update=update)


def _without_responses(timeline: list[Change]) -> list[Change]:
    """The timeline's changes but those of responses (off for the whole counterfactual run)."""
    kept = []
    for change in timeline:
        values = {path: value for path, value in change.set.items()
                  if parse_path(path)[:1] != ("responses",)
                  and parse_path(path)[:2] != ("companies", "responses")}  # fmt: skip
        if values:
            kept.append(change.model_copy(update={"set": values}))
    return kept


def without_responses(
    s: Scenario,
    *,
    seed: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Result:
    """``s`` simulated under :func:`responses_off`, on the same random numbers as ``s``."""
    return simulate(responses_off(s), seed=seed, threads=threads, progress=progress)


def audit_with_behaviour(
    result: Result, *, threads: int | None = None, progress: Progress | None = None
) -> Audit:
    """The whole audit of ``result``, behaviour change included.

    The run's scenario is simulated again without responses (:func:`without_responses`), at
    the run's seed, so that the audit counts the acts deterred and chilled.
    """
    counterfactual = without_responses(result.scenario, threads=threads, progress=progress)
    return audit(result, without_responses=counterfactual)


def audit(result: Result, *, without_responses: Result | None = None) -> Audit:
    """Audit ``result``; ``without_responses`` is the same run under :func:`responses_off`."""
    return Audit(
        sanctions=sanctions(result),
        listings=listings(result),
        gates=gates(result),
        inequality=inequality(result),
        mobility=pa.concat_tables([mobility(result, since=0), mobility(result)]),
        time_in_grade=time_in_grade(result),
        privacy=privacy(result),
        behaviour=behaviour(result, without_responses),
        appeals=appeals(result),
        sanctions_by_place=sanctions_by_place(result),
    )


def _groups(m: pa.Table) -> list[str]:
    names: list[str] = m.filter(pc.equal(m["day"], 0))["group"].to_pylist()
    return names


def _by_group(m: pa.Table, column: str, groups: list[str]) -> F64:
    """A metrics column summed over the days, by group (in ``groups`` order), as floats."""
    values = m[column].to_numpy().reshape(-1, len(groups))
    out: F64 = values.sum(axis=0).astype(np.float64)
    return out


def _last(m: pa.Table, column: str, groups: list[str]) -> F64:
    values = m[column].to_numpy().reshape(-1, len(groups))
    out: F64 = values[-1].astype(np.float64)
    return out


def _with_all(groups: list[str], *columns: F64) -> tuple[list[str], list[F64]]:
    """Append an ``all`` row: the sum over groups of each column."""
    return [*groups, "all"], [np.append(c, c.sum()) for c in columns]


def _ratio(a: F64, b: F64) -> F64:
    out: F64 = np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)
    return out


def sanctions(result: Result) -> pa.Table:
    """Point deductions by group, the wrongful ones by cause, their share and rate per 100,000."""
    s, m = result.scenario, result.metrics
    groups = _groups(m)
    G = len(groups)
    sanctions, wrongful = np.zeros(G), np.zeros(G)
    for b in s.behaviours:
        if s.rules.points[b.name].points < 0:
            sanctions += _by_group(m, f"scored_{b.name}", groups)
            wrongful += _by_group(m, f"wrongful_{b.name}", groups)
    d = s.denunciations
    false_reports = (
        _by_group(m, "denounced_wrongfully", groups)
        if d is not None and s.rules.points[d.sanction].points < 0
        else np.zeros(G)
    )
    citizens = _last(m, "citizens", groups)
    names, (sanctions, wrongful, false_reports, citizens) = _with_all(
        groups, sanctions, wrongful, false_reports, citizens
    )
    return pa.table(
        {
            "group": names,
            "citizens": citizens,
            "sanctions": sanctions,
            "wrongful": wrongful,
            "misattribution": wrongful - false_reports,
            "false_denunciation": false_reports,
            "wrongful_share": _ratio(wrongful, sanctions),
            "wrongful_per_100k": _ratio(wrongful * 1e5, citizens),
        }
    )


def listings(result: Result) -> pa.Table:
    """Entries and listed days (sums of the daily stock), the wrongful part, per list and group."""
    groups = _groups(result.metrics)
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "list",
            "group",
            "entries",
            "wrongful_entries",
            "listed_days",
            "wrongful_days",
            "days_per_entry",
        )
    }

    def add(name: str, table: pa.Table, keys: list[str], cols: tuple[str, str, str, str]) -> None:
        entries, wrong_entries, stock, wrong_stock = (
            _by_group(table, c, keys) if c else np.zeros(len(keys)) for c in cols
        )
        names, values = _with_all(keys, entries, wrong_entries, stock, wrong_stock)
        for i, key in enumerate(names):
            e, we, days, wd = (float(v[i]) for v in values)
            for col, value in zip(
                rows, (name, key, e, we, days, wd, days / e if e else 0.0), strict=True
            ):
                rows[col].append(value)

    m = result.metrics
    if "blacklisted" in m.column_names:  # judgment defaulters: the court judgment was owed
        add("blacklist", m, groups, ("blacklist_entries", "", "blacklisted", ""))
    if "jointly_listed" in m.column_names:
        add(
            "joint punishment",
            m,
            groups,
            ("joint_punishments", "joint_wrongful", "jointly_listed", "jointly_listed_wrongfully"),
        )
    cm = result.company_metrics
    if cm is not None and "blacklisted" in cm.column_names:
        sectors: list[str] = cm.filter(pc.equal(cm["day"], 0))["sector"].to_pylist()
        add(
            "company blacklist",
            cm,
            sectors,
            ("blacklist_entries", "wrongful_entries", "blacklisted", "wrongfully_blacklisted"),
        )
    return pa.table(rows, schema=_schema(rows, ("list", "group")))


def _schema(rows: dict[str, list[object]], text: tuple[str, ...]) -> pa.Schema:
    return pa.schema([(k, pa.string() if k in text else pa.float64()) for k in rows])


def gates(result: Result) -> pa.Table:
    """Approval rates by gate and group, wrongful refusals, and disparate impact.

    Impact is each group's approval rate over that of the most favoured group at the gate; its
    95% interval is the delta method on the log of the ratio of two binomial rates (replicates
    give intervals over seeds instead: :func:`carnet.analysis.replicates.summarise`).
    """
    text = ("gate", "group")
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            *text,
            "applications",
            "approved",
            "approval_rate",
            "refused_wrongfully",
            "impact_ratio",
            "impact_low",
            "impact_high",
        )
    }
    g = result.gates
    if g is None or g.num_rows == 0:
        return pa.table(rows, schema=_schema(rows, text))
    approved = pc.equal(g["outcome"], "approved")
    by = g.append_column("approved", pc.if_else(approved, g["count"], 0))
    sums = by.group_by(["gate", "group"]).aggregate(
        [("count", "sum"), ("approved", "sum"), ("wrongful", "sum")]
    )
    gate_names = [gate.name for gate in result.scenario.gates]
    for gate in gate_names:
        part = sums.filter(pc.equal(sums["gate"], gate)).to_pylist()
        if not part:
            continue
        n = np.array([r["count_sum"] for r in part], np.float64)
        k = np.array([r["approved_sum"] for r in part], np.float64)
        rate = _ratio(k, n)
        best = int(np.argmax(rate))
        ratio = _ratio(rate, np.full_like(rate, rate[best]))
        # Var(log p) = (1 - p) / (n p) for each rate, the best group's shared by every ratio;
        # a rate of 0 or 1 gets Haldane and Anscombe's half-count, so its interval has a width.
        edge = (k == 0) | (k == n)
        kc, nc = np.where(edge, k + 0.5, k), np.where(edge, n + 1.0, n)
        pc_ = _ratio(kc, nc)
        var_log = _ratio(1 - pc_, nc * pc_)
        for i, r in enumerate(part):
            low = high = ratio[i]
            if i != best:
                spread = np.exp(Z95 * np.sqrt(var_log[i] + var_log[best]))
                centre = pc_[i] / pc_[best]
                low, high = (0.0 if k[i] == 0 else ratio[i] / spread), centre * spread
            values = (gate, r["group"], n[i], k[i], rate[i], float(r["wrongful_sum"]), ratio[i],
                      low, high)  # fmt: skip
            for col, value in zip(rows, values, strict=True):
                rows[col].append(float(value) if col not in text else value)
    return pa.table(rows, schema=_schema(rows, text))


def gini(values: F64) -> float:
    """Gini coefficient of non-negative values (0: all equal; near 1: one holds everything)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), x.sum()
    if n == 0 or total <= 0:
        return 0.0
    return float((2.0 * np.arange(1, n + 1) - n - 1) @ x / (n * total))


def _shifted_points(result: Result) -> F64:
    """Every citizen's points at the end, shifted by the rules' floor (non-negative)."""
    points: F64 = result.population["points"].to_numpy().astype(np.float64)
    return points - result.scenario.rules.floor


def gini_end(result: Result) -> float:
    """Gini of every citizen's points at the end: the ``all`` row of :func:`inequality`."""
    return gini(_shifted_points(result))


def inequality(result: Result) -> pa.Table:
    """Gini of points by group, region and income quintile (over the panel), start and end.

    Points are shifted by the rules' floor so that they are non-negative, as Gini requires.
    """
    s, pop = result.scenario, result.population
    floor = s.rules.floor
    points = _shifted_points(result)
    drawn = "start_points" in pop.column_names  # start points drawn per group
    starts = (pop["start_points"].to_numpy().astype(np.float64) - floor) if drawn else None
    start = float(s.population.start_points - floor)
    rows: dict[str, list[object]] = {
        k: [] for k in ("by", "value", "citizens", "mean_points", "gini_start", "gini_end")
    }
    for by in ("all", "group", "region", "income_quintile"):
        if by == "all":
            names, codes = ["all"], np.zeros(len(points), np.int64)
        else:
            names, codes = _codes(pop[by])
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
        for i, value in enumerate(names):
            who = order[bounds[i] : bounds[i + 1]]
            mine = points[who]
            at_start = starts[who] if starts is not None else np.full(len(mine), start)
            row = (by, value, float(len(mine)), float(mine.mean() + floor) if len(mine)
                   else 0.0, gini(at_start), gini(mine))  # fmt: skip
            for col, v in zip(rows, row, strict=True):
                rows[col].append(v)
    return pa.table(rows, schema=_schema(rows, ("by", "value")))


def _codes(column: pa.ChunkedArray) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The distinct values of a column, sorted, as text, and each row's index among them."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    names = [str(v) for v in encoded.dictionary.to_pylist()]
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i]))  # 2 before 10
    rank = np.empty(len(names), np.int64)
    rank[order] = np.arange(len(names))
    return [names[i] for i in order], rank[encoded.indices.to_numpy()]


def points_on(result: Result, day: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The panel's citizens and their points at the start of ``day``, read from the ledger.

    The ledger holds every point change of the panel's citizens with the balance after it; a
    citizen without a change before ``day`` still has the starting points (the population's
    ``start_points`` column where they were drawn).
    """
    pop = result.population
    citizens = pop["citizen"].to_numpy().astype(np.int64)
    if "start_points" in pop.column_names:
        points = pop["start_points"].to_numpy().astype(np.int64)
    else:
        points = np.full(len(citizens), result.scenario.population.start_points, np.int64)
    ledger = result.ledger.select(["day", "citizen", "balance"])
    before = ledger.filter(pc.less(ledger["day"], day))
    # Rows are in time order per citizen within each part; a stable sort by day keeps it so.
    order = np.argsort(before["day"].to_numpy(), kind="stable")
    who = before["citizen"].to_numpy()[order][::-1]
    balance = before["balance"].to_numpy()[order][::-1]
    changed, last = np.unique(who, return_index=True)  # the first from the end: the latest
    by_id = np.argsort(citizens)
    at = by_id[np.searchsorted(citizens, changed, sorter=by_id)]
    points[at] = balance[last]
    return citizens, points


def mobility(result: Result, since: int | None = None) -> pa.Table:
    """Citizens of the panel by grade on day ``since`` and grade at the end, by group.

    Everyone starts with the same points, so from day 0 the table has a single row of origin;
    by default it runs from the middle of the run (``since = days // 2``), read from the ledger.
    """
    s, pop = result.scenario, result.population
    day = s.run.days // 2 if since is None else since
    t = compile_parameters(s)
    grades = [g.name for g in s.grades]
    _, before = points_on(result, day)
    start = t.grade_of_points[before + POINTS_OFFSET].astype(np.int64)
    end = t.grade_of_points[pop["points"].to_numpy().astype(np.int64) + POINTS_OFFSET]
    groups = [g.name for g in s.population.groups]
    code = pc.index_in(pop["group"], value_set=pa.array(groups)).to_numpy(zero_copy_only=False)
    G = len(grades)
    rows: dict[str, list[object]] = {
        "group": [], "since": [], "from_grade": [], "to_grade": [], "citizens": []
    }  # fmt: skip
    for k, group in enumerate([*groups, "all"]):
        mine = code == k if group != "all" else np.ones(len(code), np.bool_)
        counts = np.bincount(start[mine] * G + end[mine], minlength=G * G).reshape(G, G)
        for i, j in np.ndindex(G, G):
            for col, v in zip(rows, (group, f"day {day}", grades[i], grades[j],
                                     float(counts[i, j])), strict=True):  # fmt: skip
                rows[col].append(v)
    return pa.table(rows, schema=_schema(rows, ("group", "since", "from_grade", "to_grade")))


def time_in_grade(result: Result) -> pa.Table:
    """Share of citizen-days spent in each grade, and below each grade's band, by group."""
    s, m = result.scenario, result.metrics
    groups = _groups(m)
    grades = [g.name for g in s.grades]
    days = np.array([_by_group(m, f"grade_{g}", groups) for g in grades])  # [grade, group]
    days = np.concatenate([days, days.sum(axis=1, keepdims=True)], axis=1)
    total = days.sum(axis=0)
    below = np.cumsum(days[::-1], axis=0)[::-1] - days  # worse grades come later in the list
    rows: dict[str, list[object]] = {
        "group": [],
        "grade": [],
        "citizen_days": [],
        "share": [],
        "share_below": [],
    }
    for j, group in enumerate([*groups, "all"]):
        for i, grade in enumerate(grades):
            share, under = days[i, j] / max(total[j], 1), below[i, j] / max(total[j], 1)
            for col, v in zip(rows, (group, grade, days[i, j], share, under), strict=True):
                rows[col].append(v)
    return pa.table(rows, schema=_schema(rows, ("group", "grade")))


def privacy(result: Result) -> pa.Table:
    """Data points collected per citizen-year, by group and source (with its sensitivity).

    With platforms, also who runs each source (``platform``, empty for the state) and the data
    points that reached the state (``to_state``): a platform collects everything it is given,
    and passes on what it complies with.
    """
    s, m = result.scenario, result.metrics
    groups = _groups(m)
    citizens = _last(m, "citizens", groups)
    years = s.run.days / 365.0
    rows: dict[str, list[object]] = {
        "group": [],
        "source": [],
        "sensitivity": [],
        "data_points": [],
        "per_citizen_year": [],
    }
    if s.platforms:
        rows.update(platform=[], to_state=[])
    for src in s.sources:
        names, (collected, n) = _with_all(
            groups, _by_group(m, f"data_{src.name}", groups), citizens
        )
        reached = collected
        if s.platforms:
            to_state = _by_group(m, f"state_data_{src.name}", groups)
            _, (reached, _) = _with_all(groups, to_state, citizens)
        for i, group in enumerate(names):
            per = collected[i] / (n[i] * years) if n[i] else 0.0
            values: list[object] = [group, src.name, src.sensitivity, collected[i], per]
            if s.platforms:
                values += [src.platform or "", reached[i]]
            for col, v in zip(rows, values, strict=True):
                rows[col].append(v)
    keys = ("group", "source", "sensitivity", *(("platform",) if s.platforms else ()))
    return pa.table(rows, schema=_schema(rows, keys))


def _acts(s: Scenario, m: pa.Table, groups: list[str], behaviour: str) -> F64:
    done = sum(
        _by_group(m, f"acts_{behaviour}_{o}", groups)
        for o in ("missed", "detected", "misattributed")
    )
    return np.asarray(done, np.float64)


def behaviour(result: Result, without: Result | None) -> pa.Table:
    """Acts truly done with and without responses to the system, by behaviour and group.

    For negative behaviours the difference is deterrence, for lawful ones chilling; positive
    behaviours do not respond, so their difference is zero by construction of the streams.
    """
    s, m = result.scenario, result.metrics
    groups = _groups(m)
    text = ("behaviour", "kind", "group")
    rows: dict[str, list[object]] = {
        k: [] for k in (*text, "acts", "acts_without_responses", "change", "change_share")
    }
    if without is not None:
        base = without.metrics
        for b in s.behaviours:
            names, (acts, free) = _with_all(
                groups, _acts(s, m, groups, b.name), _acts(s, base, groups, b.name)
            )
            for i, group in enumerate(names):
                change = acts[i] - free[i]
                for col, v in zip(
                    rows,
                    (
                        b.name,
                        b.kind,
                        group,
                        acts[i],
                        free[i],
                        change,
                        change / free[i] if free[i] else 0.0,
                    ),
                    strict=True,
                ):
                    rows[col].append(v)
    return pa.table(rows, schema=_schema(rows, text))


def appeals(result: Result) -> pa.Table:
    """Appeals filed and won, and the wrongful sanctions that no appeal overturned.

    Appeals count on the day of the sanction appealed, so a decision due after the last day is
    counted as it will fall.
    """
    s, m = result.scenario, result.metrics
    groups = _groups(m)
    G = len(groups)
    counts = {
        name: _by_group(m, name, groups) if name in m.column_names else np.zeros(G)
        for name in (
            "appeals_filed",
            "appeals_won",
            "appeals_filed_wrongful",
            "appeals_won_wrongful",
        )
    }
    wrongful = np.zeros(G)
    for b in s.behaviours:
        if s.rules.points[b.name].points < 0:
            wrongful += _by_group(m, f"wrongful_{b.name}", groups)
    names, values = _with_all(groups, *counts.values(), wrongful)
    filed, won, filed_wrong, won_wrong, wrong = values
    return pa.table(
        {
            "group": names,
            "filed": filed,
            "won": won,
            "filed_wrongful": filed_wrong,
            "won_wrongful": won_wrong,
            "wrongful_sanctions": wrong,
            "wrongful_left_standing": wrong - won_wrong,
        }
    )


def sanctions_by_place(result: Result) -> pa.Table:
    """Sanctions and wrongful ones by region and by income quintile, from the panel's ledger.

    The metrics count by group only; region and income quintile come from the panel (everyone,
    up to ``run.panel.full_up_to`` citizens; a uniform sample above, whose counts are then
    estimates: ``panel`` says how many citizens they rest on). Income is the quintile at the end.
    """
    pop, ledger = result.population, result.ledger
    acts = ledger.filter(pc.and_(pc.equal(ledger["kind"], "act"), pc.less(ledger["points"], 0)))
    citizens = pop["citizen"].to_numpy()
    where = np.searchsorted(citizens, acts["citizen"].to_numpy())
    wrong = ~acts["truly_done"].to_numpy(zero_copy_only=False)
    rows: dict[str, list[object]] = {
        k: [] for k in ("by", "value", "panel", "sanctions", "wrongful", "wrongful_share",
                        "wrongful_per_100k")
    }  # fmt: skip
    for by in ("region", "income_quintile"):
        names, codes = _codes(pop[by])
        panel = np.bincount(codes, minlength=len(names)).astype(np.float64)
        sanctioned = np.bincount(codes[where], minlength=len(names)).astype(np.float64)
        wrongful = np.bincount(codes[where[wrong]], minlength=len(names)).astype(np.float64)
        share, per = _ratio(wrongful, sanctioned), _ratio(wrongful * 1e5, panel)
        for i, value in enumerate(names):
            row = (by, value, panel[i], sanctioned[i], wrongful[i], share[i], per[i])
            for col, v in zip(rows, row, strict=True):
                rows[col].append(v)
    return pa.table(rows, schema=_schema(rows, ("by", "value")))
