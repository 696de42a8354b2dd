"""Memory: predict what a run needs before it starts, and refuse one that cannot fit.

The prediction counts, from the scenario's rates, how many entries each structure of a run holds
(:class:`Flows`: acts and records per citizen-day, restorations and list events waiting for their
day, the panel's ledger rows and decisions part by part), and multiplies each count by the bytes
of one entry, read from the dtypes of the arrays that hold it and from how many copies of them are
alive at once (the constants below say where each number comes from). What a run holds all along
(state, buffers, queues, the daily aggregates of each shard, and a day's events, whose many small
arrays stay in the heap once freed) is added to the largest of the moments that hold more for a
while: the last part's days before its cut, the cut of a part beside the parts cut before it,
the assembly of the result, a checkpoint (:class:`Need`). ``tests/test_memory.py`` checks it
against the peak resident memory of runs that stress each term.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from carnet.errors import RunError
from carnet.scenario.policies import BY_THRESHOLD
from carnet.scenario.schema import Scenario
from carnet.sim.compiled import Compiled
from carnet.sim.employers import company_count
from carnet.sim.parameters import NO_LIMIT, POINTS_OFFSET, Parameters
from carnet.sim.phases.lending import COUNTS as LENDING_COUNTS
from carnet.sim.phases.lists import COUNTS as LIST_COUNTS
from carnet.sim.population import MAX_CHILDREN, panel_probability

F64 = npt.NDArray[np.float64]

FIXED_BYTES = 230 * 2**20  # Python, numpy, numba, pyarrow and compiled kernels
# The share of the available memory that a plan of shards may fill: 15% goes to what the
# prediction misses (it is within 15% of the measured peak) and 10% stays for the page cache and
# the rest of the machine. More, smaller shards cost no speed (a shard's time is its
# citizen-days); filling 85% left china at 1.4 billion 1.5 GB short of a 24 GB machine's total.
PLAN_SHARE = 0.75

# --- Bytes of one entry -------------------------------------------------------------------------
# Points int16, profile uint16, exposure, flags, household, children uint8 (8 bytes), and what
# the days add per citizen on average (measured: 9-10 bytes in all).
STATE_BYTES = 10
MEMORY_BYTES = 4  # deterrence memory of the punished and their households (2 x uint16), when on
PRESSURE_BYTES = 8  # contagion's pressure, int64 per block of citizens (not per citizen)
EARNED_BYTES = 2  # per capped rule (int16)
WRONGFUL_BYTES = 2  # the wrongful balance of each citizen (int16), kept when there are gates
# Adaptive attention, per (adaptive source, block, group): allocation, initial allocation,
# multiplier, audit share (float64), this period's findings (int64), and a window's periods of
# findings (int64 each); plus the block's group counts and spread. Nothing per citizen.
ATTENTION_CELL_BYTES = 5 * 8
ATTENTION_PERIOD_BYTES = 8
APPLIED_BYTES = 1  # which once-only gates each citizen applied to (uint8), when a gate takes once
START_BYTES = 2  # the panel's start points (int16), when they are drawn
# A learned policy's lender per block: [group, bin] counts of repaid and defaulted loans (int32),
# and its thresholds by group (int64).
LEARNER_COUNT_BYTES = 2 * 4
LEARNER_THRESHOLD_BYTES = 8
# Per act of a day, in buffers that grow to 1.25 times the largest day: the act (citizen int64,
# behaviour int16) and what the sources made of it (target int64, source int16, outcome uint8,
# side stream uint64, hit int64).
ACT_BYTES = 10 + 27
ACT_SLACK = 1.25
RECORD_BYTES = 27  # a Records entry: citizen, actor int64; before, after, behaviour, source int16;
# kind, truly_done, appeal uint8
# Per point change of a day, besides its Records entry: a second copy where the day's changes are
# concatenated (lists, lending, companies), and what scheduling them takes while it runs (amount
# int32, lifetime and due day int64, seven masks, the amount to undo int16: 30) or, later, the
# panel's row numbers (int64) and their copy (27): the larger, 35.
CHANGE_BYTES = 35
PACKED_BYTES = 6  # a restoration waiting outside the panel (phases/expiry.py): uint32, uint8, int8
PANEL_PENDING_BYTES = RECORD_BYTES  # the panel's are kept whole
# Each day's restorations due on one later day are one object per kind: a Records for the panel's
# (9 arrays: 1,242 bytes measured for one entry, its 27 bytes of data included) and a packed part
# for the others' (4 arrays: 750 bytes). Runs of many lifetimes over many days hold many.
RECORDS_OBJECT_BYTES = 1242 - RECORD_BYTES
PACKED_OBJECT_BYTES = 750 - PACKED_BYTES
# A list event or loan waiting for its day (DueQueue): citizen and amount, int64 each; and per
# slice of a day's push due on one day, a tuple of two array views (measured: 350 bytes).
DUE_BYTES = 16
SLICE_BYTES = 350
# A checkpoint of a DueQueue (DueQueue.snapshot): due day, citizen and amount as int64 per entry,
# made from a list of (day, citizen, amount) per slice and an array of its due day (np.full).
SNAPSHOT_DUE_BYTES = 3 * 8
SNAPSHOT_SLICE_BYTES = 64 + 8 + 128
# The panel's ledger. A row of a day, kept until its part is cut (Recorder.record): day int32,
# citizen int64, kind uint8, behaviour, source, points, balance int16, truly_done bool, true
# actor int64. A part's days are many small arrays, which glibc serves from its arenas and keeps
# there once freed (they serve the next part's days), while the cut's arrays are mapped afresh:
# the days' bytes stay resident through the cut. Cut (Recorder.ledger_part, then
# Simulation.advance): the days (30), sorted by block (30; ledger_part's joined copy, 30, and its
# uint16 key and int64 order, 10, are gone by then), concatenated across shards (30) and made a
# table (three int32 codes, 12).
LEDGER_DAY_BYTES = 30
LEDGER_CUT_BYTES = LEDGER_DAY_BYTES + 30 + 30 + 12
# A row of a part once cut, in Arrow: day int32, citizen int64, three dictionary codes int32,
# points and balance int16, truly_done a bit, true actor int64 (the int64 and int16 columns are
# the concatenated arrays themselves).
LEDGER_ROW_BYTES = 4 + 8 + 3 * 4 + 2 + 2 + 1 / 8 + 8
# A panel decision at a gate: day int32, citizen int64, gate, outcome, grade int8, price float32,
# wrongful bool (20) until its part is cut; in Arrow, the three codes as int32 and wrongful a bit.
# The cut: the days (20, resident as the ledger's), joined (20), concatenated across shards (20),
# ordered (lexsort: an int64 order and its scratch, 16) and made a table (28).
DECISION_DAY_BYTES = 20
DECISION_ROW_BYTES = 4 + 8 + 3 * 4 + 4 + 1 / 8
DECISION_CUT_BYTES = DECISION_DAY_BYTES + 20 + 20 + 16 + DECISION_ROW_BYTES
# Candidate events of a day (events.candidates) are drawn into buffers of 1.5 times the expected
# count: counted whole, as the heap hands them out again day after day (its pages were written).
CANDIDATE_SLACK = 1.5
# A candidate application at a gate, per day: citizen int64 and two uniforms (24), dropped after
# its gate; and seven int64 outputs, of which five are kept until the day is recorded (the loan
# gate keeps all seven). The panel's decisions of the day are concatenated (5 x int64) and made
# into rows (20, with a float64 price on the way).
CANDIDATE_BYTES = CANDIDATE_SLACK * 24
GATE_OUT_BYTES = 5 * 8
LOAN_OUT_BYTES = 2 * 8
GATE_DAY_BYTES = 5 * 8 + DECISION_DAY_BYTES + 8
SEAT_BYTES = 6 * 8  # per child on a seat gate's allocation day: five int64 arrays and a float64
# The blacklist's day: distress candidates (citizen int64 and two uniforms) with their due day
# and citizen (16); lawsuit candidates (int64 and four uniforms) with the listing's citizen, due
# day and amount (24) and a Records entry each (27).
ONSET_BYTES = CANDIDATE_SLACK * 24 + 16
LAWSUIT_BYTES = CANDIDATE_SLACK * 40 + 24 + RECORD_BYTES
PANEL_BYTES = 90  # a row of the population table, and its columns while it is built
STAFF_BYTES = 3 * 8 + 2  # a company's employee places, representative, co-workers' memory
# While the result is assembled, each nonzero gate count becomes five int64 indices, its two
# counts gathered, and a row of the gates table (day int32, four codes int32, two int64).
GATE_COUNT_BYTES = 5 * 8 + 2 * 8 + 4 + 4 * 4
GATE_ROW_BYTES = 4 + 4 * 4 + 2 * 8  # what of it the gates table keeps


# --- How many entries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lists:
    """A blacklist's expected course, per citizen (or company), day by day."""

    entries: F64  # [day] listings
    exits: F64  # [day] ends of listings
    pending: float  # list events waiting at the end (a recovery per distressed, an end per listed)
    slices: float  # per shard: the queues' slices waiting at the end


@dataclass(frozen=True)
class Flows:
    """Expected events of a population, per member-day, from the scenario's rates.

    Responses are taken at the starting grade (not the deterrence of worse grades, nor of the
    punished), points are never clamped and every application is approved: the counts of a run
    as it starts, which its later days mostly only lower.
    """

    acts: float  # acts done
    changes: float  # point changes of acts seen (a report's accusation included)
    delayed: list[tuple[int, float]]  # (days after the act, per member-day): restorations, appeals
    gate_candidates: list[float]  # per gate: candidates drawn per member-day (0: a seat gate)
    applications: F64  # [day] decisions at the gates per member-day (seat gates on their day)
    seat_children: float  # per member, children who may apply on a seat gate's day
    seat_days: int  # allocation days of seat gates in the run (each gate's counted)
    loans: tuple[float, int]  # loans granted per member-day, and their term
    loan_candidates: float  # candidates per member-day of the loan gate
    lists: Lists | None
    lawsuit_rate: float  # candidates per member-day of the blacklist's daily draws
    onset_rate: float
    gate_cells: float  # nonzero cells of the gate counts over the run
    joint: F64 | None = None  # [day] rows of representatives listed with their company, or ended

    def ledger_rows(self, days: int) -> F64:
        """[day] ledger rows per panel member: changes, restorations, lists, loans."""
        t = np.arange(days)
        rows = np.full(days, self.changes)
        for after, rate in self.delayed:
            rows += rate * (t >= after)
        if self.lists is not None:
            rows += self.lists.entries + self.lists.exits
        granted, term = self.loans
        rows += granted * (t >= term)
        if self.joint is not None:
            rows += self.joint
        return rows

    def pending(self, days: int) -> float:
        """Restorations and appeal decisions waiting at the end of the run, per member."""
        return sum(rate * min(after, days) for after, rate in self.delayed)


def profile_shares(s: Scenario) -> F64:
    """Share of citizens of each profile (group, region, urban, income quintile)."""
    pop = s.population
    group = np.array([g.share for g in pop.groups])
    region = np.array([r.share for r in pop.regions])
    urban = np.array([r.urban_share for r in pop.regions])
    income = np.array([g.income for g in pop.groups], dtype=np.float64)
    income /= income.sum(axis=1, keepdims=True)
    area = np.stack([1.0 - urban, urban], axis=1)  # [region, rural / urban]
    shares = (
        (group / group.sum())[:, None, None, None]
        * (region / region.sum())[None, :, None, None]
        * area[None, :, :, None]
        * income[:, None, None, :]
    )
    out: F64 = shares.ravel()
    return out


def behaviour_rates(s: Scenario, t: Parameters) -> tuple[F64, F64]:
    """Acts done, and acts seen by some source, per citizen-day, by behaviour.

    The acceptance of the behave kernel, averaged over profiles and exposures: responses at the
    starting grade, chilling by the chance of being seen.
    """
    shares = profile_shares(s)
    own = t.rate_max[None, :] * t.accept  # [profile, behaviour] at the kernel's acceptance
    by_group = np.zeros((t.n_groups, t.n_behaviours))
    np.add.at(by_group, t.group_of_profile.astype(np.intp), shares[:, None] * own)
    start = t.grade_of_points[s.population.start_points + POINTS_OFFSET]
    deter = float(t.deter_aware[start])
    unaware = t.deter_unaware if t.aware_only else deter
    aware = t.awareness[None, :, None]
    factor = np.ones_like(t.chance_seen)  # [behaviour, group, exposure]
    factor[t.negative] = aware * deter + (1 - aware) * unaware
    if t.chilling > 0:
        chilled = np.maximum(0.0, 1.0 - t.chilling * t.chance_seen[t.lawful])
        factor[t.lawful] = aware * chilled + (1 - aware) * (1.0 if t.aware_only else chilled)
    exposure = np.diff(t.exposure_cdf, axis=1, prepend=0.0)[None]  # [1, group, exposure]
    done = (by_group.T * (exposure * factor).sum(axis=2)).sum(axis=1)
    seen = (by_group.T * (exposure * factor * t.chance_seen).sum(axis=2)).sum(axis=1)
    return done, seen


def _dot(a: F64, b: F64) -> float:
    """The dot product of two vectors, without BLAS (whose threads wait for busy cores)."""
    return float(np.multiply(a, b).sum())


def _delay_pmf(mean_days: float, horizon: int) -> F64:
    """P(1 + floor(Exp(mean)) = x) for x in 0..horizon (0 at x = 0)."""
    x = np.arange(horizon + 1, dtype=np.float64)
    pmf = np.exp(-(x - 1) / mean_days) - np.exp(-x / mean_days)
    pmf[0] = 0.0
    return pmf


def _listing_pmf(term: int, exit_rate: float) -> F64:
    """P(a listing lasts x days) for x in 0..term: ``min(term, 1 + floor(Exp(1 / exit)))``."""
    pmf = np.zeros(term + 1)
    if exit_rate > 0:
        early = _delay_pmf(1.0 / exit_rate, term)
        pmf[:term] = early[:term]
    pmf[term] = 1.0 - pmf.sum()
    return pmf


def _pending_slices(pushed: F64, pmf: F64, days: int, per_shard: float) -> float:
    """Per shard, the slices of a DueQueue waiting after the last day.

    ``pushed[d]`` entries per member are pushed on day ``d`` with a delay drawn from ``pmf``; a
    push makes one slice per distinct due day among its ``per_shard * pushed[d]`` entries. Days
    of similar pushes are taken together (20 groups), each with their mean. Entries due beyond
    the delays ``pmf`` lists (its missing mass) are taken as a slice each.
    """
    x = np.arange(len(pmf))
    beyond = max(0.0, 1.0 - float(pmf.sum()))
    total = 0.0
    for group in np.array_split(np.arange(days), min(days, 20)):
        m = float(pushed[group].mean()) * per_shard
        if m <= 0:
            continue
        distinct = -np.expm1(m * np.log1p(-np.minimum(pmf, 1 - 1e-12)))  # [x] P(one due then)
        after = np.concatenate([np.cumsum(distinct[::-1])[::-1], [0.0]])  # sum over x >= y
        total += float(after[np.minimum(days - group, len(x))].sum())
        total += beyond * m * len(group)
    return total


def blacklist_course(
    days: int,
    onset: float,
    distress_days: float,
    listing: float,
    pmf: F64,
    per_shard: float,
    warm: int = 0,
) -> Lists:
    """The expected course of a blacklist, per member, from an empty list on day 0.

    With ``warm``, the first ``warm`` of the ``days`` are a warm-up before the run: the course
    returned is the run's (its last days), and what the warm-up leaves waiting is pushed at once
    (a slice per distinct due day, at most the longest delay).

    Distress begins at ``onset`` per day among the undistressed and ends after 1 + Exp(mean
    ``distress_days``) days; the distressed not yet listed are listed at ``listing`` per day; a
    listing lasts as ``pmf``. Distress evolves on its own (it depends on no listing), and a
    listed member's distress after the listing is a two-state chain started distressed, so the
    distressed and listed, who cannot be listed again, are counted exactly in expectation.
    ``distress_days`` 0 stands for members always distressed (companies: any trigger may list).
    """
    always = distress_days <= 0
    # Delays of recovery, far enough past the last day for the queue's slices to be counted.
    reach = days + 1 + int(min(20 * distress_days, 40_000))
    recover = _delay_pmf(distress_days, reach) if not always else np.zeros(days + 2)
    survive = 1.0 - np.cumsum(pmf)  # [y] P(a listing lasts more than y days)
    survive = np.concatenate([survive, np.zeros(max(0, days + 2 - len(survive)))])
    lasts = np.concatenate([pmf, np.zeros(max(0, days + 2 - len(pmf)))])
    if always:
        still = np.ones(days + 2)
    else:
        hazard = -np.expm1(-1.0 / distress_days)
        steady = onset / (onset + hazard) if onset + hazard > 0 else 0.0
        still = steady + (1 - steady) * (1 - onset - hazard) ** np.arange(days + 2)
    onsets, entries = np.zeros(days), np.zeros(days)
    exits = np.zeros(days)
    distressed = 1.0 if always else 0.0
    for d in range(days):
        back = np.arange(d, 0, -1)  # days since each earlier day
        if not always:
            distressed -= _dot(onsets[:d], recover[back])
            onsets[d] = (1.0 - distressed) * onset
        both = _dot(entries[:d], survive[back] * still[back])  # distressed and listed
        exits[d] = _dot(entries[:d], lasts[back])
        entries[d] = max(0.0, distressed - both) * listing
        distressed += onsets[d]
    back = np.arange(days, 0, -1)
    listed = float(entries @ survive[back - 1]) if days else 0.0
    pending = listed + (0.0 if always else distressed)
    run = days - warm
    slices = _pending_slices(entries[warm:], pmf, run, per_shard)
    if not always:
        slices += _pending_slices(onsets[warm:], recover, run, per_shard)
    if warm:
        slices += min(len(pmf) + len(recover), pending * per_shard)
    return Lists(entries=entries[warm:], exits=exits[warm:], pending=pending, slices=slices)


def grade_shares(s: Scenario, t: Parameters, moving: F64) -> F64:
    """[day, grade] share of citizens in each grade, points taken as normal around their drift.

    ``moving`` are the point changes per citizen-day that move points, by behaviour: each adds
    its points to the mean and their square to the variance while it counts (until it expires);
    points are clamped to the floor and the ceiling.
    """
    days = s.run.days
    points = t.rule_points.astype(np.float64)
    life = np.where(t.rule_lifetime >= 0, t.rule_lifetime, days + 1).astype(np.float64)
    held = np.minimum(np.arange(1, days + 1, dtype=np.float64)[:, None], life[None, :])
    mean = s.population.start_points + (held * moving * points).sum(axis=1)
    sd = np.sqrt((held * moving * points**2).sum(axis=1)) + 1e-9
    erf = np.vectorize(math.erf)
    above = np.zeros((days, t.n_grades + 1))  # P(points >= each grade's minimum), best first
    for j, grade in enumerate(s.grades[:-1]):
        low = grade.min_points
        assert low is not None  # every grade but the last has one
        if low <= t.floor:
            above[:, j + 1] = 1.0
        elif low <= t.ceiling:
            above[:, j + 1] = 0.5 * (1 - erf((low - 0.5 - mean) / (sd * math.sqrt(2))))
    above[:, -1] = 1.0
    shares: F64 = np.diff(above, axis=1)
    return shares


def _gate_cells(
    s: Scenario, rules: Compiled, grades: F64, per_group: F64, listed: F64, members: float
) -> float:
    """Nonzero cells expected in the gate counts: (day, gate, outcome, group, grade).

    ``per_group`` [group, gate] decisions per citizen-day (seat gates: on their day), ``listed``
    [day] the listed share. Each grade gets one outcome from the gate's rule, and the listed one
    more where the listed are refused; seats split a grade's applicants in two.
    """
    g = rules.gates
    if g is None:
        return 0.0
    group = np.array([x.share for x in s.population.groups])
    cells = 0.0
    days = len(grades)
    for i in range(len(s.gates)):
        m = members * group[None, :, None] * per_group[None, :, i, None]  # [1, group, 1]
        pi = grades[:, None, :]  # [day, 1, grade]
        out = 1 - np.exp(m * np.log1p(-np.minimum(pi * (1 - listed[:, None, None]), 1 - 1e-12)))
        if g.refuse_listed[i]:
            out = out + 1 - np.exp(m * np.log1p(-np.minimum(pi * listed[:, None, None], 1 - 1e-12)))
        if g.seats[i] >= 0:
            on = np.arange(days) % 365 == g.allocation_day[i]
            out = 2 * out * on[:, None, None]
        cells += float(out.sum())
    return cells


def flows(s: Scenario, rules: Compiled, *, members: float, shards: int) -> Flows:
    """The expected events of the citizens of ``s`` (``rules`` compiled from it).

    ``members`` citizens in ``shards`` shards: they set how many entries each day's push holds.
    """
    t = rules.parameters
    days = s.run.days
    done, seen = behaviour_rates(s, t)
    changes = seen.copy()
    if t.den_behaviour >= 0:  # a report not dropped puts the accused on record
        changes[t.den_sanction] += seen[t.den_behaviour] * (1 - (1 - t.den_true) * t.den_verify)
    points = t.rule_points.astype(np.float64)
    moved = np.where(points != 0, 1.0, 0.0)
    capped = t.rule_cap >= 0
    yearly = changes * 365 * np.abs(points)
    moved[capped] = np.minimum(1.0, t.rule_cap[capped] / np.maximum(yearly[capped], 1e-300))
    shares = profile_shares(s)
    appeal = float(shares @ t.appeal_p) if t.appeal_days >= 0 else 0.0
    won = min(t.win_wrongful, t.win_deserved)
    delayed: list[tuple[int, float]] = []
    for k in range(t.n_behaviours):
        life, rate = int(t.rule_lifetime[k]), float(changes[k] * moved[k])
        sanction = points[k] < 0
        first = life == NO_LIMIT or life > t.appeal_days  # the appeal is decided first
        appealed = appeal if sanction and first and t.appeal_days >= 0 else 0.0
        if appealed > 0:
            delayed.append((t.appeal_days, rate * appealed))
        if life != NO_LIMIT:
            delayed.append((life, rate * (1 - appealed * won)))
    adults = s.population.households
    children = adults.children_mean / adults.adults_mean  # per citizen (heads keep them)
    applications = np.zeros(days)
    candidates: list[float] = []
    seat_children, seat_days = 0.0, 0
    granted: tuple[float, int] = (0.0, 0)
    loan_candidates = 0.0
    g = rules.gates
    decided = np.zeros(len(s.gates), np.bool_)  # gates that decide every day
    per_profile = np.zeros((len(shares), len(s.gates)))  # [profile, gate] per day
    seat_rate = np.zeros(len(s.gates))  # per citizen on a seat gate's day
    if g is not None:
        for i, gate in enumerate(s.gates):
            if g.seats[i] >= 0:
                on = np.arange(days) % 365 == g.allocation_day[i]
                applications += on * float(g.share[i]) * children
                seat_rate[i] = float(g.share[i]) * children
                candidates.append(0.0)
                seat_children += children
                seat_days += int(on.sum())
                continue
            per_profile[:, i] = g.rate[i] * g.accept[:, i]
            decided[i] = True
            if gate.applicant == "child":
                per_profile[:, i] *= children / MAX_CHILDREN
            candidates.append(float(g.rate[i]))
            if s.lending is not None and gate.name == s.lending.gate:
                granted = (float(shares @ per_profile[:, i]), s.lending.term_days)
                loan_candidates = float(g.rate[i])
        # Approvals that lift the income move citizens up a quintile (the next profile), where
        # they may apply more: the day's applications follow the profiles' shares as they drift.
        lifted = np.where(t.income_of_profile < 4, per_profile @ g.income_up, 0.0)
        drifting, each = shares.copy(), per_profile.sum(axis=1)
        for d in range(days):
            applications[d] += _dot(drifting, each)
            if lifted.any():
                up = drifting * lifted
                drifting -= up
                drifting[1:] += up[:-1]
    lists = None
    lr = rules.lists
    onset_rate = lawsuit_rate = 0.0
    if lr is not None:
        onset = float(shares @ lr.onset_accept) * lr.onset_rate
        bl = s.lists.blacklist
        lists = blacklist_course(
            days + (warm := bl.warm_up_days if bl is not None else 0), onset, lr.distress_days,
            lr.lawsuit_rate * lr.p_list, _listing_pmf(int(lr.term_by_group.max()), lr.exit_rate),
            members / shards, warm,
        )  # fmt: skip
        onset_rate, lawsuit_rate = lr.onset_rate, lr.lawsuit_rate
    gate_cells = 0.0
    if g is not None:
        by_group = np.zeros((t.n_groups, len(s.gates)))
        np.add.at(by_group, t.group_of_profile.astype(np.intp), shares[:, None] * per_profile)
        group = np.array([x.share for x in s.population.groups])
        by_group = np.where(decided, by_group / group[:, None], seat_rate)
        listed = np.zeros(days)
        if lists is not None:
            listed = np.cumsum(lists.entries - lists.exits)
        grades = grade_shares(s, t, changes * moved)
        gate_cells = _gate_cells(s, rules, grades, by_group, listed, members)
    return Flows(
        acts=float(done.sum()),
        changes=float(changes.sum()),
        delayed=delayed,
        gate_candidates=candidates,
        applications=applications,
        seat_children=seat_children,
        seat_days=seat_days,
        loans=granted,
        loan_candidates=loan_candidates,
        lists=lists,
        lawsuit_rate=lawsuit_rate,
        onset_rate=onset_rate,
        gate_cells=gate_cells,
    )


def company_flows(s: Scenario, rules: Compiled, *, members: float, shards: int) -> Flows:
    """The expected events of the companies of ``s``, as a population of their own."""
    cs, ct = rules.companies, rules.company_parameters
    assert cs is not None and ct is not None
    inner = Compiled(ct, None, None, None, None, None, None)
    out = flows(cs, inner, members=members, shards=shards)
    cl = rules.company_lists
    if cl is None:
        return out
    _, seen = behaviour_rates(cs, ct)
    listing = -float(np.expm1(-float(seen[cl.triggers].sum()) * cl.p_list))  # once a day
    lists = blacklist_course(
        s.run.days, 0.0, 0.0, listing, _listing_pmf(cl.term_days, cl.exit_rate), members / shards
    )
    if cl.joint:  # the representatives' releases wait in a queue of their own
        lists = Lists(lists.entries, lists.exits, 2 * lists.pending, 2 * lists.slices)
    return replace(out, lists=lists)


# --- The peak ------------------------------------------------------------------------------------


@dataclass
class Need:
    """Bytes a run holds: ``held`` all along, plus the largest of the moments in ``moments``."""

    held: dict[str, int] = field(default_factory=dict)
    moments: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # the panel's, expected over the run
    result: int = 0  # bytes the finished result holds once the run is gone

    @property
    def total(self) -> int:
        """Bytes at the peak."""
        return sum(self.held.values()) + max(self.moments.values(), default=0)

    @property
    def peak_moment(self) -> str:
        """The moment that holds the most."""
        return max(self.moments, key=lambda k: self.moments[k])

    def describe(self) -> str:
        """The terms, in MiB, for whoever checks the prediction."""
        held = ", ".join(f"{k} {v >> 20}" for k, v in self.held.items() if v >> 20)
        moments = ", ".join(f"{k} {v >> 20}" for k, v in self.moments.items())
        rows = ", ".join(f"{k} {v:,}" for k, v in self.rows.items())
        return f"held: {held}; moments: {moments} (MiB); rows: {rows}"


@dataclass
class _Population:
    """What one population (citizens, or companies) of a run holds, part by part."""

    held: dict[str, int]  # bytes held all along, by what holds them
    assemble: int  # bytes the result's assembly holds for a while
    checkpoint: int  # bytes a checkpoint copies while it is written
    result: int  # bytes the finished result holds: parts, population, tables
    ledger_rows: float  # the panel's over the run
    decision_rows: float
    kept: F64  # [part] bytes each part holds once cut
    cut: F64  # [part] bytes while it is cut
    open_: F64  # [part] bytes while its days are kept


def _aggregates(
    s: Scenario, t: Parameters, *, company_lists: bool, adapts: bool = True
) -> tuple[int, int, int, int]:
    """Bytes of a shard's aggregates: all, those the run writes, the largest, the gate counts.

    The largest is the largest array but the gate counts; those are two arrays of that size.
    """
    days, groups, k, grades = s.run.days, t.n_groups, t.n_behaviours, t.n_grades
    joint = s.companies is not None and s.companies.blacklist is not None
    cells = {
        "grades": (groups * grades, True),
        "points_sum": (groups, True),
        "acts": (groups * k * 3, True),
        "scored": (groups * k, True),
        "wrongful": (groups * k, True),
        "expired": (groups * k, True),
        "lists": (groups * len(LIST_COUNTS), s.lists.blacklist is not None or company_lists),
        "joint": (groups * 4, joint and s.companies.blacklist.joint_punishment),  # type: ignore[union-attr]
        "red": (groups * 2, s.lists.redlist is not None),
        "appeals": (groups * 4, s.appeals is not None),
        "denunciations": (groups * 4, s.denunciations is not None),
        "lending": (groups * len(LENDING_COUNTS), s.lending is not None),
        "attention": (groups * 3 * _adaptive(s), adapts and _adaptive(s) > 0),
        "thresholds": (len(s.gates) * groups, bool(_threshold_gates(s))),
    }
    gates = len(s.gates) * 4 * groups * grades * days * 8
    every = sum(n for n, _ in cells.values()) * days * 8 + 2 * gates
    written = sum(n for n, used in cells.values() if used) * days * 8 + 2 * gates
    largest = max(n for n, _ in cells.values()) * days * 8
    return every, written, largest, gates


def _adaptive(s: Scenario) -> int:
    """Sources whose attention adapts."""
    return sum(src.attention is not None for src in s.sources)


def _attention(s: Scenario, members: float) -> float:
    """Bytes of the adaptive sources' state: per block, group and source, never per citizen."""
    adaptive = [src.attention for src in s.sources if src.attention is not None]
    if not adaptive:
        return 0.0
    periods = max(1, *(a.window_days // a.period_days if a.window_days else 1 for a in adaptive))
    cells = -(-members // s.run.block_size) * len(s.population.groups)
    return cells * (len(adaptive) * (ATTENTION_CELL_BYTES + periods * ATTENTION_PERIOD_BYTES) + 16)


def _threshold_gates(s: Scenario) -> list[int]:
    """The gates that decide by a threshold (their thresholds are recorded daily)."""
    return [i for i, g in enumerate(s.gates) if g.policy is not None
            and g.policy.kind in BY_THRESHOLD]  # fmt: skip


def _learner_bytes(s: Scenario, shards: int) -> float:
    """Bytes of the lenders of a learned policy, one per block of citizens (0 without one)."""
    learned = [g.policy for g in s.gates if g.policy is not None and g.policy.kind == "learned"]
    if not learned:
        return 0.0
    blocks = -(-s.population.size // s.run.block_size) + shards  # a shard's edges may cut one
    bins = -(-(s.rules.ceiling - s.rules.floor + 1) // learned[0].bin_points)
    groups = len(s.population.groups)
    return float(blocks * groups * (bins * LEARNER_COUNT_BYTES + LEARNER_THRESHOLD_BYTES))


def _metrics_columns(s: Scenario, t: Parameters, adapts: bool = True) -> int:
    """Columns of the metrics table (metrics.metrics_table), group name included (as 2)."""
    k = t.n_behaviours
    columns = 6 + t.n_grades + 3 * k + 3 * k + len(s.sources)
    columns += 10 if s.lists.blacklist is not None else 0
    columns += 4 * (s.appeals is not None) + 4 * (s.denunciations is not None)
    columns += len(LENDING_COUNTS) if s.lending is not None else 0
    columns += 3 if s.lists.redlist is not None else 0
    columns += 6 + 10  # joint punishment; the companies' list columns
    columns += 3 * _adaptive(s) if adapts else 0
    columns += len(_threshold_gates(s))
    return columns


def _population(
    s: Scenario,
    t: Parameters,
    f: Flows,
    *,
    members: float,
    panel: float,
    shards: int,
    checkpoint_every: int | None,
    concatenated: bool,
    company_lists: bool = False,
    adapts: bool = True,  # False for companies, which never adapt their attention
) -> _Population:
    days, part_days = s.run.days, s.run.ledger_part_days
    capped = int((t.rule_cap >= 0).sum())
    remembers = t.memory_days >= 0
    per_member: float = STATE_BYTES + EARNED_BYTES * capped + MEMORY_BYTES * remembers
    per_member += WRONGFUL_BYTES if s.gates else 0
    per_member += APPLIED_BYTES if any(g.policy and g.policy.once for g in s.gates) else 0
    per_member += START_BYTES * panel if any(g.start for g in s.population.groups) else 0
    buffers = ACT_SLACK * members * f.acts * ACT_BYTES
    # Restorations and appeal decisions waiting, the panel's whole and the others' packed, and
    # the objects that hold each day's due on one later day, in each shard.
    pending = members * f.pending(days)
    queue = pending * (panel * PANEL_PENDING_BYTES + (1 - panel) * PACKED_BYTES)
    per_shard = members / shards
    for after, rate in f.delayed:
        waiting = min(after, days) * shards
        queue += waiting * -np.expm1(-rate * per_shard * panel) * RECORDS_OBJECT_BYTES
        queue += waiting * -np.expm1(-rate * per_shard * (1 - panel)) * PACKED_OBJECT_BYTES
    lists = loans = 0.0
    if f.lists is not None:
        lists = members * f.lists.pending * DUE_BYTES + shards * f.lists.slices * SLICE_BYTES
    granted, term = f.loans
    if granted > 0:
        loans = members * granted * min(term, days) * DUE_BYTES
        loans += shards * min(term, days) * SLICE_BYTES
    every, written, largest, gate_counts = _aggregates(
        s, t, company_lists=company_lists, adapts=adapts
    )
    held = {
        "state": members * per_member, "buffers": buffers, "pending": queue, "lists": lists,
        "loans": loans, "aggregates": shards * written,
    }  # fmt: skip
    if adapts and _adaptive(s):
        held["attention"] = _attention(s, members)
    if _learner_bytes(s, shards):
        held["learner"] = int(_learner_bytes(s, shards))
    if t.contagion:  # one int64 per block of each shard (a shard's last block may be partial)
        held["pressure"] = (members / s.run.block_size + shards) * PRESSURE_BYTES

    # A day's events (the last day, the busiest): its changes and restorations due, and the
    # blacklist's draws or the gates' candidates and decisions, whichever holds more. The gates'
    # outputs of a day (GateDay) live until the next day's are made: one is held all along, the
    # next is made beside it. A day's arrays are many and small, and once freed they stay in the
    # heap, which the larger arrays of a cut or of the assembly do not reuse: a day's bytes are
    # held all along too.
    rows = f.ledger_rows(days)
    due = sum(rate for after, rate in f.delayed if after < days)
    changes = members * rows[-1]
    day = changes * (RECORD_BYTES * (1 + concatenated) + CHANGE_BYTES)
    day += members * due * RECORD_BYTES
    blacklist = members * (f.onset_rate * ONSET_BYTES + f.lawsuit_rate * LAWSUIT_BYTES)
    drawn = [members * c for c in f.gate_candidates]
    gate_day = sum(drawn) * GATE_OUT_BYTES + members * f.loan_candidates * LOAN_OUT_BYTES
    gates = gate_day + max(drawn, default=0.0) * CANDIDATE_BYTES
    gates += members * panel * float(f.applications.max(initial=0.0)) * GATE_DAY_BYTES
    if f.seat_days:
        gates += members * f.seat_children * SEAT_BYTES
    day += max(blacklist, gates)
    held["gates"] = gate_day
    held["day"] = day

    # The panel's rows, part by part.
    parts = -(-days // part_days)
    ledger = np.add.reduceat(rows, np.arange(0, days, part_days)) * members * panel
    decisions = np.add.reduceat(f.applications, np.arange(0, days, part_days)) * members * panel
    kept = ledger * LEDGER_ROW_BYTES + decisions * DECISION_ROW_BYTES
    cut = ledger * LEDGER_CUT_BYTES + decisions * DECISION_CUT_BYTES
    open_ = ledger * LEDGER_DAY_BYTES + decisions * DECISION_DAY_BYTES
    assert len(kept) == parts

    # Assembly: every shard's aggregates copied, the metrics summed and tabled, the gate counts
    # summed (with the shards' stacked on the way) and their nonzero cells tabled; the population.
    metric_rows = days * t.n_groups
    table = metric_rows * _metrics_columns(s, t, adapts) * 8
    summed = every - 2 * gate_counts
    nonzero = min(gate_counts / 8, f.gate_cells)
    gate_table = (shards + 2) * gate_counts + nonzero * GATE_COUNT_BYTES
    assemble = shards * every + summed + table + max(shards * largest, gate_table)
    assemble += members * panel * PANEL_BYTES
    result = kept.sum() + members * panel * PANEL_BYTES + table + nonzero * GATE_ROW_BYTES

    # A checkpoint copies the panel's restorations and the list events and loans waiting (the
    # packed restorations are written piece by piece), and the open part's days when one is open.
    checkpoint = pending * panel * PANEL_PENDING_BYTES
    if f.lists is not None:
        checkpoint += members * f.lists.pending * SNAPSHOT_DUE_BYTES
        checkpoint += f.lists.slices * SNAPSHOT_SLICE_BYTES  # one shard's queues at a time
    if granted > 0:
        checkpoint += members * granted * min(term, days) * SNAPSHOT_DUE_BYTES
        checkpoint += min(term, days) * SNAPSHOT_SLICE_BYTES
    if checkpoint_every:
        open_days = max(
            (d % part_days for d in range(checkpoint_every, days, checkpoint_every)), default=0
        )
        checkpoint += float(open_[-1]) * open_days / part_days
    return _Population(
        held={k: int(v) for k, v in held.items()}, assemble=int(assemble),
        checkpoint=int(checkpoint), result=int(result), ledger_rows=float(ledger.sum()),
        decision_rows=float(decisions.sum()),
        kept=kept, cut=cut, open_=open_,
    )  # fmt: skip


def default_shards(s: Scenario, threads: int | None = None) -> int:
    """The shards a run in one process steps: one per thread, at most one per block."""
    blocks = -(-s.population.size // s.run.block_size)
    return max(1, min(threads or os.cpu_count() or 1, blocks))


def need(
    s: Scenario,
    *,
    checkpoints: bool | None = None,
    shards: int | None = None,
    checkpoint_every: int | None = None,
) -> Need:
    """What a run of ``s`` in one process holds, term by term (see :func:`predict_bytes`)."""
    if checkpoints is None:
        from carnet.runs.directory import writes_checkpoints

        checkpoints = writes_checkpoints(s, checkpoint_every)
    every = (checkpoint_every or s.run.checkpoint_days) if checkpoints else None
    shards = shards or default_shards(s)
    rules = Compiled.build(s)
    n = float(s.population.size)
    concatenated = bool(s.lists.blacklist or s.lending or s.companies)
    f = flows(s, rules, members=n, shards=shards)
    out = Need()
    out.held["fixed"] = FIXED_BYTES
    populations = []
    cs, ct = rules.companies, rules.company_parameters
    if cs is not None and ct is not None:
        m = float(company_count(s))
        cf = company_flows(s, rules, members=m, shards=shards)
        cl = rules.company_lists
        if cl is not None and cl.joint and cf.lists is not None:
            f = replace(f, joint=(cf.lists.entries + cf.lists.exits) * m / n)
        companies = _population(
            cs, ct, cf, members=m, panel=panel_probability(cs), shards=shards,
            checkpoint_every=every, concatenated=cl is not None, company_lists=cl is not None,
            adapts=False,
        )  # fmt: skip
        out.held["companies staff"] = int(m * STAFF_BYTES)
        out.held.update({f"companies {k}": v for k, v in companies.held.items()})
        out.rows["company ledger"] = int(companies.ledger_rows)
        populations.append(companies)
    citizens = _population(
        s, rules.parameters, f, members=n, panel=panel_probability(s), shards=shards,
        checkpoint_every=every, concatenated=concatenated,
    )  # fmt: skip
    out.held.update({f"citizens {k}": v for k, v in citizens.held.items()})
    out.rows = {"ledger": int(citizens.ledger_rows), "decisions": int(citizens.decision_rows),
                **out.rows}  # fmt: skip
    populations.append(citizens)
    kept: F64 = np.sum([p.kept for p in populations], axis=0)
    cut: F64 = np.sum([p.cut for p in populations], axis=0)
    open_: F64 = np.sum([p.open_ for p in populations], axis=0)
    before = np.concatenate([[0.0], np.cumsum(kept)[:-1]])  # parts cut before each
    out.moments["cut"] = int((before + cut).max())
    last = float(before[-1]) + float(open_[-1])
    out.moments["open"] = int(last)
    out.moments["assemble"] = int(kept.sum() + sum(p.assemble for p in populations))
    if checkpoints:
        out.moments["checkpoint"] = int(last + sum(p.checkpoint for p in populations))
    out.result = sum(p.result for p in populations)
    return out


def predict_bytes(
    s: Scenario, *, checkpoints: bool | None = None, shards: int | None = None
) -> int:
    """Bytes a run of ``s`` is expected to need at its peak.

    ``checkpoints``: whether the run writes checkpoints, which copy its queues while they are
    written (default: whether ``run.checkpoint_days`` asks for any before the last day).
    ``shards``: the shards it steps in one process (default: one per core, at most one per block).
    """
    return need(s, checkpoints=checkpoints, shards=shards).total


def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit if any."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            room = int(limit) - used
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    if available is None and hasattr(os, "sysconf"):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            available = None
    return available


def gib(n: float) -> str:
    """Bytes as a short human figure."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(
    s: Scenario,
    limit: int | None = None,
    *,
    share: float = 1.0,
    checkpoints: bool | None = None,
    then: Scenario | None = None,
) -> int:
    """Refuse, before anything is allocated, a run predicted not to fit; return the prediction.

    ``share`` is the part of the citizens this process runs (a shard of a sharded run);
    ``checkpoints`` as for :func:`predict_bytes`. ``then``: a second scenario simulated in the
    same process while the first one's result is kept (the lab's run without responses).
    """
    found = need(s, checkpoints=checkpoints)
    needed = FIXED_BYTES + int((found.total - FIXED_BYTES) * share)
    if then is not None:
        needed = max(needed, found.result + predict_bytes(then, checkpoints=False))
    room = limit if limit is not None else available_bytes()
    if room is not None and needed > room and share < 1.0:
        raise RunError(
            f"a shard of {s.name} ({share:.1%} of its citizens) needs about {gib(needed)} of "
            f"memory and this worker has {gib(room)} available: run more, smaller shards"
        )
    if room is not None and needed > room:
        raise RunError(_too_large(s, needed, room, "."))
    return needed


def _too_large(s: Scenario, need: int, room: int, why: str) -> str:
    """The refusal of a run that cannot fit here: what it needs, and the cluster it would take."""
    # Shards on a cluster split the citizens; each worker also loads the libraries.
    machines = -(-(need - FIXED_BYTES) // max(1, room - FIXED_BYTES))
    return (
        f"scenario {s.name} with {s.population.size:,} citizens needs about {gib(need)} of "
        f"memory; {gib(room)} is available{why} Lower --population, or split the run into "
        f"shards on a Dask cluster of {machines} or more such machines: carnet run {s.name} "
        f"--shards {2 * machines} --scheduler tcp://HOST:PORT"
    )


@dataclass(frozen=True)
class ShardFit:
    """How a run too large for one process fits: as shards, ``workers`` of them at a time."""

    shards: int
    workers: int
    need: int  # bytes the run would need in one process
    room: int  # bytes available
    per_shard: int  # bytes one shard's process is predicted to need

    def why(self, s: Scenario) -> str:
        """Why the run needs shards."""
        return (
            f"{s.name} with {s.population.size:,} citizens needs about "
            f"{self.need / 2**30:.2f} GiB in one process and {self.room / 2**30:.2f} GiB is "
            "available"
        )

    def describe(self, s: Scenario) -> str:
        """One line for the person who started the run."""
        return (
            f"{self.why(s)}: running it as {self.shards} shards, {self.workers} at a time, "
            f"about {gib(self.per_shard)} each (the same results)"
        )


def shards_to_fit(
    s: Scenario,
    limit: int | None = None,
    workers: int | None = None,
    *,
    checkpoints: bool = False,
) -> ShardFit | None:
    """None if ``s`` fits in one process; else the fewest shards that fit ``workers`` at a time.

    Each worker process holds one shard and the libraries; the coordinator holds the libraries.
    Shards come in whole rounds of workers (so that no round runs half empty), and are whole
    blocks of citizens, so there are at most as many shards as blocks. ``checkpoints``: whether
    the shards write checkpoints (a shard is the unit of recovery without them). In one process,
    the run is judged with the checkpoints ``s`` asks for.

    Raises:
        RunError: not even shards of one block each would fit (the message says what would).
    """
    room = limit if limit is not None else available_bytes()
    if room is None or predict_bytes(s) <= room:
        return None
    need = predict_bytes(s, checkpoints=checkpoints)
    workers = max(1, workers or os.cpu_count() or 1)
    blocks = -(-s.population.size // s.run.block_size)
    spare = int(PLAN_SHARE * room) - (workers + 1) * FIXED_BYTES
    if spare > 0:
        shards = -(-workers * (need - FIXED_BYTES) // spare)
        shards = max(workers, -(-shards // workers) * workers)
        if shards <= blocks:
            per_shard = FIXED_BYTES + (need - FIXED_BYTES) // shards
            return ShardFit(shards, min(workers, shards), need, room, per_shard)
    why = f", too little even for shards of one block each, {workers} at a time."
    raise RunError(_too_large(s, need, room, why))
