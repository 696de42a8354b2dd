"""The harm audit, against hand counts from the ledger and decisions, and against theory."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers import base_scenario, denouncing, with_companies

import carnet
from carnet.analysis.audit import Audit, audit, gini, mobility, points_on, responses_off

Z = 4.0


def row(table: pa.Table, **keys: Any) -> dict[str, Any]:
    """The one row of ``table`` whose key columns have these values."""
    found = [r for r in table.to_pylist() if all(r[k] == v for k, v in keys.items())]
    assert len(found) == 1, (keys, found)
    return found[0]


def two_groups() -> dict[str, Any]:
    doc = denouncing(true_probability=0.5, verify_probability=0.0)
    doc["population"]["size"] = 6000
    doc["population"]["groups"] = [
        {"name": "locals", "share": 0.7, "exposure": {"mean": 0.5}},
        {"name": "migrants", "share": 0.3, "exposure": {"mean": 0.5}},
    ]
    doc["sources"][0]["misattribution"] = 0.2
    doc["behaviours"][0]["by_group"] = {"migrants": 3.0}  # red lights: more, or more policed
    doc["appeals"] = {"probability": 0.5, "success_if_wrongful": 0.6, "decision_days": 10}
    doc["grades"] = [{"name": "A", "min_points": 1000}, {"name": "B", "min_points": 985},
                     {"name": "C"}]  # fmt: skip
    doc["gates"] = [{"name": "loan", "applications_per_year": 12.0, "min_grade": "B"}]
    return doc


@pytest.fixture(scope="module")
def audited() -> tuple[carnet.Result, Audit]:
    s = carnet.load_scenario(two_groups())
    result = carnet.simulate(s)
    return result, audit(result, without_responses=carnet.simulate(responses_off(s)))


def test_sanctions_match_a_hand_count_of_the_ledger(audited: tuple[carnet.Result, Audit]) -> None:
    result, a = audited
    group = dict(zip(*result.population.select(["citizen", "group"]).to_pydict().values(),
                     strict=True))  # fmt: skip
    counts: dict[str, dict[str, int]] = {}
    for r in result.ledger.to_pylist():
        if r["kind"] != "act" or r["points"] >= 0:
            continue
        c = counts.setdefault(group[r["citizen"]], {"all": 0, "mis": 0, "false": 0})
        c["all"] += 1
        if not r["truly_done"]:
            c["false" if r["true_actor"] == -1 else "mis"] += 1
    for name, c in counts.items():
        got = row(a.sanctions, group=name)
        assert (got["sanctions"], got["misattribution"], got["false_denunciation"]) == (
            c["all"],
            c["mis"],
            c["false"],
        )
        assert got["wrongful"] == c["mis"] + c["false"]
        assert got["wrongful_per_100k"] == pytest.approx(got["wrongful"] * 1e5 / got["citizens"])
    total = row(a.sanctions, group="all")
    assert total["sanctions"] == sum(c["all"] for c in counts.values())


def test_gates_match_the_decisions(audited: tuple[carnet.Result, Audit]) -> None:
    result, a = audited
    group = dict(zip(*result.population.select(["citizen", "group"]).to_pydict().values(),
                     strict=True))  # fmt: skip
    tally: dict[str, list[int]] = {}
    for d in result.decisions.to_pylist():
        t = tally.setdefault(group[d["citizen"]], [0, 0, 0])
        t[0] += 1
        t[1] += d["outcome"] == "approved"
        t[2] += d["wrongful"]
    rates = {g: t[1] / t[0] for g, t in tally.items()}
    best = max(rates.values())
    for g, t in tally.items():
        got = row(a.gates, gate="loan", group=g)
        assert (got["applications"], got["approved"], got["refused_wrongfully"]) == tuple(t)
        assert got["impact_ratio"] == pytest.approx(rates[g] / best)
    worse = row(a.gates, gate="loan", group="migrants")
    assert worse["impact_ratio"] < 1 and worse["impact_low"] < worse["impact_ratio"]
    assert worse["impact_high"] > worse["impact_ratio"]


def test_appeals_and_the_wrongful_left_standing(audited: tuple[carnet.Result, Audit]) -> None:
    result, a = audited
    ledger = result.ledger.to_pylist()
    # Appeals count on the day of the sanction; the ledger shows a win 10 days later.
    won_back = sum(1 for r in ledger if r["kind"] == "appeal_won" and not r["truly_done"])
    m = result.metrics
    decided = pc.sum(pc.filter(m["appeals_won_wrongful"], pc.less(m["day"], 110))).as_py()
    assert decided == won_back > 0
    wrongful = sum(1 for r in ledger if r["kind"] == "act" and r["points"] < 0
                   and not r["truly_done"])  # fmt: skip
    total = row(a.appeals, group="all")
    assert total["won_wrongful"] == pc.sum(m["appeals_won_wrongful"]).as_py()
    assert total["wrongful_sanctions"] == wrongful
    assert total["wrongful_left_standing"] == wrongful - total["won_wrongful"]


def test_positive_acts_do_not_change_without_responses(
    audited: tuple[carnet.Result, Audit],
) -> None:
    _, a = audited
    for r in a.behaviour.to_pylist():
        if r["kind"] == "positive":
            assert r["change"] == 0, r
    assert a.behaviour.num_rows == 5 * 3  # behaviours x (groups + all)


def test_deterrence_and_chilling_against_theory() -> None:
    doc = base_scenario(days=200)
    doc["population"]["size"] = 20_000
    doc["sources"][0]["exposure_weight"] = 0.0
    doc["behaviours"].append({"name": "criticism", "kind": "lawful", "rate_per_year": 10.0,
                              "observed_by": [{"source": "camera", "detect": 0.4}]})  # fmt: skip
    doc["rules"]["points"]["criticism"] = 0
    doc["responses"] = {"chilling": 1.5, "punished": 0.0, "memory_days": 30}
    s = carnet.load_scenario(doc)
    a = audit(carnet.simulate(s), without_responses=carnet.simulate(responses_off(s)))
    chilled = row(a.behaviour, behaviour="criticism", group="all")
    # Each lawful act survives with 1 - chilling x P(seen) = 1 - 1.5 x 0.4 = 0.4 (thinning of
    # the same candidates: a binomial share of the acts done without responses).
    n, p = chilled["acts_without_responses"], 0.4
    assert abs(chilled["acts"] / n - p) < Z * math.sqrt(p * (1 - p) / n)
    deterred = row(a.behaviour, behaviour="red_light", group="all")
    assert deterred["change"] < 0  # the punished hold back for 30 days


def test_the_wrongful_share_is_the_misattribution_rate() -> None:
    """With misattribution the only cause, a detected act lands on someone else with prob m."""
    doc = base_scenario(days=365)
    doc["population"]["size"] = 30_000
    doc["sources"][0]["misattribution"] = 0.05
    a = audit(carnet.simulate(doc))
    red = row(a.sanctions, group="all")
    # Only the camera misattributes; the bank's late payments are all deserved.
    camera = pc.sum(carnet.simulate(doc).metrics["scored_red_light"]).as_py()
    share = red["wrongful"] / camera
    assert abs(share - 0.05) < Z * math.sqrt(0.05 * 0.95 / camera)
    assert red["false_denunciation"] == 0 and red["misattribution"] == red["wrongful"]


def test_privacy_exposure_per_citizen_year() -> None:
    doc = base_scenario(days=73)
    doc["population"]["size"] = 3000
    a = audit(carnet.simulate(doc))
    for source, per_day in (("camera", 2.0), ("bank", 1.0)):
        got = row(a.privacy, group="all", source=source)
        # Blocks of citizens are rounded once a day: within half a point per block-day.
        assert got["per_citizen_year"] == pytest.approx(per_day * 365, rel=1e-3)


def test_gini_and_time_in_grade() -> None:
    assert gini(np.array([5.0, 5.0, 5.0, 5.0])) == 0.0
    assert gini(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(0.75)
    assert gini(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 9)
    result = carnet.simulate(base_scenario(days=60))
    a = audit(result)
    shares = [r for r in a.time_in_grade.to_pylist() if r["group"] == "all"]
    assert sum(r["share"] for r in shares) == pytest.approx(1.0)
    assert shares[-1]["share_below"] == 0.0
    assert shares[0]["share_below"] == pytest.approx(1 - shares[0]["share"])
    inequality = row(a.inequality, by="all", value="all")
    points = result.population["points"].to_numpy().astype(float) + 32768  # the floor
    assert inequality["gini_end"] == pytest.approx(gini(points))
    assert inequality["gini_start"] == 0.0
    # From day 0 everyone moves out of the one starting grade (A at 1000 points).
    moved = [r for r in mobility(result, since=0).to_pylist() if r["group"] == "all"]
    assert sum(r["citizens"] for r in moved) == 20_000
    assert {r["from_grade"] for r in moved if r["citizens"]} == {"A"}
    assert (
        sum(r["citizens"] for r in moved if r["to_grade"] == "A")
        == pc.sum(pc.equal(result.population["grade"], "A")).as_py()
    )
    # By default from the middle of the run: the grades then, replayed from the ledger.
    assert {r["since"] for r in a.mobility.to_pylist()} == {"day 0", "day 30"}  # both
    half = [r for r in mobility(result).to_pylist() if r["group"] == "all"]
    assert {r["since"] for r in half} == {"day 30"}
    _, then = points_on(result, 30)
    for grade, low, high in (("A", 1000, 10**6), ("B", 900, 999), ("C", -(10**6), 899)):
        count = int(((then >= low) & (then <= high)).sum())
        assert sum(r["citizens"] for r in half if r["from_grade"] == grade) == count


def test_audit_tables_are_saved_and_read_back(
    audited: tuple[carnet.Result, Audit], tmp_path: Any
) -> None:
    import pyarrow.parquet as pq

    _, a = audited
    folder = a.save(tmp_path / "audit")
    for name, table in a.tables().items():
        assert pq.read_table(folder / f"{name}.parquet").equals(table), name


def test_listings_against_the_ledgers() -> None:
    doc = with_companies(term_days=20)
    doc["sources"][-1]["misattribution"] = 0.3  # the tax office blames the wrong firm
    doc["lists"] = {"blacklist": {"distress_per_year": 1.0, "lawsuits_per_year": 4.0,
                                  "listing_probability": 0.5, "term_days": 30}}  # fmt: skip
    result = carnet.simulate(doc)
    a = audit(result)
    firms = row(a.listings, list="company blacklist", group="all")
    rows = result.company_ledger.to_pylist()
    listed = [r for r in rows if r["kind"] == "listing"]
    assert firms["entries"] == len(listed)
    assert firms["wrongful_entries"] == sum(not r["truly_done"] for r in listed) > 0
    # Listed company-days: each listing counts from its day to the day before it ends (or the
    # end of the run), as the daily stock does.
    days = result.scenario.run.days
    spans: dict[int, int] = {}
    total = wrong = 0
    for r in sorted(rows, key=lambda r: (r["company"], r["day"])):
        if r["kind"] == "listing":
            spans[r["company"]] = r["day"]
        elif r["kind"] == "delisting":
            stay = r["day"] - spans.pop(r["company"])
            total += stay
            wrong += 0 if r["truly_done"] else stay
    for company, start in spans.items():
        still = days - start
        total += still
        wrong += still if not next(r for r in listed if r["company"] == company and r["day"] ==
                                   start)["truly_done"] else 0  # fmt: skip
    assert firms["listed_days"] == total and firms["wrongful_days"] == wrong
    reps = row(a.listings, list="joint punishment", group="all")
    assert (reps["entries"], reps["wrongful_entries"]) == (firms["entries"],
                                                           firms["wrongful_entries"])  # fmt: skip
    citizens = row(a.listings, list="blacklist", group="all")
    entries = [r for r in result.ledger.to_pylist()
               if r["kind"] == "listing" and r["source"] == "blacklist"]  # fmt: skip
    assert citizens["entries"] == len(entries) > 0 and citizens["wrongful_entries"] == 0
    assert 1 <= citizens["days_per_entry"] <= 30  # no listing outlasts its term


def test_sanctions_by_region_and_income_from_the_ledger(
    audited: tuple[carnet.Result, Audit],
) -> None:
    result, a = audited
    pop = {r["citizen"]: r for r in result.population.to_pylist()}
    counts: dict[tuple[str, str], list[int]] = {}
    for r in result.ledger.to_pylist():
        if r["kind"] == "act" and r["points"] < 0:
            for by in ("region", "income_quintile"):
                c = counts.setdefault((by, str(pop[r["citizen"]][by])), [0, 0])
                c[0] += 1
                c[1] += not r["truly_done"]
    got = {(r["by"], r["value"]): r for r in a.sanctions_by_place.to_pylist()}
    assert {k for k, v in got.items() if v["sanctions"]} == set(counts)
    for key, (n, wrong) in counts.items():
        assert (got[key]["sanctions"], got[key]["wrongful"]) == (n, wrong)
    by_income = [r for r in a.sanctions_by_place.to_pylist() if r["by"] == "income_quintile"]
    assert [r["value"] for r in by_income] == ["1", "2", "3", "4", "5"]
    assert sum(r["panel"] for r in by_income) == result.population.num_rows
    total = row(a.sanctions, group="all")
    assert sum(r["wrongful"] for r in by_income) == total["wrongful"]  # the panel is everyone
