"""`--overwrite` removes only a folder proven to be a carnet run, never one being written.

On 0.2.0 it removed any folder holding a file named ``scenario.yaml`` (a project with its own
scenario lost its thesis and its sources; ``--out .`` emptied the working folder), and ignored
the lock of a run still being written.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import carnet_exe
from typer.testing import CliRunner

from carnet.cli.app import app
from carnet.errors import RunError
from carnet.runs.directory import RunDirectory, prove_run, remove_run
from carnet.scenario.loading import load_scenario, preset_text

SMALL = ("--population", "3000", "--days", "40")


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert invoke("run", "minimal", *SMALL, "--out", str(out), "-q").exit_code == 0
    return out


def test_a_project_folder_with_its_own_scenario_is_never_removed(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "scenario.yaml").write_text(preset_text("minimal"), encoding="utf-8")
    (project / "thesis.tex").write_text("\\documentclass{article}", encoding="utf-8")
    (project / "src" / "model.py").write_text("print('mine')\n", encoding="utf-8")
    before = snapshot(project)
    result = invoke("run", "minimal", *SMALL, "--out", str(project), "--overwrite")
    assert result.exit_code == 2
    assert "not a carnet run directory that --overwrite may replace" in result.stderr
    assert "nothing was removed" in result.stderr
    assert snapshot(project) == before


def test_a_lone_hand_written_scenario_is_not_taken_for_a_run(tmp_path: Path) -> None:
    (tmp_path / "scenario.yaml").write_text(preset_text("minimal"), encoding="utf-8")
    result = invoke("run", "minimal", *SMALL, "--out", str(tmp_path), "--overwrite")
    assert result.exit_code == 2
    assert "scenario.yaml is not a scenario as carnet writes it" in result.stderr
    assert (tmp_path / "scenario.yaml").read_text(encoding="utf-8") == preset_text("minimal")


def test_out_dot_never_empties_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("mine", encoding="utf-8")
    (tmp_path / "scenario.yaml").write_text(preset_text("minimal"), encoding="utf-8")
    before = snapshot(tmp_path)
    proc = subprocess.run(
        [*carnet_exe(), "run", "minimal", *SMALL, "--out", ".", "--overwrite", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(tmp_path) == before


def test_a_finished_run_is_replaced_and_the_removal_is_told(finished_run: Path) -> None:
    result = invoke(
        "run", "minimal", *SMALL, "--seed", "5", "--out", str(finished_run), "--overwrite"
    )
    assert result.exit_code == 0, result.output
    assert "removed a finished run (" in result.stderr and str(finished_run) in result.stderr
    assert load_scenario(finished_run / "scenario.yaml").run.seed == 5


def test_a_users_file_added_to_a_run_keeps_it_from_removal(finished_run: Path) -> None:
    (finished_run / "my-notes.txt").write_text("mine", encoding="utf-8")
    result = invoke("run", "minimal", *SMALL, "--out", str(finished_run), "--overwrite")
    assert result.exit_code == 2
    assert "my-notes.txt is not a file carnet writes" in result.stderr
    assert (finished_run / "my-notes.txt").read_text(encoding="utf-8") == "mine"
    assert (finished_run / "manifest.json").is_file()


def test_a_changed_sealed_file_keeps_the_run_from_removal(finished_run: Path) -> None:
    metrics = finished_run / "metrics.parquet"
    metrics.write_bytes(metrics.read_bytes() + b"edited by hand")
    changed = re.escape("metrics.parquet was changed since carnet wrote it")
    with pytest.raises(RunError, match=changed):
        remove_run(finished_run)
    assert metrics.is_file()


def test_a_users_folder_inside_a_run_keeps_it_from_removal(finished_run: Path) -> None:
    (finished_run / "analysis").mkdir()
    (finished_run / "analysis" / "fit.R").write_text("mine", encoding="utf-8")
    with pytest.raises(RunError, match="analysis is a folder carnet does not write"):
        remove_run(finished_run)
    assert (finished_run / "analysis" / "fit.R").is_file()


def test_a_locked_run_is_never_removed(finished_run: Path) -> None:
    before = snapshot(finished_run)
    fd = os.open(finished_run, os.O_RDONLY)  # what a carnet process writing it holds
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = invoke("run", "minimal", *SMALL, "--out", str(finished_run), "--overwrite")
    finally:
        os.close(fd)
    assert result.exit_code == 2
    assert "is being written by a carnet process that is still running" in result.stderr
    assert snapshot(finished_run) == before


def test_overwrite_leaves_a_run_being_written_alone(tmp_path: Path) -> None:
    out = tmp_path / "run"
    doc = yaml.safe_load(preset_text("minimal"))
    doc["population"]["size"] = 400_000
    doc["run"]["days"] = 365
    doc["run"]["checkpoint_days"] = 30
    scenario = tmp_path / "long.yaml"
    scenario.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    first = subprocess.Popen(
        [*carnet_exe(), "run", str(scenario), "--out", str(out), "-q", "--no-report",
         "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out / "scenario.yaml").is_file() and time.monotonic() < deadline:
            time.sleep(0.01)
        second = subprocess.run(
            [*carnet_exe(), "run", "minimal", *SMALL, "--out", str(out), "--overwrite", "-q"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        running = first.poll() is None
        _, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
    if not running:
        pytest.skip("the first run finished before the second could try to replace it")
    assert second.returncode == 2, second.stderr
    assert "still running" in second.stderr
    assert first.returncode == 0, err
    assert load_scenario(out / "scenario.yaml").population.size == 400_000
    assert not subprocess.run([*carnet_exe(), "verify", str(out)], capture_output=True).returncode


def test_an_unfinished_run_is_proven_and_replaced(tmp_path: Path) -> None:
    out = tmp_path / "run"
    scenario = load_scenario("minimal", population=3000, days=40)
    RunDirectory.create(out, scenario)  # a run killed before its first checkpoint
    (out / "ledger" / "part-00000.parquet").write_bytes(b"PAR1" + b"\0" * 16 + b"PAR1")
    (out / ".tmp-checkpoint.npz").write_bytes(b"half written")
    assert prove_run(out).startswith("an unfinished run")
    result = invoke("run", "minimal", *SMALL, "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert "removed an unfinished run" in result.stderr


def test_a_stray_file_among_the_ledger_parts_is_not_ours(tmp_path: Path) -> None:
    out = tmp_path / "run"
    RunDirectory.create(out, load_scenario("minimal", population=3000, days=40))
    (out / "ledger" / "part-00000.parquet").write_text("not parquet", encoding="utf-8")
    with pytest.raises(RunError, match=re.escape("ledger/part-00000.parquet is not a ledger part")):
        prove_run(out)


def test_a_sharded_run_is_proven_whole(tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="pip install 'carnet[distributed]'")
    out = tmp_path / "run"
    result = invoke("run", "minimal", *SMALL, "--shards", "2", "--threads", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert prove_run(out).startswith("a finished run in shards")
    (out / "shards" / "0000" / "stray.txt").write_text("mine", encoding="utf-8")
    stray = re.escape("shards/0000/stray.txt is not a file carnet writes")
    with pytest.raises(RunError, match=stray):
        prove_run(out)


def test_out_may_be_a_link_to_an_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    result = invoke("run", "minimal", *SMALL, "--out", str(link), "-q")
    assert result.exit_code == 0, result.output
    assert (target / "manifest.json").is_file() and link.is_symlink()


def test_out_may_not_be_a_dangling_link(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    result = invoke("run", "minimal", *SMALL, "--out", str(link))
    assert result.exit_code == 2
    assert "symbolic link to nothing" in result.stderr
