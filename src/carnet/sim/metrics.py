"""The daily metrics table: exact integer aggregates per (day, group), merged across shards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.scenario.policies import BY_THRESHOLD
from carnet.scenario.schema import Scenario
from carnet.scenario.timeline import change_days
from carnet.sim.phases.company_lists import (
    JOINT_COUNTS,
    JOINT_PUNISHED,
    JOINT_RELEASED,
    JOINT_WRONGFUL,
    JOINT_WRONGFUL_RELEASED,
)
from carnet.sim.phases.gates import OUTCOMES as GATE_OUTCOMES
from carnet.sim.phases.lending import COUNTS as LENDING_COUNTS
from carnet.sim.phases.lists import (
    COUNTS as LIST_COUNTS,
)
from carnet.sim.phases.lists import (
    ENTRIES,
    EXITS,
    ONSETS,
    PUBLISHED_IN,
    PUBLISHED_OUT,
    RECOVERIES,
    redlisted_grades,
)
from carnet.sim.phases.observe import OUTCOMES
from carnet.sim.phases.record import APPEAL_COUNTS, ATTENTION_ARRAYS, RED_COUNTS, dictionary
from carnet.sim.records import DENUNCIATION_COUNTS


def metrics_table(
    s: Scenario,
    recorders: Sequence[Any],
    data_per_day: npt.NDArray[np.int64],
    state_data_per_day: npt.NDArray[np.int64] | None = None,
    *,
    adapts: bool = True,
) -> pa.Table:
    """One row per (day, group) with every aggregate as a column.

    ``adapts`` is False for the companies, whose acts adaptive sources watch at a fixed rate.

    Columns: ``day``, ``group``, ``citizens``, ``points_sum``, ``points_mean``, ``grade_<G>``
    (citizens in each grade at the end of the day), ``acts_<b>_<outcome>`` (acts truly done by
    the group, by what the sources made of them), ``scored_<b>`` and ``wrongful_<b>`` (records
    attached to the group's citizens, and those of them for acts they did not do), ``expired_<b>``
    (records whose points were restored) and ``data_<source>`` (data points collected). For each
    adaptive source: ``attention_<source>`` (the group's allocation in force that day, in
    millionths, summed over blocks: divided by 1e6 it is the number of blocks' worth of
    attention the group holds), ``audit_found_<source>`` (records found by the random-audit
    arm, by the group they landed on) and ``audit_exposure_<source>`` (the audit's checks:
    round(1e6 x audit share) per citizen of the group).
    """
    days = s.run.days
    groups = [g.name for g in s.population.groups]
    G = len(groups)

    def total(name: str) -> npt.NDArray[np.int64]:
        summed: npt.NDArray[np.int64] = np.sum(
            [getattr(r, name) for r in recorders], axis=0, dtype=np.int64
        )
        return summed

    citizens = total("citizens")
    points_sum = total("points_sum")
    grades, acts = total("grades"), total("acts")
    scored, wrongful, expired = total("scored"), total("wrongful"), total("expired")

    def flat(a: npt.NDArray[np.int64]) -> pa.Array:
        return pa.array(np.ascontiguousarray(a).reshape(days * G), pa.int64())

    columns: dict[str, pa.Array] = {
        "day": pa.array(np.repeat(np.arange(days, dtype=np.int32), G), pa.int32()),
        "group": pa.array(groups * days, pa.string()),
        "citizens": flat(np.broadcast_to(citizens, (days, G))),
        "points_sum": flat(points_sum),
        "points_mean": pa.array(
            (points_sum / np.maximum(citizens, 1)).reshape(days * G), pa.float64()
        ),
    }
    for gi, grade in enumerate(s.grades):
        columns[f"grade_{grade.name}"] = flat(grades[:, :, gi])
    for k, b in enumerate(s.behaviours):
        for o, outcome in enumerate(OUTCOMES):
            columns[f"acts_{b.name}_{outcome}"] = flat(acts[:, :, k, o])
    for prefix, array in (("scored", scored), ("wrongful", wrongful), ("expired", expired)):
        for k, b in enumerate(s.behaviours):
            columns[f"{prefix}_{b.name}"] = flat(array[:, :, k])
    # data_per_day is [epoch of the timeline, group, source]: the epoch in force on each day.
    epoch = np.searchsorted([0, *change_days(s)], np.arange(days), side="right") - 1
    for j, src in enumerate(s.sources):
        columns[f"data_{src.name}"] = flat(data_per_day[epoch, :, j])
    if s.platforms:
        withheld = total("withheld")
        for k, b in enumerate(s.behaviours):
            columns[f"withheld_{b.name}"] = flat(withheld[:, :, k])
        if state_data_per_day is not None:
            for j, src in enumerate(s.sources):
                columns[f"state_data_{src.name}"] = flat(state_data_per_day[epoch, :, j])
    if s.lists.blacklist is not None:
        lists = total("lists")
        for i, name in enumerate(LIST_COUNTS):
            columns[name] = flat(lists[:, :, i])
        # Stocks at the end of each day, from those of day 0 (none unless the list starts warm).
        start = total("list_start")
        for i, (name, (into, out)) in enumerate({
            "distressed": (ONSETS, RECOVERIES),
            "blacklisted": (ENTRIES, EXITS),
            "published": (PUBLISHED_IN, PUBLISHED_OUT),
        }.items()):  # fmt: skip
            flows = np.cumsum(lists[:, :, into] - lists[:, :, out], axis=0)
            columns[name] = flat(start[:, i] + flows)
    if s.appeals is not None:
        appeals = total("appeals")
        for i, name in enumerate(APPEAL_COUNTS):
            columns[name] = flat(appeals[:, :, i])
    if s.lending is not None:
        lending = total("lending")
        for i, name in enumerate(LENDING_COUNTS):
            columns[name] = flat(lending[:, :, i])
    if s.denunciations is not None:
        denounced = total("denunciations")
        for i, name in enumerate(DENUNCIATION_COUNTS):
            columns[name] = flat(denounced[:, :, i])
    c = s.companies
    if c is not None and c.blacklist is not None and c.blacklist.joint_punishment:
        joint = total("joint")
        for i, name in enumerate(JOINT_COUNTS):
            columns[name] = flat(joint[:, :, i])
        for name, (into, out) in {
            "jointly_listed": (JOINT_PUNISHED, JOINT_RELEASED),
            "jointly_listed_wrongfully": (JOINT_WRONGFUL, JOINT_WRONGFUL_RELEASED),
        }.items():
            columns[name] = flat(np.cumsum(joint[:, :, into] - joint[:, :, out], axis=0))
    adaptive = [src.name for src in s.sources if src.attention is not None and adapts]
    if adaptive:
        watched = {name: total(name) for name in ATTENTION_ARRAYS}
        for a, src_name in enumerate(adaptive):
            for name, counts in watched.items():
                columns[f"{name}_{src_name}"] = flat(counts[:, :, a])
    by_threshold = [i for i, g in enumerate(s.gates) if g.policy is not None
                    and g.policy.kind in BY_THRESHOLD]  # fmt: skip
    if by_threshold:
        # Fixed thresholds as they are; a learned one summed over the blocks of citizens (each
        # block's lender its own): divide by the number of blocks for their mean.
        thresholds = total("thresholds")
        for i in by_threshold:
            columns[f"threshold_{s.gates[i].name}"] = flat(thresholds[:, i, :])
    if s.lists.redlist is not None:
        red = total("red")
        for i, name in enumerate(RED_COUNTS):
            columns[name] = flat(red[:, :, i])
        columns["redlisted"] = flat(grades[:, :, redlisted_grades(s)].sum(axis=2))
    return pa.table(columns)


def ledger_names(s: Scenario) -> tuple[list[str], list[str]]:
    """Names of the ledger's behaviour and source codes, with the blacklist's own at the end."""
    behaviours = [b.name for b in s.behaviours] + ["judgment_default", "loan", "company_blacklist"]
    return behaviours, [src.name for src in s.sources] + ["blacklist", "lender", "joint_punishment"]


def gates_table(s: Scenario, recorders: Sequence[Any]) -> pa.Table:
    """Every decision counted by day, gate, outcome, group and grade (rows with a count only).

    ``wrongful`` counts the refusals among them that would have been approvals had only true
    records counted (wrongful deductions undone, listings for violations that never happened
    lifted); refusals for lack of capacity are not judged.
    """
    counts: npt.NDArray[np.int64] = np.sum([r.gates for r in recorders], axis=0, dtype=np.int64)
    wrongful: npt.NDArray[np.int64] = np.sum(
        [r.gates_wrongful for r in recorders], axis=0, dtype=np.int64
    )
    day, gate, outcome, group, grade = np.nonzero(counts)
    groups = [g.name for g in s.population.groups]

    return pa.table(
        {
            "day": pa.array(day, pa.int32()),
            "gate": dictionary(gate, [g.name for g in s.gates]),
            "outcome": dictionary(outcome, list(GATE_OUTCOMES)),
            "group": dictionary(group, groups),
            "grade": dictionary(grade, [g.name for g in s.grades]),
            "count": pa.array(counts[day, gate, outcome, group, grade], pa.int64()),
            "wrongful": pa.array(wrongful[day, gate, outcome, group, grade], pa.int64()),
        }
    )


def decisions_table(s: Scenario, cols: dict[str, npt.NDArray[Any]]) -> pa.Table:
    """Decision rows as a table, ordered by day, gate and citizen (whatever the shards)."""
    day, gate, citizen = cols["day"], cols["gate"], cols["citizen"]
    if _ordered(day, gate, citizen):  # one shard's rows come in order: no sort to pay for
        ordered = cols
    else:
        order = np.lexsort((citizen, gate, day))
        ordered = {k: v[order] for k, v in cols.items()}
    return pa.table(
        {
            "day": pa.array(ordered["day"], pa.int32()),
            "citizen": pa.array(ordered["citizen"], pa.int64()),
            "gate": dictionary(ordered["gate"], [g.name for g in s.gates]),
            "outcome": dictionary(ordered["outcome"], list(GATE_OUTCOMES)),
            "grade": dictionary(ordered["grade"], [g.name for g in s.grades]),
            "price": pa.array(ordered["price"], pa.float32()),
            "wrongful": pa.array(ordered["wrongful"], pa.bool_()),
        }
    )


def _ordered(*keys: npt.NDArray[Any]) -> bool:
    """Whether rows are already sorted by ``keys``, the first the most significant."""
    if len(keys[0]) < 2:
        return True
    tied = np.ones(len(keys[0]) - 1, np.bool_)  # rows equal to the one before on keys so far
    for key in keys:
        step = np.diff(key.astype(np.int64))
        if np.any(tied & (step < 0)):
            return False
        tied &= step == 0
    return True


def empty_decisions(s: Scenario) -> pa.Table:
    """A decisions table with no rows."""
    cols: dict[str, npt.NDArray[Any]] = {
        name: np.empty(0, dtype)
        for name, dtype in (("day", np.int32), ("citizen", np.int64), ("gate", np.int8),
                            ("outcome", np.int8), ("grade", np.int8), ("price", np.float32),
                            ("wrongful", np.bool_))
    }  # fmt: skip
    return decisions_table(s, cols)
