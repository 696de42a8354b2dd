"""Lending with a repayment model, and the feedback of gates and lists on income and distress."""

from __future__ import annotations

import math
from typing import Any

import pyarrow.compute as pc
import pytest
from helpers import base_scenario, lending

import carnet
from carnet.errors import ScenarioError

Z = 4.0


def total(result: carnet.Result, column: str) -> int:
    return int(pc.sum(result.metrics[column]).as_py())


def test_each_loan_is_settled_once_as_its_grade_decides() -> None:
    result = carnet.simulate(lending())
    d = result.decisions
    granted = d.filter(pc.and_(pc.equal(d["outcome"], "approved"), pc.less(d["day"], 120)))
    assert total(result, "loans_due") == granted.num_rows > 100
    ledger = result.ledger
    settled = ledger.filter(
        pc.is_in(ledger["kind"].cast("string"), value_set=pa_strings("loan_repaid", "loan_default"))
    )
    assert settled.num_rows == granted.num_rows
    # Every loan falls due exactly term_days after it was granted, to the same citizen.
    assert sorted((r["day"] - 30, r["citizen"]) for r in settled.to_pylist()) == sorted(
        (r["day"], r["citizen"]) for r in granted.to_pylist()
    )
    by_grade = {(r["day"], r["citizen"]): r["grade"] for r in granted.to_pylist()}
    repaid = defaulted = 0
    for r in settled.to_pylist():
        grade = by_grade[(r["day"] - 30, r["citizen"])]
        assert r["kind"] == ("loan_repaid" if grade == "A" else "loan_default")
        assert r["behaviour"] == "loan" and r["source"] == "lender"
        repaid += r["kind"] == "loan_repaid"
        defaulted += r["kind"] == "loan_default"
    assert total(result, "loans_repaid") == repaid and total(result, "loans_defaulted") == defaulted
    # Profit in basis points: interest 10% x price 0.5 for grade A, the principal lost on B.
    assert total(result, "lender_profit_bp") == repaid * 500 - defaulted * 10_000


def pa_strings(*values: str) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())


def test_logistic_repayment_matches_its_probability() -> None:
    doc = lending(repay_by_grade={}, repay_intercept=math.log(3), repay_per_point=0.0)
    doc["population"]["size"] = 30_000
    result = carnet.simulate(doc)
    due, repaid = total(result, "loans_due"), total(result, "loans_repaid")
    assert abs(repaid / due - 0.75) < Z * math.sqrt(0.75 * 0.25 / due)


def test_defaults_and_refusals_bring_distress_and_then_lawsuits() -> None:
    doc = lending(repay_by_grade={"A": 0.0, "B": 0.0})
    doc["population"]["start_points"] = 950  # grade B: everyone may borrow, nobody repays
    doc["lists"] = {"blacklist": {"distress_per_year": 0.0, "lawsuits_per_year": 20.0,
                                  "listing_probability": 1.0, "distress_days": 400}}  # fmt: skip
    result = carnet.simulate(doc)
    defaults = [r["citizen"] for r in result.ledger.to_pylist() if r["kind"] == "loan_default"]
    defaulters = set(defaults)
    listed = {r["citizen"] for r in result.ledger.to_pylist() if r["kind"] == "listing"}
    assert defaulters and listed and listed <= defaulters  # no other road into distress here
    # Each defaulter fell into distress at least once, and a default while distressed adds none.
    assert len(defaulters) <= total(result, "distress_onsets") <= len(defaults)

    refused = lending(repay_by_grade={"A": 1.0, "B": 1.0})
    refused["population"]["start_points"] = 500  # grade C: every application refused
    refused["gates"][0]["distress_if_refused"] = 1.0
    refused["lists"] = doc["lists"]
    r2 = carnet.simulate(refused)
    refusals = [r["citizen"] for r in r2.decisions.to_pylist()]
    assert {r["outcome"] for r in r2.decisions.to_pylist()} == {"refused_grade"}
    applicants = set(refusals)
    listed2 = {r["citizen"] for r in r2.ledger.to_pylist() if r["kind"] == "listing"}
    assert listed2 and listed2 <= applicants
    assert len(applicants) <= total(r2, "distress_onsets") <= len(refusals)


def test_jobs_lift_income_and_listings_lower_it() -> None:
    doc = base_scenario(days=200)
    doc["population"]["size"] = 20_000
    doc["gates"] = [{"name": "job", "applications_per_year": 3.0, "income_up_if_approved": 0.5}]
    base = carnet.simulate({**doc, "gates": [{"name": "job", "applications_per_year": 3.0}]})
    lifted = carnet.simulate(doc)
    mean = lambda r: pc.mean(r.population["income_quintile"]).as_py()  # noqa: E731
    assert mean(lifted) > mean(base) + 0.3
    listing = base_scenario(days=200)
    listing["population"]["size"] = 20_000
    listing["lists"] = {"blacklist": {"distress_per_year": 3.0, "lawsuits_per_year": 10.0,
                                      "listing_probability": 1.0, "income_down_on_listing": 1.0,
                                      "term_days": 1000}}  # fmt: skip
    r = carnet.simulate(listing)
    pop = r.population
    listed = pc.mean(pc.filter(pop["income_quintile"], pop["listed"])).as_py()
    free = pc.mean(pc.filter(pop["income_quintile"], pc.invert(pop["listed"]))).as_py()
    assert listed < free - 0.5


def test_lending_errors_name_their_path() -> None:
    doc = lending(gate="mortgage", repay_by_grade={"Z": 0.5})
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    paths = [p for p, _ in caught.value.problems]
    assert "lending.gate" in paths


def test_loans_due_the_same_day_draw_independent_outcomes() -> None:
    """Two loans of one borrower due on one day are repaid or not independently (p = 1/2)."""
    doc = lending(repay_by_grade={}, repay_intercept=0.0, repay_per_point=0.0,
                  points_on_repayment=0, points_on_default=0)  # fmt: skip
    doc["population"]["size"] = 4000
    doc["gates"][0].update(applications_per_year=120.0, min_grade=None)
    rows = carnet.simulate(doc).ledger.to_pylist()
    outcomes: dict[tuple[int, int], list[bool]] = {}
    for r in rows:
        if r["kind"] in ("loan_repaid", "loan_default"):
            outcomes.setdefault((r["day"], r["citizen"]), []).append(r["kind"] == "loan_repaid")
    pairs = [(o[0], o[1]) for o in outcomes.values() if len(o) >= 2]
    assert len(pairs) > 2000
    # Independent fair draws agree half the time; shared draws (the bug of 0.2) always agree.
    agree = sum(a == b for a, b in pairs) / len(pairs)
    assert abs(agree - 0.5) < Z * math.sqrt(0.25 / len(pairs))
    assert 0 < sum(a for a, _ in pairs) < len(pairs)
