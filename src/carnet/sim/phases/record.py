"""record: keep exact integer aggregates and the panel's ledger.

Aggregates are updated from the day's changes only (a citizen whose points change moves from one
grade's count to another's), so recording costs what the events cost, and shards merge by addition.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.sim.jit import AHEAD, kernel, prefetch
from carnet.sim.parameters import POINTS_OFFSET, Parameters
from carnet.sim.phases.attention import AttentionRules, AttentionState
from carnet.sim.phases.company_lists import JOINT_COUNTS
from carnet.sim.phases.gates import APPROVED, OUTCOMES, REFUSED_CAPACITY, GateDay, SeatPool
from carnet.sim.phases.lending import COUNTS as LENDING_COUNTS
from carnet.sim.phases.lists import COUNTS as LIST_COUNTS
from carnet.sim.phases.observe import Observations
from carnet.sim.population import DISTRESSED, LISTED, PANEL, PUBLISHED, State
from carnet.sim.records import (
    ACT,
    APPEALED_WON,
    DENUNCIATION_COUNTS,
    EXPIRY,
    RecordColumns,
    Records,
)

#: Appeal counts by group, per day of the sanction appealed.
APPEAL_COUNTS = ("appeals_filed", "appeals_won", "appeals_filed_wrongful", "appeals_won_wrongful")
APPEALS_FILED, APPEALS_WON, APPEALS_FILED_WRONGFUL, APPEALS_WON_WRONGFUL = range(4)
#: Redlist counts by group: citizens whose grade put them on the redlist today, or took them off.
RED_COUNTS = ("redlist_entries", "redlist_exits")
RED_ENTRIES, RED_EXITS = range(2)
#: Arrays of adaptive sources, [day, group, adaptive source]: the allocation in micro-shares
#: summed over blocks, what audits found, and the audits' exposure (see phases.attention).
ATTENTION_ARRAYS = ("attention", "audit_found", "audit_exposure")

I64 = npt.NDArray[np.int64]


class RecordTables(NamedTuple):
    """What record reads of the scenario."""

    group_of_profile: npt.NDArray[np.uint8]
    grade_of_points: npt.NDArray[np.uint8]
    redlisted: npt.NDArray[np.bool_]  # [grade]


class DayCounts(NamedTuple):
    """Where record counts one day's changes, by group (the :class:`Recorder`'s arrays)."""

    grades_now: I64  # [group, grade] citizens in each grade, now
    points_now: I64  # [group] their points, summed
    scored: I64  # [group, behaviour] records made today
    wrongful: I64  # [group, behaviour] those of them for acts the citizen did not do
    expired: I64  # [group, behaviour] records whose points came back today
    red: I64  # [group, RED_COUNTS]
    appeals: I64  # [group, APPEAL_COUNTS] by the day of the sanction appealed


@kernel()
def _record(
    changes: RecordColumns,
    n_changes: int,
    state: State,
    tables: RecordTables,
    counts: DayCounts,
    panel_rows: I64,
) -> int:  # pragma: no cover - compiled
    n_panel = 0
    by_group = counts.grades_now.shape[0] > 1  # else a citizen's profile need not be read
    # Arrays taken out of a tuple inside a loop's branch cost a reference count each time the
    # branch runs: the ones used in branches are named once, here (docs/kernels.md).
    grades_now, points_now, scored, wrongful, expired, red, appeals = counts
    grade_of_points, redlisted = tables.grade_of_points, tables.redlisted
    for j in range(n_changes):
        if j + AHEAD < n_changes:
            if by_group:
                prefetch(state.profile, changes.citizen[j + AHEAD])
            prefetch(state.flags, changes.citizen[j + AHEAD])
        c = changes.citizen[j]
        g = tables.group_of_profile[state.profile[c]] if by_group else 0
        before, after = changes.before[j], changes.after[j]
        old_grade = grade_of_points[before + POINTS_OFFSET]
        new_grade = grade_of_points[after + POINTS_OFFSET]
        grades_now[g, old_grade] -= 1
        grades_now[g, new_grade] += 1
        if redlisted[new_grade] and not redlisted[old_grade]:
            red[g, RED_ENTRIES] += 1
        elif redlisted[old_grade] and not redlisted[new_grade]:
            red[g, RED_EXITS] += 1
        points_now[g] += np.int64(after) - np.int64(before)
        k = changes.behaviour[j]
        if changes.kind[j] == ACT:
            scored[g, k] += 1
            truly = changes.truly_done[j]
            if not truly:
                wrongful[g, k] += 1
            appeal = changes.appeal[j]
            if appeal:
                wrong = 0 if truly else 1
                appeals[g, APPEALS_FILED] += 1
                appeals[g, APPEALS_FILED_WRONGFUL] += wrong
                if appeal == APPEALED_WON:
                    appeals[g, APPEALS_WON] += 1
                    appeals[g, APPEALS_WON_WRONGFUL] += wrong
        elif changes.kind[j] == EXPIRY:
            expired[g, k] += 1
        if state.flags[c] & PANEL:
            panel_rows[n_panel] = j
            n_panel += 1
    return n_panel


@kernel()
def _count(
    profile: npt.NDArray[np.uint16],
    points: npt.NDArray[np.int16],
    flags: npt.NDArray[np.uint8],
    group_of_profile: npt.NDArray[np.uint8],
    grade_of_points: npt.NDArray[np.uint8],
    citizens: I64,
    grades: I64,
    points_sum: I64,
    listed: I64,
) -> None:  # pragma: no cover - compiled
    """Citizens, grades, points, the distressed, listed and published, by group, in one pass.

    No temporary array per citizen; the listed are a warm blacklist's stock on day 0.
    """
    for c in range(len(points)):
        g = group_of_profile[profile[c]]
        citizens[g] += 1
        grades[g, grade_of_points[points[c] + POINTS_OFFSET]] += 1
        points_sum[g] += points[c]
        f = flags[c]
        listed[g, 0] += (f & DISTRESSED) > 0
        listed[g, 1] += (f & LISTED) > 0
        listed[g, 2] += (f & PUBLISHED) > 0


Columns = dict[str, npt.NDArray[np.generic]]


def _joined(days: list[Columns]) -> Columns:
    """Several days' rows, column by column, in order."""
    return {name: np.concatenate([d[name] for d in days]) for name in days[0]}


class Recorder:
    """Daily aggregates of one shard, and its panel's ledger rows grouped by ledger part."""

    def __init__(
        self,
        state: State,
        t: Parameters,
        days: int,
        block_size: int,
        part_days: int,
        n_gates: int = 0,
        redlisted: npt.NDArray[np.bool_] | None = None,
        prices: npt.NDArray[np.float64] | None = None,
        list_counts: int = len(LIST_COUNTS),
        n_adaptive: int = 0,
        thresholds: bool = False,
    ) -> None:
        G, K = t.n_groups, t.n_behaviours
        self.block_size = block_size
        self.part_days = part_days
        self.citizens = np.zeros(G, np.int64)
        self._grades_now = np.zeros((G, t.n_grades), np.int64)
        self._points_now = np.zeros(G, np.int64)
        # Distressed, listed, published on day 0: none, unless the blacklist starts warm.
        self.list_start = np.zeros((G, 3), np.int64)
        _count(state.profile, state.points, state.flags, t.group_of_profile, t.grade_of_points,
               self.citizens, self._grades_now, self._points_now, self.list_start)  # fmt: skip
        self.grades = np.zeros((days, G, t.n_grades), dtype=np.int64)
        self.points_sum = np.zeros((days, G), dtype=np.int64)
        self.acts = np.zeros((days, G, K, 3), dtype=np.int64)
        self.withheld = np.zeros((days, G, K), dtype=np.int64)  # kept by platforms (platforms)
        self.scored = np.zeros((days, G, K), dtype=np.int64)
        self.wrongful = np.zeros((days, G, K), dtype=np.int64)
        self.expired = np.zeros((days, G, K), dtype=np.int64)
        self.lists = np.zeros((days, G, list_counts), dtype=np.int64)
        self.joint = np.zeros((days, G, len(JOINT_COUNTS)), dtype=np.int64)
        self.red = np.zeros((days, G, len(RED_COUNTS)), dtype=np.int64)
        self.appeals = np.zeros((days, G, len(APPEAL_COUNTS)), dtype=np.int64)
        self.denunciations = np.zeros((days, G, len(DENUNCIATION_COUNTS)), dtype=np.int64)
        self.lending = np.zeros((days, G, len(LENDING_COUNTS)), dtype=np.int64)
        self.gates = np.zeros((days, n_gates, len(OUTCOMES), G, t.n_grades), dtype=np.int64)
        # Refusals that would have been approvals had only true records counted.
        self.gates_wrongful = np.zeros_like(self.gates)
        self.redlisted = np.zeros(t.n_grades, np.bool_) if redlisted is None else redlisted
        self.prices = np.ones((n_gates, t.n_grades)) if prices is None else prices
        # The thresholds in force at gates that decide by one, by [day, gate, group] (see
        # gates.gate_phase); only when such a gate exists.
        self.thresholds = np.zeros((days, n_gates, G), np.int64) if thresholds else None
        self._ledger: dict[int, list[dict[str, npt.NDArray[np.generic]]]] = {}
        self._decisions: dict[int, list[dict[str, npt.NDArray[np.generic]]]] = {}
        # [day, group, adaptive source]: empty, and neither snapshot nor output, unless some
        # source adapts its attention.
        watched = (days if n_adaptive else 0, G, n_adaptive)
        self.attention = np.zeros(watched, np.int64)
        self.audit_found = np.zeros(watched, np.int64)
        self.audit_exposure = np.zeros(watched, np.int64)
        # What a snapshot and the result carry: the arrays every run has, and those it needs.
        self._arrays = (
            self._ARRAYS
            + (("thresholds",) if thresholds else ())
            + (ATTENTION_ARRAYS if n_adaptive else ())
        )

    _ARRAYS: tuple[str, ...] = (
        "citizens", "_grades_now", "_points_now", "grades", "points_sum",
        "acts", "scored", "wrongful", "expired", "lists", "red", "gates", "appeals",
        "denunciations", "lending", "joint", "gates_wrongful", "withheld", "list_start",
    )  # fmt: skip

    def snapshot(self) -> dict[str, npt.NDArray[Any]]:
        """Aggregates so far and the ledger rows of parts not yet cut, as flat arrays."""
        out = {name: getattr(self, name) for name in self._arrays}
        for kind, store in (("ledger", self._ledger), ("decisions", self._decisions)):
            for part, days in store.items():
                out.update({f"{kind}/{part}/{c}": col for c, col in _joined(days).items()})
        return out

    def restore(self, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        """Continue from a :meth:`snapshot`."""
        for name in self._arrays:
            getattr(self, name)[...] = arrays[name]
        self._ledger = {}
        self._decisions = {}
        for key, col in arrays.items():
            kind, _, rest = key.partition("/")
            if kind in ("ledger", "decisions"):
                part, name = rest.split("/")
                store = self._ledger if kind == "ledger" else self._decisions
                store.setdefault(int(part), [{}])[0][name] = col

    def record_attention(self, rules: AttentionRules, watching: AttentionState, day: int) -> None:
        """Count today's allocation and audit findings of the adaptive sources."""
        watching.record(rules, self.attention[day], self.audit_found[day], self.audit_exposure[day])

    def decisions_part(self, part: int) -> dict[str, npt.NDArray[np.generic]] | None:
        """Columns of the panel's decisions in one part (the simulation orders them)."""
        days = self._decisions.pop(part, [])
        return _joined(days) if days else None

    def _keep_decisions(
        self,
        state: State,
        day: int,
        citizen: I64,
        gate: I64,
        outcome: I64,
        grade: I64,
        wrongful: I64,
    ) -> None:
        if len(citizen):
            self._decisions.setdefault(day // self.part_days, []).append(
                decision_rows(self.prices, state.first_citizen, day, citizen, gate, outcome,
                              grade, wrongful)
            )  # fmt: skip

    def record_gates(self, state: State, day: int, today: GateDay) -> None:
        """Keep the panel's decisions of the day (the counts are already in ``gates``)."""
        if today.citizen:
            self._keep_decisions(
                state,
                day,
                np.concatenate(today.citizen),
                np.concatenate(today.gate),
                np.concatenate(today.outcome),
                np.concatenate(today.grade),
                np.concatenate(today.wrongful),
            )

    def record_seats(
        self, first_citizen: int, day: int, pool: SeatPool, won: npt.NDArray[np.bool_]
    ) -> None:
        """Count a seat allocation's outcomes for this shard's applicants; keep the panel's."""
        rows = count_seats(self.gates, self.prices, first_citizen, day, pool, won)
        if len(rows["day"]):
            self._decisions.setdefault(day // self.part_days, []).append(rows)

    def aggregates(self) -> dict[str, npt.NDArray[Any]]:
        """The exact aggregates (no ledger rows): all the result needs from this recorder."""
        return {name: getattr(self, name) for name in self._arrays}

    def ledger_part(self, part: int) -> dict[str, npt.NDArray[np.generic]] | None:
        """Columns of one ledger part, rows ordered by (block, day, order of the day).

        Ordering by block makes a part the same whichever way the run was split into shards:
        concatenating the shards' parts in block order gives the one-shard part.
        """
        days = self._ledger.pop(part, [])
        if not days:
            return None
        cols = _joined(days)
        block = cols["citizen"] // self.block_size
        if len(block) and block.max() - block.min() < 1 << 16:
            block = (block - block.min()).astype(np.uint16)  # numpy radix-sorts 16-bit keys
        order = np.argsort(block, kind="stable")
        return {name: col[order] for name, col in cols.items()}

    def record(
        self,
        state: State,
        t: Parameters,
        day: int,
        observations: Observations,
        changes: Records,
    ) -> None:
        """Add today's acts and changes to the aggregates; keep the panel's ledger rows.

        The acts are counted from ``observations.tally`` (observe's outputs of the day).
        """
        panel_rows = np.empty(changes.n, dtype=np.int64)
        counts = DayCounts(
            self._grades_now, self._points_now, self.scored[day], self.wrongful[day],
            self.expired[day], self.red[day], self.appeals[day],
        )  # fmt: skip
        tables = RecordTables(t.group_of_profile, t.grade_of_points, self.redlisted)
        n_panel = _record(changes.columns(), changes.n, state, tables, counts, panel_rows)
        self.acts[day] += observations.tally
        self.grades[day] = self._grades_now
        self.points_sum[day] = self._points_now
        if n_panel:
            # When the panel is everyone, its rows are all of today's changes: no copy needed.
            rows = changes if n_panel == changes.n else changes.take(panel_rows[:n_panel])
            self._ledger.setdefault(day // self.part_days, []).append(
                {
                    "day": np.full(n_panel, day, dtype=np.int32),
                    "citizen": rows.citizen + state.first_citizen,
                    "kind": rows.kind,
                    "behaviour": rows.behaviour,
                    "source": rows.source,
                    "points": (rows.after.astype(np.int32) - rows.before).astype(np.int16),
                    "balance": rows.after,
                    "truly_done": rows.truly_done,
                    "true_actor": rows.actor,
                }
            )


def count_seats(
    gates: I64,
    prices: npt.NDArray[np.float64],
    first_citizen: int,
    day: int,
    pool: SeatPool,
    won: npt.NDArray[np.bool_],
) -> dict[str, npt.NDArray[np.generic]]:
    """Add a seat allocation's outcomes to ``gates`` counts; return the panel's decision rows.

    Capacity is not judged against the truth: these refusals are never counted wrongful.
    """
    outcome = np.where(won, APPROVED, REFUSED_CAPACITY).astype(np.int64)
    np.add.at(gates[day, pool.gate], (outcome, pool.group, pool.grade), 1)
    panel = pool.panel
    citizen = pool.citizen[panel]
    gate = np.full(len(citizen), pool.gate, np.int64)
    wrongful = np.zeros(len(citizen), np.int64)
    return decision_rows(prices, first_citizen, day, citizen, gate, outcome[panel],
                         pool.grade[panel], wrongful)  # fmt: skip


def decision_rows(
    prices: npt.NDArray[np.float64],
    first_citizen: int,
    day: int,
    citizen: I64,
    gate: I64,
    outcome: I64,
    grade: I64,
    wrongful: I64,
) -> dict[str, npt.NDArray[np.generic]]:
    """The panel's decisions of one day as columns, with each decision's price."""
    return {
        "day": np.full(len(citizen), day, np.int32),
        "citizen": citizen + first_citizen,
        "gate": gate.astype(np.int8),
        "outcome": outcome.astype(np.int8),
        "grade": grade.astype(np.int8),
        "price": prices[gate, grade].astype(np.float32),
        "wrongful": wrongful.astype(np.bool_),
    }


def dictionary(codes: npt.ArrayLike, names: list[str]) -> pa.DictionaryArray:
    """Integer codes as an Arrow dictionary column of their names (compact, and SQL-readable)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(names, pa.string()))


def ledger_table(
    cols: dict[str, npt.NDArray[np.generic]],
    behaviours: list[str],
    sources: list[str],
) -> pa.Table:
    """Ledger columns as an Arrow table, with names for behaviours, sources and kinds."""
    from carnet.sim.records import KINDS

    return pa.table(
        {
            "day": pa.array(cols["day"], pa.int32()),
            "citizen": pa.array(cols["citizen"], pa.int64()),
            "kind": dictionary(cols["kind"], list(KINDS)),
            "behaviour": dictionary(cols["behaviour"], behaviours),
            "source": dictionary(cols["source"], sources),
            "points": pa.array(cols["points"], pa.int16()),
            "balance": pa.array(cols["balance"], pa.int16()),
            "truly_done": pa.array(cols["truly_done"], pa.bool_()),
            "true_actor": pa.array(cols["true_actor"], pa.int64()),
        }
    )
