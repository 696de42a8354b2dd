"""Charts of a run: plotly figures drawn from the tables of a :class:`~carnet.result.Result`.

Every chart function takes a Result and returns a ``plotly.graph_objects.Figure``. A chart that
does not apply to the run (a scenario without gates, without lists) raises
:class:`NotApplicableError`, whose message says why in one line. The functions know nothing of
HTML: :mod:`carnet.analysis.report` lays them out in a page, and an interactive lab can show the
same
figures. :data:`CHARTS` lists them in the report's order, each with its title and how to read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
from plotly.colors import DEFAULT_PLOTLY_COLORS, sample_colorscale
from plotly.subplots import make_subplots

from carnet.analysis import audit

if TYPE_CHECKING:
    from carnet.result import Result
    from carnet.scenario.schema import Scenario

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: The four-fifths rule: an approval ratio below it is commonly read as adverse impact.
FOUR_FIFTHS = 0.8
#: Most panels side by side before they wrap to a new row.
PANELS_PER_ROW = 3


class NotApplicableError(Exception):
    """The run has nothing for this chart to draw (no gates, no lists); the message says why."""


# --- reading the tables ---------------------------------------------------------------------------


def _codes(column: pa.ChunkedArray | pa.Array, names: Sequence[str]) -> I64:
    """Each value's position in ``names`` (-1 for none), for a string or dictionary column."""
    values = column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column
    found = pc.index_in(values, value_set=pa.array(list(names), pa.string()))
    return np.asarray(found.fill_null(-1).to_numpy(), np.int64)


def _grid(table: pa.Table, column: str, key: str, keys: Sequence[str], days: int) -> I64:
    """A column of a metrics table as an array [day, group] (or [day, sector])."""
    out = np.zeros((days, len(keys)), np.int64)
    out[table["day"].to_numpy(), _codes(table[key], keys)] = table[column].to_numpy()
    return out


def _groups(s: Scenario) -> list[str]:
    return [g.name for g in s.population.groups]


def _citizens(result: Result) -> I64:
    """Citizens in each group (the whole population, not only the panel)."""
    s = result.scenario
    grid = _grid(result.metrics, "citizens", "group", _groups(s), s.run.days)
    return np.asarray(grid[0], np.int64)


def _panels(titles: Sequence[str], *, height: int = 320, **options: object) -> go.Figure:
    """Subplots, one per title, wrapped after :data:`PANELS_PER_ROW`."""
    cols = max(1, min(PANELS_PER_ROW, len(titles)))
    rows = max(1, math.ceil(len(titles) / cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=list(titles),
        vertical_spacing=0.5 / (rows + 1),
        **options,
    )
    fig.update_layout(height=height * rows + 120)
    return fig


def _cell(k: int) -> dict[str, int]:
    row, col = divmod(k, PANELS_PER_ROW)
    return {"row": row + 1, "col": col + 1}


def _colour(k: int) -> str:
    return str(DEFAULT_PLOTLY_COLORS[k % len(DEFAULT_PLOTLY_COLORS)])


def _grade_colours(n: int) -> list[str]:
    """Green for the best grade to red for the worst."""
    colours: list[str] = sample_colorscale("RdYlGn", [1.0 - i / max(1, n - 1) for i in range(n)])
    return colours


def _titled(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, template="plotly_white", margin={"t": 90})
    return fig


# --- the charts -----------------------------------------------------------------------------------


def grade_shares(result: Result) -> go.Figure:
    """Share of each group's citizens in each grade, day by day (stacked areas)."""
    s = result.scenario
    groups, days = _groups(s), np.arange(s.run.days)
    citizens = np.maximum(_citizens(result), 1)
    fig = _panels(groups, shared_yaxes=True)
    colours = _grade_colours(len(s.grades))
    for gi, grade in enumerate(s.grades):
        counts = _grid(result.metrics, f"grade_{grade.name}", "group", groups, s.run.days)
        for k, group in enumerate(groups):
            trace = go.Scatter(
                x=days,
                y=counts[:, k] / citizens[k],
                customdata=counts[:, k],
                name=grade.name,
                legendgroup=grade.name,
                showlegend=k == 0,
                stackgroup=group,
                line={"color": colours[gi], "width": 0.5},
                hovertemplate=f"{group}, day %{{x}}: %{{y:.1%}} in {grade.name} "
                "(%{customdata:,} citizens)<extra></extra>",
            )
            fig.add_trace(trace, **_cell(k))
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_xaxes(title_text="day")
    return _titled(fig, "Grades over time, by group")


def _histogram(
    points: I64, codes: I64, names: Sequence[str], start: int, legend: str
) -> list[go.Bar]:
    """One bar trace per name: the share of its members in each bin of points."""
    lo, hi = min(int(points.min()), start), max(int(points.max()), start)
    width = max(1, math.ceil((hi - lo + 1) / 80))
    edges = lo + width * np.arange(math.ceil((hi - lo + 1) / width) + 1)
    traces = []
    for k, name in enumerate(names):
        counts, _ = np.histogram(points[codes == k], bins=edges)
        traces.append(
            go.Bar(
                x=edges[:-1] + (width - 1) / 2,
                y=counts / max(1, counts.sum()),
                customdata=np.stack([edges[:-1], edges[:-1] + width - 1, counts], axis=1),
                width=width,
                name=name,
                marker_color=_colour(k),
                opacity=0.6,
                legend=legend,
                hovertemplate=f"{name}: %{{y:.1%}} (%{{customdata[2]:,}}) "
                "between %{customdata[0]} and %{customdata[1]} points<extra></extra>",
            )
        )
    return traces


def points_distribution(result: Result) -> go.Figure:
    """Points of the panel at the end, by group, against the points everyone started with.

    With companies, a second panel shows the companies' points by sector.
    """
    s, pop = result.scenario, result.population
    if pop.num_rows == 0:
        raise NotApplicableError("the run kept no panel of citizens")
    panels = [("citizens", pop, "group", _groups(s), s.population.start_points)]
    if result.companies is not None and result.companies.num_rows and s.companies is not None:
        sectors = [c.name for c in s.companies.sectors]
        panels.append(("companies", result.companies, "sector", sectors, s.companies.start_points))
    fig = make_subplots(rows=len(panels), cols=1, subplot_titles=[p[0] for p in panels])
    for row, (_, table, key, names, start) in enumerate(panels, start=1):
        points = table["points"].to_numpy().astype(np.int64)
        legend = "legend" if row == 1 else f"legend{row}"  # one legend beside each panel
        codes = _codes(table[key], names)
        for trace in _histogram(points, codes, names, start, legend):
            fig.add_trace(trace, row=row, col=1)
        fig.add_vline(
            x=start, line_dash="dash", annotation_text=f"all start at {start}", row=row, col=1
        )
        top = fig.get_subplot(row, 1).yaxis.domain[1]
        fig.update_layout({legend: {"title_text": key, "y": top, "yanchor": "top"}})
    fig.update_layout(barmode="overlay", height=380 * len(panels) + 120)
    fig.update_xaxes(title_text="points at the end")
    fig.update_yaxes(title_text="share", tickformat=".0%")
    return _titled(fig, "Points at the start and at the end")


def _rows(table: pa.Table) -> dict[str, npt.NDArray[Any]]:
    """An audit table's rows by group (the ``all`` row left out), as arrays by column."""
    mine = table.filter(pc.not_equal(table["group"], "all"))
    return {name: np.asarray(mine[name].to_pylist()) for name in mine.column_names}


def wrongful_sanctions(result: Result) -> go.Figure:
    """Wrongful sanctions per 100,000 citizens of each group, by cause (the audit's ``sanctions``).

    Misattribution: someone else's act pinned on the citizen; false denunciation: an accusation
    of an act that nobody did, where the scenario's denunciations sanction the accused.
    """
    s = result.scenario
    if not any(s.rules.points[b.name].points < 0 for b in s.behaviours):
        raise NotApplicableError("no behaviour of this scenario is sanctioned")
    col = _rows(audit.sanctions(result))
    causes = {"misattribution": "misattribution"}
    if s.denunciations is not None:
        causes["false_denunciation"] = "false denunciation"
    fig = go.Figure()
    for k, (name, label) in enumerate(causes.items()):
        fig.add_trace(
            go.Bar(
                x=col["group"],
                y=col[name] * 1e5 / np.maximum(col["citizens"], 1),
                customdata=col[name],
                name=label,
                marker_color=_colour(k),
                hovertemplate=f"%{{x}}, {label}: %{{y:,.1f}} per 100,000 citizens "
                "(%{customdata:,.0f})<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", xaxis_title="group", yaxis_title="per 100,000 citizens")
    return _titled(fig, "Wrongful sanctions, by cause and group")


def disparate_impact(result: Result) -> go.Figure:
    """Each group's approval rate over the most favoured group's at every gate, with 95% bars.

    From the audit's ``gates`` table: intervals by the delta method on one run's decisions.
    """
    if not result.scenario.gates:
        raise NotApplicableError("this scenario has no gates")
    table = audit.gates(result)
    if table.num_rows == 0:
        raise NotApplicableError("no decision was taken at any gate")
    col = {name: np.asarray(table[name].to_pylist()) for name in table.column_names}
    fig = go.Figure()
    for k, group in enumerate(_groups(result.scenario)):
        mine = col["group"] == group
        if not mine.any():
            continue
        ratio = col["impact_ratio"][mine]
        fig.add_trace(
            go.Scatter(
                x=ratio,
                y=col["gate"][mine],
                mode="markers",
                name=group,
                orientation="h",
                marker={"color": _colour(k), "size": 10},
                error_x={
                    "type": "data",
                    "array": col["impact_high"][mine] - ratio,
                    "arrayminus": ratio - col["impact_low"][mine],
                },
                customdata=col["approval_rate"][mine],
                hovertemplate=f"{group} at %{{y}}: ratio %{{x:.3f}}, approval rate "
                "%{customdata:.1%}<extra></extra>",
            )
        )
    fig.add_vline(x=FOUR_FIFTHS, line_dash="dot", annotation_text="four-fifths rule")
    low = np.nanmin(np.append(col["impact_low"], FOUR_FIFTHS))
    high = np.nanmax(np.append(col["impact_high"], 1.0))
    fig.update_layout(
        scattermode="group",  # the groups side by side on each gate's row
        xaxis={
            "title_text": "approval rate / that of the most favoured group",
            "range": [max(0.0, low - 0.05), min(high, 1.5) + 0.05],
        },  # wide bars run off
        yaxis={"autorange": "reversed", "type": "category"},
        height=max(360, 60 * len(set(col["gate"])) + 160),
    )
    return _titled(fig, "Disparate impact at the gates (95% intervals)")


def mobility(result: Result, since: int | None = None) -> go.Figure:
    """Grade on day ``since`` (default: the middle of the run) against the grade at the end.

    One heatmap per group, rows normalised: each cell is the share of the citizens in the row's
    grade on day ``since`` who ended in the column's grade; the text gives their number. Panel
    citizens only, read from the ledger.
    """
    s, pop = result.scenario, result.population
    if pop.num_rows == 0:
        raise NotApplicableError("the run kept no panel of citizens")
    day = s.run.days // 2 if since is None else since
    table = audit.mobility(result, day)
    groups, grades = _groups(s), [g.name for g in s.grades]
    G = len(grades)
    fig = _panels(groups, height=360, shared_yaxes=True)
    for k, group in enumerate(groups):
        mine = table.filter(pc.equal(table["group"], group))
        counts = mine["citizens"].to_numpy().astype(np.int64).reshape(G, G)  # from x to
        rows = counts.sum(axis=1, keepdims=True)
        shares = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
        fig.add_trace(
            go.Heatmap(
                z=shares,
                x=grades,
                y=grades,
                text=counts,
                texttemplate="%{text:,}",
                coloraxis="coloraxis",
                name=group,
                hovertemplate=f"{group}: %{{text:,}} from %{{y}} to %{{x}} "
                "(%{z:.1%} of the row)<extra></extra>",
            ),
            **_cell(k),
        )
    fig.update_layout(coloraxis={"colorscale": "Blues", "cmin": 0, "cmax": 1})
    fig.update_xaxes(title_text="grade at the end", type="category")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_yaxes(title_text=f"grade on day {day}", col=1)
    return _titled(fig, f"Mobility: grade on day {day} → grade at the end")


def _exposure(result: Result, key: str) -> go.Figure:
    """Data points per citizen-year by group and ``key`` (the audit's ``privacy`` table)."""
    s = result.scenario
    col = _rows(audit.privacy(result))
    names = list(dict.fromkeys(col[key].tolist()))
    fig = go.Figure()
    for k, group in enumerate(_groups(s)):
        mine = col["group"] == group
        per_year = [col["per_citizen_year"][mine & (col[key] == n)].sum() for n in names]
        collected = [col["data_points"][mine & (col[key] == n)].sum() for n in names]
        fig.add_trace(
            go.Bar(
                x=names,
                y=per_year,
                customdata=collected,
                name=group,
                marker_color=_colour(k),
                hovertemplate=f"{group}, %{{x}}: %{{y:,.1f}} per citizen-year "
                "(%{customdata:,.0f} in all)<extra></extra>",
            )
        )
    fig.update_layout(barmode="group", xaxis_title=key, yaxis_title="data points per citizen-year")
    return fig


def privacy_by_source(result: Result) -> go.Figure:
    """Data points collected per citizen-year, by source and group."""
    return _titled(_exposure(result, "source"), "Privacy exposure, by source")


def privacy_by_sensitivity(result: Result) -> go.Figure:
    """Data points collected per citizen-year, by the sensitivity of the data and by group."""
    return _titled(_exposure(result, "sensitivity"), "Privacy exposure, by sensitivity")


OUTCOMES = {
    "missed": "missed (never recorded)",
    "detected": "recorded on the one who did it",
    "misattributed": "recorded on someone else",
}


def acts_observed(result: Result) -> go.Figure:
    """What the sources made of the acts truly done, behaviour by behaviour.

    For each behaviour, the acts truly done split into those missed, those recorded on the one
    who did them and those pinned on someone else; with companies, their behaviours below.
    """
    s = result.scenario
    panels = [("citizens", [b.name for b in s.behaviours], result.metrics)]
    if s.companies is not None and result.company_metrics is not None:
        panels.append(
            ("companies", [b.name for b in s.companies.behaviours], result.company_metrics)
        )
    fig = make_subplots(
        rows=len(panels),
        cols=1,
        subplot_titles=[p[0] for p in panels],
        row_heights=[len(p[1]) for p in panels],
        vertical_spacing=0.08,
    )
    colours = {"missed": "#bbbbbb", "detected": "#2c7fb8", "misattributed": "#d7301f"}
    for row, (_, behaviours, table) in enumerate(panels, start=1):
        counts = {
            o: np.array([int(pc.sum(table[f"acts_{b}_{o}"]).as_py() or 0) for b in behaviours])
            for o in OUTCOMES
        }
        done = sum(counts.values(), np.zeros(len(behaviours), np.int64))
        labels = [f"{b} ({n:,})" for b, n in zip(behaviours, done, strict=True)]
        for outcome, label in OUTCOMES.items():
            fig.add_trace(
                go.Bar(
                    x=counts[outcome] / np.maximum(done, 1),
                    y=labels,
                    orientation="h",
                    customdata=counts[outcome],
                    name=label,
                    legendgroup=outcome,
                    showlegend=row == 1,
                    marker_color=colours[outcome],
                    hovertemplate=f"%{{y}}: %{{x:.1%}} {label} (%{{customdata:,}})<extra></extra>",
                ),
                row=row,
                col=1,
            )
    fig.update_layout(barmode="stack", height=28 * sum(len(p[1]) for p in panels) + 220)
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    fig.update_xaxes(title_text="share of the acts truly done", row=len(panels), col=1)
    fig.update_yaxes(autorange="reversed")
    return _titled(fig, "Acts truly done and what the sources recorded (number done in brackets)")


STOCKS = {
    "distressed": "citizens in financial distress",
    "blacklisted": "citizens blacklisted",
    "redlisted": "citizens redlisted",
    "jointly_listed": "representatives listed with their company",
}


def list_stocks(result: Result) -> go.Figure:
    """How many are on each list (and in financial distress) at the end of each day."""
    s, m = result.scenario, result.metrics
    lines = [
        (label, m, name, "group", _groups(s))
        for name, label in STOCKS.items()
        if name in m.column_names
    ]
    cm = result.company_metrics
    if s.companies is not None and cm is not None and "blacklisted" in cm.column_names:
        sectors = [c.name for c in s.companies.sectors]
        lines.append(("companies blacklisted", cm, "blacklisted", "sector", sectors))
    if not lines:
        raise NotApplicableError("this scenario has no lists")
    fig = go.Figure()
    for k, (label, table, name, key, keys) in enumerate(lines):
        stock = _grid(table, name, key, keys, s.run.days).sum(axis=1)
        fig.add_trace(
            go.Scatter(
                x=np.arange(s.run.days),
                y=stock,
                mode="lines",
                name=label,
                line={"color": _colour(k)},
                hovertemplate=f"day %{{x}}: %{{y:,}} {label}<extra></extra>",
            )
        )
    fig.update_layout(xaxis_title="day", yaxis_title="at the end of the day")
    return _titled(fig, "Lists over time")


class Chart(NamedTuple):
    """A chart of the report: its name (for ids and files), title, function and reading."""

    name: str
    title: str
    draw: Callable[[Result], go.Figure]
    about: str


#: The report's charts, in its order.
CHARTS: tuple[Chart, ...] = (
    Chart(
        "grades",
        "Grades over time",
        grade_shares,
        "Share of each group's citizens in each grade at the end of each day.",
    ),
    Chart(
        "points",
        "Points distribution",
        points_distribution,
        "Points of the panel at the end of the run; the dashed line marks the points "
        "everyone started with.",
    ),
    Chart(
        "wrongful",
        "Wrongful sanctions",
        wrongful_sanctions,
        "Point deductions for acts the citizen did not do, per 1,000 citizens of the group: "
        "someone else's act pinned on them (misattribution) or an accusation of an act "
        "that never happened (false denunciation).",
    ),
    Chart(
        "impact",
        "Disparate impact at the gates",
        disparate_impact,
        "Each group's approval rate at a gate divided by that of the most favoured group "
        "there, with its 95% interval; below the dotted line (0.8) the four-fifths rule reads "
        "adverse impact.",
    ),
    Chart(
        "mobility",
        "Mobility",
        mobility,
        "Where the panel's citizens in each grade half-way through the run ended; everyone "
        "starts with the same points, hence in the same grade.",
    ),
    Chart(
        "privacy-source",
        "Privacy exposure by source",
        privacy_by_source,
        "Data points the sources collected, per citizen-year of each group.",
    ),
    Chart(
        "privacy-sensitivity",
        "Privacy exposure by sensitivity",
        privacy_by_sensitivity,
        "The same data points, by the kind of private data they hold.",
    ),
    Chart(
        "acts",
        "True and observed acts",
        acts_observed,
        "The acts truly done, by what the sources made of them: missed, recorded on the one "
        "who did it, or recorded on someone else.",
    ),
    Chart(
        "lists",
        "Lists over time",
        list_stocks,
        "How many are on each list, and in financial distress, at the end of each day.",
    ),
)
