"""The audit's commands, run as a person would: audit, compare, run --replicates."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from helpers import base_scenario, run_script, write_yaml

import carnet
from carnet.analysis.audit import audit, responses_off
from carnet.runs.local import run_to_directory


def scenario_file(tmp_path: Path, name: str = "a.yaml", **sources: float) -> Path:
    doc = base_scenario(days=40)
    doc["population"]["size"] = 3000
    doc["responses"] = {"punished": 0.5, "memory_days": 20}
    doc["gates"] = [{"name": "loan", "applications_per_year": 6.0, "min_grade": "B"}]
    for key, value in sources.items():
        doc["sources"][0][key] = value
    return write_yaml(doc, tmp_path / name)  # type: ignore[no-any-return]


def test_audit_of_a_run_directory(tmp_path: Path) -> None:
    s = carnet.load_scenario(scenario_file(tmp_path, misattribution=0.1))
    run = run_to_directory(s, tmp_path / "run").path
    shown = run_script("audit", str(run), "--out", str(tmp_path / "audit"))
    assert shown.code == 0, shown.text
    assert "wrongful" in shown.stdout and "Gates" in shown.stdout
    expected = audit(carnet.load_run(run), without_responses=carnet.simulate(responses_off(s)))
    for name, table in expected.tables().items():
        assert pq.read_table(tmp_path / "audit" / f"{name}.parquet").equals(table), name
    assert expected.behaviour.num_rows > 0


def test_compare_a_scenario_with_itself(tmp_path: Path) -> None:
    a = scenario_file(tmp_path)
    shown = run_script("compare", str(a), str(a), "--replicates", "2", "--out",
                       str(tmp_path / "diff"))  # fmt: skip
    assert shown.code == 0, shown.text
    for f in (tmp_path / "diff").glob("*.parquet"):
        table = pq.read_table(f)
        for column in ("difference", "low", "high"):
            assert set(table[column].to_pylist()) <= {0.0}, (f.name, column)
    assert (tmp_path / "diff" / "sanctions.parquet").is_file()


def test_compare_reports_the_effect_of_a_change(tmp_path: Path) -> None:
    a = scenario_file(tmp_path, "a.yaml", misattribution=0.0)
    b = scenario_file(tmp_path, "b.yaml", misattribution=0.2)
    shown = run_script("compare", str(a), str(b), "--replicates", "3", "--out",
                       str(tmp_path / "diff"))  # fmt: skip
    assert shown.code == 0, shown.text
    rows = pq.read_table(tmp_path / "diff" / "sanctions.parquet").to_pylist()
    wrongful = next(r for r in rows if r["group"] == "all" and r["metric"] == "wrongful")
    assert wrongful["a"] == 0 and wrongful["b"] > 0 and wrongful["low"] > 0


def test_compare_refuses_runs_of_different_sizes(tmp_path: Path) -> None:
    shown = run_script("compare", str(scenario_file(tmp_path)), "minimal", "--replicates", "1")
    assert shown.code == 2
    assert "same population size and days" in shown.stderr and "Traceback" not in shown.text


def test_run_replicates(tmp_path: Path) -> None:
    a = scenario_file(tmp_path, misattribution=0.05)
    out = tmp_path / "reps"
    shown = run_script("run", str(a), "--replicates", "3", "--out", str(out), "--quiet")
    assert shown.code == 0, shown.text
    assert shown.stdout.strip() == str(out)
    table = pq.read_table(out / "gates.parquet")
    assert {"gate", "group", "metric", "mean", "low", "high"} <= set(table.column_names)
    assert carnet.load_scenario(out / "scenario.yaml") == carnet.load_scenario(a)
    rows = [r for r in table.to_pylist() if r["metric"] == "approval_rate"]
    assert rows and all(r["low"] <= r["mean"] <= r["high"] for r in rows)
    refused = run_script("run", "--resume", str(out), "--replicates", "2")
    assert refused.code == 2 and "takes no other options" in refused.stderr


def test_run_writes_its_report_unless_told_not_to(tmp_path: Path) -> None:
    a = scenario_file(tmp_path)
    shown = run_script("run", str(a), "--out", str(tmp_path / "with"))
    assert shown.code == 0, shown.text
    page = tmp_path / "with" / "report.html"
    assert page.is_file() and f"report: {page}" in shown.stdout
    assert "<script" in page.read_text(encoding="utf-8")  # plotly, embedded
    assert run_script("verify", str(tmp_path / "with")).code == 0
    quiet = run_script("run", str(a), "--out", str(tmp_path / "without"), "--no-report", "-q")
    assert quiet.code == 0 and not (tmp_path / "without" / "report.html").exists()
