"""`carnet run` and `carnet dossier`: the thin layer over simulate, save, load and dossier."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import script_path
from typer.testing import CliRunner

from carnet.cli.app import app
from carnet.scenario.loading import preset_text


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})  # no wrapped cells
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


SMALL = ("--population", "3000", "--days", "40")


def ledger(run: Path) -> Any:
    return pq.read_table(run / "ledger")


@pytest.fixture(scope="module")
def misattributing_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Rongcheng run: its sources misattribute some acts."""
    out = tmp_path_factory.mktemp("runs") / "rc"
    result = invoke("run", "rongcheng", "--population", "20000", "--days", "200", "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def expiring_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The minimal model with records that expire after 10 days."""
    folder = tmp_path_factory.mktemp("expiring")
    doc = yaml.safe_load(preset_text("minimal"))
    doc["rules"]["lifetime_days"] = 10
    file = folder / "expiring.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out = folder / "run"
    result = invoke("run", str(file), *SMALL, "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_run_writes_the_run_directory_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke("run", "minimal", *SMALL, "--seed", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    for name in ("scenario.yaml", "manifest.json", "metrics.parquet", "population.parquet"):
        assert (out / name).is_file(), name
    assert list((out / "ledger").glob("part-*.parquet"))
    text = result.stdout
    assert "minimal: 3,000 synthetic citizens, 40 days" in text
    for heading in ("Grades at the end", "Sanctions and rewards", "Data collected, by source"):
        assert heading in text
    assert f"run directory: {out}" in text
    assert "40/40" in result.stderr  # the progress bar went over every day
    assert yaml.safe_load((out / "scenario.yaml").read_text())["run"]["seed"] == 3


def test_default_run_directory_is_never_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = invoke("run", "minimal", *SMALL, "--quiet")
    second = invoke("run", "minimal", *SMALL, "--quiet")
    assert first.exit_code == second.exit_code == 0
    assert first.stdout.strip() == str(Path("runs") / "minimal-seed1")
    assert second.stdout.strip() == str(Path("runs") / "minimal-seed1-2")
    # the same scenario and seed give the same bytes
    for name in ("metrics.parquet", "population.parquet"):
        assert (tmp_path / first.stdout.strip() / name).read_bytes() == (
            tmp_path / second.stdout.strip() / name
        ).read_bytes()


def test_explicit_out_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert invoke("run", "minimal", *SMALL, "--out", str(out), "-q").exit_code == 0
    before = (out / "manifest.json").read_bytes()
    refused = invoke("run", "minimal", *SMALL, "--seed", "9", "--out", str(out))
    assert refused.exit_code == 2
    assert "not empty" in refused.stderr and "--overwrite" in refused.stderr
    assert (out / "manifest.json").read_bytes() == before

    replaced = invoke("run", "minimal", *SMALL, "--seed", "9", "--out", str(out), "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert yaml.safe_load((out / "scenario.yaml").read_text())["run"]["seed"] == 9


def test_overwrite_only_replaces_a_run(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = invoke("run", "minimal", *SMALL, "--out", str(tmp_path), "--overwrite")
    assert result.exit_code == 2
    assert "not a carnet run directory" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_empty_out_directory_is_used(tmp_path: Path) -> None:
    result = invoke("run", "minimal", *SMALL, "--out", str(tmp_path), "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "manifest.json").is_file()


def test_run_of_an_invalid_scenario_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\n")
    result = invoke("run", str(bad))
    assert result.exit_code == 2
    assert "population: required section missing" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_run_override_out_of_range_exits_2() -> None:
    result = invoke("run", "minimal", "--days", "0")
    assert result.exit_code == 2
    assert "run.days: must be >= 1, got 0" in result.stderr


def test_dossier_shows_misattributed_acts(misattributing_run: Path) -> None:
    rows = ledger(misattributing_run)
    wrong = rows.filter(pc.invert(rows["truly_done"])).to_pylist()
    assert wrong, "the Rongcheng preset should misattribute some acts"
    victim, actor = wrong[0]["citizen"], wrong[0]["true_actor"]

    result = invoke("dossier", str(misattributing_run), str(victim))
    assert result.exit_code == 0, result.output
    assert f"Citizen {victim}" in result.stdout
    assert "did NOT do it" in result.stdout
    assert f"citizen {actor}" in result.stdout

    actor_file = invoke("dossier", str(misattributing_run), str(actor))
    assert actor_file.exit_code == 0, actor_file.output
    assert "pinned on others" in actor_file.stdout
    assert f"citizen {victim}" in actor_file.stdout


def test_dossier_shows_acts_done(misattributing_run: Path) -> None:
    rows = ledger(misattributing_run)
    done = rows.filter(rows["truly_done"]).to_pylist()
    result = invoke("dossier", str(misattributing_run), str(done[0]["citizen"]))
    assert result.exit_code == 0, result.output
    assert "did it" in result.stdout


def test_dossier_shows_expiry(expiring_run: Path) -> None:
    rows = ledger(expiring_run)
    expired = rows.filter(pc.equal(rows["kind"], "expiry")).to_pylist()
    assert expired
    result = invoke("dossier", str(expiring_run), str(expired[0]["citizen"]))
    assert result.exit_code == 0, result.output
    assert "record expired, points restored" in result.stdout


def test_dossier_of_a_citizen_not_in_the_panel_exits_2(expiring_run: Path) -> None:
    result = invoke("dossier", str(expiring_run), "999999999")
    assert result.exit_code == 2
    assert "not in the panel" in result.stderr


def test_dossier_of_a_bad_run_directory_exits_2(tmp_path: Path) -> None:
    result = invoke("dossier", str(tmp_path), "1")
    assert result.exit_code == 2
    assert "not a carnet run directory" in result.stderr
    (tmp_path / "manifest.json").write_text("{")
    broken = invoke("dossier", str(tmp_path), "1")
    assert broken.exit_code == 2
    assert "unreadable" in broken.stderr or "problem" in broken.stderr


def test_console_script_runs_end_to_end(tmp_path: Path) -> None:
    found = script_path()
    if found is None:
        pytest.skip("the carnet console script is not installed")
    out = tmp_path / "run"
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [found, "run", "minimal", *SMALL, "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "Traceback" not in done.stderr
