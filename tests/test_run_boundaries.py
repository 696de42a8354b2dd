"""Nothing is written into a run but its own report, and no reader leaves the run.

On 0.2.0 ``carnet report --out`` and ``carnet audit --out`` wrote inside a run folder
(replacing sealed files, adding files among the ledger parts), readers followed the paths a
manifest lists wherever they led, and a malformed manifest was reported as "a bug in carnet".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import carnet
from carnet.cli.app import app
from carnet.errors import InputError
from carnet.runs.integrity import head_hash, verify


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output and "bug in carnet" not in result.output
    return result


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    carnet.run(carnet.load_scenario("rongcheng-gated", population=3000, days=30), out)
    return out


@pytest.fixture
def run(sealed: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(sealed, copy)
    return copy


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize(
    "where", ["metrics.parquet", "ledger/extra.html", "notes/report.html", "scenario.yaml"]
)
def test_report_out_may_not_write_inside_the_run(run: Path, where: str) -> None:
    before = files(run)
    shown = invoke("report", str(run), "--out", str(run / where))
    assert shown.exit_code == 2
    assert "is inside the run directory" in shown.stderr
    assert files(run) == before and verify(run) == []


def test_the_report_may_be_written_into_its_own_run_or_outside(run: Path, tmp_path: Path) -> None:
    assert invoke("report", str(run), "--out", str(run / "report.html")).exit_code == 0
    assert invoke("report", str(run), "--out", str(tmp_path / "elsewhere.html")).exit_code == 0
    assert verify(run) == []


def test_a_report_may_not_go_into_another_run(run: Path, sealed: Path) -> None:
    shown = invoke("report", str(run), "--out", str(sealed / "report.html"))
    assert shown.exit_code == 2 and "is inside the run directory" in shown.stderr


@pytest.mark.parametrize("where", [".", "ledger", "audit"])
def test_audit_out_may_not_write_inside_a_run(run: Path, where: str) -> None:
    before = files(run)
    shown = invoke("audit", str(run), "--out", str(run / where))
    assert shown.exit_code == 2
    assert "is inside the run directory" in shown.stderr
    assert files(run) == before


def reseal(run: Path, change: Any) -> None:
    """Change the manifest as a forger would: the head hash made to match again."""
    path = run / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    if isinstance(manifest, dict):
        manifest["head"] = head_hash(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def outside(manifest: dict[str, Any]) -> None:
    part = manifest["ledger_chain"][0]
    digest = manifest["files"].pop(part["file"])
    part["file"] = "../../../../../../etc/passwd"
    manifest["files"][part["file"]] = digest


def absolute(manifest: dict[str, Any]) -> None:
    manifest["files"]["/etc/passwd"] = "0" * 64


TAMPERINGS = {
    "a part outside the run": (outside, "outside the run"),
    "an absolute path": (absolute, "outside the run"),
    "files as a list": (lambda m: m.update(files=[]), "'files' is not a mapping"),
    "rows as text": (lambda m: m["ledger_chain"][0].update(rows="many"), "malformed"),
    "the chain as a number": (lambda m: m.update(ledger_chain=3), "'ledger_chain' is not"),
    "a hash that is not one": (
        lambda m: m["files"].update({"metrics.parquet": "zz"}),
        "is not a sha256",
    ),
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
def test_a_tampered_manifest_is_reported_as_tampering_by_every_reader(
    run: Path, tampering: str
) -> None:
    change, said = TAMPERINGS[tampering]
    reseal(run, change)
    problems = verify(run)
    assert any(said in p for p in problems), problems
    with pytest.raises(InputError, match="tampered"):
        carnet.load_run(run)
    for command in (
        ("verify", str(run)),
        ("dossier", str(run), "1"),
        ("report", str(run), "--out", str(run.parent / "r.html")),
        ("query", str(run), "SELECT count(*) FROM ledger"),
        ("run", "--resume", str(run), "-q"),
    ):
        shown = invoke(*command)
        assert shown.exit_code in (1, 2), command
        assert said in shown.stderr or "tampered" in shown.stderr, (command, shown.stderr)
    assert not (run.parent / "r.html").exists()
