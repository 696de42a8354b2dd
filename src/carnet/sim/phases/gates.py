"""gate: applications for loans, jobs, tickets, perks and school seats, decided by grade and list.

Applications arrive as events at each gate's rate (per adult, or per school-age child, whose parent
applies). A gate's rule is data: blacklisted applicants refused, a worst grade admitted, the redlist
required, a price by grade; or, once the blacklisted are refused, a policy of
:mod:`carnet.sim.policies` (a threshold on points, a lottery, thresholds chosen or learned), whose
refusals are counted as ``refused_grade``. Gates with seats per region take applications once a
year, on their allocation day, and give the seats region by region to the best parent grades
first, then by lottery; that allocation spans shards, so the simulation runs it after every shard
has stepped (:meth:`carnet.sim.simulation.Simulation.advance`).
Every application gets exactly one decision, counted by gate × outcome × group × grade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import AHEAD, kernel, prefetch
from carnet.sim.parameters import POINTS_OFFSET, Lookups, Parameters
from carnet.sim.phases.events import candidates
from carnet.sim.phases.lists import redlisted_grades
from carnet.sim.policies import GRADE, LEARNED, LOTTERY, Learner, PolicyRules
from carnet.sim.population import DISTRESSED, JOINT, LISTED, MAX_CHILDREN, PANEL, WRONGFUL, State
from carnet.sim.records import Records
from carnet.sim.rng import stream_key, uniform
from carnet.sim.streams import GATE, seed_key

APPROVED, REFUSED_BLACKLISTED, REFUSED_GRADE, REFUSED_CAPACITY = range(4)
OUTCOMES = ("approved", "refused_blacklisted", "refused_grade", "refused_capacity")

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GateRules:
    """Every gate's rule as arrays, indexed by gate."""

    names: list[str]
    keys: npt.NDArray[np.uint64]
    rate: F64  # candidate applications per citizen-day, at the largest multiplier
    accept: F64  # [profile, gate] own multiplier / largest
    child: npt.NDArray[np.bool_]
    refuse_listed: npt.NDArray[np.bool_]
    require_red: npt.NDArray[np.bool_]
    worst_grade: npt.NDArray[np.int64]  # index of the worst grade admitted
    price: F64  # [gate, grade]
    seats: I64  # per region per year, or -1
    allocation_day: I64
    share: F64  # for seat gates: chance that each child applies on the allocation day
    redlisted: npt.NDArray[np.bool_]  # [grade]
    income_up: F64  # chance that approval lifts the income quintile
    distress_refused: F64  # chance that refusal throws the applicant into distress
    policy: PolicyRules  # how each gate decides once the blacklisted are refused

    @classmethod
    def build(cls, s: Scenario, t: Parameters) -> GateRules | None:
        """The gates of ``s``, or None if it has none."""
        if not s.gates:
            return None
        groups = [g.name for g in s.population.groups]
        grades = [g.name for g in s.grades]
        n = len(s.gates)
        accept = np.zeros((t.n_profiles, n))
        rate = np.zeros(n)
        for i, gate in enumerate(s.gates):
            by_group = np.array([gate.by_group.get(g, 1.0) for g in groups])
            by_income = np.asarray(gate.by_income or [1.0] * 5)
            mult = by_group[t.group_of_profile] * by_income[t.income_of_profile]
            top = float(mult.max())
            accept[:, i] = mult / top if top > 0 else 0.0
            per_day = gate.applications_per_year * top / 365.0
            rate[i] = per_day * (MAX_CHILDREN if gate.applicant == "child" else 1)
        return cls(
            names=[g.name for g in s.gates],
            keys=GATE.ids([g.name for g in s.gates]),
            rate=rate,
            accept=accept,
            child=np.array([g.applicant == "child" for g in s.gates]),
            refuse_listed=np.array([g.refuse_blacklisted for g in s.gates]),
            require_red=np.array([g.require_redlist for g in s.gates]),
            worst_grade=np.array(
                [grades.index(g.min_grade) if g.min_grade else len(grades) - 1 for g in s.gates]
            ),
            price=np.array([[g.price_by_grade.get(gr, 1.0) for gr in grades] for g in s.gates]),
            seats=np.array(
                [-1 if g.seats_per_region is None else g.seats_per_region for g in s.gates]
            ),
            allocation_day=np.array([g.allocation_day for g in s.gates]),
            share=np.array([min(1.0, g.applications_per_year) for g in s.gates]),
            redlisted=redlisted_grades(s),
            income_up=np.array([g.income_up_if_approved for g in s.gates]),
            distress_refused=np.array(
                [g.distress_if_refused if s.lists.blacklist else 0.0 for g in s.gates]
            ),
            policy=PolicyRules.build(s, t),
        )


# The helpers below take scalars only: numba counts references to every array passed to a
# function, inlined or not, and those atomic counts per application cost more than the decision
# (and made two threads, which share the tables, contend for the same counters).
@kernel(inline=True)
def _judge(
    flags: np.uint8, grade: int, refuse_listed: bool, worst: int, require_red: bool, red: bool
) -> int:  # pragma: no cover - compiled
    """A gate's decision for a citizen with these flags and this grade (``red``: redlisted)."""
    if refuse_listed and flags & (LISTED | JOINT):
        return REFUSED_BLACKLISTED
    if grade > worst or (require_red and not red):
        return REFUSED_GRADE
    return APPROVED


@kernel(inline=True)
def _judge_policy(
    kind: int,
    flags: np.uint8,
    grade: int,
    points: int,
    threshold: int,
    tie: float,
    probability: float,
    v: float,
    refuse_listed: bool,
    worst: int,
    require_red: bool,
    red: bool,
) -> int:  # pragma: no cover - compiled
    """A gate's decision by its policy; ``v`` is the application's own uniform (see policies)."""
    if kind == GRADE:
        return _judge(flags, grade, refuse_listed, worst, require_red, red)
    if refuse_listed and flags & (LISTED | JOINT):
        return REFUSED_BLACKLISTED
    if kind == LOTTERY:
        return APPROVED if v < probability else REFUSED_GRADE
    if points > threshold or (points == threshold and v < tie):
        return APPROVED
    return REFUSED_GRADE


@kernel(inline=True)
def _wrongly_refused(
    outcome: int,
    flags: np.uint8,
    true_grade: int,
    true_red: bool,
    refuse_listed: bool,
    worst: int,
    require_red: bool,
) -> bool:  # pragma: no cover - compiled
    """Whether a refusal would have been an approval had only true records counted.

    ``true_grade`` is the grade of the points minus the citizen's wrongful balance.
    """
    if outcome in (APPROVED, REFUSED_CAPACITY):
        return False
    if flags & WRONGFUL:  # listed with a company for a violation it did not commit
        flags &= ~(JOINT | WRONGFUL)
    return _judge(flags, true_grade, refuse_listed, worst, require_red, true_red) == APPROVED


@kernel(inline=True)
def _wrongly_refused_by_policy(
    outcome: int,
    kind: int,
    flags: np.uint8,
    true_points: int,
    threshold: int,
    tie: float,
    probability: float,
    v: float,
    refuse_listed: bool,
) -> bool:  # pragma: no cover - compiled
    """The same for a gate with a policy: its decision on the true points, with the same ``v``."""
    if outcome in (APPROVED, REFUSED_CAPACITY):
        return False
    if flags & WRONGFUL:
        flags &= ~(JOINT | WRONGFUL)
    decided = _judge_policy(kind, flags, 0, true_points, threshold, tie, probability, v,
                            refuse_listed, 0, False, False)  # fmt: skip
    return decided == APPROVED


@kernel(inline=True)
def _true_points(points: int, wrongful: int) -> int:  # pragma: no cover - compiled
    """Points without the wrongful balance, within int16."""
    return min(max(int(points) - int(wrongful), -32768), 32767)


@kernel()
def _carry(
    citizen: I64,
    before: npt.NDArray[np.int16],
    after: npt.NDArray[np.int16],
    truly: npt.NDArray[np.bool_],
    n: int,
    wrongful: npt.NDArray[np.int16],
) -> None:  # pragma: no cover - compiled
    for j in range(n):
        if not truly[j]:
            wrongful[citizen[j]] += after[j] - before[j]


def update_wrongful_balance(state: State, changes: Records) -> None:
    """Add today's point changes that rest on untrue records to each citizen's wrongful balance.

    A wrongful record's expiry, won appeal or release carries its truth, so it takes back what the
    record added; the balance is what a truthful record would differ by, for the gates to judge.
    """
    if len(state.wrongful) and changes.n:
        _carry(
            changes.citizen, changes.before, changes.after, changes.truly_done, changes.n,
            state.wrongful,
        )  # fmt: skip


class GateTables(NamedTuple):
    """What the gates' kernels read of :class:`GateRules`: its arrays, indexed by gate."""

    keys: npt.NDArray[np.uint64]
    accept: F64
    child: npt.NDArray[np.bool_]
    refuse_listed: npt.NDArray[np.bool_]
    require_red: npt.NDArray[np.bool_]
    worst_grade: npt.NDArray[np.int64]
    redlisted: npt.NDArray[np.bool_]
    income_up: F64
    distress_refused: F64
    share: F64
    policy_kind: I64
    policy_threshold: I64  # [gate, group]
    policy_tie: F64  # [gate, group]
    policy_probability: F64  # [gate, group]
    once_bit: I64

    @classmethod
    def of(cls, r: GateRules) -> GateTables:
        """The tables of ``r``."""
        p = r.policy
        return cls(
            r.keys, r.accept, r.child, r.refuse_listed, r.require_red, r.worst_grade, r.redlisted,
            r.income_up, r.distress_refused, r.share, p.kind, p.threshold, p.tie, p.probability,
            p.once_bit,
        )  # fmt: skip


class Decisions(NamedTuple):
    """What a gate's kernel hands back: the panel's decisions, the distressed, the loans."""

    citizen: I64  # the panel's applicants
    outcome: I64
    grade: I64
    wrongful: I64  # 1 for refusals that true records undo
    distressed: I64  # refused into distress
    loan: I64  # granted a loan
    loan_points: I64  # their points then


@kernel()
def _decide(
    gate: int,
    applicant: I64,
    u: F64,
    is_loan: bool,
    state: State,
    look: Lookups,
    tables: GateTables,
    counts: I64,
    wrong_counts: I64,
    out: Decisions,
    learned: I64,
    first_block: int,
    block_size: int,
) -> tuple[int, int, int]:  # pragma: no cover - compiled
    points, profile, flags = state.points, state.profile, state.flags
    kind, once_bit = tables.policy_kind[gate], tables.once_bit[gate]
    thresholds, ties, chances = (
        tables.policy_threshold,
        tables.policy_tie,
        tables.policy_probability,
    )
    applied = state.applied
    children, wrongful = state.children, state.wrongful
    grade_of_points, income_of_profile = look.grade_of_points, look.income_of_profile
    redlisted, accept = tables.redlisted, tables.accept
    child, income_up, distress_refused = (
        tables.child[gate],
        tables.income_up[gate],
        tables.distress_refused[gate],
    )
    listed_out, worst, red_only = (
        tables.refuse_listed[gate],
        tables.worst_grade[gate],
        tables.require_red[gate],
    )
    n = n_distressed = n_loans = 0
    for j in range(len(applicant)):
        if j + AHEAD < len(applicant):
            ahead = applicant[j + AHEAD]
            prefetch(profile, ahead)
            prefetch(points, ahead)
            prefetch(flags, ahead)
        c = applicant[j]
        p = accept[profile[c], gate]
        if child:
            p *= children[c] / MAX_CHILDREN  # the parent applies for each child
        if u[j, 0] >= p:
            continue
        if once_bit >= 0:  # one application per person: later ones are not made
            bit = np.uint8(1 << once_bit)
            if applied[c] & bit:
                continue
            applied[c] |= bit
        grade = int(grade_of_points[points[c] + POINTS_OFFSET])
        f = flags[c]
        g = look.group_of_profile[profile[c]]
        v, threshold = 0.0, 0
        if kind == GRADE:
            outcome = _judge(f, grade, listed_out, worst, red_only, redlisted[grade])
        else:
            v = u[j, 0] / p  # uniform on [0, 1) again, given that the application is made
            threshold = int(thresholds[gate, g])
            if kind == LEARNED:
                threshold = int(learned[(state.first_citizen + c) // block_size - first_block, g])
            outcome = _judge_policy(kind, f, grade, int(points[c]), threshold, ties[gate, g],
                                    chances[gate, g], v, listed_out, worst, red_only,
                                    redlisted[grade])  # fmt: skip
        counts[gate, outcome, g, grade] += 1
        wrong = False
        if outcome != APPROVED:
            true_points = _true_points(points[c], wrongful[c])
            true_grade = int(grade_of_points[true_points + POINTS_OFFSET])
            if kind == GRADE:
                wrong = _wrongly_refused(outcome, f, true_grade, redlisted[true_grade],
                                         listed_out, worst, red_only)  # fmt: skip
            else:
                wrong = _wrongly_refused_by_policy(outcome, kind, f, true_points, threshold,
                                                   ties[gate, g], chances[gate, g], v,
                                                   listed_out)  # fmt: skip
        if wrong:
            wrong_counts[gate, outcome, g, grade] += 1
        if flags[c] & PANEL:
            out.citizen[n], out.outcome[n], out.grade[n], out.wrongful[n] = c, outcome, grade, wrong
            n += 1
        # Feedback: a job may lift the income class; a refusal may bring financial distress.
        if outcome == APPROVED:
            if u[j, 1] < income_up and income_of_profile[profile[c]] < 4:
                profile[c] += 1
            if is_loan:
                out.loan[n_loans], out.loan_points[n_loans] = c, points[c]
                n_loans += 1
        elif u[j, 1] < distress_refused and not flags[c] & DISTRESSED:
            flags[c] |= DISTRESSED
            out.distressed[n_distressed] = c
            n_distressed += 1
    return n, n_distressed, n_loans


class SeatApplications(NamedTuple):
    """What the once-a-year pass hands back: every application, and how it fared so far."""

    citizen: I64
    outcome: I64
    grade: I64
    wrongful: I64
    region: I64
    lottery: F64


@kernel()
def _seat_applications(
    gate: int,
    seed: np.uint64,
    day: int,
    block_size: int,
    state: State,
    look: Lookups,
    tables: GateTables,
    counts: I64,
    wrong_counts: I64,
    out: SeatApplications,
) -> int:  # pragma: no cover - compiled
    """The once-a-year pass: every child may apply; refusals by list and grade are final."""
    points, profile, flags, children = state.points, state.profile, state.flags, state.children
    wrongful, grade_of_points, redlisted = state.wrongful, look.grade_of_points, tables.redlisted
    first, key, share = state.first_citizen, tables.keys[gate], tables.share[gate]
    listed_out, worst, red_only = (
        tables.refuse_listed[gate],
        tables.worst_grade[gate],
        tables.require_red[gate],
    )
    n = 0
    stream = np.uint64(0)
    for c in range(len(children)):
        if (first + c) % block_size == 0 or c == 0:
            stream = stream_key(seed, key, day, (first + c) // block_size)
        for _ in range(children[c]):
            stream, u = uniform(stream)
            stream, lottery = uniform(stream)
            if u >= share:
                continue
            grade = int(grade_of_points[points[c] + POINTS_OFFSET])
            f = flags[c]
            outcome = _judge(f, grade, listed_out, worst, red_only, redlisted[grade])
            wrong = False
            if outcome != APPROVED:
                true_points = _true_points(points[c], wrongful[c])
                true_grade = int(grade_of_points[true_points + POINTS_OFFSET])
                wrong = _wrongly_refused(outcome, f, true_grade, redlisted[true_grade],
                                         listed_out, worst, red_only)  # fmt: skip
            if outcome != APPROVED:
                g = look.group_of_profile[profile[c]]
                counts[gate, outcome, g, grade] += 1
                if wrong:
                    wrong_counts[gate, outcome, g, grade] += 1
            out.citizen[n], out.outcome[n], out.grade[n], out.wrongful[n] = c, outcome, grade, wrong
            out.region[n], out.lottery[n] = look.region_of_profile[profile[c]], lottery
            n += 1
    return n


@dataclass
class SeatPool:
    """A shard's applications still competing for seats, for the simulation to allocate."""

    gate: int
    citizen: I64  # local
    grade: I64
    region: I64
    lottery: F64
    group: I64
    panel: npt.NDArray[np.bool_]  # whether each applicant's decision goes into the ledger


@dataclass
class GateDay:
    """What a shard's gates decided today, and the seat applications awaiting allocation."""

    distressed: list[I64] = field(default_factory=list)  # refused into distress today
    loans: list[tuple[I64, I64]] = field(default_factory=list)  # granted: citizen, points then
    citizen: list[I64] = field(default_factory=list)  # local indices of panel applicants
    gate: list[I64] = field(default_factory=list)
    outcome: list[I64] = field(default_factory=list)
    grade: list[I64] = field(default_factory=list)
    wrongful: list[I64] = field(default_factory=list)  # 1 for refusals that true records undo
    pools: list[SeatPool] = field(default_factory=list)

    def add(self, gate: int, citizen: I64, outcome: I64, grade: I64, wrongful: I64) -> None:
        """Keep the panel's decisions."""
        self.citizen.append(citizen)
        self.wrongful.append(wrongful)
        self.gate.append(np.full(len(citizen), gate, np.int64))
        self.outcome.append(outcome)
        self.grade.append(grade)


def gate_phase(
    state: State,
    t: Parameters,
    rules: GateRules,
    seed: int,
    block_size: int,
    day: int,
    counts: I64,
    wrong_counts: I64,
    loan_gate: int = -1,
    learner: Learner | None = None,
    thresholds: I64 | None = None,
) -> GateDay:
    """Decide today's applications at every gate; pool seat applications on allocation days.

    ``counts`` ([gate, outcome, group, grade]) receives every decision, and ``wrong_counts`` the
    refusals that would have been approvals had only true records counted. ``thresholds``
    ([gate, group], when a gate decides by a threshold) receives the thresholds in force: a
    learned gate's summed over this shard's blocks, a fixed one's only in the shard of citizen 0,
    so that shards add up to the threshold (and, learned, to the sum over every block).
    """
    out = GateDay()
    look, tables = t.lookups(), GateTables.of(rules)
    policy = rules.policy
    n_groups = t.n_groups
    learned = learner.threshold if learner is not None else np.zeros((0, n_groups), np.int64)
    first_block = learner.first_block if learner is not None else 0
    if thresholds is not None:
        for i in np.flatnonzero(policy.thresholds_recorded):
            if policy.kind[i] == LEARNED:
                thresholds[i] = learned.sum(axis=0)
            elif state.first_citizen == 0:
                thresholds[i] = policy.threshold[i]
    for gate in range(len(rules.names)):
        if rules.seats[gate] >= 0:
            if day % 365 == rules.allocation_day[gate]:
                out.pools.append(
                    _seat_pool(
                        state, t, rules, seed, block_size, day, gate, counts, wrong_counts, out
                    )
                )
            continue
        applicant, u = candidates(
            seed, rules.keys[gate], day, state.first_citizen, state.size, block_size,
            rules.rate[gate], 2,
        )  # fmt: skip
        m = len(applicant)
        citizen, outcome, grade, wrong, distressed, loan, loan_points = (
            np.empty(m, np.int64) for _ in range(7)
        )
        decided = Decisions(citizen, outcome, grade, wrong, distressed, loan, loan_points)
        n, n_distressed, n_loans = _decide(
            gate,
            applicant,
            u,
            gate == loan_gate,
            state,
            look,
            tables,
            counts,
            wrong_counts,
            decided,
            learned,
            first_block,
            block_size,
        )
        out.add(gate, citizen[:n], outcome[:n], grade[:n], wrong[:n])
        out.distressed.append(distressed[:n_distressed])
        if n_loans:
            out.loans.append((loan[:n_loans], loan_points[:n_loans]))
    return out


def _seat_pool(
    state: State, t: Parameters, rules: GateRules, seed: int, block_size: int, day: int, gate: int,
    counts: I64, wrong_counts: I64, out: GateDay,
) -> SeatPool:  # fmt: skip
    n_max = int(state.children.sum())
    citizen, outcome, grade, wrong, region = (np.empty(n_max, np.int64) for _ in range(5))
    lottery = np.empty(n_max)
    applications = SeatApplications(citizen, outcome, grade, wrong, region, lottery)
    n = _seat_applications(
        gate, seed_key(seed), day, block_size, state, t.lookups(), GateTables.of(rules), counts,
        wrong_counts, applications,
    )  # fmt: skip
    refused = outcome[:n] != APPROVED
    panel = (state.flags[citizen[:n]] & PANEL) > 0
    keep = refused & panel
    out.add(gate, citizen[:n][keep], outcome[:n][keep], grade[:n][keep], wrong[:n][keep])
    waiting = ~refused
    kept = citizen[:n][waiting]
    return SeatPool(
        gate, kept, grade[:n][waiting], region[:n][waiting], lottery[:n][waiting],
        t.group_of_profile[state.profile[kept]].astype(np.int64),
        (state.flags[kept] & PANEL) > 0,
    )  # fmt: skip


def allocate_seats(
    pools: list[SeatPool], firsts: list[int], seats: int
) -> list[npt.NDArray[np.bool_]]:
    """Give ``seats`` per region to the best grades, then the lottery, across every shard's pool.

    ``pools[i]`` is shard ``i``'s pool for one gate and ``firsts[i]`` its first citizen; returns,
    per shard, which of its applications won a seat. Ties in grade and lottery fall to the lower
    citizen id, so the allocation does not depend on how citizens are split into shards.
    """
    region = np.concatenate([p.region for p in pools])
    grade = np.concatenate([p.grade for p in pools])
    lottery = np.concatenate([p.lottery for p in pools])
    citizen = np.concatenate([p.citizen + first for p, first in zip(pools, firsts, strict=True)])
    order = np.lexsort((citizen, lottery, grade, region))
    ranked_region = region[order]
    rank = np.arange(len(order)) - np.searchsorted(ranked_region, ranked_region, side="left")
    won = np.empty(len(order), dtype=np.bool_)
    won[order] = rank < seats
    sizes = np.cumsum([0] + [len(p.citizen) for p in pools])
    return [won[a:b] for a, b in pairwise(sizes)]
