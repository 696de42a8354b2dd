"""The check liu2018's exact pieces against brute force (its rows: tests/test_validation.py)."""

from __future__ import annotations

import itertools

import numpy as np

from carnet.analysis.validation.liu2018 import Model, outcome, selection, top_policy


def tiny() -> Model:
    return Model(
        points=np.array([400, 600, 800]),
        law=np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]),
        repay=np.array([[0.3, 0.8, 0.95], [0.3, 0.8, 0.95]]),
        weights=np.array([0.5, 0.5]),
        gain=1.0, loss=4.0, up=75, down=-150, floor=300, ceiling=850,
    )  # fmt: skip


def test_the_expected_change_is_the_enumeration_of_every_outcome() -> None:
    m = tiny()
    tau = np.array([[0.0, 0.5, 1.0], [0.0, 1.0, 1.0]])
    accepted, mean, variance = outcome(m, tau)
    for g in range(2):
        cases = []  # (probability, change) of each score x approval x repayment
        for i, x in enumerate(m.points):
            for ok, p_ok in ((True, tau[g, i]), (False, 1 - tau[g, i])):
                for repaid, p_r in ((True, m.repay[g, i]), (False, 1 - m.repay[g, i])):
                    new = min(x + 75, 850) if repaid else max(x - 150, 300)
                    cases.append((m.law[g, i] * p_ok * p_r, (new - x) if ok else 0))
        p = np.array([c[0] for c in cases])
        d = np.array([c[1] for c in cases], np.float64)
        assert abs(p.sum() - 1) < 1e-12
        assert abs(mean[g] - p @ d) < 1e-9
        assert abs(variance[g] - (p @ d**2 - (p @ d) ** 2)) < 1e-9
        assert abs(accepted[g] - m.law[g] @ tau[g]) < 1e-12


def test_top_policy_approves_exactly_the_rate_from_the_top() -> None:
    law = np.array([0.2, 0.5, 0.3])
    for rate in (0.0, 0.1, 0.3, 0.55, 1.0):
        tau = top_policy(law, rate)
        assert abs(law @ tau - rate) < 1e-12
        assert all(a <= b + 1e-12 for a, b in itertools.pairwise(tau))  # the top first


def test_demographic_parity_is_the_best_common_rate_on_a_fine_grid() -> None:
    m = tiny()
    tau = selection(m, "demographic_parity")
    rates = m.law @ tau.T
    assert abs(rates[0, 0] - rates[1, 1]) < 1e-12  # one approval rate for both groups
    best = max(
        sum(m.weights[g] * m.law[g] @ (top_policy(m.law[g], r) * m.utility[g]) for g in range(2))
        for r in np.linspace(0, 1, 2001)
    )
    got = sum(m.weights[g] * m.law[g] @ (tau[g] * m.utility[g]) for g in range(2))
    assert got >= best - 1e-12
