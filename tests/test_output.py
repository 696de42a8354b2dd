"""The run directory read back for real: Parquet files, the manifest, DuckDB, dossiers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from helpers import base_scenario

import carnet
from carnet.errors import CarnetError, RunError


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    doc = base_scenario(days=120, ledger_part_days=50)
    doc["population"]["size"] = 4000
    doc["sources"][0]["misattribution"] = 0.1
    doc["rules"]["lifetime_days"] = 40
    return carnet.save_run(carnet.simulate(doc), tmp_path_factory.mktemp("runs") / "run")


def test_run_directory_holds_every_output(run: Path) -> None:
    names = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file())
    assert names == [
        "gates.parquet",
        "ledger/part-00000.parquet",
        "ledger/part-00001.parquet",
        "ledger/part-00002.parquet",
        "manifest.json",
        "metrics.parquet",
        "population.parquet",
        "scenario.yaml",
    ]


def test_manifest_hashes_every_file(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["carnet_version"] == carnet.__version__
    assert manifest["seed"] == 7 and manifest["days"] == 120
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((run / name).read_bytes()).hexdigest() == digest
    assert len(manifest["files"]) == 7
    rows = sum(p["rows"] for p in manifest["ledger_chain"])
    assert rows == pq.read_table(run / "ledger").num_rows


def test_resolved_scenario_reloads_to_the_same_scenario(run: Path) -> None:
    again = carnet.load_scenario(run / "scenario.yaml")
    assert again == carnet.load_run(run).scenario
    assert again.population.size == 4000


def test_duckdb_queries_the_parquet_files(run: Path) -> None:
    con = duckdb.connect()
    ledger = f"'{run}/ledger/*.parquet'"
    pop = f"'{run}/population.parquet'"
    # Conservation: each citizen's final points are the start plus their ledger's changes.
    mismatches = con.execute(
        f"""
        select count(*) from read_parquet({pop}) p
        left join (select citizen, sum(points) s from read_parquet({ledger}) group by citizen) l
          using (citizen)
        where p.points != 1000 + coalesce(l.s, 0)
        """
    ).fetchone()
    assert mismatches == (0,)
    wrongful_ledger = con.execute(
        f"select count(*) from read_parquet({ledger}) where kind = 'act' and not truly_done"
    ).fetchone()[0]
    wrongful_metrics = con.execute(
        f"select sum(wrongful_red_light + wrongful_volunteering + wrongful_late_payment) "
        f"from read_parquet('{run}/metrics.parquet')"
    ).fetchone()[0]
    assert wrongful_ledger == wrongful_metrics > 0


def test_dossier_tells_the_truth(run: Path) -> None:
    result = carnet.load_run(run)
    ledger = result.ledger.to_pydict()
    victim = next(
        c
        for c, t, k in zip(ledger["citizen"], ledger["truly_done"], ledger["kind"], strict=True)
        if not t and k == "act"
    )
    d = result.dossier(victim)
    assert d.attributes["group"] == "everyone"
    assert any(not r["truly_done"] and r["true_actor"] != victim for r in d.rows)
    assert [r["day"] for r in d.rows] == sorted(r["day"] for r in d.rows)
    culprit = next(r["true_actor"] for r in d.rows if not r["truly_done"])
    assert any(r["citizen"] == victim for r in result.dossier(culprit).blamed_on_others)


def test_dossier_of_unknown_citizen_is_a_clear_error(run: Path) -> None:
    with pytest.raises(CarnetError, match="not in the panel"):
        carnet.load_run(run).dossier(10**9)


def test_refuses_to_overwrite(run: Path, tmp_path: Path) -> None:
    result = carnet.load_run(run)
    with pytest.raises(RunError, match="exists and is not empty"):
        carnet.save_run(result, run)
    stranger = tmp_path / "papers"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("precious")
    with pytest.raises(RunError, match="not a carnet run"):
        carnet.save_run(result, stranger, overwrite=True)
    assert (stranger / "thesis.tex").read_text() == "precious"


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(CarnetError, match="not a carnet run directory"):
        carnet.load_run(tmp_path)


def test_panel_is_a_uniform_sample_above_full_up_to() -> None:
    doc = base_scenario(days=30, panel={"full_up_to": 1000, "sample": 800})
    doc["population"]["size"] = 20_000
    result = carnet.simulate(doc)
    n = result.population.num_rows
    p = 800 / 20_000
    assert abs(n - 800) < 4 * (20_000 * p * (1 - p)) ** 0.5
    ids = result.population["citizen"].to_numpy()
    assert abs(ids.mean() - 10_000) < 4 * 20_000 / (12 * n) ** 0.5  # uniform over ids
    assert set(result.ledger["citizen"].to_pylist()) <= set(ids.tolist())
