"""Loans: granted at a gate, repaid or defaulted when their term ends.

The chance of repayment is a function of the borrower's points when the loan was granted (a
logistic curve, a table by grade, or a table by points interpolated linearly, for every group or
per group), so the score-gated lending experiments of the literature can
be re-run: who is refused, who repays, what the lender earns. Profit is counted exactly, in basis
points of one loan's principal: a repaid loan earns the interest (times the gate's price for the
borrower's grade), a default loses the principal.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import kernel
from carnet.sim.parameters import POINTS_OFFSET, Lookups, Parameters
from carnet.sim.policies import repay_curve
from carnet.sim.population import DISTRESSED, State
from carnet.sim.records import RecordColumns, Records
from carnet.sim.rng import side_uniform, stream_key
from carnet.sim.streams import LOAN_REPAY, seed_key

LOAN_REPAID, LOAN_DEFAULT = 6, 7  # kinds of point change
#: Daily lending counts, by group: the columns of the metrics that this phase feeds.
COUNTS = ("loans_due", "loans_repaid", "loans_defaulted", "lender_profit_bp")
LOANS_DUE, LOANS_REPAID, LOANS_DEFAULTED, LENDER_PROFIT_BP = range(4)
BASIS = 10_000  # one loan's principal, in basis points

I64 = npt.NDArray[np.int64]


class LendingRules(NamedTuple):
    """A scenario's lending as numbers: a named tuple, which the kernel takes whole."""

    gate: int
    term_days: int
    intercept: float
    slope: float
    by_grade: npt.NDArray[np.float64]  # repayment by grade; NaN: use the logistic curve
    # With a repayment table or a group's own model: repayment by [group, points - floor]
    # (empty otherwise, and the two lines above decide).
    by_points: npt.NDArray[np.float64]
    floor: int
    interest_bp: npt.NDArray[np.int64]  # [grade] interest earned on a repaid loan
    points_repaid: int
    points_default: int
    distress: bool
    key: np.uint64
    behaviour: int  # ledger code of "loan"
    source: int  # ledger code of "lender"

    @classmethod
    def build(cls, s: Scenario, t: Parameters) -> LendingRules | None:
        """The lending of ``s``, or None if it has none."""
        lend = s.lending
        if lend is None:
            return None
        gate = [g.name for g in s.gates].index(lend.gate)
        price = s.gates[gate].price_by_grade
        grades = [g.name for g in s.grades]
        return cls(
            gate=gate,
            term_days=lend.term_days,
            intercept=lend.repay_intercept,
            slope=lend.repay_per_point,
            by_grade=np.array([lend.repay_by_grade.get(g, np.nan) for g in grades]),
            by_points=(
                repay_curve(s, t)
                if lend.repay_table is not None or lend.repay_by_group
                else np.empty((0, 0))
            ),
            floor=s.rules.floor,
            interest_bp=np.array(
                [round(lend.interest * price.get(g, 1.0) * BASIS) for g in grades], np.int64
            ),
            points_repaid=lend.points_on_repayment,
            points_default=lend.points_on_default,
            distress=lend.distress_on_default and s.lists.blacklist is not None,
            key=LOAN_REPAY.id,
            behaviour=len(s.behaviours) + 1,
            source=len(s.sources) + 1,
        )

    def repay_probability(
        self,
        points: npt.NDArray[np.int64],
        t: Parameters,
        group: npt.NDArray[np.int64] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Chance of repayment for borrowers with these points when the loan was granted.

        ``group`` (each borrower's) is read only with a table of repayment by points.
        """
        if self.by_points.size:
            assert group is not None
            by_points: npt.NDArray[np.float64] = self.by_points[group, points - self.floor]
            return by_points
        table = self.by_grade[t.grade_of_points[points + POINTS_OFFSET]]
        logistic = 1.0 / (1.0 + np.exp(-(self.intercept + self.slope * (points - 1000))))
        return np.where(np.isnan(table), logistic, table)


@kernel()
def _settle(
    citizen: I64,
    nth: I64,
    points_then: I64,
    repay_p: npt.NDArray[np.float64],
    day: int,
    seed: np.uint64,
    state: State,
    rules: LendingRules,
    look: Lookups,
    counts: I64,
    out: RecordColumns,
    troubled: I64,
) -> int:  # pragma: no cover - compiled
    points, flags = state.points, state.flags
    grade_of_points, interest_bp = look.grade_of_points, rules.interest_bp  # read in branches
    n_troubled = 0
    for j in range(len(citizen)):
        c = citizen[j]
        g = look.group_of_profile[state.profile[c]]
        # Keyed by the borrower and the day, then by the loan's rank among the borrower's loans
        # due that day: each loan draws its own outcome.
        branch = stream_key(seed, rules.key, day, state.first_citizen + c)
        repaid = side_uniform(branch, nth[j]) < repay_p[j]
        counts[g, LOANS_DUE] += 1
        if repaid:
            counts[g, LOANS_REPAID] += 1
            grade = grade_of_points[points_then[j] + POINTS_OFFSET]
            counts[g, LENDER_PROFIT_BP] += interest_bp[grade]
        else:
            counts[g, LOANS_DEFAULTED] += 1
            counts[g, LENDER_PROFIT_BP] -= BASIS
            if rules.distress and not flags[c] & DISTRESSED:
                flags[c] |= DISTRESSED
                troubled[n_troubled] = c
                n_troubled += 1
        before = int(points[c])
        change = rules.points_repaid if repaid else rules.points_default
        after = min(max(before + change, look.floor), look.ceiling)
        points[c] = after
        out.citizen[j], out.before[j], out.after[j] = c, before, after
        out.kind[j] = LOAN_REPAID if repaid else LOAN_DEFAULT
    return n_troubled


def rank_among_equals(values: I64) -> I64:
    """For each entry, how many equal entries come before it: 0, 1, ... per distinct value."""
    if len(values) == 0:
        return np.empty(0, np.int64)
    order = np.argsort(values, kind="stable")
    ranked = values[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(ranked)]))
    rank = np.empty(len(values), np.int64)
    rank[order] = np.arange(len(values)) - run_start
    return rank


def settle_loans(
    state: State,
    t: Parameters,
    rules: LendingRules,
    due: tuple[I64, I64],
    seed: int,
    day: int,
    counts: I64,
) -> tuple[Records, I64]:
    """Settle the loans due today: point changes, and the citizens a default threw into distress.

    Those citizens are already flagged; ``lists.distress_from`` counts them and schedules their
    recovery, as it does for refusals at a gate.
    """
    citizen, points_then = due
    n = len(citizen)
    rows = Records(n)
    troubled = np.empty(n, np.int64)
    group = (
        t.group_of_profile[state.profile[citizen]].astype(np.int64)
        if rules.by_points.size
        else None
    )
    n_troubled = _settle(
        citizen, rank_among_equals(citizen), points_then,
        rules.repay_probability(points_then, t, group),
        day, seed_key(seed), state, rules, t.lookups(), counts, rows.columns(), troubled,
    )  # fmt: skip
    rows.behaviour[:] = rules.behaviour
    rows.source[:] = rules.source
    rows.truly_done[:] = True
    rows.actor[:] = citizen + state.first_citizen
    rows.appeal[:] = 0
    return rows, troubled[:n_troubled]
