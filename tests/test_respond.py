"""Responses: the punished and their households hold back for a while; lawful acts are chilled."""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import pairwise

import pyarrow.compute as pc
from helpers import base_scenario, deterred

import carnet

Z = 4.0


def act_days(result: carnet.Result) -> dict[int, list[int]]:
    days: dict[int, list[int]] = defaultdict(list)
    ledger = result.ledger.filter(pc.equal(result.ledger["kind"], "act")).to_pydict()
    for c, d in zip(ledger["citizen"], ledger["day"], strict=True):
        days[c].append(d)
    return days


def test_the_punished_hold_back_for_memory_days() -> None:
    result = carnet.simulate(deterred())
    gaps = [b - a for days in act_days(result).values() for a, b in pairwise(days)]
    assert gaps and all(g == 0 or g > 10 for g in gaps)  # nothing on the 10 days after one
    assert any(g == 11 for g in gaps)  # and back to acting the day after
    free = carnet.simulate(deterred(punished=1.0))
    free_gaps = [b - a for days in act_days(free).values() for a, b in pairwise(days)]
    assert any(1 <= g <= 10 for g in free_gaps)


def test_their_households_hold_back_too() -> None:
    result = carnet.simulate(deterred(punished=0.0, household=0.0))
    household = dict(
        zip(*result.population.select(["citizen", "household"]).to_pydict().values(), strict=True)
    )
    by_household: dict[int, list[int]] = defaultdict(list)
    for c, days in act_days(result).items():
        by_household[household[c]].extend(days)
    for days in by_household.values():
        days.sort()
        assert all(b - a == 0 or b - a > 10 for a, b in pairwise(days))


def test_only_the_aware_respond() -> None:
    doc = deterred()
    doc["population"]["groups"][0]["awareness"] = 0.0
    result = carnet.simulate(doc)
    gaps = [b - a for days in act_days(result).values() for a, b in pairwise(days)]
    assert any(1 <= g <= 10 for g in gaps)


def test_chilling_follows_the_chance_of_being_seen() -> None:
    doc = base_scenario(days=200)
    doc["population"]["size"] = 30_000
    doc["behaviours"].append(
        {"name": "criticise_officials", "kind": "lawful", "rate_per_year": 5.0,
         "observed_by": [{"source": "camera", "detect": 0.6}]}
    )  # fmt: skip
    doc["rules"]["points"]["criticise_officials"] = 0
    doc["population"]["groups"][0]["awareness"] = 0.5
    doc["responses"] = {"chilling": 0.5}
    m = carnet.simulate(doc).metrics
    done = sum(pc.sum(m[f"acts_criticise_officials_{o}"]).as_py() for o in ("detected", "missed"))
    rate = 5.0 * (0.5 * (1 - 0.5 * 0.6) + 0.5)  # the aware half speaks 30% less
    expected = 30_000 * rate * 200 / 365
    assert abs(done - expected) < Z * math.sqrt(expected)
    other = sum(pc.sum(m[f"acts_volunteering_{o}"]).as_py() for o in ("detected", "missed"))
    assert abs(other - 30_000 * 2.0 * 200 / 365) < Z * math.sqrt(30_000 * 2.0 * 200 / 365)
