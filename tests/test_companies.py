"""Companies: employers, company points and blacklists, agencies, joint punishment, co-workers."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
from helpers import base_scenario, run_script, with_companies

import carnet
from carnet.errors import CarnetError, ScenarioError
from carnet.runs.local import run_to_directory
from carnet.sim.employers import company_count, employed_in

Z = 4.0


@pytest.fixture(scope="module")
def result() -> carnet.Result:
    return carnet.simulate(with_companies())


def spans(rows: list[dict[str, Any]], who: str) -> dict[int, list[tuple[int, int]]]:
    """Each entity's listings as [day listed, day the listing ended) from ledger rows."""
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (r[who], r["day"])):
        if r["kind"] == "listing":
            out[r[who]].append((r["day"], 10**9))
        elif r["kind"] == "delisting":
            start, _ = out[r[who]].pop()
            out[r[who]].append((start, r["day"]))
    return out


def test_employment_links(result: carnet.Result) -> None:
    s = result.scenario
    companies, people = result.companies, result.population
    assert companies is not None and companies.num_rows == company_count(s) == 5 * 26 + 22
    employer = people["employer"].to_numpy()
    assert (employer >= 0).sum() == 5 * employed_in(s, 1024) + employed_in(s, 880)
    staff = np.bincount(employer[employer >= 0], minlength=companies.num_rows)
    assert staff.tolist() == companies["employees"].to_pylist()
    assert staff.min() >= 1
    reps = companies["representative"].to_numpy()
    assert (employer[reps] == companies["company"].to_numpy()).all()  # they work there
    assert len(set(reps.tolist())) == len(reps)
    # Companies employ citizens of their own block, and do not hire households whole.
    ids = np.flatnonzero(employer >= 0)
    assert (ids // 1024 == employer[ids] // 26).all()
    head = people["household"].to_numpy()
    pairs = [(a, b) for a, b in pairwise(range(len(head))) if head[a] == head[b]]
    both = [(a, b) for a, b in pairs if employer[a] >= 0 and employer[b] >= 0]
    together = sum(employer[a] == employer[b] for a, b in both)
    assert together < 0.2 * len(both)


def test_company_acts_follow_their_rates(result: carnet.Result) -> None:
    m = result.company_metrics
    assert m is not None
    n = company_count(result.scenario)
    for name, rate, detect in (("tax_arrears", 2.0, 0.8), ("charity", 1.0, 1.0)):
        done = sum(pc.sum(m[f"acts_{name}_{o}"]).as_py() for o in ("missed", "detected"))
        expected = n * rate * 120 / 365
        assert abs(done - expected) < Z * math.sqrt(expected), name
        seen = pc.sum(m[f"acts_{name}_detected"]).as_py()
        assert abs(seen - done * detect) < Z * math.sqrt(done * detect * (1 - detect) + 1)
    assert m["companies"].to_pylist()[:2] == [
        pc.sum(pc.equal(result.companies["sector"], sector)).as_py()
        for sector in ("industry", "services")
    ]


def test_a_listing_takes_each_agency_s_points_and_punishes_the_representative(
    result: carnet.Result,
) -> None:
    company_rows = result.company_ledger.to_pylist()
    listings = [r for r in company_rows if r["kind"] == "listing"]
    assert len(listings) > 20
    acts = {(r["day"], r["company"]) for r in company_rows if r["behaviour"] == "tax_arrears"}
    reps = dict(zip(*result.companies.select(["company", "representative"]).to_pydict().values(),
                    strict=True))  # fmt: skip
    joint = [r for r in result.ledger.to_pylist() if r["source"] == "joint_punishment"]
    joint_listed = {(r["day"], r["citizen"]): r for r in joint if r["kind"] == "listing"}
    for r in listings:
        assert (r["day"], r["company"]) in acts  # listed for a violation seen that day
        assert r["points"] == 10 * -3 and r["behaviour"] == "blacklist"
        rep = joint_listed[(r["day"], reps[r["company"]])]
        assert rep["points"] == -40 and rep["truly_done"] == r["truly_done"]
        assert rep["true_actor"] == -1  # nobody's own act
    ends = [r for r in company_rows if r["kind"] == "delisting"]
    assert {r["points"] for r in ends} == {30}
    assert {r["points"] for r in joint if r["kind"] == "delisting"} == {40}
    for company, listed in spans(company_rows, "company").items():
        assert all(b - a == 30 or b == 10**9 for a, b in listed), company


def test_a_jointly_punished_representative_is_refused_a_flight(result: carnet.Result) -> None:
    joint = [r for r in result.ledger.to_pylist() if r["source"] == "joint_punishment"]
    listed = spans(joint, "citizen")
    flights = result.decisions.to_pylist()
    refused = checked = 0
    for d in flights:
        during = any(a <= d["day"] < b for a, b in listed.get(d["citizen"], []))
        assert (d["outcome"] == "refused_blacklisted") == during
        refused += during
        checked += 1
    assert refused > 10 and checked > 1000
    m = result.metrics
    assert pc.sum(m["joint_punishments"]).as_py() == len(
        [r for r in joint if r["kind"] == "listing"]
    )


def test_agencies_act_independently() -> None:
    doc = with_companies(agencies=40, act_probability=0.3, points_per_agency=-1, term_days=5)
    doc["population"]["size"] = 80_000
    m = carnet.simulate(doc).company_metrics
    assert m is not None
    entries = pc.sum(m["blacklist_entries"]).as_py()
    acting = pc.sum(m["agency_sanctions"]).as_py()
    se = math.sqrt(40 * 0.3 * 0.7 / entries)
    assert entries > 300 and abs(acting / entries - 12.0) < Z * se


def test_company_blacklist_obeys_littles_law() -> None:
    doc = with_companies(listing_probability=0.3, term_days=60, exit_per_year=6.0)
    doc["population"]["size"] = 60_000
    doc["run"]["days"] = 300
    doc["gates"] = []
    m = carnet.simulate(doc).company_metrics
    assert m is not None
    days = m["day"].to_numpy()
    window = days >= 150
    entries = pc.sum(pc.filter(m["blacklist_entries"], window)).as_py() / 150
    h = 6.0 / 365
    mean_stay = (1 - math.exp(-h * 60)) / (1 - math.exp(-h))  # E[min(60, 1 + floor(Exp(h)))]
    stock = pc.sum(pc.filter(m["blacklisted"], days == 299)).as_py()
    expected = entries * mean_stay
    se = math.sqrt(expected) + mean_stay * math.sqrt(entries / 150)
    assert abs(stock - expected) < Z * se, (stock, expected, se)
    assert pc.sum(pc.filter(m["jointly_listed"], days == 299)).as_py() == stock


def test_coworkers_hold_back_after_a_sanction() -> None:
    doc = with_companies()
    doc["behaviours"] = [
        {"name": "spitting", "kind": "negative", "rate_per_year": 36.5,
         "observed_by": [{"source": "camera", "detect": 1.0}]},
    ]  # fmt: skip
    doc["rules"]["points"] = {"spitting": -1}
    doc["gates"] = []
    doc["responses"] = {"punished": 0.0, "household": 0.0, "coworkers": 0.0, "memory_days": 10}
    result = carnet.simulate(doc)
    employer = result.population["employer"].to_numpy()
    by_company: dict[int, list[int]] = defaultdict(list)
    ledger = result.ledger.filter(pc.equal(result.ledger["behaviour"], "spitting")).to_pydict()
    for c, d in zip(ledger["citizen"], ledger["day"], strict=True):
        if employer[c] >= 0:
            by_company[int(employer[c])].append(d)
    gaps = [b - a for days in by_company.values() for a, b in pairwise(sorted(days))]
    assert gaps and all(g == 0 or g > 10 for g in gaps)
    doc["responses"]["coworkers"] = 1.0
    free = carnet.simulate(doc)
    employer = free.population["employer"].to_numpy()
    by_company.clear()
    ledger = free.ledger.filter(pc.equal(free.ledger["behaviour"], "spitting")).to_pydict()
    for c, d in zip(ledger["citizen"], ledger["day"], strict=True):
        if employer[c] >= 0:
            by_company[int(employer[c])].append(d)
    assert any(1 <= b - a <= 10 for days in by_company.values() for a, b in pairwise(sorted(days)))


def test_reports_accuse_a_coworker() -> None:
    doc = with_companies()
    doc["sources"].append({"name": "grid_staff", "sensitivity": "social"})
    doc["behaviours"] += [
        {"name": "report_misconduct", "kind": "positive", "rate_per_year": 6.0,
         "observed_by": [{"source": "grid_staff", "detect": 1.0}]},
        {"name": "misconduct", "kind": "negative", "rate_per_year": 0.0},
    ]  # fmt: skip
    doc["rules"]["points"].update(report_misconduct=3, misconduct=-15)
    doc["denunciations"] = {"behaviour": "report_misconduct", "sanction": "misconduct",
                            "true_probability": 0.0, "verify_probability": 0.0,
                            "target": "coworker", "neighbourhood": 5}  # fmt: skip
    result = carnet.simulate(doc)
    employer = result.population["employer"].to_numpy()
    led = result.ledger
    accused = led.filter(pc.equal(led["behaviour"], "misconduct")).to_pylist()
    reports = led.filter(pc.equal(led["behaviour"], "report_misconduct")).to_pylist()
    assert len(accused) == len(reports) > 500
    employed = 0
    for a, r in zip(accused, reports, strict=True):
        assert a["day"] == r["day"] and a["citizen"] != r["citizen"]
        if (
            employer[r["citizen"]] >= 0
            and pc.sum(pc.equal(result.population["employer"], int(employer[r["citizen"]]))).as_py()
            > 1
        ):
            assert employer[a["citizen"]] == employer[r["citizen"]]
            employed += 1
        else:
            assert abs(a["citizen"] - r["citizen"]) <= 5  # no co-worker: a neighbour
    assert employed > 0.5 * len(reports)


def test_companies_leave_the_citizens_draws_alone() -> None:
    doc = with_companies(joint_punishment=False)
    doc["gates"] = []
    plain = base_scenario(days=120)
    plain["population"]["size"] = 6000
    plain["sources"] = doc["sources"]
    a, b = carnet.simulate(doc).metrics, carnet.simulate(plain).metrics
    for name in a.column_names:
        if name.startswith(("acts_", "scored_", "grade_")):
            assert a[name].equals(b[name]), name


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d["companies"]["behaviours"][0]["observed_by"][0].update(source="spy"),
         "companies.behaviours.0.observed_by.0.source", "unknown source 'spy'"),
        (lambda d: d["companies"]["rules"]["points"].pop("charity"),
         "companies.rules.points.charity", "no rule for behaviour"),
        (lambda d: d["companies"]["sectors"][0].update(share=0.9), "companies.sectors",
         "shares must add up to 1"),
        (lambda d: d["companies"]["blacklist"].update(triggers=["fraud"]),
         "companies.blacklist.triggers.0", "unknown company behaviour 'fraud'"),
        (lambda d: d["companies"]["blacklist"].update(triggers=["charity"]),
         "companies.blacklist.triggers.0", "must be a negative behaviour"),
        (lambda d: d["companies"].update(per_1000_citizens=700.0),
         "companies.per_1000_citizens", "must be <= 500"),
        (lambda d: d["companies"].update(per_1000_citizens=300.0, employed_share=0.2),
         "companies.per_1000_citizens", "every company needs an employee"),
        (lambda d: d["companies"].update(per_1000_citizens=0.1),
         "companies.per_1000_citizens", "fewer than one company per block"),
        (lambda d: d["companies"]["blacklist"].update(agencies=-1),
         "companies.blacklist.agencies", "must be >= 0"),
        (lambda d: d.pop("companies"), "gates.0.refuse_blacklisted", "no lists.blacklist"),
        (lambda d: (d.pop("companies"), d.update(responses={"coworkers": 0.5})),
         "responses.coworkers", "need a `companies` section"),
    ],
)  # fmt: skip
def test_errors_in_companies_name_their_path(change: Any, path: str, message: str) -> None:
    doc = with_companies()
    change(doc)
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()


def test_company_dossiers_on_the_command_line(tmp_path: Path) -> None:
    doc = with_companies()
    doc["run"]["days"] = 60
    run = run_to_directory(carnet.load_scenario(doc), tmp_path / "run").path
    result = carnet.load_run(run)
    led = result.company_ledger
    listed = led.filter(pc.equal(led["kind"], "listing")).to_pylist()[0]
    shown = run_script("dossier", str(run), str(listed["company"]), "--company")
    assert shown.code == 0, shown.text
    assert f"Company {listed['company']}" in shown.text
    assert "blacklisted for a serious violation" in shown.text
    rep = result.company_dossier(listed["company"]).attributes["representative"]
    assert isinstance(rep, int)
    theirs = run_script("dossier", str(run), str(rep))
    assert theirs.code == 0 and "listed with the company they represent" in theirs.text
    assert re.search(rf"employer\s+│\s+{listed['company']}\s", theirs.text)
    missing = run_script("dossier", str(run), "99999", "--company")
    assert missing.code == 2 and "company 99999 is not in the panel" in missing.stderr
    assert "Traceback" not in missing.text


def test_a_run_without_companies_says_so() -> None:
    plain = carnet.simulate(base_scenario(days=5))
    assert plain.companies is None and plain.company_ledger is None
    assert "employer" not in plain.population.column_names
    with pytest.raises(CarnetError, match="this run has no companies"):
        plain.company_dossier(0)


def test_common_random_numbers_when_company_points_differ() -> None:
    a, b = with_companies(), with_companies(points_per_agency=-9, representative_points=-200)
    b["companies"]["rules"]["points"]["tax_arrears"] = -70
    ma, mb = carnet.simulate(a).company_metrics, carnet.simulate(b).company_metrics
    assert ma is not None and mb is not None
    for name in ma.column_names:
        if name.startswith("acts_") or name in ("blacklist_entries", "blacklist_exits"):
            assert ma[name].equals(mb[name]), name
    assert not ma["points_sum"].equals(mb["points_sum"])
