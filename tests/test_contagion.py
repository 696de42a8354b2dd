"""Contagion of sanctions, and sentence lengths by group: exact cases and the mean-field law.

The laws tested here are derived in docs/contagion.md: a block's pressure is the number of its
citizens' live negative records (and listings), a record presses for exactly its lifetime, and a
block whose negative acts are all sanctioned is a linear Hawkes process with a rectangular kernel,
whose stationary rate is r / (1 - s r L).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.compute as pc
import pytest
from helpers import base_scenario, contagious, deterred

import carnet
from carnet.errors import ScenarioError
from carnet.result import result_of
from carnet.sim.simulation import started

Z = 4.0


def spitting(size: int, days: int, block: int = 256, **contagion: Any) -> dict[str, Any]:
    """One always-seen offence at 3.65 a year, each act a sanction of -1 (no floor, no caps)."""
    doc = deterred(punished=1.0)
    doc["population"]["size"] = size
    doc["behaviours"][0]["rate_per_year"] = 3.65
    doc["rules"]["lifetime_days"] = 30
    doc["responses"] = {"contagion": contagion} if contagion else {}
    doc["run"].update(days=days, block_size=block)
    return doc


def stepped(doc: dict[str, Any], every: Callable[[int, npt.NDArray[np.int64]], None]) -> Any:
    """Run ``doc`` in one shard a day at a time, handing the pressures to ``every`` each day."""
    s = carnet.load_scenario(doc)
    with started(s, threads=1, shards=1) as sim:
        while not sim.done:
            sim.advance(1)
            every(sim.day - 1, sim.shards[0].pressure.copy())
        return result_of(sim)


def test_the_pressure_is_the_count_of_live_records_and_listings() -> None:
    """Exact: each day, each block's pressure = its live sanctions + its listed, from the ledger."""
    doc = contagious()
    seen: dict[int, npt.NDArray[np.int64]] = {}
    result = stepped(doc, lambda day, p: seen.__setitem__(day, p))
    ledger = result.ledger.to_pydict()
    block = doc["run"]["block_size"]
    negative = {name for name, r in doc["rules"]["points"].items() if r < 0}
    live = np.zeros((doc["run"]["days"], len(seen[0])), np.int64)
    kinds = set()
    for day, c, kind, behaviour, points in zip(
        ledger["day"], ledger["citizen"], ledger["kind"], ledger["behaviour"], ledger["points"],
        strict=True,
    ):  # fmt: skip
        step = 0
        if kind == "act" and points < 0:
            step = 1
        elif kind in ("expiry", "appeal_won") and behaviour in negative:
            step = -1
        elif kind in ("listing", "delisting"):  # judgments, and joint punishment
            step = 1 if kind == "listing" else -1
        if step:
            kinds.add(kind)
            live[day:, c // block] += step
    assert kinds == {"act", "expiry", "appeal_won", "listing", "delisting"}  # every path ran
    joint = pc.equal(result.ledger["behaviour"], "company_blacklist")
    assert pc.sum(joint).as_py() > 0
    for day, pressure in seen.items():
        assert np.array_equal(pressure, live[day]), day
    assert live.max() > 5


def test_the_stationary_rate_is_the_mean_field_law() -> None:
    """A block is a complete graph: lambda = r / (1 - s r L), over many independent blocks."""
    r, lifetime, s, clip = 0.01, 30, 2.0, 10.0
    n, blocks, burn_in, days = 256, 400, 500, 1100
    doc = spitting(n * blocks, days, neighbours=s, max_multiplier=clip)
    doc["run"]["panel"] = {"full_up_to": 0, "sample": 0}  # no ledger: the counts come below
    samples: list[npt.NDArray[np.int64]] = []
    top = [0]

    def every(day: int, pressure: npt.NDArray[np.int64]) -> None:
        top[0] = max(top[0], int(pressure.max()))
        # After day d, the pressure counts the sanctions of days d - L + 1 .. d: every L days
        # from the burn-in on, the blocks' counts of the window, in disjoint slices.
        if day >= burn_in and (day - burn_in + 1) % lifetime == 0:
            samples.append(pressure)

    result = stepped(doc, every)
    assert 1.0 + s * top[0] / n < clip  # the clip never acted: the law is linear throughout
    window = len(samples) * lifetime
    per_block = np.sum(samples, axis=0) / (n * window)  # acts per citizen-day, block by block
    # The pressure's slices are the acts the metrics count on those days (all seen, all -1).
    m = result.metrics.filter(pc.greater_equal(result.metrics["day"], burn_in))
    m = m.filter(pc.less(m["day"], burn_in + window))
    assert pc.sum(m["acts_spitting_detected"]).as_py() == int(np.sum(samples))
    branching = s * r * lifetime
    expected = r / (1.0 - branching)
    se = per_block.std(ddof=1) / math.sqrt(blocks)  # blocks are independent processes
    assert abs(per_block.mean() - expected) < Z * se, (per_block.mean(), expected, se)
    # Clustering inflates the spread of a block's count well beyond Poisson's (docs/contagion.md).
    assert per_block.var(ddof=1) > 2.0 * expected / (n * window)


def test_a_clipped_multiplier_caps_the_rate() -> None:
    """With a huge strength and records that never expire, every block runs at the clip."""
    doc = spitting(40 * 256, 200, neighbours=100.0, max_multiplier=3.0)
    doc["rules"]["lifetime_days"] = None
    m = carnet.simulate(doc).metrics
    late = m.filter(pc.greater_equal(m["day"], 20))  # a sanction in every block long before
    done = pc.sum(late["acts_spitting_detected"]).as_py()
    expected = 40 * 256 * 0.01 * 3.0 * 180
    assert abs(done - expected) < Z * math.sqrt(expected)


def test_a_multiplier_clipped_at_one_is_no_contagion() -> None:
    """Exact: max_multiplier 1 draws and accepts as contagion off does (same acts)."""
    off = carnet.simulate(spitting(3000, 120)).ledger
    doc = spitting(3000, 120, neighbours=5.0, household=3.0, max_multiplier=1.0)
    doc["responses"]["memory_days"] = 10
    on = carnet.simulate(doc).ledger
    assert on.num_rows > 100 and on.equals(off)


def test_housemates_of_the_sanctioned_offend_at_the_household_multiplier() -> None:
    """A citizen whose housemate was sanctioned in the last memory_days acts at h times the rate."""
    doc = spitting(20_000, 120, household=2.0, max_multiplier=2.0)
    doc["behaviours"][0]["rate_per_year"] = 36.5
    doc["rules"]["lifetime_days"] = None
    doc["responses"]["memory_days"] = 10
    result = carnet.simulate(doc)
    days, memory = 120, 10
    pop = result.population.select(["citizen", "household"]).to_pydict()
    head = np.array(pop["household"])[np.argsort(pop["citizen"])]
    acts = np.zeros((len(head), days), np.int64)
    led = result.ledger.filter(pc.equal(result.ledger["kind"], "act")).to_pydict()
    np.add.at(acts, (np.array(led["citizen"]), np.array(led["day"])), 1)
    household = np.zeros((head.max() + 1, days), np.int64)
    np.add.at(household, head, acts)
    others = household[head] - acts  # housemates' sanctions, by day
    cum = np.concatenate([np.zeros((len(head), 1), np.int64), np.cumsum(others, axis=1)], axis=1)
    lo = np.maximum(np.arange(days) - memory, 0)
    exposed = (cum[:, np.arange(days)] - cum[:, lo]) > 0  # a sanction on days d-10 .. d-1
    for mask, rate in ((exposed, 0.2), (~exposed, 0.1)):
        count, exposure = acts[mask].sum(), mask.sum()
        assert abs(count - rate * exposure) < Z * math.sqrt(rate * exposure), (rate, count)
    assert exposed.sum() > 100_000


def test_the_points_of_a_sanction_change_no_act() -> None:
    """Common random numbers: harsher points, the same sanctions, pressure and acts."""
    doc = spitting(3000, 150, neighbours=3.0, household=1.5)
    doc["responses"]["memory_days"] = 10
    mild = carnet.simulate(doc).ledger
    doc["rules"]["points"]["spitting"] = -7
    harsh = carnet.simulate(doc).ledger
    keys = ["day", "citizen", "kind"]
    assert mild.select(keys).equals(harsh.select(keys))
    assert not mild.equals(harsh)


# --- sentence lengths by group --------------------------------------------------------------------


def two_groups(doc: dict[str, Any]) -> dict[str, Any]:
    doc["population"]["groups"] = [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.5}]
    return doc


def test_a_listing_lasts_its_groups_term() -> None:
    """Exact: without early exits, each listing ends after its group's term."""
    from helpers import with_lists

    doc = two_groups(with_lists(term_days=20, term_days_by_group={"b": 35}))
    result = carnet.simulate(doc)
    group = dict(zip(*result.population.select(["citizen", "group"]).to_pydict().values(),
                     strict=True))  # fmt: skip
    led = result.ledger.filter(pc.equal(result.ledger["behaviour"], "judgment_default"))
    began: dict[int, int] = {}
    ended = {"a": 0, "b": 0}
    for day, c, kind in zip(*led.select(["day", "citizen", "kind"]).to_pydict().values(),
                            strict=True):  # fmt: skip
        if kind == "listing":
            began[c] = day
        else:
            assert day - began.pop(c) == {"a": 20, "b": 35}[group[c]]
            ended[group[c]] += 1
    for c, day in began.items():  # still listed: not yet due
        assert day + {"a": 20, "b": 35}[group[c]] >= doc["run"]["days"]
    assert min(ended.values()) > 20


def test_records_expire_after_their_groups_lifetime() -> None:
    """Exact: a record of group g expires after round(lifetime x lifetime_by_group[g]) days."""
    doc = two_groups(base_scenario(days=100))
    doc["population"]["size"] = 3000
    doc["rules"]["lifetime_days"] = 20
    doc["rules"]["points"]["late_payment"] = {"points": -10, "lifetime_days": 9}
    doc["rules"]["lifetime_by_group"] = {"b": 1.5}
    result = carnet.simulate(doc)
    group = dict(zip(*result.population.select(["citizen", "group"]).to_pydict().values(),
                     strict=True))  # fmt: skip
    life = {("a", "late_payment"): 9, ("b", "late_payment"): 14}  # rint(13.5) = 14 (even)
    pending: dict[tuple[int, str], list[int]] = {}
    checked = 0
    led = result.ledger.select(["day", "citizen", "kind", "behaviour"]).to_pydict()
    for day, c, kind, b in zip(*led.values(), strict=True):
        days = life.get((group[c], b), 20 if group[c] == "a" else 30)
        if kind == "act":
            pending.setdefault((c, b), []).append(day + days)
        elif kind == "expiry":
            assert pending[(c, b)].pop(0) == day
            checked += 1
    assert checked > 1000


def test_contagion_widens_the_gap_that_longer_sentences_open() -> None:
    """Lum et al.: two identical groups in one block, one with longer records; contagion on.

    Both groups act at the block's rate, lambda_b = r / (1 - s r Lbar_b) with Lbar_b the block's
    mean lifetime, so the gap in live records per citizen is lambda_b (L_b - L_a): without
    contagion r (L_b - L_a). Checked against that mean-field law, block by block.
    """
    r, s, short, long_ = 0.01, 2.0, 10, 30
    n, blocks, burn_in, days = 256, 150, 300, 700

    def gaps(strength: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        doc = two_groups(spitting(n * blocks, days, neighbours=strength, max_multiplier=10.0))
        doc["rules"]["lifetime_days"] = short
        doc["rules"]["lifetime_by_group"] = {"b": long_ / short}
        result = carnet.simulate(doc)
        pop = result.population.select(["citizen", "group"]).to_pydict()
        group = (np.array(pop["group"]) == "b").astype(np.int64)[np.argsort(pop["citizen"])]
        led = result.ledger.filter(pc.equal(result.ledger["kind"], "act")).to_pydict()
        c, d = np.array(led["citizen"]), np.array(led["day"])
        counts = np.zeros((blocks, 2, days + 1), np.int64)
        np.add.at(counts, (c // n, group[c], d + 1), 1)
        cum = np.cumsum(counts, axis=2)  # acts before each day
        members = np.zeros((blocks, 2))
        np.add.at(members, (np.arange(len(group)) // n, group), 1)
        live = []
        for g, lifetime in ((0, short), (1, long_)):
            t = np.arange(burn_in, days)
            live.append((cum[:, g, t + 1] - cum[:, g, t + 1 - lifetime]).mean(axis=1))
        gap = live[1] / members[:, 1] - live[0] / members[:, 0]
        mean_life = (members[:, 0] * short + members[:, 1] * long_) / n
        predicted = r / (1.0 - strength * r * mean_life) * (long_ - short)
        return gap, predicted

    off, off_predicted = gaps(0.0)
    on, on_predicted = gaps(s)
    for gap, predicted in ((off, off_predicted), (on, on_predicted)):
        se = gap.std(ddof=1) / math.sqrt(blocks)
        assert abs(gap.mean() - predicted.mean()) < Z * se, (gap.mean(), predicted.mean(), se)
    se = math.hypot(on.std(ddof=1), off.std(ddof=1)) / math.sqrt(blocks)
    assert on.mean() - off.mean() > 10 * se  # the gap widens by many standard errors


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["responses"].update(contagion={"coworkers": 1.5}),
         "responses.contagion.coworkers", "co-workers need a `companies` section"),
        (lambda d: d["responses"].update(contagion={"neighbours": -1.0}),
         "responses.contagion.neighbours", "must be >= 0.0, got -1.0"),
        (lambda d: d["responses"].update(contagion={"max_multiplier": 0.5}),
         "responses.contagion.max_multiplier", "must be >= 1.0, got 0.5"),
        (lambda d: d["responses"].update(contagion={"household": 0.5}),
         "responses.contagion.household", "must be >= 1.0, got 0.5"),
        (lambda d: d["responses"].update(contagion={"memory_days": 5}),
         "responses.contagion.memory_days", "unknown key"),
        (lambda d: d["rules"].update(lifetime_by_group={"x": 2.0}),
         "rules.lifetime_by_group.x", "unknown group 'x'; known: ['everyone']"),
        (lambda d: d["rules"].update(lifetime_by_group={"everyone": 0.0}),
         "rules.lifetime_by_group.everyone", "must be >= 0.01, got 0.0"),
        (lambda d: d.update(lists={"blacklist": {"term_days_by_group": {"x": 5}}}),
         "lists.blacklist.term_days_by_group.x", "unknown group 'x'; known: ['everyone']"),
        (lambda d: d.update(lists={"blacklist": {"term_days_by_group": {"everyone": 0}}}),
         "lists.blacklist.term_days_by_group.everyone", "must be >= 1, got 0"),
    ],
)  # fmt: skip
def test_errors_name_their_path(change: Callable[[Any], None], path: str, message: str) -> None:
    doc = base_scenario()
    doc["responses"] = {}
    change(doc)
    with pytest.raises(ScenarioError) as error:
        carnet.load_scenario(doc)
    assert (path, message) in error.value.problems, error.value.problems


def test_companies_take_no_contagion() -> None:
    from helpers import with_companies

    doc = with_companies()
    doc["companies"]["responses"] = {"contagion": {"neighbours": 1.0}}
    with pytest.raises(ScenarioError) as error:
        carnet.load_scenario(doc)
    assert ("companies.responses.contagion", "contagion applies to citizens only") in (
        error.value.problems
    )
