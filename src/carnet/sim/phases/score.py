"""score: turn observations into points, restore expired records, clamp, and cap rewards.

Today's expiries are applied first, then today's observations in the order they were drawn. Each
point change is returned with its reason and its ground truth, for the record phase and the ledger.
A record's restoration undoes exactly the points its act changed (after caps and clamping).
"""

from __future__ import annotations

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
    Observations,
)
from carnet.sim.population import State
from carnet.sim.records import (
    ACT,
    APPEALED_LOST,
    APPEALED_WON,
    NO_APPEAL,
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
    delta_override: int,
    points: npt.NDArray[np.int16],
    earned: npt.NDArray[np.int16],
    profile: npt.NDArray[np.uint16],
    rule_points: npt.NDArray[np.int32],
    rule_cap: npt.NDArray[np.int32],
    rule_cap_slot: npt.NDArray[np.int32],
    floor: int,
    ceiling: int,
    appeal_p: npt.NDArray[np.float64],
    win_wrongful: float,
    win_deserved: float,
    c_citizen: npt.NDArray[np.int64],
    c_before: npt.NDArray[np.int16],
    c_after: npt.NDArray[np.int16],
    c_behaviour: npt.NDArray[np.int16],
    c_source: npt.NDArray[np.int16],
    c_kind: npt.NDArray[np.uint8],
    c_truly: npt.NDArray[np.bool_],
    c_actor: npt.NDArray[np.int64],
    c_appeal: npt.NDArray[np.uint8],
) -> int:  # pragma: no cover - compiled
    """Record one observed act against citizen ``c``: points, caps, clamping, its appeal."""
    delta = int(rule_points[k]) if delta_override < 0 else delta_override
    slot = rule_cap_slot[k]
    if slot >= 0:
        delta = max(0, min(delta, int(rule_cap[k]) - int(earned[slot, c])))
        earned[slot, c] += delta
    before = int(points[c])
    after = min(max(before + delta, floor), ceiling)
    points[c] = after
    c_citizen[n], c_before[n], c_after[n] = c, before, after
    c_behaviour[n], c_source[n], c_kind[n] = k, source, ACT
    c_truly[n], c_actor[n], c_appeal[n] = truly, actor, NO_APPEAL
    if after < before and u_appeal < appeal_p[profile[c]]:
        win = win_deserved if truly else win_wrongful
        c_appeal[n] = APPEALED_WON if u_win < win else APPEALED_LOST
    return n + 1


@kernel()
def _score(
    e_citizen: npt.NDArray[np.int64],
    e_amount: npt.NDArray[np.int16],
    e_behaviour: npt.NDArray[np.int16],
    e_source: npt.NDArray[np.int16],
    e_truly: npt.NDArray[np.bool_],
    e_actor: npt.NDArray[np.int64],
    e_kind: npt.NDArray[np.uint8],
    n_expiries: int,
    a_citizen: npt.NDArray[np.int64],
    a_behaviour: npt.NDArray[np.int16],
    o_target: npt.NDArray[np.int64],
    o_source: npt.NDArray[np.int16],
    o_outcome: npt.NDArray[np.uint8],
    o_branch: npt.NDArray[np.uint64],
    o_hits: npt.NDArray[np.int64],
    n_hits: int,
    first: int,
    block_size: int,
    points: npt.NDArray[np.int16],
    earned: npt.NDArray[np.int16],
    profile: npt.NDArray[np.uint16],
    household: npt.NDArray[np.uint8],
    group_of_profile: npt.NDArray[np.uint8],
    rule_points: npt.NDArray[np.int32],
    rule_cap: npt.NDArray[np.int32],
    rule_cap_slot: npt.NDArray[np.int32],
    floor: int,
    ceiling: int,
    appeal_p: npt.NDArray[np.float64],
    win_wrongful: float,
    win_deserved: float,
    den_behaviour: int,
    den_sanction: int,
    den_true: float,
    den_verify: float,
    den_household: bool,
    den_coworker: bool,
    staff_blocks: npt.NDArray[np.int64],
    staff_start: npt.NDArray[np.int64],
    staff_end: npt.NDArray[np.int64],
    per_block: int,
    den_width: int,
    den_counts: npt.NDArray[np.int64],
    c_citizen: npt.NDArray[np.int64],
    c_before: npt.NDArray[np.int16],
    c_after: npt.NDArray[np.int16],
    c_behaviour: npt.NDArray[np.int16],
    c_source: npt.NDArray[np.int16],
    c_kind: npt.NDArray[np.uint8],
    c_truly: npt.NDArray[np.bool_],
    c_actor: npt.NDArray[np.int64],
    c_appeal: npt.NDArray[np.uint8],
) -> int:  # pragma: no cover - compiled
    n = 0
    for j in range(n_expiries):
        if j + AHEAD < n_expiries:
            prefetch(points, e_citizen[j + AHEAD])
        c = e_citizen[j]
        before = int(points[c])
        after = min(max(before - int(e_amount[j]), floor), ceiling)
        points[c] = after
        c_citizen[n], c_before[n], c_after[n] = c, before, after
        c_behaviour[n], c_source[n], c_kind[n] = e_behaviour[j], e_source[j], e_kind[j]
        c_truly[n], c_actor[n], c_appeal[n] = e_truly[j], e_actor[j], NO_APPEAL
        n += 1
    appeals = (appeal_p > 0.0).any()  # else a sanction's profile need not be read
    for i in range(n_hits):
        if i + AHEAD < n_hits:
            ahead = o_target[o_hits[i + AHEAD]]
            prefetch(points, ahead)
            if appeals:
                prefetch(profile, ahead)
        j = o_hits[i]
        c, k = o_target[j], a_behaviour[j]
        truly = o_outcome[j] == DETECTED
        accused = -1
        report_true = False
        if k == den_behaviour:
            # A report: true or not, checked or not; a checked false report is dropped and
            # earns nothing, any other puts the accused on record.
            whom = side_uniform(o_branch[j], U_WHOM)
            accused = _neighbour(c, whom, first, block_size, len(points), household, den_width,
                                 den_household, den_coworker, staff_blocks, staff_start,
                                 staff_end, per_block)  # fmt: skip
            report_true = side_uniform(o_branch[j], U_TRUE) < den_true
            if accused >= 0:
                den_counts[group_of_profile[profile[accused]], 0] += 1
            if (
                accused >= 0
                and not report_true
                and side_uniform(o_branch[j], U_VERIFY) < den_verify
            ):
                den_counts[group_of_profile[profile[accused]], 3] += 1
                accused = -1
                truly = False
                delta_override = 0
            else:
                truly = truly and report_true
                delta_override = -1
        else:
            delta_override = -1
        # The common path, written out rather than calling _apply: this loop sees every observed
        # act, and a compiled call with ~28 array arguments per act cost 4x the whole score phase
        # (bench/RESULTS.md). _apply serves only the rare second record of a report.
        delta = int(rule_points[k]) if delta_override < 0 else delta_override
        slot = rule_cap_slot[k]
        if slot >= 0:
            delta = max(0, min(delta, int(rule_cap[k]) - int(earned[slot, c])))
            earned[slot, c] += delta
        before = int(points[c])
        after = min(max(before + delta, floor), ceiling)
        points[c] = after
        c_citizen[n], c_before[n], c_after[n] = c, before, after
        c_behaviour[n], c_source[n], c_kind[n] = k, o_source[j], ACT
        c_truly[n], c_actor[n], c_appeal[n] = truly, first + a_citizen[j], NO_APPEAL
        # The chance of an appeal is read first: without appeals, no uniform need be drawn.
        p_appeal = appeal_p[profile[c]] if appeals and after < before else 0.0
        if p_appeal > 0.0 and side_uniform(o_branch[j], U_APPEAL) < p_appeal:
            win = win_deserved if truly else win_wrongful
            won = side_uniform(o_branch[j], U_WIN) < win
            c_appeal[n] = APPEALED_WON if won else APPEALED_LOST
        n += 1
        if accused >= 0:
            g = group_of_profile[profile[accused]]
            den_counts[g, 1] += 1
            if not report_true:
                den_counts[g, 2] += 1
            actor = first + accused if report_true else -1  # a false report: nobody did it
            u_appeal = side_uniform(o_branch[j], U_APPEAL)
            u_win = side_uniform(o_branch[j], U_WIN)
            n = _apply(n, accused, den_sanction, o_source[j], report_true, actor, u_appeal, u_win,
                       -1,
                       points, earned, profile, rule_points, rule_cap, rule_cap_slot, floor,
                       ceiling, appeal_p, win_wrongful, win_deserved, c_citizen, c_before,
                       c_after, c_behaviour, c_source, c_kind, c_truly, c_actor,
                       c_appeal)  # fmt: skip
    return n


def score(
    state: State,
    t: Parameters,
    day: int,
    acts: Acts,
    seen: Observations,
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
    out = Records(due.n + 2 * seen.n_hits)  # a report also puts the accused on record
    n = _score(
        due.citizen,
        due.after,
        due.behaviour,
        due.source,
        due.truly_done,
        due.actor,
        due.kind,
        due.n,
        acts.citizen,
        acts.behaviour,
        seen.target,
        seen.source,
        seen.outcome,
        seen.branch,
        seen.hits,
        seen.n_hits,
        state.first_citizen,
        block_size,
        state.points,
        state.earned,
        state.profile,
        state.household,
        t.group_of_profile,
        t.rule_points,
        t.rule_cap,
        t.rule_cap_slot,
        t.floor,
        t.ceiling,
        t.appeal_p,
        t.win_wrongful,
        t.win_deserved,
        t.den_behaviour,
        t.den_sanction,
        t.den_true,
        t.den_verify,
        t.den_household,
        t.den_coworker,
        staff.blocks,
        staff.start,
        staff.end,
        staff.per_block,
        t.den_width,
        denunciations,
        out.citizen,
        out.before,
        out.after,
        out.behaviour,
        out.source,
        out.kind,
        out.truly_done,
        out.actor,
        out.appeal,
    )
    changes = out.head(n)
    queue.push(changes, t.rule_lifetime, day, t.appeal_days, state.flags)
    return changes
