"""Wrongful refusals: refusals at a gate that a truthful record would have turned into approvals."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc
from helpers import base_scenario, with_companies

import carnet


def gated(misattribution: float) -> dict[str, Any]:
    doc = base_scenario(days=90)
    doc["population"]["size"] = 4000
    doc["sources"][0]["misattribution"] = misattribution  # the camera blames a neighbour
    doc["behaviours"] = [doc["behaviours"][0]]  # red lights only: -5 each, never expiring
    doc["rules"]["points"] = {"red_light": -5}
    doc["behaviours"][0]["rate_per_year"] = 20.0
    doc["grades"] = [{"name": "A", "min_points": 995}, {"name": "B", "min_points": 985},
                     {"name": "C"}]  # fmt: skip
    doc["gates"] = [{"name": "loan", "applications_per_year": 12.0, "min_grade": "B"}]
    return doc


def refusals(result: carnet.Result) -> tuple[int, int]:
    g = result.gates
    assert g is not None
    refused = g.filter(pc.not_equal(g["outcome"], "approved"))
    return pc.sum(refused["count"]).as_py() or 0, pc.sum(refused["wrongful"]).as_py() or 0


def test_refusals_for_wrongful_deductions_only_are_wrongful() -> None:
    everyone_blamed = carnet.simulate(gated(misattribution=1.0))
    refused, wrongful = refusals(everyone_blamed)
    assert refused > 100 and wrongful == refused  # every deduction was someone else's act
    honest = carnet.simulate(gated(misattribution=0.0))
    refused, wrongful = refusals(honest)
    assert refused > 100 and wrongful == 0


def test_wrongful_refusals_match_the_truth_of_each_applicant() -> None:
    result = carnet.simulate(gated(misattribution=0.3))
    ledger = result.ledger.to_pylist()
    decisions = result.decisions.to_pylist()
    refused, wrongful = refusals(result)
    assert 0 < wrongful < refused
    # Replay each citizen's record: points without the untrue rows decide the truthful grade.
    truthful: dict[int, list[tuple[int, int]]] = {}
    for row in ledger:
        if row["truly_done"]:
            truthful.setdefault(row["citizen"], []).append((row["day"], row["points"]))
    for d in decisions:
        if d["outcome"] == "approved":
            assert not d["wrongful"]
            continue
        points = 1000 + sum(p for day, p in truthful.get(d["citizen"], []) if day <= d["day"])
        assert d["wrongful"] == (points >= 985), d
    assert sum(d["wrongful"] for d in decisions) == wrongful  # the panel is everyone


def test_a_representative_listed_for_a_violation_never_committed_is_refused_wrongfully() -> None:
    doc = with_companies()
    doc["sources"][-1]["misattribution"] = 0.5  # the tax office books arrears on the wrong firm
    result = carnet.simulate(doc)
    m, cm = result.metrics, result.company_metrics
    assert cm is not None
    wrong_listings = pc.sum(cm["wrongful_entries"]).as_py()
    assert 0 < wrong_listings < pc.sum(cm["blacklist_entries"]).as_py()
    assert pc.sum(m["joint_wrongful"]).as_py() == wrong_listings
    joint = [r for r in result.ledger.to_pylist() if r["source"] == "joint_punishment"]
    false_joint = {r["citizen"] for r in joint if r["kind"] == "listing" and not r["truly_done"]}
    flights = [d for d in result.decisions.to_pylist() if d["outcome"] == "refused_blacklisted"]
    wrong = [d for d in flights if d["wrongful"]]
    assert wrong and {d["citizen"] for d in wrong} <= false_joint
    assert any(not d["wrongful"] for d in flights)  # those of real violators stand
    # A listing's end keeps the truth of its start.
    open_listing: dict[int, bool] = {}
    ends = 0
    for r in sorted(result.company_ledger.to_pylist(), key=lambda r: (r["company"], r["day"])):
        if r["kind"] == "listing":
            open_listing[r["company"]] = r["truly_done"]
        elif r["kind"] == "delisting":
            assert r["truly_done"] == open_listing.pop(r["company"])
            ends += 1
    assert ends > 10
