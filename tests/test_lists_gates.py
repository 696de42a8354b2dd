"""Lists and gates: exact small cases, flow laws, capacity, and reproducibility with them on."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pyarrow.compute as pc
import pytest
from helpers import with_lists

import carnet
from carnet.errors import ScenarioError

Z = 4.0


@pytest.fixture(scope="module")
def result() -> carnet.Result:
    return carnet.simulate(with_lists())


def listing_spans(result: carnet.Result) -> dict[int, list[tuple[int, int]]]:
    """Each citizen's listings as [first day listed, day the listing ended) from the ledger."""
    spans: dict[int, list[tuple[int, int]]] = defaultdict(list)
    rows = [r for r in result.ledger.to_pylist() if r["kind"] in ("listing", "delisting")]
    for r in sorted(rows, key=lambda r: (r["citizen"], r["day"])):
        if r["kind"] == "listing":
            spans[r["citizen"]].append((r["day"], 10**9))
        else:
            start, _ = spans[r["citizen"]].pop()
            spans[r["citizen"]].append((start, r["day"]))
    return spans


def listed_on(spans: dict[int, list[tuple[int, int]]], citizen: int, day: int) -> bool:
    return any(a <= day < b for a, b in spans.get(citizen, []))


def test_a_listed_defaulter_is_refused_a_flight(result: carnet.Result) -> None:
    spans = listing_spans(result)
    assert spans, "nobody was listed"
    flights = result.decisions.filter(pc.equal(result.decisions["gate"], "flight")).to_pylist()
    refused = [d for d in flights if d["outcome"] == "refused_blacklisted"]
    assert refused and len(refused) < len(flights)
    for d in flights:
        listed = listed_on(spans, d["citizen"], d["day"])
        assert (d["outcome"] == "refused_blacklisted") == listed, d


def test_listing_takes_points_and_its_end_gives_them_back(result: carnet.Result) -> None:
    ledger = result.ledger.to_pydict()
    taken = defaultdict(int)
    for kind, c, pts in zip(ledger["kind"], ledger["citizen"], ledger["points"], strict=True):
        if kind == "listing":
            assert pts == -100  # nobody is near the floor of -32768 here
            taken[c] += pts
        elif kind == "delisting":
            taken[c] += pts
    spans = listing_spans(result)
    for c, total in taken.items():
        still = sum(1 for _, end in spans[c] if end == 10**9)
        assert total == -100 * still
    behaviours = set(result.ledger.filter(
        pc.equal(result.ledger["kind"], "listing"))["behaviour"].to_pylist())  # fmt: skip
    assert behaviours == {"judgment_default"}


def test_the_child_of_a_listed_parent_is_refused_a_school_seat(result: carnet.Result) -> None:
    spans = listing_spans(result)
    seats = result.decisions.filter(
        pc.equal(result.decisions["gate"], "private_school")
    ).to_pylist()
    assert {d["day"] for d in seats} == {100}
    for d in seats:
        if listed_on(spans, d["citizen"], 100):
            assert d["outcome"] == "refused_blacklisted"
        else:
            assert d["outcome"] in ("approved", "refused_capacity")
    assert any(d["outcome"] == "refused_blacklisted" for d in seats)


def test_seats_never_exceed_capacity_and_go_by_grade(result: carnet.Result) -> None:
    pop = {r["citizen"]: r for r in result.population.to_pylist()}
    seats = result.decisions.filter(
        pc.equal(result.decisions["gate"], "private_school")
    ).to_pylist()
    grades = [g["name"] for g in with_lists()["grades"]]
    for region in ("north", "south"):
        mine = [d for d in seats if pop[d["citizen"]]["region"] == region]
        won = [grades.index(d["grade"]) for d in mine if d["outcome"] == "approved"]
        lost = [grades.index(d["grade"]) for d in mine if d["outcome"] == "refused_capacity"]
        assert len(won) == 150 and lost, "demand should exceed the 150 seats"
        assert max(won) <= min(lost)  # a better grade never loses to a worse one


def test_every_application_gets_exactly_one_decision(result: carnet.Result) -> None:
    # The panel is everyone here, so the panel's rows and the counts must agree exactly.
    counts = defaultdict(int)
    for r in result.gates.to_pylist():
        counts[(r["day"], r["gate"], r["outcome"], r["grade"])] += r["count"]
    rows = defaultdict(int)
    for d in result.decisions.to_pylist():
        rows[(d["day"], d["gate"], d["outcome"], d["grade"])] += 1
    assert counts == rows
    # Every child applied once on the allocation day (applications_per_year 1 = all apply).
    children = int(pc.sum(result.population["children"]).as_py())
    school = result.decisions.filter(pc.equal(result.decisions["gate"], "private_school"))
    assert school.num_rows == children
    # Ordinary gates: applications are a Poisson process, 12 a year per adult.
    flights = result.decisions.filter(pc.equal(result.decisions["gate"], "flight")).num_rows
    expected = 4000 * 12.0 * 120 / 365
    assert abs(flights - expected) < Z * math.sqrt(expected)


def test_prices_and_grade_rules(result: carnet.Result) -> None:
    for d in result.decisions.filter(pc.equal(result.decisions["gate"], "loan")).to_pylist():
        assert d["price"] == pytest.approx({"A": 0.9, "B": 1.0, "C": 1.5}[d["grade"]])
        assert (d["outcome"] == "refused_grade") == (d["grade"] == "C")


def test_blacklist_stock_obeys_littles_law() -> None:
    doc = with_lists(distress_per_year=1.0, lawsuits_per_year=2.0, exit_per_year=6.0, term_days=60)
    doc["population"]["size"] = 60_000
    doc["run"]["days"] = 400
    doc["gates"] = []
    result = carnet.simulate(doc)
    m = result.metrics
    days = m["day"].to_numpy()
    window = days >= 200  # steady state: well past the term and distress time scales
    entries = pc.sum(pc.filter(m["blacklist_entries"], window)).as_py() / 200
    h = 6.0 / 365
    mean_stay = (1 - math.exp(-h * 60)) / (1 - math.exp(-h))  # E[min(60, 1 + floor(Exp(h)))]
    stock = pc.sum(pc.filter(m["blacklisted"], days == 399)).as_py()
    expected = entries * mean_stay
    se = math.sqrt(expected) + mean_stay * math.sqrt(entries / 200)
    print(f"blacklist stock {stock}, expected {expected:.1f} = {entries:.2f}/day x {mean_stay:.2f}")
    assert abs(stock - expected) < Z * se, (stock, expected, se)
    # The same law for distress, whose episodes last 1 + floor(Exp(mean 60 days)).
    onsets = pc.sum(pc.filter(m["distress_onsets"], window)).as_py() / 200
    distressed = pc.sum(pc.filter(m["distressed"], days == 399)).as_py()
    stay = 1 / (1 - math.exp(-1 / 60))
    assert abs(distressed - onsets * stay) < Z * (
        math.sqrt(onsets * stay) + stay * math.sqrt(onsets / 200)
    )
    # Stocks are what entries and exits leave: the population table agrees on the last day.
    assert pc.sum(result.population["listed"]).as_py() == stock


def test_redlist_counts_follow_grades(result: carnet.Result) -> None:
    m = result.metrics.to_pydict()
    assert m["redlisted"] == m["grade_A"]
    n = len(m["day"])
    assert m["redlisted"][-1] == 4000 + sum(m["redlist_entries"][:n]) - sum(m["redlist_exits"][:n])


def test_common_random_numbers_for_lists_when_points_differ() -> None:
    a, b = with_lists(points=0), with_lists(points=-300)
    ma, mb = carnet.simulate(a).metrics, carnet.simulate(b).metrics
    for name in ("distress_onsets", "lawsuits", "blacklist_entries", "blacklist_exits"):
        assert ma[name].equals(mb[name]), name


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["gates"][1].update(min_grade="Z"), "gates.1.min_grade", "unknown grade 'Z'"),
        (lambda d: d["lists"].update(redlist={"grades": ["AAA"]}), "lists.redlist.grades.0",
         "unknown grade"),
        (lambda d: d["lists"]["blacklist"].update(lawsuits_per_year=-1),
         "lists.blacklist.lawsuits_per_year", "must be >= 0"),
        (lambda d: d["lists"].pop("blacklist"), "gates.0.refuse_blacklisted",
         "no lists.blacklist"),
        (lambda d: d["gates"][0].update(applicant="dog"), "gates.0.applicant", "must be one of"),
        (lambda d: d["gates"][2].update(seats_per_region=-5), "gates.2.seats_per_region",
         "must be >= 0"),
        (lambda d: d["gates"][0].update(by_group={"martians": 2}), "gates.0.by_group.martians",
         "unknown group"),
        (lambda d: d["lists"]["blacklist"].update(colour="red"), "lists.blacklist.colour",
         "unknown key"),
    ],
)  # fmt: skip
def test_errors_in_the_new_sections_name_their_path(change: Any, path: str, message: str) -> None:
    doc = with_lists()
    change(doc)
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()
