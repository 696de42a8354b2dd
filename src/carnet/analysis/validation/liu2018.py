"""Liu, Dean, Rolf, Simchowitz and Hardt (ICML 2018): the delayed impact of fair lending.

The scenario is the preset ``validation-liu2018``: the FICO TransRisk score laws of two groups
(white, black) and their repayment by score, as the paper's code reads them, mapped onto carnet's
points (300-850, the paper's own percentile conversion rounded to whole points; the preset says
how). Every citizen applies once; the lender approves by per-group thresholds chosen on the start
law with utility +1 on repayment and -4 on default, under MaxUtil, demographic parity (DemParity)
or equal opportunity (EqOpt); a repaid loan adds 75 points, a default takes 150, clipped to the
range. A group's mean score change is the outcome curve of the paper at the group's acceptance
rate.

The reference is computed here, exactly and independently of carnet's own threshold search
(:func:`selection`): the per-group randomised policy ``tau_g(x)`` of each criterion (MaxUtil
approves ``x`` where ``u_g(x) > 0``, pointwise as the paper does; DemParity and EqOpt maximise
the weighted utility over a common approval or true-positive rate, among the rates where a whole
point is admitted, where the piecewise-linear objective has its maximum), then

    E[change_g] = sum_x pi_g(x) tau_g(x) [rho_g(x) (min(x + 75, 850) - x)
                                          + (1 - rho_g(x)) (max(x - 150, 300) - x)],

which clips each outcome, as carnet does. (The paper's code clips the *expected* score instead,
``max(min(x + E[move], 850), 300) - x``; the two differ only for approved applicants within 150
points of an end.) carnet's figure is the group's mean change over all its citizens (points at
the end minus points on day 0, when no loan has settled), pooled over seeds; its standard error
is the exact standard deviation of one citizen's change under the same law over the square root
of the group's citizens (citizens are independent draws of the start law and of their outcomes),
and the tolerance 4 SE. Acceptance rates likewise, with the binomial SE over the group's
applications.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from carnet.analysis.validation.checks import Check, Relation, Row
from carnet.result import simulate as simulate_run
from carnet.scenario.loading import load_scenario
from carnet.scenario.paths import set as set_values
from carnet.scenario.schema import Scenario

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

PRESET = "validation-liu2018"
POLICIES = ("max_utility", "demographic_parity", "equal_opportunity")
Z = 4.0  # the tolerance in standard errors
SOURCE = (
    "exact: sum over the FICO score law (Liu et al. 2018's data and policies, computed "
    "independently of carnet)"
)


@dataclass(frozen=True)
class Model:
    """Liu et al.'s one-step model on a discrete score: everything the exact figures read."""

    points: I64  # [support] the scores, increasing
    law: F64  # [group, support] each group's score law (rows sum to 1)
    repay: F64  # [group, support] chance of repayment at each score
    weights: F64  # [group] each group's share of the applicants
    gain: float  # utility of a repaid loan
    loss: float  # utility lost on a default (positive)
    up: int  # points on repayment
    down: int  # points on default (negative)
    floor: int
    ceiling: int

    @property
    def utility(self) -> F64:
        """The lender's expected utility of approving, by [group, support]."""
        u: F64 = self.repay * self.gain - (1.0 - self.repay) * self.loss
        return u

    def moves(self) -> tuple[F64, F64]:
        """The clipped change of a score on repayment and on default, by support point."""
        x = self.points.astype(np.float64)
        return np.minimum(x + self.up, self.ceiling) - x, np.maximum(x + self.down, self.floor) - x


def model_of(s: Scenario) -> Model:
    """The model of a scenario shaped like the preset: table start laws and repayment tables.

    Every group's start law must be a table on the same points, and its repayment a table that
    is read at those points (a table of ``lending.repay_by_group``, else ``lending.repay_table``).
    """
    lend, gate = s.lending, s.gates[0]
    assert lend is not None and gate.policy is not None
    support: list[int] | None = None
    law, repay = [], []
    for group in s.population.groups:
        st = group.start
        assert st is not None and st.kind == "table" and st.points is not None
        assert st.shares is not None
        support = support or list(st.points)
        assert list(st.points) == support, "the groups' start laws must share their points"
        shares = np.asarray(st.shares, np.float64)
        law.append(shares / shares.sum())
        own = lend.repay_by_group.get(group.name)
        table = own.table if own is not None else lend.repay_table
        assert table is not None
        repay.append(np.interp(support, table.points, table.repay))
    assert support is not None
    shares = np.array([g.share for g in s.population.groups])
    gain = lend.interest if gate.policy.gain_if_repaid is None else gate.policy.gain_if_repaid
    loss = 1.0 if gate.policy.loss_if_default is None else gate.policy.loss_if_default
    return Model(
        points=np.asarray(support, np.int64),
        law=np.array(law),
        repay=np.array(repay),
        weights=shares / shares.sum(),
        gain=float(gain),
        loss=float(loss),
        up=lend.points_on_repayment,
        down=lend.points_on_default,
        floor=s.rules.floor,
        ceiling=s.rules.ceiling,
    )


def top_policy(mass: F64, rate: float) -> F64:
    """The policy that approves the top ``rate`` of a law given by ``mass`` (support order).

    Every point above the marginal one is approved, the marginal one in part; ``mass`` is the
    measure that ``rate`` counts (the law for an approval rate, law x repayment, normalised, for
    a true-positive rate).
    """
    tau = np.zeros(len(mass))
    total = 0.0
    for i in range(len(mass) - 1, -1, -1):
        if total >= rate:
            break
        if mass[i] <= 0.0:
            tau[i] = 1.0  # no mass: approving it costs and counts nothing
            continue
        part = min(1.0, (rate - total) / mass[i])
        tau[i] = part
        total += part * mass[i]
    return tau


def _rate_mass(m: Model, kind: str) -> F64:
    if kind == "demographic_parity":
        return m.law
    positive = m.law * m.repay
    out: F64 = positive / positive.sum(axis=1, keepdims=True)
    return out


def selection(m: Model, kind: str) -> F64:
    """Each group's randomised policy ``tau[group, support]`` under a criterion of the paper.

    ``max_utility``: ``tau = 1`` where the expected utility is positive. ``demographic_parity``
    (``equal_opportunity``): the common approval (true-positive) rate maximising
    ``sum_g w_g sum_x pi_g tau_g u_g``, each group approving its top scores at that rate; the
    objective is linear between the rates at which some group admits a whole point, so every
    such rate is tried (ties to the smaller rate).
    """
    u = m.utility
    if kind == "max_utility":
        out: F64 = (u > 0.0).astype(np.float64)
        return out
    mass = _rate_mass(m, kind)
    candidates = np.unique(np.concatenate([[0.0], *np.cumsum(mass[:, ::-1], axis=1)]))
    candidates = candidates[candidates <= 1.0 + 1e-12]
    best_rate, best_value = 0.0, 0.0
    for rate in candidates:
        value = sum(
            m.weights[g] * float(m.law[g] @ (top_policy(mass[g], rate) * u[g]))
            for g in range(len(m.weights))
        )
        if value > best_value + 1e-12:
            best_rate, best_value = float(rate), value
    return np.array([top_policy(mass[g], best_rate) for g in range(len(m.weights))])


def outcome(m: Model, tau: F64) -> tuple[F64, F64, F64]:
    """Each group's acceptance rate, expected score change and its per-citizen variance.

    Over all the group's citizens (a refused one changes by 0), each outcome clipped to the range.
    """
    up, down = m.moves()
    accepted: F64 = (m.law * tau).sum(axis=1)
    mean: F64 = (m.law * tau * (m.repay * up + (1.0 - m.repay) * down)).sum(axis=1)
    second = (m.law * tau * (m.repay * up**2 + (1.0 - m.repay) * down**2)).sum(axis=1)
    variance: F64 = second - mean**2
    return accepted, mean, variance


def outcome_curve(m: Model, group: int, rates: F64) -> F64:
    """The paper's outcome curve: the group's expected change when it approves its top ``rate``."""
    single = Model(
        m.points, m.law[group : group + 1], m.repay[group : group + 1], np.ones(1),
        m.gain, m.loss, m.up, m.down, m.floor, m.ceiling,
    )  # fmt: skip
    return np.array([outcome(single, top_policy(single.law[0], r)[None, :])[1][0] for r in rates])


@dataclass
class Simulated:
    """carnet's figures for one policy, pooled over seeds, by group."""

    citizens: I64
    change: F64  # total change of points
    applied: I64
    approved: I64


def simulate_policy(kind: str, population: int, seeds: list[int]) -> Simulated:
    """Run the preset under one policy at each seed and pool the groups' figures."""
    s = set_values(load_scenario(PRESET, population=population), {"gates.0.policy.kind": kind})
    groups = [g.name for g in s.population.groups]
    G = len(groups)
    out = Simulated(
        np.zeros(G, np.int64), np.zeros(G), np.zeros(G, np.int64), np.zeros(G, np.int64)
    )
    last = s.run.days - 1
    for seed in seeds:
        r = simulate_run(s, seed=seed, threads=1)
        m = r.metrics.to_pydict()
        assert r.gates is not None
        decided = r.gates.to_pydict()
        for g, name in enumerate(groups):
            rows = [i for i, gr in enumerate(m["group"]) if gr == name]
            first = next(i for i in rows if m["day"][i] == 0)
            end = next(i for i in rows if m["day"][i] == last)
            out.citizens[g] += m["citizens"][end]
            out.change[g] += m["points_sum"][end] - m["points_sum"][first]
            for i, gr in enumerate(decided["group"]):
                if gr == name:
                    out.applied[g] += decided["count"][i]
                    if decided["outcome"][i] == "approved":
                        out.approved[g] += decided["count"][i]
    return out


def run(quick: bool) -> list[Row]:
    """The check's rows: rates and mean changes by policy and group; the paper's finding."""
    population, seeds = (200_000, [1, 2]) if quick else (2_000_000, [1, 2, 3, 4, 5])
    s = load_scenario(PRESET)
    m = model_of(s)
    groups = [g.name for g in s.population.groups]
    disadvantaged = int(np.argmin(m.law @ m.points))
    basis = (
        f"{Z:g} SE; SE exact under the score law, over the group's citizens in {len(seeds)} seeds"
    )
    rows: list[Row] = []
    changes: dict[str, tuple[float, float]] = {}
    for kind in POLICIES:
        accepted, mean, variance = outcome(m, selection(m, kind))
        sim = simulate_policy(kind, population, seeds)
        for g, name in enumerate(groups):
            # Every citizen applies once: the applications are the citizens (a check of the setup).
            assert sim.applied[g] == sim.citizens[g], (kind, name, sim.applied, sim.citizens)
            n = int(sim.citizens[g])
            rate = sim.approved[g] / sim.applied[g]
            rate_se = math.sqrt(accepted[g] * (1.0 - accepted[g]) / n)
            rows.append(Row("liu2018", f"{kind}: acceptance rate, {name}", float(accepted[g]),
                            SOURCE, float(rate), rate_se, "=", Z * rate_se, basis))  # fmt: skip
            change = float(sim.change[g] / n)
            change_se = math.sqrt(variance[g] / n)
            rows.append(Row("liu2018", f"{kind}: mean score change, {name}", float(mean[g]),
                            SOURCE, change, change_se, "=", Z * change_se, basis))  # fmt: skip
            if g == disadvantaged:
                changes[kind] = (change, change_se)
    name = groups[disadvantaged]
    finding = "Liu et al. 2018 (Fig. 4, u-/u+ = -4): DemParity harms the disadvantaged group"
    findings: list[tuple[str, Relation, str]] = [
        ("demographic_parity", "<", "negative"),
        ("max_utility", ">", "positive"),
    ]
    for kind, relation, words in findings:
        value, se = changes[kind]
        rows.append(Row("liu2018", f"{kind}: mean score change, {name}, is {words}", 0.0,
                        finding, value, se, relation, Z * se, basis))  # fmt: skip
    return rows


CHECK = Check(
    name="liu2018",
    title=(
        "Liu, Dean, Rolf, Simchowitz & Hardt (ICML 2018), delayed impact of fair machine "
        "learning, on the FICO TransRisk data (one loan each; scores rounded to whole points)"
    ),
    run=run,
)
