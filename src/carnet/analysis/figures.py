"""Headline figures: the numbers of a run that experiments vary, rank and fit, each by a name.

A figure is named by its family and, in brackets, the row it is read from, its keys by
position: ``wrongful_per_100k[minority]``, ``impact_ratio[loan,migrant]``, ``gini``. Sensitivity
analysis and calibration name their outputs so; a family named alone (``impact_ratio``) stands
for every row the scenario has. Each family reads one audit table
(:mod:`carnet.analysis.audit`); the behaviour families need the run again without responses,
which doubles its cost, so they are computed only when asked for.

Trajectories, the daily metrics that calibration fits, are named ``daily.COLUMN`` with an
optional group: ``daily.blacklisted``, ``daily.blacklisted[migrant]`` (summed over groups when
none is given); :func:`trajectory` reads one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carnet.analysis import audit as audit_module
from carnet.result import Result

F64 = npt.NDArray[np.float64]
Rows = dict[tuple[str, ...], float]
#: The audit's tables that a figure may read, each computed by its function alone.
AUDITS: dict[str, Callable[[Result], pa.Table]] = {
    "sanctions": audit_module.sanctions,
    "gates": audit_module.gates,
    "listings": audit_module.listings,
    "inequality": audit_module.inequality,
    # The Gini of everyone alone: the inequality table's 24 Gini coefficients cost 40% of a
    # 100,000-citizen cell.
    "gini_all": lambda r: pa.table({"by": ["all"], "gini_end": [audit_module.gini_end(r)]}),
    "privacy": audit_module.privacy,
    "appeals": audit_module.appeals,
}
_NAME = re.compile(r"^([a-z_][a-z0-9_]*)(?:\[([^\[\]]*)\])?$")
_DAILY = re.compile(r"^daily\.([A-Za-z0-9_]+)(?:\[([^\[\]]+)\])?$")


Tables = Mapping[str, pa.Table]


def _column(tables: Tables, table: str, metric: str, keys: tuple[str, ...]) -> Rows:
    t = tables[table]
    columns = [t[k].to_pylist() for k in keys]
    values = t[metric].to_pylist()
    return {tuple(str(c[i]) for c in columns): float(values[i]) for i in range(t.num_rows)}


def _privacy(tables: Tables) -> Rows:
    out: Rows = {}
    for row in tables["privacy"].to_pylist():
        key = (str(row["group"]),)
        out[key] = out.get(key, 0.0) + float(row["per_citizen_year"])
    return out


def _change(kind: str) -> Callable[[Tables], Rows]:
    """The share of a kind's acts that responses took away: deterred (negative), chilled."""

    def rows(tables: Tables) -> Rows:
        acts: dict[tuple[str, ...], list[float]] = {}
        for row in tables["behaviour"].to_pylist():
            if row["kind"] == kind:
                pair = acts.setdefault((str(row["group"]),), [0.0, 0.0])
                pair[0] += float(row["acts"])
                pair[1] += float(row["acts_without_responses"])
        return {k: (free - done) / free if free else 0.0 for k, (done, free) in acts.items()}

    return rows


@dataclass(frozen=True)
class Family:
    """Figures of one kind: what they mean, the keys of their rows, how they are read."""

    description: str
    table: str
    keys: tuple[str, ...]
    read: Callable[[Tables], Rows]

    @property
    def needs_behaviour(self) -> bool:
        """Whether the family needs the run again without responses."""
        return self.table == "behaviour"


def _of(table: str, metric: str, keys: tuple[str, ...], description: str) -> Family:
    return Family(description, table, keys, lambda t: _column(t, table, metric, keys))


#: Every family of headline figures, by name.
FAMILIES: dict[str, Family] = {
    "wrongful_per_100k": _of("sanctions", "wrongful_per_100k", ("group",),
                             "wrongful sanctions per 100,000 citizens, by group"),
    "wrongful_share": _of("sanctions", "wrongful_share", ("group",),
                          "share of sanctions that were wrongful, by group"),
    "sanctions": _of("sanctions", "sanctions", ("group",), "sanctions (deductions), by group"),
    "approval_rate": _of("gates", "approval_rate", ("gate", "group"),
                         "share of applications approved, by gate and group"),
    "impact_ratio": _of("gates", "impact_ratio", ("gate", "group"),
                        "approval rate over the most favoured group's, by gate and group"),
    "refused_wrongfully": _of("gates", "refused_wrongfully", ("gate", "group"),
                              "applications refused for wrongful sanctions, by gate and group"),
    "listings": _of("listings", "entries", ("list", "group"),
                    "entries onto each list, by list and group"),
    "wrongful_listings": _of("listings", "wrongful_entries", ("list", "group"),
                             "entries for violations never committed, by list and group"),
    "privacy_per_citizen_year": Family("data points collected per citizen-year, by group",
                                       "privacy", ("group",), _privacy),
    "gini": Family("Gini coefficient of points at the end", "gini_all", (),
                   lambda t: {(): _column(t, "gini_all", "gini_end", ("by",))[("all",)]}),
    "wrongful_left_standing": _of("appeals", "wrongful_left_standing", ("group",),
                                  "wrongful sanctions not overturned on appeal, by group"),
    "deterred_share": Family("share of negative acts deterred by responses, by group",
                             "behaviour", ("group",), _change("negative")),
    "chilled_share": Family("share of lawful acts chilled by responses, by group",
                            "behaviour", ("group",), _change("lawful")),
}  # fmt: skip


def name_of(family: str, key: tuple[str, ...]) -> str:
    """The name of one figure: its family, and its row's keys in brackets."""
    return f"{family}[{','.join(key)}]" if key else family


def parse(name: str) -> tuple[str, tuple[str, ...] | None]:
    """A figure's name as (family, row keys), or (family, None) for every row of the family.

    Raises:
        ValueError: with a message that names the known families, or the keys the row needs.
    """
    match = _NAME.match(name.strip())
    family = FAMILIES.get(match.group(1)) if match else None
    if match is None or family is None:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(FAMILIES)}")
    if match.group(2) is None:
        return match.group(1), None
    key = tuple(k.strip() for k in match.group(2).split(",")) if match.group(2) else ()
    if len(key) != len(family.keys):
        wanted = ",".join(family.keys) or "no keys"
        raise ValueError(f"figure {name!r}: {match.group(1)} takes [{wanted}]")
    return match.group(1), key


def tables_for(
    result: Result, names: Iterable[str], without_responses: Result | None = None
) -> dict[str, pa.Table]:
    """The audit tables that the figures ``names`` read, and only those (an audit in part)."""
    needed = {FAMILIES[parse(n)[0]].table for n in names}
    return {
        t: audit_module.behaviour(result, without_responses)
        if t == "behaviour"
        else AUDITS[t](result)
        for t in sorted(needed)
    }


def headlines(tables: Tables, names: Iterable[str] | None = None) -> dict[str, float]:
    """The figures ``names`` of an audit's tables (default: every family but behaviour's).

    A family named alone gives every row it has; a named row the run lacks is NaN (an experiment
    keeps its table rectangular).
    """
    wanted = list(names) if names is not None else default_names()
    out: dict[str, float] = {}
    cache: dict[str, Rows] = {}
    for name in wanted:
        family, key = parse(name)
        if family not in cache:
            cache[family] = FAMILIES[family].read(tables)
        rows = cache[family]
        if key is None:
            out.update({name_of(family, k): v for k, v in rows.items()})
        else:
            out[name_of(family, key)] = rows.get(key, float("nan"))
    return out


def default_names() -> list[str]:
    """The families computed when an experiment names none: all but those needing a rerun."""
    return [name for name, f in FAMILIES.items() if not f.needs_behaviour]


def needs_behaviour(names: Iterable[str]) -> bool:
    """Whether any figure of ``names`` needs the run again without responses."""
    return any(FAMILIES[parse(n)[0]].needs_behaviour for n in names)


def parse_daily(name: str) -> tuple[str, str | None] | None:
    """A trajectory's name as (column, group or None); None when ``name`` is not one."""
    match = _DAILY.match(name.strip())
    return (match.group(1), match.group(2)) if match else None


def trajectory(result: Result, column: str, group: str | None = None) -> F64:
    """A daily metric of ``result``, day by day: summed over groups, or of ``group``.

    Raises:
        ValueError: naming the metrics there are (or the groups) when ``column`` (or ``group``)
            is not one.
    """
    m = result.metrics
    if column in ("day", "group") or column not in m.column_names:
        known = [c for c in m.column_names if c not in ("day", "group")]
        raise ValueError(f"no daily metric {column!r}; known: {', '.join(known)}")
    if group is not None:
        groups = set(m["group"].to_pylist())
        if group not in groups:
            raise ValueError(f"no group {group!r}; known: {', '.join(sorted(groups))}")
        m = m.filter(pc.equal(m["group"], group))
    days = np.asarray(m["day"].to_numpy(), np.int64)
    values = np.asarray(m[column].to_numpy(), np.float64)
    out = np.bincount(days, weights=values, minlength=result.scenario.run.days).astype(np.float64)
    return out
