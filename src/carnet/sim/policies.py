"""Gate policies as numbers: thresholds chosen at compile time, and the lenders that learn them.

A policy (:class:`carnet.scenario.policies.Policy`) decides an application, once the blacklisted
are refused, by one of four rules, each a code of :data:`GRADE`, :data:`THRESHOLD`,
:data:`LOTTERY`, :data:`LEARNED`:

- by grade (today's rule);
- by a threshold on points: approve if ``points > threshold``, or ``points == threshold`` with
  the chance ``tie`` (1 for a plain threshold). ``max_utility``, ``demographic_parity`` and
  ``equal_opportunity`` are thresholds chosen here, per group, by :func:`chosen_thresholds`,
  following Liu et al. (ICML 2018, "Delayed Impact of Fair Machine Learning");
- by lottery, with a chance per group;
- by a threshold per (block, group) that each block's lender re-fits from the loans it granted
  and saw settled (:class:`Learner`, after D'Amour et al., FAT* 2020, "Fairness is not static").

The draws: a candidate application is made when its first uniform ``u`` falls below the
applicant's chance ``p``; then ``u / p`` is again uniform on [0, 1) and independent of everything
else, and the lottery and the tie at the threshold read it. So a policy draws nothing new, and two
scenarios that differ only in their policies see the same applications.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from carnet.scenario.policies import CHOSEN
from carnet.scenario.schema import Scenario
from carnet.sim.parameters import POINTS_OFFSET, Parameters

if TYPE_CHECKING:
    from carnet.scenario.policies import Policy

GRADE, THRESHOLD, LOTTERY, LEARNED = range(4)
KIND_CODES = {"grade": GRADE, "threshold": THRESHOLD, "lottery": LOTTERY, "learned": LEARNED}
KIND_CODES.update({k: THRESHOLD for k in CHOSEN})
REPAID, DEFAULTED = 0, 1  # the last axis of a learner's counts

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _logistic(intercept: float, slope: float, points: I64) -> F64:
    out: F64 = 1.0 / (1.0 + np.exp(-(intercept + slope * (points - 1000))))
    return out


def repay_curve(s: Scenario, t: Parameters) -> F64:
    """Chance of repayment by [group, points - rules.floor], for every point from floor to ceiling.

    A group of ``lending.repay_by_group`` has its own table or logistic; the others follow
    ``lending.repay_table`` if given, else ``repay_by_grade`` where it names the grade, else the
    logistic. Tables are linear between their points and constant beyond them.
    """
    lend = s.lending
    assert lend is not None
    points = np.arange(s.rules.floor, s.rules.ceiling + 1, dtype=np.int64)
    if lend.repay_table is not None:
        shared = np.interp(points, lend.repay_table.points, lend.repay_table.repay)
    else:
        grades = [g.name for g in s.grades]
        by_grade = np.array([lend.repay_by_grade.get(g, np.nan) for g in grades])
        table = by_grade[t.grade_of_points[points + POINTS_OFFSET]]
        logistic = _logistic(lend.repay_intercept, lend.repay_per_point, points)
        shared = np.where(np.isnan(table), logistic, table)
    out = np.empty((len(s.population.groups), len(points)))
    for g, group in enumerate(s.population.groups):
        model = lend.repay_by_group.get(group.name)
        if model is None:
            out[g] = shared
        elif model.table is not None:
            out[g] = np.interp(points, model.table.points, model.table.repay)
        else:
            intercept = lend.repay_intercept if model.intercept is None else model.intercept
            slope = lend.repay_per_point if model.per_point is None else model.per_point
            out[g] = _logistic(intercept, slope, points)
    return out


def _normal_cdf(x: F64) -> F64:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    out: F64 = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    return out


def start_law(s: Scenario) -> F64 | None:
    """Each group's law of start points by [group, points - rules.floor], or None if none is set.

    A normal law is rounded to the nearest point (halves up) and clipped: the mass below the
    floor lands on the floor, the mass above the ceiling on the ceiling. A group without a law
    starts at ``population.start_points``.
    """
    groups = s.population.groups
    if all(g.start is None for g in groups):
        return None
    floor, ceiling = s.rules.floor, s.rules.ceiling
    points = np.arange(floor, ceiling + 1, dtype=np.float64)
    law = np.zeros((len(groups), len(points)))
    for g, group in enumerate(groups):
        st = group.start
        if st is None:
            law[g, s.population.start_points - floor] = 1.0
        elif st.kind == "normal":
            assert st.mean is not None and st.sd is not None
            cdf = _normal_cdf((points + 0.5 - st.mean) / st.sd)
            cdf[-1] = 1.0
            law[g] = np.diff(np.r_[0.0, cdf])
        else:
            shares = np.asarray(st.shares, np.float64)
            law[g, np.asarray(st.points) - floor] = shares / shares.sum()
    return law


def applicant_weights(s: Scenario, gate: int) -> F64:
    """Each group's share of a gate's applicants: population share x the gate's rate multipliers."""
    g = s.gates[gate]
    by_income = np.asarray(g.by_income or [1.0] * 5)
    out = np.empty(len(s.population.groups))
    for i, group in enumerate(s.population.groups):
        income = np.asarray(group.income) / sum(group.income)
        out[i] = group.share * g.by_group.get(group.name, 1.0) * float(income @ by_income)
    total = out.sum()
    result: F64 = out / total if total > 0 else out
    return result


def utilities(policy: Policy, s: Scenario) -> tuple[float, float]:
    """The decision-maker's gain on a repaid loan and loss on a default, in principals.

    By default the gain is ``lending.interest`` and the loss the principal (1).
    """
    interest = s.lending.interest if s.lending is not None else 0.0
    gain = interest if policy.gain_if_repaid is None else policy.gain_if_repaid
    loss = 1.0 if policy.loss_if_default is None else policy.loss_if_default
    return gain, loss


def _along(rate: F64, value: F64, target: float) -> tuple[float, int, float]:
    """Value at ``target`` on the path that admits points from the top, and where it stops.

    ``rate`` and ``value`` are cumulative over the support points from the top (``rate``
    non-decreasing); returns the value, the index ``k`` of the point admitted in part, and the
    part ``frac`` of it: the shortest prefix that reaches ``target``.
    """
    if target <= 0.0:
        return 0.0, 0, 0.0
    k = min(int(np.searchsorted(rate, target, side="left")), len(rate) - 1)
    lo_rate = rate[k - 1] if k else 0.0
    lo_value = value[k - 1] if k else 0.0
    step = rate[k] - lo_rate
    frac = 1.0 if step <= 0.0 else min(1.0, (target - lo_rate) / step)
    return float(lo_value + frac * (value[k] - lo_value)), k, frac


@dataclass(frozen=True)
class Chosen:
    """Thresholds chosen for every group, the tie chances at them, and the common rate met."""

    threshold: I64  # [group]
    tie: F64  # [group] chance of approval at exactly the threshold
    rate: float  # the common approval rate (DP) or true-positive rate (EqOpt); NaN for MaxUtil


def chosen_thresholds(
    kind: str,
    rho: F64,
    law: F64,
    weights: F64,
    gain: float,
    loss: float,
    floor: int,
    *,
    randomise_tie: bool = True,
) -> Chosen:
    """Per-group thresholds of Liu et al.'s policies on integer points.

    ``rho`` and ``law`` are [group, points - floor]: the chance of repayment and the group's
    initial points; ``weights`` each group's share of applicants. The expected utility of approving
    an applicant at points ``x`` is ``u(x) = rho(x) gain - (1 - rho(x)) loss``.

    - ``max_utility``: per group, the lowest ``x`` from which every point up to the ceiling has
      ``u > 0`` (for an increasing ``rho`` the unconstrained optimum, ``rho(x*) = loss / (gain +
      loss)``); no randomisation.
    - ``demographic_parity``: the common approval rate ``beta`` that maximises
      ``sum_g w_g U_g(beta)``, ``U_g(beta)`` the utility of approving group ``g``'s top ``beta``
      (by points; a threshold policy), then each group's threshold at its ``beta`` quantile.
    - ``equal_opportunity``: the same with the common true-positive rate ``sum_{x admitted}
      law rho / sum law rho`` in place of the approval rate.

    ``U`` is piecewise linear between the rates at which a whole point is admitted, so the maximum
    lies at one of them, for some group: every such rate is tried, exactly. With
    ``randomise_tie``, the point at the threshold is approved with the chance that meets the rate
    exactly; without, all of it. A rate of 0 refuses everyone (threshold above the ceiling).
    """
    G, P = rho.shape
    u = rho * gain - (1.0 - rho) * loss
    refuse_all = floor + P  # ceiling + 1
    if kind == "max_utility":
        threshold = np.empty(G, np.int64)
        for g in range(G):
            bad = np.flatnonzero(u[g] <= 0.0)
            threshold[g] = floor + (bad[-1] + 1 if len(bad) else 0)
        return Chosen(threshold, np.ones(G), math.nan)
    paths: list[tuple[I64, F64, F64] | None] = []
    for g in range(G):
        support = np.flatnonzero(law[g] > 0.0)[::-1]  # from the top
        mass = law[g, support]
        rate = (
            np.cumsum(mass) if kind == "demographic_parity" else np.cumsum(mass * rho[g, support])
        )
        if len(support) == 0 or rate[-1] <= 0.0:
            paths.append(None)  # nobody of the group would repay: it takes no part
            continue
        paths.append((support, rate / rate[-1], np.cumsum(mass * u[g, support])))
    targets = np.unique(np.concatenate([[0.0]] + [p[1] for p in paths if p is not None]))
    best, best_value = 0.0, 0.0
    for target in targets:
        value = sum(
            w * _along(p[1], p[2], target)[0]
            for w, p in zip(weights, paths, strict=True)
            if p is not None
        )
        if value > best_value + 1e-12:
            best, best_value = float(target), value
    threshold = np.full(G, refuse_all, np.int64)
    tie = np.ones(G)
    for g, p in enumerate(paths):
        if p is None or best <= 0.0:
            continue
        _, k, frac = _along(p[1], p[2], best)
        x = floor + int(p[0][k])
        if frac >= 1.0 or (not randomise_tie and frac > 0.0):
            threshold[g] = x
        elif frac <= 0.0:
            threshold[g] = x + 1
        else:
            threshold[g], tie[g] = x, frac
    return Chosen(threshold, tie, best)


@dataclass(frozen=True)
class PolicyRules:
    """Every gate's policy as arrays, indexed by gate (grade for a gate without one)."""

    kind: I64  # [gate] GRADE, THRESHOLD, LOTTERY or LEARNED
    threshold: I64  # [gate, group] (learned: the threshold before the first refit)
    tie: F64  # [gate, group] chance of approval at exactly the threshold
    probability: F64  # [gate, group] lottery
    once_bit: I64  # [gate] bit of State.applied, or -1
    learned_gate: int  # -1 without a learned policy
    refit_days: int
    bin_points: int
    gain: float
    loss: float

    @property
    def any(self) -> bool:
        """Whether a gate decides by something else than grade (or applies only once)."""
        return bool((self.kind != GRADE).any() or (self.once_bit >= 0).any())

    @property
    def thresholds_recorded(self) -> npt.NDArray[np.bool_]:
        """Gates whose thresholds the metrics carry (those that decide by a threshold)."""
        out: npt.NDArray[np.bool_] = (self.kind == THRESHOLD) | (self.kind == LEARNED)
        return out

    @classmethod
    def build(cls, s: Scenario, t: Parameters) -> PolicyRules:
        """The policies of ``s``'s gates (grade, no once, for gates without one)."""
        n, G = len(s.gates), len(s.population.groups)
        groups = [g.name for g in s.population.groups]
        kind = np.zeros(n, np.int64)
        threshold = np.zeros((n, G), np.int64)
        tie = np.ones((n, G))
        probability = np.zeros((n, G))
        once_bit = np.full(n, -1, np.int64)
        learned, refit, width, gain, loss = -1, 1, 1, 0.0, 0.0
        bits = 0
        for i, gate in enumerate(s.gates):
            p = gate.policy
            if p is None:
                continue
            kind[i] = KIND_CODES[p.kind]
            if p.once:
                once_bit[i], bits = bits, bits + 1
            if p.kind in ("threshold", "learned"):
                threshold[i] = [p.threshold_by_group.get(g, p.threshold or 0) for g in groups]
            elif p.kind == "lottery":
                probability[i] = [
                    p.probability_by_group.get(g, p.probability or 0.0) for g in groups
                ]
            elif p.kind in CHOSEN:
                law = start_law(s)
                if law is None:  # everyone starts at the same points
                    law = np.zeros((G, s.rules.ceiling - s.rules.floor + 1))
                    law[:, s.population.start_points - s.rules.floor] = 1.0
                g_gain, g_loss = utilities(p, s)
                chosen = chosen_thresholds(
                    p.kind, repay_curve(s, t), law, applicant_weights(s, i), g_gain, g_loss,
                    s.rules.floor, randomise_tie=p.randomise_tie,
                )  # fmt: skip
                threshold[i], tie[i] = chosen.threshold, chosen.tie
            if p.kind == "learned":
                learned, refit, width = i, p.refit_days, p.bin_points
                gain, loss = utilities(p, s)
        return cls(kind, threshold, tie, probability, once_bit, learned, refit, width, gain, loss)


@dataclass
class Learner:
    """The lenders of a shard's blocks: one per block, each with its own counts and thresholds.

    ``counts[b, g, k, REPAID | DEFAULTED]`` are the loans that block ``b``'s lender granted to
    group ``g`` at points in bin ``k`` (``floor + k * bin_points`` up) and saw settled; nothing
    else reaches it. ``threshold[b, g]`` is its threshold now.
    """

    first_block: int
    counts: npt.NDArray[np.int32]
    threshold: I64

    @classmethod
    def start(cls, rules: PolicyRules, s: Scenario, first: int, n: int) -> Learner | None:
        """The learners of the shard of citizens ``first .. first + n - 1``, or None."""
        if rules.learned_gate < 0:
            return None
        bs = s.run.block_size
        first_block = first // bs
        blocks = -(-(first + n) // bs) - first_block if n else 0
        bins = -(-(s.rules.ceiling - s.rules.floor + 1) // rules.bin_points)
        counts = np.zeros((blocks, len(s.population.groups), bins, 2), np.int32)
        threshold = np.repeat(rules.threshold[rules.learned_gate][None, :], blocks, axis=0)
        return cls(first_block, counts, np.ascontiguousarray(threshold))

    def observe(
        self,
        block: I64,
        group: I64,
        points_then: I64,
        repaid: npt.NDArray[np.bool_],
        floor: int,
        bin_points: int,
    ) -> None:
        """Count settled loans: each one's block, group, points when granted, and outcome."""
        if len(block):
            where = (block - self.first_block, group, (points_then - floor) // bin_points,
                     np.where(repaid, REPAID, DEFAULTED))  # fmt: skip
            np.add.at(self.counts, where, 1)

    def refit(self, rules: PolicyRules, floor: int, ceiling: int) -> None:
        """Each lender's thresholds: the bin edge that maximises its empirical utility.

        The utility of threshold bin ``k`` is ``sum_{j >= k} gain repaid_j - loss defaulted_j``
        over the loans it saw; among equal utilities the highest threshold wins, so a lender never
        lowers its threshold into bins where it has seen nothing. A (block, group) without any
        settled loan keeps its threshold.
        """
        # Block by block: the temporaries stay the size of one block's counts.
        for b in range(len(self.counts)):
            c = self.counts[b].astype(np.float64)  # [group, bin, outcome]
            value = rules.gain * c[..., REPAID] - rules.loss * c[..., DEFAULTED]
            suffix = np.zeros((value.shape[0], value.shape[1] + 1))
            suffix[:, :-1] = np.cumsum(value[:, ::-1], axis=1)[:, ::-1]
            best = suffix.shape[1] - 1 - np.argmax(suffix[:, ::-1], axis=1)  # highest maximiser
            seen = self.counts[b].sum(axis=(1, 2)) > 0
            fitted = np.minimum(floor + best * rules.bin_points, ceiling + 1)
            self.threshold[b] = np.where(seen, fitted, self.threshold[b])

    def snapshot(self) -> dict[str, npt.NDArray[np.generic]]:
        """The counts and thresholds, for a checkpoint."""
        return {"counts": self.counts, "threshold": self.threshold}

    def restore(self, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        """Continue from a :meth:`snapshot` of the same shard."""
        self.counts[...] = arrays["counts"]
        self.threshold[...] = arrays["threshold"]
