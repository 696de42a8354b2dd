"""score: turn observations into points, restore expired records, clamp, and cap rewards.

Today's expiries are applied first, then today's observations in the order they were drawn. Each
point change is returned with its reason and its ground truth, for the record phase and the ledger.
A record's restoration undoes exactly the points its act changed (after caps and clamping).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.sim.employers import Staff, coworker_of
from carnet.sim.jit import AHEAD, kernel, prefetch
from carnet.sim.parameters import Parameters
from carnet.sim.phases.behave import Acts
from carnet.sim.phases.expiry import ExpiryQueue
from carnet.sim.phases.observe import (
    DETECTED,
    U_APPEAL,
    U_TRUE,
    U_VERIFY,
    U_WHOM,
    U_WIN,
    ObservationColumns,
    Observations,
)
from carnet.sim.population import State
from carnet.sim.records import (
    ACT,
    APPEALED_LOST,
    APPEALED_WON,
    DENOUNCED,
    DENOUNCED_REJECTED,
    DENOUNCED_SANCTIONED,
    DENOUNCED_WRONGFULLY,
    NO_APPEAL,
    RecordColumns,
    Records,
)
from carnet.sim.rng import side_uniform


@kernel(inline=True)
def _neighbour(
    c: int,
    u: float,
    first: int,
    block_size: int,
    n: int,
    household: npt.NDArray[np.uint8],
    width: int,
    same_household: bool,
    coworker: bool,
    staff_blocks: npt.NDArray[np.int64],
    staff_start: npt.NDArray[np.int64],
    staff_end: npt.NDArray[np.int64],
    per_block: int,
) -> int:  # pragma: no cover - compiled
    """Whom a report by ``c`` accuses: a household member, a co-worker, or else a neighbour."""
    if coworker:
        other = coworker_of(c, u, block_size, staff_blocks, staff_start, staff_end, per_block)
        if other >= 0:
            return other
    if same_household:
        head = c - int(household[c])
        size = 1
        while head + size < n and household[head + size] != 0:
            size += 1
        if size > 1:
            other = head + int(u * (size - 1))
            return other + 1 if other >= c else other
    lo = max(c - width, (first + c) // block_size * block_size - first)
    hi = min(c + width, (first + c) // block_size * block_size - first + block_size - 1, n - 1)
    if hi <= lo:
        return -1
    other = lo + int(u * (hi - lo))
    return other + 1 if other >= c else other


class ScoreTables(NamedTuple):
    """What score reads of the scenario (from :class:`~carnet.sim.parameters.Parameters`)."""

    group_of_profile: npt.NDArray[np.uint8]
    rule_points: npt.NDArray[np.int32]
    rule_cap: npt.NDArray[np.int32]
    rule_cap_slot: npt.NDArray[np.int32]
    floor: int
    ceiling: int
    appeal_p: npt.NDArray[np.float64]
    win_wrongful: float
    win_deserved: float
    den_behaviour: int
    den_sanction: int
    den_true: float
    den_verify: float
    den_household: bool
    den_coworker: bool
    den_width: int

    @classmethod
    def of(cls, t: Parameters) -> ScoreTables:
        """The tables of ``t``."""
        return cls(
            t.group_of_profile, t.rule_points, t.rule_cap, t.rule_cap_slot, t.floor, t.ceiling,
            t.appeal_p, t.win_wrongful, t.win_deserved, t.den_behaviour, t.den_sanction,
            t.den_true, t.den_verify, t.den_household, t.den_coworker, t.den_width,
        )  # fmt: skip


@kernel()
def _apply(
    n: int,
    c: int,
    k: int,
    source: int,
    truly: bool,
    actor: int,
    u_appeal: float,
    u_win: float,
    state: State,
    tables: ScoreTables,
    out: RecordColumns,
) -> int:  # pragma: no cover - compiled
    """Record one observed act against citizen ``c``: points, caps, clamping, its appeal."""
    delta = int(tables.rule_points[k])
    slot = tables.rule_cap_slot[k]
    if slot >= 0:
        delta = max(0, min(delta, int(tables.rule_cap[k]) - int(state.earned[slot, c])))
        state.earned[slot, c] += delta
    before = int(state.points[c])
    after = min(max(before + delta, tables.floor), tables.ceiling)
    state.points[c] = after
    out.citizen[n], out.before[n], out.after[n] = c, before, after
    out.behaviour[n], out.source[n], out.kind[n] = k, source, ACT
    out.truly_done[n], out.actor[n], out.appeal[n] = truly, actor, NO_APPEAL
    if after < before and u_appeal < tables.appeal_p[state.profile[c]]:
        win = tables.win_deserved if truly else tables.win_wrongful
        out.appeal[n] = APPEALED_WON if u_win < win else APPEALED_LOST
    return n + 1


@kernel()
def _score(
    due: RecordColumns,
    n_expiries: int,
    acts_citizen: npt.NDArray[np.int64],
    acts_behaviour: npt.NDArray[np.int16],
    observed: ObservationColumns,
    n_hits: int,
    state: State,
    tables: ScoreTables,
    staff: Staff,
    block_size: int,
    den_counts: npt.NDArray[np.int64],
    out: RecordColumns,
) -> int:  # pragma: no cover - compiled
    n = 0
    first = state.first_citizen
    points, profile = state.points, state.profile
    for j in range(n_expiries):
        if j + AHEAD < n_expiries:
            prefetch(points, due.citizen[j + AHEAD])
        c = due.citizen[j]
        before = int(points[c])
        after = min(
            max(before - int(due.after[j]), tables.floor), tables.ceiling
        )  # after: the amount
        points[c] = after
        out.citizen[n], out.before[n], out.after[n] = c, before, after
        out.behaviour[n], out.source[n], out.kind[n] = due.behaviour[j], due.source[j], due.kind[j]
        out.truly_done[n], out.actor[n], out.appeal[n] = due.truly_done[j], due.actor[j], NO_APPEAL
        n += 1
    appeals = (tables.appeal_p > 0.0).any()  # else a sanction's profile need not be read
    for i in range(n_hits):
        if i + AHEAD < n_hits:
            ahead = observed.target[observed.hits[i + AHEAD]]
            prefetch(points, ahead)
            if appeals:
                prefetch(profile, ahead)
        j = observed.hits[i]
        c, k = observed.target[j], acts_behaviour[j]
        truly = observed.outcome[j] == DETECTED
        accused = -1
        report_true = False
        delta = int(tables.rule_points[k])
        if k == tables.den_behaviour:
            # A report: true or not, checked or not; a checked false report is dropped and
            # earns nothing, any other puts the accused on record.
            whom = side_uniform(observed.branch[j], U_WHOM)
            accused = _neighbour(c, whom, first, block_size, len(points), state.household,
                                 tables.den_width, tables.den_household, tables.den_coworker,
                                 staff.blocks, staff.start, staff.end, staff.per_block)  # fmt: skip
            report_true = side_uniform(observed.branch[j], U_TRUE) < tables.den_true
            if accused >= 0:
                den_counts[tables.group_of_profile[profile[accused]], DENOUNCED] += 1
            if (
                accused >= 0
                and not report_true
                and side_uniform(observed.branch[j], U_VERIFY) < tables.den_verify
            ):
                den_counts[tables.group_of_profile[profile[accused]], DENOUNCED_REJECTED] += 1
                accused = -1
                truly = False
                delta = 0
            else:
                truly = truly and report_true
        # The common path, written out rather than calling _apply: this loop sees every observed
        # act, and a compiled call with ~28 arrays per act (numba counts a reference to each) was
        # one of two causes of minimal's fall to 84 million citizen-days/s, from 188
        # (docs/kernels.md). _apply serves only the rare second record of a report.
        slot = tables.rule_cap_slot[k]
        if slot >= 0:
            delta = max(0, min(delta, int(tables.rule_cap[k]) - int(state.earned[slot, c])))
            state.earned[slot, c] += delta
        before = int(points[c])
        after = min(max(before + delta, tables.floor), tables.ceiling)
        points[c] = after
        out.citizen[n], out.before[n], out.after[n] = c, before, after
        out.behaviour[n], out.source[n], out.kind[n] = k, observed.source[j], ACT
        out.truly_done[n], out.actor[n], out.appeal[n] = truly, first + acts_citizen[j], NO_APPEAL
        # The chance of an appeal is read first: without appeals, no uniform need be drawn.
        p_appeal = tables.appeal_p[profile[c]] if appeals and after < before else 0.0
        if p_appeal > 0.0 and side_uniform(observed.branch[j], U_APPEAL) < p_appeal:
            win = tables.win_deserved if truly else tables.win_wrongful
            won = side_uniform(observed.branch[j], U_WIN) < win
            out.appeal[n] = APPEALED_WON if won else APPEALED_LOST
        n += 1
        if accused >= 0:
            g = tables.group_of_profile[profile[accused]]
            den_counts[g, DENOUNCED_SANCTIONED] += 1
            if not report_true:
                den_counts[g, DENOUNCED_WRONGFULLY] += 1
            actor = first + accused if report_true else -1  # a false report: nobody did it
            u_appeal = side_uniform(observed.branch[j], U_APPEAL)
            u_win = side_uniform(observed.branch[j], U_WIN)
            n = _apply(n, accused, tables.den_sanction, observed.source[j], report_true, actor,
                       u_appeal, u_win, state, tables, out)  # fmt: skip
    return n


def score(
    state: State,
    t: Parameters,
    day: int,
    acts: Acts,
    observations: Observations,
    queue: ExpiryQueue,
    block_size: int,
    denunciations: npt.NDArray[np.int64],
    staff: Staff | None = None,
) -> Records:
    """Apply today's expiries and observations to the points; return every change.

    ``denunciations`` ([group, DENUNCIATION_COUNTS]) receives today's reports, by accused group;
    ``staff`` links citizens to employers, for reports that accuse a co-worker.
    """
    staff = staff if staff is not None and t.den_coworker else Staff.none()
    if day and day % 365 == 0:
        state.earned[:] = 0  # a new year: yearly caps start again
    due = queue.pop(day)
    out = Records(due.n + 2 * observations.n_hits)  # a report also puts the accused on record
    n = _score(
        due.columns(), due.n, acts.citizen, acts.behaviour, observations.columns(),
        observations.n_hits, state, ScoreTables.of(t), staff, block_size, denunciations,
        out.columns(),
    )  # fmt: skip
    changes = out.head(n)
    if t.lifetime_varies:  # each record's lifetime by its citizen's group
        group = t.group_of_profile[state.profile[changes.citizen[: changes.n]]]
        queue.push(changes, t.rule_lifetime_by_group, day, t.appeal_days, state.flags, group)
    else:
        queue.push(changes, t.rule_lifetime, day, t.appeal_days, state.flags)
    return changes
