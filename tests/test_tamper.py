"""Tamper evidence: every alteration of a finished run is detected by carnet verify and named."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from helpers import base_scenario, carnet_exe

import carnet
from carnet.runs.integrity import head_hash, verify
from carnet.runs.local import run_to_directory


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    doc = base_scenario(days=60, ledger_part_days=10)
    doc["population"]["size"] = 3000
    doc["sources"][0]["misattribution"] = 0.05
    out = tmp_path_factory.mktemp("tamper") / "run"
    finished = run_to_directory(carnet.load_scenario(doc), out)
    return finished.path, finished.head


@pytest.fixture
def run(original: tuple[Path, str], tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(original[0], copy)
    return copy


def cli_verify(run: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*carnet_exe(), "verify", str(run), *extra], capture_output=True, text=True, timeout=60
    )


def test_intact_run_verifies(run: Path, original: tuple[Path, str]) -> None:
    assert verify(run) == []
    done = cli_verify(run, "--head", original[1])
    assert done.returncode == 0, done.stderr
    assert "intact" in done.stdout and original[1] in done.stdout


def test_flipped_byte_in_a_ledger_part(run: Path) -> None:
    part = run / "ledger" / "part-00001.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))
    assert verify(run) == ["modified: ledger/part-00001.parquet"]
    done = cli_verify(run)
    assert done.returncode == 1
    assert "modified: ledger/part-00001.parquet" in done.stderr
    assert "Traceback" not in done.stderr


def test_deleted_part(run: Path) -> None:
    (run / "ledger" / "part-00002.parquet").unlink()
    assert verify(run) == ["missing: ledger/part-00002.parquet"]
    assert cli_verify(run).returncode == 1


def test_swapped_parts(run: Path) -> None:
    a, b = run / "ledger" / "part-00000.parquet", run / "ledger" / "part-00003.parquet"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    assert verify(run) == [
        "reordered: ledger/part-00000.parquet holds what the manifest lists as "
        "ledger/part-00003.parquet",
        "reordered: ledger/part-00003.parquet holds what the manifest lists as "
        "ledger/part-00000.parquet",
    ]


def test_appended_forged_part(run: Path) -> None:
    forged = pq.read_table(run / "ledger" / "part-00000.parquet").slice(0, 3)
    pq.write_table(forged, run / "ledger" / "part-00006.parquet")
    assert verify(run) == ["added: ledger/part-00006.parquet (not in the manifest)"]
    done = cli_verify(run)
    assert done.returncode == 1 and "added: ledger/part-00006.parquet" in done.stderr


def test_derived_views_are_not_sealed_but_other_additions_are_caught(run: Path) -> None:
    (run / "report.html").write_text("<html></html>", encoding="utf-8")
    (run / "figures").mkdir()
    (run / "figures" / "grades.png").write_bytes(b"png")
    assert verify(run) == []  # the report is a view that carnet report may write again
    (run / "notes.txt").write_text("hello", encoding="utf-8")
    (run / "ledger" / "report.html").write_text("not the report", encoding="utf-8")
    assert verify(run) == [
        "added: ledger/report.html (not in the manifest)",
        "added: notes.txt (not in the manifest)",
    ]


def test_edited_metrics(run: Path) -> None:
    metrics = pq.read_table(run / "metrics.parquet")
    wrongful = pc.multiply(metrics["wrongful_red_light"], 0)  # erase the wrongful sanctions
    i = metrics.column_names.index("wrongful_red_light")
    pq.write_table(metrics.set_column(i, "wrongful_red_light", wrongful), run / "metrics.parquet")
    assert verify(run) == ["modified: metrics.parquet"]


def test_manifest_rewritten_to_match_is_caught_by_the_head_hash(
    run: Path, original: tuple[Path, str]
) -> None:
    metrics = pq.read_table(run / "metrics.parquet")
    pq.write_table(metrics.slice(0, 10), run / "metrics.parquet")
    manifest = json.loads((run / "manifest.json").read_text())
    from carnet.runs.integrity import sha256_file

    manifest["files"]["metrics.parquet"] = sha256_file(run / "metrics.parquet")
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert verify(run) == ["manifest.json was edited: its head hash does not match its contents"]
    manifest["head"] = head_hash(manifest)  # a careful forger also reseals the manifest
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert verify(run) == []  # consistent with itself ...
    problems = verify(run, expected_head=original[1])  # ... but not with the head printed at run
    assert len(problems) == 1 and "the manifest was replaced" in problems[0]
    done = cli_verify(run, "--head", original[1])
    assert done.returncode == 1 and "the manifest was replaced" in done.stderr


def test_chain_edited_in_the_manifest(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["ledger_chain"][1], manifest["ledger_chain"][2] = (
        manifest["ledger_chain"][2],
        manifest["ledger_chain"][1],
    )
    manifest["head"] = head_hash(manifest)
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert verify(run) == ["manifest.json: the ledger chain is broken at part 1"]


def test_unfinished_and_foreign_directories(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text("name: x\n")
    assert "incomplete run" in verify(tmp_path)[0]
    done = cli_verify(tmp_path / "nowhere")
    assert done.returncode == 1 and "no such run directory" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a carnet run directory" in verify(empty)[0]


def test_result_reads_back_what_verify_protects(run: Path) -> None:
    result = carnet.load_run(run)
    assert isinstance(result.ledger, pa.Table) and result.ledger.num_rows > 0
