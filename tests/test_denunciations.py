"""Denunciations: reports accuse a neighbour or a relative; the truth stays in the ledger."""

from __future__ import annotations

import math
from typing import Any

import pyarrow.compute as pc
import pytest
from helpers import denouncing

import carnet
from carnet.errors import ScenarioError

Z = 4.0


def rows(result: carnet.Result, behaviour: str) -> list[dict[str, Any]]:
    ledger = result.ledger
    return ledger.filter(pc.equal(ledger["behaviour"], behaviour)).to_pylist()


def test_unverified_false_reports_sanction_the_innocent() -> None:
    result = carnet.simulate(denouncing(true_probability=0.0, verify_probability=0.0))
    accused = rows(result, "misconduct")
    reports = rows(result, "report_misconduct")
    assert len(accused) == len(reports) > 100
    for a, r in zip(accused, reports, strict=True):  # each report, then its accused, in order
        assert a["day"] == r["day"] and a["citizen"] != r["citizen"]
        assert a["points"] == -15 and not a["truly_done"] and a["true_actor"] == -1
        assert r["points"] == 3 and not r["truly_done"]  # rewarded for a false report
        assert abs(a["citizen"] - r["citizen"]) <= 50  # a neighbour
        assert a["citizen"] // 1024 == r["citizen"] // 1024  # in the same block
    assert pc.sum(result.metrics["denounced_wrongfully"]).as_py() == len(accused)
    causes = result.summary().wrongful_by_cause
    assert causes["false denunciation"] == len(accused)
    wrongful_camera = sum(
        1
        for r in result.ledger.to_pylist()
        if r["kind"] == "act" and not r["truly_done"] and r["true_actor"] >= 0 and r["points"] < 0
    )
    assert causes["misattribution"] == wrongful_camera


def test_checked_false_reports_are_dropped_and_true_ones_stand() -> None:
    dropped = carnet.simulate(denouncing(true_probability=0.0, verify_probability=1.0))
    assert rows(dropped, "misconduct") == []
    assert {r["points"] for r in rows(dropped, "report_misconduct")} == {0}
    true = carnet.simulate(denouncing(true_probability=1.0, verify_probability=0.0))
    for a in rows(true, "misconduct"):
        assert a["truly_done"] and a["true_actor"] == a["citizen"]


def test_household_reports_accuse_a_member_of_the_household() -> None:
    result = carnet.simulate(
        denouncing(target="household", true_probability=0.0, verify_probability=0.0)
    )
    household = dict(
        zip(*result.population.select(["citizen", "household"]).to_pydict().values(), strict=True)
    )
    accused, reports = rows(result, "misconduct"), rows(result, "report_misconduct")
    same = sum(
        household[a["citizen"]] == household[r["citizen"]]
        for a, r in zip(accused, reports, strict=True)
    )
    assert same > 0.5 * len(accused)  # everyone but those living alone accuses a relative


def test_shares_follow_truth_and_verification() -> None:
    doc = denouncing(true_probability=0.4, verify_probability=0.25)
    doc["population"]["size"] = 40_000
    m = carnet.simulate(doc).metrics
    n = pc.sum(m["denounced"]).as_py()
    for column, p in (("denounced_rejected", 0.6 * 0.25), ("denounced_wrongfully", 0.6 * 0.75),
                      ("denounced_sanctioned", 0.4 + 0.6 * 0.75)):  # fmt: skip
        share = pc.sum(m[column]).as_py() / n
        assert abs(share - p) < Z * math.sqrt(p * (1 - p) / n), column
    assert pc.sum(m["wrongful_misconduct"]).as_py() == pc.sum(m["denounced_wrongfully"]).as_py()


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"behaviour": "nothing"}, "denunciations.behaviour", "unknown behaviour"),
        ({"behaviour": "red_light"}, "denunciations.behaviour", "must be a positive behaviour"),
        ({"sanction": "volunteering"}, "denunciations.sanction", "must be a negative behaviour"),
        ({"target": "cousin"}, "denunciations.target", "must be one of"),
    ],
)
def test_errors_name_their_path(change: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(denouncing(**change))
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()
