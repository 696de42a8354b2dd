"""Replicates over seeds and comparisons on common random numbers."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from helpers import base_scenario

import carnet
from carnet.analysis.replicates import compare, replicate, summarise, t_quantile

Z = 4.0


def small(misattribution: float = 0.02) -> carnet.Scenario:
    doc = base_scenario(days=120)
    doc["population"]["size"] = 8000
    doc["sources"][0]["misattribution"] = misattribution
    del doc["behaviours"][1]  # late payments: red lights are then the only sanction
    del doc["rules"]["points"]["late_payment"]
    doc["responses"] = {"punished": 0.5, "memory_days": 30}
    doc["gates"] = [{"name": "loan", "applications_per_year": 6.0, "min_grade": "B"}]
    return carnet.load_scenario(doc)


def metric(table: pa.Table, name: str, **keys: str) -> dict[str, float]:
    rows = [r for r in table.to_pylist()
            if r["metric"] == name and all(r[k] == v for k, v in keys.items())]  # fmt: skip
    assert len(rows) == 1, (name, keys, rows)
    return rows[0]


def test_a_scenario_compared_with_itself_differs_by_exactly_zero() -> None:
    s = small()
    tables = compare(s, s, 3)
    assert set(tables) >= {"sanctions", "gates", "behaviour", "privacy", "appeals"}
    for name, table in tables.items():
        assert table.num_rows > 0 or name == "listings", name  # this scenario has no lists
        for column in ("difference", "low", "high"):
            assert set(table[column].to_pylist()) <= {0.0}, (name, column)


def test_compare_finds_what_a_change_does() -> None:
    tables = compare(small(0.01), small(0.10), 4)
    wrongful = metric(tables["sanctions"], "wrongful", group="all")
    assert wrongful["b"] > wrongful["a"] and wrongful["low"] > 0
    # Common random numbers: the same acts happen, so the acts truly done barely move.
    acts = metric(tables["behaviour"], "acts_without_responses", behaviour="volunteering",
                  group="all")  # fmt: skip
    assert acts["difference"] == 0.0


def test_replicates_give_intervals_that_cover_the_theory() -> None:
    audits = replicate(small(0.05), 6)
    summary = summarise(audits)
    share = [a.sanctions.to_pylist()[-1]["wrongful"] for a in audits]
    got = metric(summary["sanctions"], "wrongful", group="all")
    assert got["mean"] == np.mean(share)
    half = t_quantile(5) * np.std(share, ddof=1) / math.sqrt(6)
    assert math.isclose(got["high"] - got["mean"], half) and got["low"] < got["mean"]
    # Red lights are the only sanction, seen by the camera, which blames a neighbour 5% of the
    # time: the wrongful share of sanctions is 0.05 in expectation.
    ratio = metric(summary["sanctions"], "wrongful_share", group="all")
    n = 6 * metric(summary["sanctions"], "sanctions", group="all")["mean"]
    assert abs(ratio["mean"] - 0.05) < Z * math.sqrt(0.05 * 0.95 / n)
    assert ratio["low"] < ratio["mean"] < ratio["high"]


def test_t_quantiles() -> None:
    assert t_quantile(1) == 12.706 and t_quantile(9) == 2.262 and t_quantile(1000) < 1.97
