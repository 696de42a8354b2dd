"""A blacklist that starts warm: its own flows run before day 0, so the run starts at its stock.

With the warm-up long enough for the list to forget its empty start, day 0's stock is the
stationary one: by Little's law, the rate of entries times the mean time listed, and it stays
level through the run. Without it, the list starts empty and fills.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers import base_scenario

import carnet

Z = 4.0
TERM, EXIT_PER_YEAR = 60, 3.65  # exit hazard 0.01 a day


def listed(warm_up_days: int) -> dict[str, Any]:
    doc = base_scenario(days=200)
    doc["population"]["size"] = 60_000
    doc["lists"] = {"blacklist": {
        "distress_per_year": 1.0, "distress_days": 40.0, "lawsuits_per_year": 6.0,
        "listing_probability": 0.5, "term_days": TERM, "exit_per_year": EXIT_PER_YEAR,
        "points": -100, "warm_up_days": warm_up_days,
    }}  # fmt: skip
    return doc


def stock(result: carnet.Result) -> tuple[int, np.ndarray]:
    """The listed on day 0 (before its changes) and at the end of each day."""
    m = result.metrics
    days = result.scenario.run.days
    net = np.zeros(days, np.int64)
    np.add.at(net, np.asarray(m["day"]),
              np.asarray(m["blacklist_entries"]) - np.asarray(m["blacklist_exits"]))  # fmt: skip
    final = int(pc.sum(result.population["listed"].cast("int64")).as_py())
    start = final - int(net.sum())
    return start, start + np.cumsum(net)


def mean_time_listed() -> float:
    """E[min(term, 1 + floor(X))], X exponential at the exit hazard: sum_{j<term} e^(-h j)."""
    h = EXIT_PER_YEAR / 365.0
    return float(sum(math.exp(-h * j) for j in range(TERM)))


def test_a_warm_list_starts_at_its_stationary_stock_and_stays_there() -> None:
    result = carnet.simulate(listed(warm_up_days=600))
    start, daily = stock(result)
    entries = int(pc.sum(result.metrics["blacklist_entries"]).as_py())
    rate = entries / result.scenario.run.days
    expected = rate * mean_time_listed()  # Little's law, the rate measured in the run
    # The stock is about Poisson (many independent listings); the rate's own error adds.
    se = math.sqrt(expected + (expected / math.sqrt(entries)) ** 2)
    assert start > 500
    assert abs(start - expected) < Z * se, (start, expected, se)
    assert abs(daily[-1] - start) < Z * math.sqrt(2 * expected)


def test_without_a_warm_up_the_list_starts_empty() -> None:
    start, daily = stock(carnet.simulate(listed(warm_up_days=0)))
    assert start == 0 and daily[-1] > 500


def test_the_warm_up_draws_nothing_the_run_draws() -> None:
    """The run's own days draw the same numbers, warm or not: the warm-up has streams of its own."""
    cold, warm = carnet.simulate(listed(0)), carnet.simulate(listed(600))
    acts = [c for c in cold.metrics.column_names if c.startswith("acts_")]
    assert cold.metrics.select(acts).equals(warm.metrics.select(acts))
    assert not cold.metrics["lawsuits"].equals(warm.metrics["lawsuits"])


def test_warm_up_days_cannot_change_in_a_timeline() -> None:
    from carnet.errors import ScenarioError

    doc = listed(10)
    doc["timeline"] = [{"day": 5, "set": {"lists.blacklist.warm_up_days": 20}}]
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert (
        "before the first day"
        in dict(caught.value.problems)['timeline.0.set."lists.blacklist.warm_up_days"']
    )


def test_the_warm_up_is_the_list_phase_in_law_even_before_it_settles() -> None:
    """W days of warm-up leave the stocks that W days of the run's own list phase leave.

    The warm-up draws citizen by citizen, the list phase day by day: the same process, other
    draws. After 80 days (far from the steady state) the stocks of the distressed, the listed and
    the published agree within their sampling error (sums of independent citizens' indicators:
    variance at most the mean, for each of the two runs).
    """
    days = 80
    cold = listed(warm_up_days=0)
    cold["run"]["days"] = days + 1
    warm = listed(warm_up_days=days)
    warm["run"]["days"] = 1
    last = carnet.simulate(cold).metrics.filter(pc.equal(pc.field("day"), days))
    first = carnet.simulate(warm).metrics.filter(pc.equal(pc.field("day"), 0))
    for stock_name in ("distressed", "blacklisted", "published"):
        a, b = (int(pc.sum(t[stock_name]).as_py()) for t in (last, first))
        assert a > 300
        assert abs(a - b) < Z * math.sqrt(a + b), (stock_name, a, b)


def test_the_warm_up_is_the_same_in_chunks_of_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    from carnet.sim.phases import warm_lists

    doc = listed(warm_up_days=300)
    doc["run"]["days"] = 5
    whole = carnet.simulate(doc)
    monkeypatch.setattr(warm_lists, "CHUNK", 777)
    chunked = carnet.simulate(doc)
    assert whole.metrics.equals(chunked.metrics) and whole.ledger.equals(chunked.ledger)
    assert whole.population.equals(chunked.population)


def test_a_warm_lists_points_are_the_start_of_the_ledger() -> None:
    """The listed hold their listing's points on day 0, which no ledger row took: the population
    table's start points say so, and points are start points plus the ledger."""
    from carnet.analysis import audit

    doc = listed(warm_up_days=300)
    doc["population"]["size"] = 5000
    doc["run"]["days"] = 30
    result = carnet.simulate(doc)
    pop = result.population
    start = pop["start_points"].to_numpy().astype(np.int64)
    assert (start == 900).sum() > 20 and (start == 1000).sum() > 2000  # listed, and not
    moved = dict.fromkeys(pop["citizen"].to_pylist(), 0)
    for c, p in zip(result.ledger["citizen"].to_pylist(), result.ledger["points"].to_pylist(),
                    strict=True):  # fmt: skip
        moved[c] += p
    np.testing.assert_array_equal(start + np.array(list(moved.values())), pop["points"].to_numpy())
    _, at_zero = audit.points_on(result, 0)
    np.testing.assert_array_equal(at_zero, start)


def test_a_warm_lists_listed_press_on_their_blocks_and_serve_their_groups_terms() -> None:
    """With contagion through listings, a warm list's listed press from day 0 and stop when they
    leave (the pressure is each block's listed, exactly); each group's listing lasts its term."""
    from carnet.sim.population import LISTED
    from carnet.sim.simulation import started

    doc = listed(warm_up_days=200)
    doc["population"]["size"] = 8000
    doc["population"]["groups"] = [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]
    doc["lists"]["blacklist"].update(exit_per_year=0.0, term_days=30, term_days_by_group={"b": 90})
    for b in doc["behaviours"]:
        b["rate_per_year"] = 0.0  # no records: the pressure is the listed alone
    doc["responses"] = {"contagion": {"neighbours": 1.0, "listings": True, "max_multiplier": 3.0}}
    doc["run"]["days"] = 60
    scenario = carnet.load_scenario(doc)
    with started(scenario, threads=1) as sim:
        (shard,) = sim.shards
        listed_day0 = int(((shard.state.flags & LISTED) > 0).sum())
        assert listed_day0 > 100 and shard.pressure.sum() == listed_day0
        while not sim.done:
            sim.advance(1)
            on_list = (shard.state.flags & LISTED) > 0
            by_block = np.bincount(np.flatnonzero(on_list) // 1024, minlength=len(shard.pressure))
            np.testing.assert_array_equal(shard.pressure, by_block)
    # Terms by group, exactly (no early exits): a listing of the run ends its group's term after
    # it began; one of the warm stock (no listing row before it) within that term of day 0.
    result = carnet.simulate(doc)
    ledger = result.ledger.filter(
        pc.is_in(result.ledger["kind"].cast("string"), pa.array(["listing", "delisting"]))
    )
    group = dict(zip(result.population["citizen"].to_pylist(),
                     result.population["group"].to_pylist(), strict=True))  # fmt: skip
    term = {"a": 30, "b": 90}
    began: dict[int, int] = {}
    warm_exits = {"a": [], "b": []}
    for r in sorted(ledger.to_pylist(), key=lambda r: (r["day"], r["kind"] == "listing")):
        c, g = r["citizen"], group[r["citizen"]]
        if r["kind"] == "listing":
            began[c] = r["day"]
        elif c in began:
            assert r["day"] - began.pop(c) == term[g]
        else:
            warm_exits[g].append(r["day"])
    assert max(warm_exits["a"]) < 30 and 30 <= max(warm_exits["b"]) < 90


def test_the_warm_up_keeps_every_onset_however_many() -> None:
    """At 100 onsets a year over 300 days a citizen has about 82 onset candidates, more than the
    room first made for them: the warm-up still leaves the stocks the list phase leaves."""
    days = 300

    def busy(warm_up_days: int, run_days: int) -> dict[str, Any]:
        doc = listed(warm_up_days)
        doc["population"]["size"] = 8000
        doc["lists"]["blacklist"].update(distress_per_year=100.0, distress_days=2.0,
                                         lawsuits_per_year=20.0, term_days=30)  # fmt: skip
        doc["run"]["days"] = run_days
        return doc

    last = carnet.simulate(busy(0, days + 1)).metrics.filter(pc.equal(pc.field("day"), days))
    first = carnet.simulate(busy(days, 1)).metrics.filter(pc.equal(pc.field("day"), 0))
    for stock_name in ("distressed", "blacklisted"):
        a, b = (int(pc.sum(t[stock_name]).as_py()) for t in (last, first))
        assert a > 300
        assert abs(a - b) < Z * math.sqrt(a + b), (stock_name, a, b)
