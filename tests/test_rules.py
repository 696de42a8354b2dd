"""Rules on hand-computed cases: caps, clamping, expiry order, grades."""

from __future__ import annotations

from collections import defaultdict

import pyarrow.compute as pc
from helpers import base_scenario

import carnet


def certain(rate: float, points: dict, **rules: object) -> dict:
    """One behaviour seen with certainty at a high rate, so every citizen acts every few days."""
    doc = base_scenario()
    doc["population"]["size"] = 500
    doc["behaviours"] = [
        {"name": "volunteering", "kind": "positive", "rate_per_year": rate,
         "observed_by": [{"source": "camera", "detect": 1.0}]},
        {"name": "red_light", "kind": "negative", "rate_per_year": rate,
         "observed_by": [{"source": "camera", "detect": 1.0}]},
    ]  # fmt: skip
    doc["rules"] = {"floor": -32768, "ceiling": 32767, "lifetime_days": None, "points": points}
    doc["rules"].update(rules)
    return doc


def test_yearly_cap_limits_rewards_and_renews_each_year() -> None:
    doc = certain(365.0, {"volunteering": {"points": 5, "yearly_cap": 12}, "red_light": 0})
    doc["run"]["days"] = 730
    result = carnet.simulate(doc)
    ledger = result.ledger.filter(pc.equal(result.ledger["behaviour"], "volunteering")).to_pydict()
    earned: dict[tuple[int, int], list[int]] = defaultdict(list)
    for day, c, pts in zip(ledger["day"], ledger["citizen"], ledger["points"], strict=True):
        earned[(c, day // 365)].append(pts)
    # With about 365 acts a year, every citizen reaches the cap: 5 + 5 + 2, then nothing.
    for (c, year), pts in earned.items():
        assert sum(pts) == 12, (c, year)
        assert [p for p in pts if p] == [5, 5, 2]
    points = result.population["points"].to_pylist()
    assert set(points) == {1024}


def test_clamping_keeps_points_within_floor_and_ceiling() -> None:
    doc = certain(700.0, {"volunteering": 30, "red_light": -1}, floor=990, ceiling=1010)
    doc["run"]["days"] = 60
    result = carnet.simulate(doc)
    balances = result.ledger["balance"].to_pylist()
    assert min(balances) >= 990 and max(balances) <= 1010
    assert max(balances) == 1010
    # A clamped change records the points that really moved, not the rule's nominal value.
    pts = result.ledger.filter(pc.equal(result.ledger["behaviour"], "volunteering"))["points"]
    assert set(pts.to_pylist()) <= set(range(0, 31))
    assert 0 in pts.to_pylist()


def test_expiry_returns_exactly_what_was_taken() -> None:
    doc = certain(20.0, {"volunteering": 0, "red_light": -50}, floor=960, lifetime_days=30)
    doc["run"]["days"] = 200
    result = carnet.simulate(doc)
    rows = result.ledger.sort_by([("citizen", "ascending"), ("day", "ascending")]).to_pylist()
    restored = [r["points"] for r in rows if r["kind"] == "expiry"]
    # From 1000, -50 is clamped at the floor 960: -40 taken, and +40 given back 30 days later;
    # acts while at the floor move nothing and leave nothing to restore.
    assert restored and set(restored) == {40}
    taken: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        if r["behaviour"] != "red_light":
            continue
        if r["kind"] == "act" and r["points"]:
            taken[r["citizen"]].append((r["day"], r["points"]))
        elif r["kind"] == "expiry":
            day, pts = taken[r["citizen"]].pop(0)
            assert r["day"] == day + 30
            assert r["points"] == -pts  # the clamped amount, never the nominal -50


def test_grades_follow_bands() -> None:
    doc = certain(50.0, {"volunteering": 3, "red_light": -7})
    doc["grades"] = [
        {"name": "AAA", "min_points": 1050},
        {"name": "A", "min_points": 960},
        {"name": "B", "min_points": 850},
        {"name": "D"},
    ]
    result = carnet.simulate(doc)
    for points, grade in zip(
        result.population["points"].to_pylist(), result.population["grade"].to_pylist(), strict=True
    ):
        expected = (
            "AAA" if points >= 1050 else "A" if points >= 960 else "B" if points >= 850 else "D"
        )
        assert grade == expected
