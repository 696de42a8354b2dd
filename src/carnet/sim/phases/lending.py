"""Loans: granted at a gate, repaid or defaulted when their term ends.

The chance of repayment is a function of the borrower's points when the loan was granted (a
logistic curve, or a table by grade), so the score-gated lending experiments of the literature can
be re-run: who is refused, who repays, what the lender earns. Profit is counted exactly, in basis
points of one loan's principal: a repaid loan earns the interest (times the gate's price for the
borrower's grade), a default loses the principal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import kernel
from carnet.sim.parameters import POINTS_OFFSET, Parameters
from carnet.sim.population import DISTRESSED, State
from carnet.sim.records import Records
from carnet.sim.rng import side_uniform, stream_key
from carnet.sim.streams import LOAN_REPAY, seed_key

LOAN_REPAID, LOAN_DEFAULT = 6, 7  # kinds of point change
COUNTS = ("loans_due", "loans_repaid", "loans_defaulted", "lender_profit_bp")
BASIS = 10_000  # one loan's principal, in basis points

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class LendingRules:
    """A scenario's lending as numbers."""

    gate: int
    term_days: int
    intercept: float
    slope: float
    by_grade: npt.NDArray[np.float64]  # repayment by grade; NaN: use the logistic curve
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
        self, points: npt.NDArray[np.int64], t: Parameters
    ) -> npt.NDArray[np.float64]:
        """Chance of repayment for borrowers with these points when the loan was granted."""
        table = self.by_grade[t.grade_of_points[points + POINTS_OFFSET]]
        logistic = 1.0 / (1.0 + np.exp(-(self.intercept + self.slope * (points - 1000))))
        return np.where(np.isnan(table), logistic, table)


@kernel()
def _settle(
    citizen: I64,
    points_then: I64,
    repay_p: npt.NDArray[np.float64],
    day: int,
    seed: np.uint64,
    key: np.uint64,
    first: int,
    points: npt.NDArray[np.int16],
    flags: npt.NDArray[np.uint8],
    profile: npt.NDArray[np.uint16],
    group_of_profile: npt.NDArray[np.uint8],
    grade_of_points: npt.NDArray[np.uint8],
    interest_bp: I64,
    points_repaid: int,
    points_default: int,
    distress: bool,
    floor: int,
    ceiling: int,
    counts: I64,
    c_citizen: I64,
    c_before: npt.NDArray[np.int16],
    c_after: npt.NDArray[np.int16],
    c_kind: npt.NDArray[np.uint8],
    troubled: I64,
) -> int:  # pragma: no cover - compiled
    n_troubled = 0
    for j in range(len(citizen)):
        c = citizen[j]
        g = group_of_profile[profile[c]]
        branch = stream_key(seed, key, day, first + c)
        repaid = side_uniform(branch, 0) < repay_p[j]
        counts[g, 0] += 1
        if repaid:
            counts[g, 1] += 1
            counts[g, 3] += interest_bp[grade_of_points[points_then[j] + POINTS_OFFSET]]
        else:
            counts[g, 2] += 1
            counts[g, 3] -= BASIS
            if distress and not flags[c] & DISTRESSED:
                flags[c] |= DISTRESSED
                troubled[n_troubled] = c
                n_troubled += 1
        before = int(points[c])
        after = min(max(before + (points_repaid if repaid else points_default), floor), ceiling)
        points[c] = after
        c_citizen[j], c_before[j], c_after[j] = c, before, after
        c_kind[j] = LOAN_REPAID if repaid else LOAN_DEFAULT
    return n_troubled


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
    n_troubled = _settle(
        citizen, points_then, rules.repay_probability(points_then, t), day, seed_key(seed),
        rules.key, state.first_citizen, state.points, state.flags, state.profile,
        t.group_of_profile, t.grade_of_points, rules.interest_bp, rules.points_repaid,
        rules.points_default, rules.distress, t.floor, t.ceiling, counts,
        rows.citizen, rows.before, rows.after, rows.kind, troubled,
    )  # fmt: skip
    rows.behaviour[:] = rules.behaviour
    rows.source[:] = rules.source
    rows.truly_done[:] = True
    rows.actor[:] = citizen + state.first_citizen
    rows.appeal[:] = 0
    return rows, troubled[:n_troubled]
