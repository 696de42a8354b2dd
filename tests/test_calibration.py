"""Calibration: a known truth recovered within its intervals, resumed after a kill to the same
table, bad specs refused at their paths, the likelihoods against closed forms, the outputs read
back, the check-fit page drawn in a browser."""

from __future__ import annotations

import datetime
import json
import math
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from helpers import base_scenario, need, offline_page, run_script, write_yaml

import carnet
from carnet.analysis import calibration, figures
from carnet.errors import ScenarioError
from carnet.runs.faults import FAULT, LOG
from carnet.scenario.paths import get

need("optuna")
need("distributed")

TRUTH = {"lists.blacklist.lawsuits_per_year": 1.0, "lists.blacklist.exit_per_year": 2.0}


def city(size: int, days: int, seed: int) -> dict[str, Any]:
    """One group, a blacklist with plenty of flow: distress 0.3 a year for half a year."""
    doc = base_scenario(days=days)
    doc["population"]["size"] = size
    doc["lists"] = {"blacklist": {
        "distress_per_year": 0.3, "distress_days": 180.0, "listing_probability": 0.5,
        "term_days": 365, **{k.rpartition(".")[2]: v for k, v in TRUTH.items()},
    }}  # fmt: skip
    doc["run"]["seed"] = seed
    return doc


def spec_file(folder: Path, *, truth_size: int, size: int, days: int, **extra: Any) -> Path:
    """Targets made by carnet at the truth (seed 101, ``truth_size`` citizens); the model runs
    at ``size`` on other seeds (7, 8), its counts scaled to the targets' population."""
    made = carnet.simulate(city(truth_size, days, 101))
    total = {c: float(figures.trajectory(made, c).sum()) for c in ("entries", "exits")
             for c in [f"blacklist_{c}"]}  # fmt: skip
    write_yaml(city(size, days, 7), folder / "city.yaml")
    spec = {
        "scenario": "city.yaml",
        "scale": truth_size / size,
        "parameters": {
            "lists.blacklist.lawsuits_per_year": [0.4, 2.5],
            "lists.blacklist.exit_per_year": {"low": 0.5, "high": 8.0, "log": True},
        },
        "targets": [
            {"figure": f"total.{c}", "day": days - 1, "observed": v, "likelihood": "poisson"}
            for c, v in total.items()
        ],
        "trials": 40, "replicates": 2, "batch": 4, "seed": 1,
        **extra,
    }  # fmt: skip
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory) -> calibration.Outcome:
    folder = tmp_path_factory.mktemp("truth")
    spec = calibration.load_spec(spec_file(folder, truth_size=4000, size=8000, days=365))
    return calibration.calibrate(spec, folder / "out", workers=1)


# --- likelihoods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("y", "m"), [(0, 0.5), (3, 2.5), (17, 20.0), (250, 240.0)])
def test_poisson_and_binomial_against_their_mass_functions(y: int, m: float) -> None:
    # m^y e^-m / y! and C(n, y) p^y (1 - p)^(n - y), the factorials as exact integers.
    pmf = y * math.log(m) - m - math.log(math.factorial(y))
    assert calibration.log_likelihood("poisson", y, m, None, None) == pytest.approx(pmf)
    n = 400
    p = m / n
    mass = math.log(math.comb(n, y)) + y * math.log(p) + (n - y) * math.log(1 - p)
    got = calibration.log_likelihood("binomial", y, m, None, n)
    assert got == pytest.approx(mass, rel=1e-10)


def test_normal_against_its_density() -> None:
    for y, m, sigma in ((1.0, 0.0, 1.0), (8.87e6, 8.4e6, 4.4e5), (-3.0, 2.0, 0.5)):
        density = statistics.NormalDist(m, sigma).pdf(y)
        got = calibration.log_likelihood("normal", y, m, sigma, None)
        assert got == pytest.approx(math.log(density), rel=1e-12)


def test_an_impossible_count_is_very_unlikely_not_infinite() -> None:
    assert calibration.log_likelihood("poisson", 0, 0.0, None, None) == 0.0
    assert -1e3 < calibration.log_likelihood("poisson", 5, 0.0, None, None) < -100
    assert math.isfinite(calibration.log_likelihood("binomial", 10, 10.0, None, 10))


# --- a known truth -------------------------------------------------------------------------------


def test_a_known_truth_is_recovered_within_its_intervals(calibrated: calibration.Outcome) -> None:
    rows = {r["parameter"]: r for r in calibrated.parameters.to_pylist()}
    for path, truth in TRUTH.items():
        row = rows[path]
        assert row["low"] <= truth <= row["high"], row
        assert row["low"] <= row["best"] <= row["high"], row
        assert row["within"] >= 1
    # The intervals say something: far narrower than the ranges searched.
    lawsuits = rows["lists.blacklist.lawsuits_per_year"]
    assert lawsuits["high"] - lawsuits["low"] < 0.4 * (2.5 - 0.4)


def test_outputs_read_back(calibrated: calibration.Outcome) -> None:
    duckdb = need("duckdb")
    out = calibrated.folder
    trials = pq.read_table(out / calibration.TRIALS)
    assert trials.num_rows == 40 and trials.equals(calibrated.trials)
    con = duckdb.connect()
    # A trial's log-likelihood is the sum over targets of its fit's.
    rows = con.execute(
        f"SELECT t.trial, t.log_likelihood, sum(f.log_likelihood) FROM '{out / 'trials.parquet'}' t"
        f" JOIN '{out / 'fits.parquet'}' f USING (trial) GROUP BY t.trial, t.log_likelihood"
    ).fetchall()
    assert len(rows) == 40
    assert all(a == pytest.approx(b, rel=1e-12, abs=1e-9) for _, a, b in rows)
    best = json.loads((out / calibration.BEST).read_text())
    assert best["log_likelihood"] == max(r[1] for r in rows)
    scenario = carnet.load_scenario(out / calibration.CALIBRATED)
    for path, found in best["parameters"].items():
        assert get(scenario, path) == found["best"]


def test_the_check_fit_page_draws_offline(calibrated: calibration.Outcome) -> None:
    page_path = calibrated.folder / calibration.PAGE
    with offline_page(("file:",), 1280, 900) as (page, errors, remote):
        page.goto(page_path.as_uri(), wait_until="load")
        drawn = page.evaluate(
            """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
                id: d.id, traces: (d._fullData || []).length,
                painted: d.querySelectorAll('g.trace').length}))"""
        )
    assert remote == [] and errors == []
    ids = [d["id"] for d in drawn]
    assert ids == ["chart-trajectory-0", "chart-trajectory-1", "chart-profile-0", "chart-profile-1"]
    for d in drawn:
        assert d["traces"] > 0 and d["painted"] == d["traces"], d


# --- killed and resumed --------------------------------------------------------------------------


def calibrate_cli(
    spec: Path, out: Path, fault: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (FAULT, LOG, "CARNET_DEBUG")}
    if fault is not None:
        env[FAULT] = fault
    done = subprocess.run(
        [sys.executable, "-m", "carnet", "calibrate", str(spec), "--out", str(out),
         "--workers", "1"],
        env=env, capture_output=True, text=True, timeout=300,
        start_new_session=True,  # its own process group: the fault kills it and its workers
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done


def told(journal: Path) -> list[int]:
    """The trial ids told a value in a journal, in order (each should appear once)."""
    ops = [json.loads(line) for line in journal.read_text().splitlines()]
    return [op["trial_id"] for op in ops if op.get("state") == 1 and op.get("values") is not None]


@pytest.mark.parametrize(("fault", "done_before"), [
    ("calibration/asked@6", 4),  # the second batch half asked: trials 4 and 5 running
    ("calibration/told@6", 6),  # the second batch half told
])  # fmt: skip
def test_killed_and_resumed_gives_the_same_table(
    tmp_path: Path, fault: str, done_before: int
) -> None:
    spec = spec_file(tmp_path, truth_size=1500, size=1500, days=90, trials=12, replicates=1)
    whole = calibrate_cli(spec, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "killed"
    killed = calibrate_cli(spec, out, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert told(out / calibration.JOURNAL) == list(range(done_before))
    cells = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet")}
    assert len(cells) >= done_before
    again = calibrate_cli(spec, out)
    assert again.returncode == 0, again.stderr
    assert f"resumed: {done_before} trials were done, {12 - done_before} told now" in again.stdout
    assert told(out / calibration.JOURNAL) == list(range(12))  # each trial told once
    assert all(p.stat().st_mtime_ns == t for p, t in cells.items())  # no cell run again
    for name in (calibration.TRIALS, calibration.FITS, calibration.PARAMETERS):
        assert pq.read_table(out / name).equals(pq.read_table(tmp_path / "whole" / name)), name
    assert (out / calibration.CALIBRATED).read_bytes() == (
        tmp_path / "whole" / calibration.CALIBRATED
    ).read_bytes()


# --- bad specs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "path", "message"), [
    ({"parameters": {"lists.blacklist.nope": [0, 1]}}, "parameters.lists.blacklist.nope", "nope"),
    ({"parameters": {"lists.blacklist.listing_probability": [0.5, 1.5]}},
     "parameters.lists.blacklist.listing_probability", "out of bounds"),
    ({"trials": 5}, "trials", "too few"),
    ({"targets": [{"figure": "total.blacklist_entries", "day": 10, "observed": 3,
                   "likelihood": "poisson"},
                  {"figure": "happiness[everyone]", "observed": 3, "likelihood": "poisson"}]},
     "targets.1.figure", "unknown figure 'happiness[everyone]'"),
    ({"targets": [{"figure": "daily.smiles", "day": 10, "observed": 3, "likelihood": "poisson"}]},
     "targets.0.figure", "no daily metric 'smiles'"),
    ({"targets": [{"figure": "daily.blacklisted", "date": "2014-01-01", "observed": 3,
                   "likelihood": "normal", "sigma": 1}]},
     "targets.0.date", "needs the spec's start"),
    ({"targets": [{"figure": "daily.blacklisted", "day": 5000, "observed": 3,
                   "likelihood": "poisson"}]}, "targets.0.day", "outside the run's days"),
    ({"targets": [{"figure": "listings[blacklist,all]", "observed": 3, "likelihood": "binomial"}]},
     "targets.0.n", "needs n > 0"),
    ({"colour": "red"}, "colour", "unknown key"),
])  # fmt: skip
def test_bad_specs_exit_2_naming_the_path(
    tmp_path: Path, change: dict[str, Any], path: str, message: str
) -> None:
    write_yaml(city(1000, 30, 7), tmp_path / "city.yaml")
    spec = {
        "scenario": "city.yaml",
        "parameters": {"lists.blacklist.exit_per_year": [0.5, 4.0]},
        "targets": [{"figure": "total.blacklist_entries", "day": 29, "observed": 3,
                     "likelihood": "poisson"}],
        "trials": 10,
        **change,
    }  # fmt: skip
    target = tmp_path / "spec.yaml"
    target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        calibration.load_spec(target)
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()
    shown = run_script("calibrate", str(target), "--out", str(tmp_path / "out"))
    assert shown.code == 2 and "Traceback" not in shown.text
    assert f"{path}: " in shown.stderr and message in shown.stderr, shown.stderr
    assert not (tmp_path / "out").exists()


def test_a_folder_of_another_spec_is_refused(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, truth_size=1000, size=1000, days=30, trials=10)
    spec_obj = calibration.load_spec(spec)
    (tmp_path / "out").mkdir()
    calibration._study(spec_obj, tmp_path / "out")  # the journal of the first spec
    other = yaml.safe_load(spec.read_text())
    other["seed"] = 2
    spec.write_text(yaml.safe_dump(other), encoding="utf-8")
    shown = run_script("calibrate", str(spec), "--out", str(tmp_path / "out"))
    assert shown.code == 2 and "holds a calibration of another spec" in shown.stderr, shown.text


# --- a value of the timeline as a parameter; the shipped example -------------------------------

CHANGED = 'timeline.0.set."lists.blacklist.lawsuits_per_year"'


def test_a_timeline_value_is_a_parameter(tmp_path: Path) -> None:
    # A rate that changes on a day: the value after the change is a path into the timeline.
    doc = city(1000, 30, 7)
    doc["timeline"] = [{"day": 15, "set": {"lists.blacklist.lawsuits_per_year": 1.0}}]
    write_yaml(doc, tmp_path / "city.yaml")
    spec = {
        "scenario": "city.yaml",
        "parameters": {CHANGED: [0.2, 3.0]},
        "targets": [{"figure": "total.blacklist_entries", "day": 29, "observed": 3,
                     "likelihood": "poisson"}],
        "trials": 10,
    }  # fmt: skip
    target = tmp_path / "spec.yaml"
    target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    found = calibration.load_spec(target)
    assert [p.path for p in found.parameters] == [CHANGED]
    (cell,) = found.cells({CHANGED: 2.5})
    trial = carnet.set(found.base, cell.values)
    assert get(trial, CHANGED) == 2.5
    assert get(trial, "lists.blacklist.lawsuits_per_year") == 1.0  # before the change: held
    spec["parameters"] = {CHANGED: [-1.0, 3.0]}
    target.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        calibration.load_spec(target)
    assert any(p == f"parameters.{CHANGED}" and "out of bounds" in m
               for p, m in caught.value.problems), caught.value.render()  # fmt: skip


def test_the_shipped_example_is_a_valid_spec() -> None:
    # examples/calibrate-blacklist.yaml: 4 rates, before and from 1 January 2024 (day 3,744 of
    # a run past ten years: a timeline day beyond 3,649 is allowed), 9 targets within the run.
    example = Path(__file__).parents[1] / "examples" / "calibrate-blacklist.yaml"
    found = calibration.load_spec(example)
    assert len(found.parameters) == 4 and len(found.targets) == 9
    assert found.start is not None
    (change,) = found.base.timeline
    assert change.day == (datetime.date(2024, 1, 1) - found.start).days == 3744
    assert found.base.run.days == 4110 and found.base.lists.blacklist is not None
    assert found.base.lists.blacklist.term_days == 36500
    assert all(0 <= t.day < found.base.run.days for t in found.targets)
    assert found.trials >= 5 * len(found.parameters)
