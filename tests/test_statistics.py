"""The engine against theory: closed forms with tolerances from the standard error.

Every act is a Poisson process per citizen, thinned by detection; with clamping, caps, expiry
and deterrence off, final points are start + sum_k delta_k * X_k with X_k ~ Poisson(lambda_k),
lambda_k = rate_k * days / 365 * detect_k, a compound Poisson law: mean start + sum delta*lambda,
variance sum delta^2 lambda, fourth cumulant sum delta^4 lambda.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
from helpers import base_scenario

import carnet

Z = 4.0  # tolerance in standard errors


def total(result: carnet.Result, column: str) -> int:
    return int(pc.sum(result.metrics[column]).as_py())


def final_points(result: carnet.Result) -> np.ndarray:
    return result.population["points"].to_numpy().astype(np.float64)


def compound_poisson(doc: dict[str, Any]) -> tuple[float, float, float]:
    """Mean, variance and fourth cumulant of a citizen's final points."""
    days = doc["run"]["days"]
    mean, var, k4 = float(doc["population"]["start_points"]), 0.0, 0.0
    for b in doc["behaviours"]:
        lam = b["rate_per_year"] * days / 365 * b["observed_by"][0]["detect"]
        d = doc["rules"]["points"][b["name"]]
        mean, var, k4 = mean + d * lam, var + d * d * lam, k4 + d**4 * lam
    return mean, var, k4


@pytest.mark.slow
def test_final_points_match_compound_poisson() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 200_000
    result = carnet.simulate(doc, threads=2)
    x = final_points(result)
    n = len(x)
    assert n == 200_000
    mean, var, k4 = compound_poisson(doc)
    se_mean = math.sqrt(var / n)
    se_var = math.sqrt((k4 + 2 * var * var) / n)
    assert abs(x.mean() - mean) < Z * se_mean, (x.mean(), mean, se_mean)
    assert abs(x.var(ddof=1) - var) < Z * se_var, (x.var(ddof=1), var, se_var)


def test_observed_counts_match_rate_times_detection() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 50_000
    result = carnet.simulate(doc)
    n, days = 50_000, 365
    for b in doc["behaviours"]:
        name, rate = b["name"], b["rate_per_year"]
        detect = b["observed_by"][0]["detect"]
        seen = total(result, f"acts_{name}_detected") + total(result, f"acts_{name}_misattributed")
        done = seen + total(result, f"acts_{name}_missed")
        expected_done = n * rate * days / 365
        assert abs(done - expected_done) < Z * math.sqrt(expected_done), name
        expected_seen = expected_done * detect
        assert abs(seen - expected_seen) < Z * math.sqrt(expected_seen), name
        # Every observation was scored once: the ledger and the metrics agree.
        assert total(result, f"scored_{name}") == seen


def test_misattribution_share_matches_parameter() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 50_000
    m = 0.05
    doc["sources"][0]["misattribution"] = m
    result = carnet.simulate(doc)
    for name in ("red_light", "volunteering"):  # both seen by the camera
        wrong = total(result, f"acts_{name}_misattributed")
        seen = wrong + total(result, f"acts_{name}_detected")
        se = math.sqrt(m * (1 - m) / seen)
        assert abs(wrong / seen - m) < Z * se
        # Each misattributed act is a wrongful record for someone else.
        assert total(result, f"wrongful_{name}") == wrong
    assert total(result, "acts_late_payment_misattributed") == 0  # the bank never errs here
    ledger = result.ledger
    wrongful = ledger.filter(pc.invert(ledger["truly_done"]))
    assert wrongful.num_rows > 0
    assert pc.all(pc.not_equal(wrongful["citizen"], wrongful["true_actor"])).as_py()
    right = ledger.filter(ledger["truly_done"])
    assert pc.all(pc.equal(right["citizen"], right["true_actor"])).as_py()


def test_group_rate_multipliers_and_detection_by_group() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 60_000
    doc["population"]["groups"] = [
        {"name": "locals", "share": 0.5},
        {"name": "migrants", "share": 0.5},
    ]
    doc["behaviours"][0]["by_group"] = {"migrants": 2.0}
    doc["sources"][0]["by_group"] = {"migrants": 1.5}  # cameras watch migrants more: 0.6 -> 0.9
    result = carnet.simulate(doc)
    m = result.metrics
    for group, mult, det in (("locals", 1.0, 0.6), ("migrants", 2.0, 0.9)):
        rows = m.filter(pc.equal(m["group"], group))
        n = rows["citizens"][0].as_py()
        assert abs(n - 30_000) < Z * math.sqrt(60_000 * 0.25)
        done = sum(int(pc.sum(rows[f"acts_red_light_{o}"]).as_py()) for o in ("detected", "missed"))
        expected = n * 3.0 * mult
        assert abs(done - expected) < Z * math.sqrt(expected), group
        seen = int(pc.sum(rows["acts_red_light_detected"]).as_py())
        assert abs(seen / done - det) < Z * math.sqrt(det * (1 - det) / done), group


def test_detection_scales_with_digital_exposure() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 40_000
    doc["population"]["groups"][0]["exposure"] = {"mean": 0.3, "concentration": 6.0}
    doc["sources"][0]["exposure_weight"] = 1.0  # the camera sees only the digitally exposed
    result = carnet.simulate(doc)
    done = total(result, "acts_red_light_detected") + total(result, "acts_red_light_missed")
    seen = total(result, "acts_red_light_detected")
    # E[detect] = 0.6 * E[exposure]; exposure is Beta(1.8, 4.2) quantised to 1/255.
    p = 0.6 * 0.3
    assert abs(seen / done - p) < Z * math.sqrt(p * (1 - p) / done) + 1 / 255
    exposure = result.population["exposure"].to_numpy()
    se = math.sqrt(0.3 * 0.7 / 7.0 / len(exposure))  # Beta variance mu(1-mu)/(c+1)
    assert abs(exposure.mean() - 0.3) < Z * se + 0.5 / 255


def test_expiry_restores_points_after_lifetime() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 50_000
    doc["rules"]["lifetime_days"] = 100
    result = carnet.simulate(doc)
    x = final_points(result)
    # Only records of the last 100 days still count at the end of day 365.
    doc["run"]["days"] = 100
    mean, var, _ = compound_poisson(doc)
    assert abs(x.mean() - mean) < Z * math.sqrt(var / len(x))
    # Conservation: every restoration undoes an earlier record exactly.
    ledger = result.ledger
    assert pc.sum(ledger["points"]).as_py() == pytest.approx(x.sum() - 1000 * len(x))
    expired = ledger.filter(pc.equal(ledger["kind"], "expiry"))
    assert expired.num_rows == sum(total(result, f"expired_{b['name']}") for b in doc["behaviours"])


def test_deterrence_by_grade_for_aware_citizens_only() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 40_000
    doc["population"]["start_points"] = 500  # everyone starts, and stays, in grade C
    doc["population"]["groups"][0]["awareness"] = 0.25
    doc["responses"] = {"deterrence": {"C": 0.4}, "aware_only": True}
    doc["run"]["days"] = 120
    result = carnet.simulate(doc)
    rate = 1.5 * (0.25 * 0.4 + 0.75)  # late_payment: deterred among the aware quarter
    done = total(result, "acts_late_payment_detected") + total(result, "acts_late_payment_missed")
    expected = 40_000 * rate * 120 / 365
    assert abs(done - expected) < Z * math.sqrt(expected)
    good = total(result, "acts_volunteering_detected") + total(result, "acts_volunteering_missed")
    expected_good = 40_000 * 2.0 * 120 / 365  # positive acts are not deterred
    assert abs(good - expected_good) < Z * math.sqrt(expected_good)


def test_grade_counts_are_conserved_and_match_final_points() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 5000
    result = carnet.simulate(doc)
    m = result.metrics.to_pydict()
    for i in range(len(m["day"])):
        assert m["grade_A"][i] + m["grade_B"][i] + m["grade_C"][i] == m["citizens"][i]
    pop = result.population
    last = {g: m[f"grade_{g}"][-1] for g in ("A", "B", "C")}
    assert Counter(pop["grade"].to_pylist()) == {g: n for g, n in last.items() if n}
    assert m["points_sum"][-1] == int(pc.sum(pop["points"]).as_py())


def test_ledger_balances_follow_points() -> None:
    doc = base_scenario()
    doc["population"]["size"] = 3000
    doc["rules"]["lifetime_days"] = 60
    doc["rules"]["floor"], doc["rules"]["ceiling"] = 950, 1010
    result = carnet.simulate(doc)
    ledger = result.ledger.sort_by([("citizen", "ascending"), ("day", "ascending")]).to_pydict()
    balance: dict[int, int] = {}
    for c, pts, bal in zip(ledger["citizen"], ledger["points"], ledger["balance"], strict=True):
        balance[c] = balance.get(c, 1000) + pts
        assert balance[c] == bal
        assert 950 <= bal <= 1010
    final = dict(
        zip(*result.population.select(["citizen", "points"]).to_pydict().values(), strict=True)
    )
    for c, b in balance.items():
        assert final[c] == b
