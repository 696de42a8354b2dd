"""list: the blacklist of judgment defaulters, fed by financial distress and lawsuits.

Distress begins at a rate that depends on who the citizen is and lasts an exponential time. While
distressed, a citizen is sued at a rate; a judgment is listed with a probability; a listing lasts
its term unless the citizen leaves early (repayment, credit repair) at a constant hazard. Points
taken on listing come back when it ends. The redlist is simply the best grades; record counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import kernel
from carnet.sim.parameters import Lookups, Parameters
from carnet.sim.phases.events import DueQueue, candidates
from carnet.sim.population import DISTRESSED, LISTED, PUBLISHED, State
from carnet.sim.records import RecordColumns, Records
from carnet.sim.rng import side_uniform, stream_key
from carnet.sim.streams import LIST_DISTRESS, LIST_LAWSUIT, Stream, seed_key

LISTING, DELISTING = 2, 3  # kinds of point change, after score's ACT and EXPIRY
# Daily list counts, by group: the columns of the metrics that this phase feeds.
ONSETS, RECOVERIES, LAWSUITS, ENTRIES, EXITS, PUBLISHED_IN, PUBLISHED_OUT = range(7)
COUNTS = ("distress_onsets", "distress_recoveries", "lawsuits", "blacklist_entries",
          "blacklist_exits", "published_entries", "published_exits")  # fmt: skip

I64 = npt.NDArray[np.int64]


def redlisted_grades(s: Scenario) -> npt.NDArray[np.bool_]:
    """Which grades, by index, put their holders on the redlist."""
    red = set(s.lists.redlist.grades) if s.lists.redlist else set()
    return np.array([g.name in red for g in s.grades], dtype=np.bool_)


class ListRules(NamedTuple):
    """The blacklist's parameters as numbers, and the rows of its records in the ledger.

    A named tuple of numbers, which the kernels take whole.
    """

    onset_rate: float  # candidates per citizen-day, at the largest multiplier
    onset_accept: npt.NDArray[np.float64]  # [profile] own multiplier / largest
    distress_days: float
    lawsuit_rate: float  # per citizen-day while distressed
    p_list: float
    p_publish: float
    term_days: int
    term_by_group: npt.NDArray[np.int64]  # [group] days a listing lasts at most
    exit_rate: float  # per day
    points: int
    income_down: float
    behaviour: int  # ledger code of "judgment_default"
    source: int  # ledger code of "blacklist"

    @classmethod
    def build(cls, s: Scenario, t: Parameters) -> ListRules | None:
        """The blacklist of ``s``, or None if it has none."""
        bl = s.lists.blacklist
        if bl is None:
            return None
        groups = [g.name for g in s.population.groups]
        by_group = np.array([bl.distress_by_group.get(g, 1.0) for g in groups])
        by_income = np.asarray(bl.distress_by_income or [1.0] * 5)
        mult = by_group[t.group_of_profile] * by_income[t.income_of_profile]
        top = float(mult.max())
        return cls(
            onset_rate=bl.distress_per_year * top / 365.0,
            onset_accept=mult / top if top > 0 else np.zeros_like(mult),
            distress_days=bl.distress_days,
            lawsuit_rate=bl.lawsuits_per_year / 365.0,
            p_list=bl.listing_probability,
            p_publish=bl.publish_probability,
            term_days=bl.term_days,
            term_by_group=np.array(
                [bl.term_days_by_group.get(g, bl.term_days) for g in groups], np.int64
            ),
            exit_rate=bl.exit_per_year / 365.0,
            points=bl.points,
            income_down=bl.income_down_on_listing,
            behaviour=len(s.behaviours),
            source=len(s.sources),
        )


@kernel()
def _end(
    recover: I64,
    leave: I64,
    amount: I64,
    state: State,
    look: Lookups,
    counts: I64,
    out: RecordColumns,
) -> int:  # pragma: no cover - compiled
    flags, points, profile, group_of_profile = (
        state.flags, state.points, state.profile, look.group_of_profile
    )  # fmt: skip
    for c in recover:
        flags[c] &= ~DISTRESSED
        counts[group_of_profile[profile[c]], RECOVERIES] += 1
    n = 0
    for j in range(len(leave)):
        c = leave[j]
        g = group_of_profile[profile[c]]
        if flags[c] & PUBLISHED:
            counts[g, PUBLISHED_OUT] += 1
        flags[c] &= ~(LISTED | PUBLISHED)
        counts[g, EXITS] += 1
        # Every end of a listing is recorded, whether or not points come back with it.
        before = int(points[c])
        after = min(max(before - int(amount[j]), look.floor), look.ceiling)
        points[c] = after
        out.citizen[n], out.before[n], out.after[n] = c, before, after
        n += 1
    return n


class Scheduled(NamedTuple):
    """What list's kernel schedules: ends of distress, and ends of listings with points to undo."""

    recover_citizen: I64
    recover_due: I64
    leave_citizen: I64
    leave_due: I64
    leave_amount: I64


@kernel()
def _begin(
    onset: I64,
    onset_u: npt.NDArray[np.float64],
    suit: I64,
    suit_u: npt.NDArray[np.float64],
    day: int,
    state: State,
    rules: ListRules,
    look: Lookups,
    counts: I64,
    scheduled: Scheduled,
    out: RecordColumns,
) -> tuple[int, int, int]:  # pragma: no cover - compiled
    flags, points, profile, group_of_profile = (
        state.flags, state.points, state.profile, look.group_of_profile
    )  # fmt: skip
    recover_c, recover_due, leave_c, leave_due, leave_amount = scheduled
    out_citizen, out_before, out_after = out.citizen, out.before, out.after
    n_recover = n_leave = n_change = 0
    for j in range(len(onset)):
        c = onset[j]
        if flags[c] & DISTRESSED or onset_u[j, 0] >= rules.onset_accept[profile[c]]:
            continue
        flags[c] |= DISTRESSED
        counts[group_of_profile[profile[c]], ONSETS] += 1
        recover_c[n_recover] = c
        recover_due[n_recover] = day + 1 + int(-np.log1p(-onset_u[j, 1]) * rules.distress_days)
        n_recover += 1
    for j in range(len(suit)):
        c = suit[j]
        if not flags[c] & DISTRESSED:
            continue
        g = group_of_profile[profile[c]]
        counts[g, LAWSUITS] += 1
        if flags[c] & LISTED or suit_u[j, 0] >= rules.p_list:
            continue
        flags[c] |= LISTED
        counts[g, ENTRIES] += 1
        if suit_u[j, 3] < rules.income_down and look.income_of_profile[profile[c]] > 0:
            profile[c] -= 1  # a listing costs income: one quintile down
        if suit_u[j, 1] < rules.p_publish:
            flags[c] |= PUBLISHED
            counts[g, PUBLISHED_IN] += 1
        days = rules.term_by_group[g]
        if rules.exit_rate > 0.0:
            days = min(days, 1 + int(-np.log1p(-suit_u[j, 2]) / rules.exit_rate))
        before = int(points[c])
        after = min(max(before + rules.points, look.floor), look.ceiling)
        points[c] = after
        leave_c[n_leave], leave_due[n_leave], leave_amount[n_leave] = c, day + days, after - before
        n_leave += 1
        out_citizen[n_change], out_before[n_change], out_after[n_change] = c, before, after
        n_change += 1
    return n_recover, n_leave, n_change


@dataclass
class ListState:
    """A shard's pending list events: recoveries from distress and ends of listings."""

    recoveries: DueQueue
    exits: DueQueue


def list_phase(
    state: State,
    t: Parameters,
    rules: ListRules,
    queues: ListState,
    seed: int,
    block_size: int,
    day: int,
    counts: I64,
) -> Records:
    """End what is due today, then new distress, lawsuits and listings; return point changes."""
    recover, _ = queues.recoveries.pop(day)
    leave, amount = queues.exits.pop(day)
    ended = Records(len(leave))
    look = t.lookups()
    n_ended = _end(recover, leave, amount, state, look, counts, ended.columns())
    onset, onset_u = candidates(
        seed, LIST_DISTRESS.id, day, state.first_citizen, state.size, block_size,
        rules.onset_rate, 2,
    )  # fmt: skip
    suit, suit_u = candidates(
        seed, LIST_LAWSUIT.id, day, state.first_citizen, state.size, block_size,
        rules.lawsuit_rate, 4,
    )  # fmt: skip
    recover_c, recover_due = np.empty(len(onset), np.int64), np.empty(len(onset), np.int64)
    leave_c, leave_due = np.empty(len(suit), np.int64), np.empty(len(suit), np.int64)
    leave_amount = np.empty(len(suit), np.int64)
    scheduled = Scheduled(recover_c, recover_due, leave_c, leave_due, leave_amount)
    begun = Records(len(suit))
    n_rec, n_leave, n_begun = _begin(
        onset, onset_u, suit, suit_u, day, state, rules, look, counts, scheduled, begun.columns()
    )
    queues.recoveries.push(recover_due[:n_rec], recover_c[:n_rec], np.zeros(n_rec, np.int64))
    queues.exits.push(leave_due[:n_leave], leave_c[:n_leave], leave_amount[:n_leave])
    changes = Records.concat(
        [
            _label(ended, n_ended, DELISTING, rules, state),
            _label(begun, n_begun, LISTING, rules, state),
        ]
    )
    return changes


def _label(rows: Records, n: int, kind: int, rules: ListRules, state: State) -> Records:
    """Fill in the reason and the truth of list point changes: a court's judgment, truly owed."""
    rows.n = n
    rows.behaviour[:n] = rules.behaviour
    rows.source[:n] = rules.source
    rows.kind[:n] = kind
    rows.truly_done[:n] = True
    rows.actor[:n] = rows.citizen[:n] + state.first_citizen
    rows.appeal[:n] = 0
    return rows


@kernel()
def _distress_until(
    citizen: I64, seed: np.uint64, key: np.uint64, day: int, first: int, mean_days: float
) -> I64:  # pragma: no cover - compiled
    due = np.empty(len(citizen), np.int64)
    for j in range(len(citizen)):
        u = side_uniform(stream_key(seed, key, day, first + citizen[j]), 0)
        due[j] = day + 1 + int(-np.log1p(-u) * mean_days)
    return due


def distress_from(
    state: State, t: Parameters, rules: ListRules, queues: ListState, citizen: I64, seed: int,
    day: int, counts: I64, why: Stream,
) -> None:  # fmt: skip
    """Count and schedule the end of distress that a gate or a loan brought on today.

    ``why`` is the stream of its cause (``streams.DISTRESS_AFTER_REFUSAL`` or ``_DEFAULT``).
    """
    if not len(citizen):
        return
    np.add.at(counts[:, ONSETS], t.group_of_profile[state.profile[citizen]].astype(np.int64), 1)
    due = _distress_until(
        citizen, seed_key(seed), why.id, day, state.first_citizen,
        rules.distress_days,
    )  # fmt: skip
    queues.recoveries.push(due, citizen, np.zeros(len(citizen), np.int64))
