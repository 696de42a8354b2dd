"""Start points drawn per group: a normal law rounded and clipped, or a table of shares."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers import base_scenario, lending

import carnet
from carnet.analysis import audit
from carnet.errors import ScenarioError
from carnet.sim.policies import start_law
from carnet.sim.streams import START_POINTS, used_by

Z = 4.0


def started_apart(*starts: dict[str, Any], size: int = 40_000) -> dict[str, Any]:
    doc = base_scenario(days=2)
    doc["population"]["size"] = size
    doc["population"]["groups"] = [
        {"name": f"g{i}", "share": 1.0 / len(starts), "start": st} for i, st in enumerate(starts)
    ]
    doc["rules"].update(floor=800, ceiling=1200)
    doc["run"]["panel"] = {"full_up_to": 10**7}
    return doc


def drawn(doc: dict[str, Any]) -> tuple[carnet.Scenario, dict[str, np.ndarray]]:
    """The start points of everyone (the panel is everyone), by group."""
    s = carnet.load_scenario(doc)
    pop = carnet.simulate(s).population
    group = np.asarray(pop["group"].cast(pa.string()).to_pylist())
    points = pop["start_points"].to_numpy().astype(np.int64)
    return s, {g.name: points[group == g.name] for g in s.population.groups}


def test_a_normal_start_has_its_laws_mean_and_sd() -> None:
    s, by = drawn(started_apart({"kind": "normal", "mean": 1000.0, "sd": 30.0},
                                {"kind": "normal", "mean": 950.4, "sd": 12.5}))  # fmt: skip
    law = start_law(s)
    x = np.arange(800, 1201)
    for g, (name, mean, sd) in enumerate((("g0", 1000.0, 30.0), ("g1", 950.4, 12.5))):
        mine = by[name]
        m = float(law[g] @ x)
        var = float(law[g] @ (x - m) ** 2)
        mu4 = float(law[g] @ (x - m) ** 4)
        # The law itself: rounding adds 1/12 to the variance (Sheppard), and nothing is clipped.
        assert abs(m - mean) < 1e-6 and abs(var - (sd**2 + 1 / 12)) < 1e-3
        n = len(mine)
        assert abs(mine.mean() - m) < Z * math.sqrt(var / n)
        assert abs(mine.var() - var) < Z * math.sqrt((mu4 - var**2) / n)


def test_a_normal_start_is_clipped_to_floor_and_ceiling() -> None:
    """Draws below the floor land on it, above the ceiling on it: their shares are the tails."""
    _, by = drawn(started_apart({"kind": "normal", "mean": 810.0, "sd": 30.0},
                                {"kind": "normal", "mean": 1190.0, "sd": 20.0}))  # fmt: skip
    low, high = by["g0"], by["g1"]
    assert low.min() == 800 and high.max() == 1200
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    for mine, share, at in ((low, phi((800.5 - 810) / 30), 800),
                            (high, 1 - phi((1199.5 - 1190) / 20), 1200)):  # fmt: skip
        got = (mine == at).mean()
        assert abs(got - share) < Z * math.sqrt(share * (1 - share) / len(mine))


def test_a_table_start_draws_its_shares() -> None:
    table = {"kind": "table", "points": [850, 900, 1000, 1100], "shares": [1.0, 2.0, 3.0, 4.0]}
    _, by = drawn(started_apart(table, {"kind": "normal", "mean": 1000.0, "sd": 1.0}))
    mine = by["g0"]
    assert set(np.unique(mine)) == {850, 900, 1000, 1100}
    for point, share in zip(table["points"], (0.1, 0.2, 0.3, 0.4), strict=True):
        got = (mine == point).mean()
        assert abs(got - share) < Z * math.sqrt(share * (1 - share) / len(mine)), point


def test_points_are_the_start_plus_the_ledger() -> None:
    doc = lending()
    doc["population"]["groups"][0]["start"] = {"kind": "normal", "mean": 1000.0, "sd": 60.0}
    doc["rules"].update(floor=0, ceiling=2000)
    result = carnet.simulate(doc)
    pop = result.population
    start = pop["start_points"].to_numpy().astype(np.int64)
    assert len(np.unique(start)) > 50
    _, at_zero = audit.points_on(result, 0)
    np.testing.assert_array_equal(at_zero, start)
    _, at_end = audit.points_on(result, doc["run"]["days"])
    np.testing.assert_array_equal(at_end, pop["points"].to_numpy())
    ledger = result.ledger
    moved = dict.fromkeys(pop["citizen"].to_pylist(), 0)
    for c, p in zip(ledger["citizen"].to_pylist(), ledger["points"].to_pylist(), strict=True):
        moved[c] += p
    np.testing.assert_array_equal(start + np.array(list(moved.values())), pop["points"].to_numpy())
    # Start Gini is taken from the drawn points, no longer 0.
    ineq = audit.inequality(result)
    assert pc.max(ineq["gini_start"]).as_py() > 0.01


def test_without_a_start_law_nothing_is_drawn_or_written() -> None:
    doc = lending()
    assert START_POINTS not in used_by(carnet.load_scenario(doc))
    assert "start_points" not in carnet.simulate(doc).population.column_names
    doc["population"]["groups"][0]["start"] = {"kind": "normal", "mean": 1000.0, "sd": 1.0}
    assert START_POINTS in used_by(carnet.load_scenario(doc))


def test_start_points_keep_the_groups_other_draws() -> None:
    """Common random numbers: the start law draws from its own stream, nothing else moves."""
    one = {"kind": "table", "points": [900], "shares": [1.0]}
    plain = carnet.simulate(started_apart({"kind": "normal", "mean": 1000.0, "sd": 30.0}, one))
    one = {"kind": "table", "points": [950], "shares": [1.0]}
    other = carnet.simulate(started_apart({"kind": "normal", "mean": 900.0, "sd": 5.0}, one))
    for name in ("citizen", "group", "region", "income_quintile", "exposure", "aware"):
        assert plain.population[name].equals(other.population[name]), name


@pytest.mark.parametrize(
    ("start", "path", "message"),
    [
        ({"kind": "normal", "mean": 1000.0}, "population.groups.0.start.sd",
         "required for a normal start"),
        ({"kind": "normal", "mean": 1000.0, "sd": 0.0}, "population.groups.0.start.sd",
         "must be > 0"),
        ({"kind": "normal", "mean": 1.0, "sd": 1.0, "points": [1]},
         "population.groups.0.start.points", "not points or shares"),
        ({"kind": "table", "points": [900, 850], "shares": [1, 1]},
         "population.groups.0.start.points.1", "points must increase: 850 after 900"),
        ({"kind": "table", "points": [900, 1300], "shares": [1.0, 1.0]},
         "population.groups.0.start.points.1",
         "must lie within rules floor 800 and ceiling 1200, got 1300"),
        ({"kind": "table", "points": [900, 950], "shares": [1.0]},
         "population.groups.0.start.shares", "needs one share per point (2)"),
        ({"kind": "table", "points": [900], "shares": [0.0]},
         "population.groups.0.start.shares", "shares must not all be 0"),
        ({"kind": "table", "points": [900], "shares": [-1.0]},
         "population.groups.0.start.shares.0", "must lie within 0 and 1e9"),
        ({"kind": "table", "shares": []}, "population.groups.0.start.points",
         "required for a table start"),
        ({"kind": "uniform"}, "population.groups.0.start.kind", "must be one of"),
    ],
)  # fmt: skip
def test_errors_in_start_laws_name_their_path(start: Any, path: str, message: str) -> None:
    doc = started_apart(start)
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()
