"""Sweeps: a grid of overrides × seeds on Dask, resumed without re-running done cells."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import base_scenario, need, run_script, write_yaml

import carnet
from carnet.analysis.audit import audit
from carnet.analysis.sweep import Sweep, run_sweep
from carnet.errors import ScenarioError

need("distributed")


def sweep_file(tmp_path: Path, size: int = 3000, days: int = 40, **extra: Any) -> Path:
    doc = base_scenario(days=days)
    doc["population"]["size"] = size
    write_yaml(doc, tmp_path / "city.yaml")
    sweep = {
        "scenario": "city.yaml",
        "seeds": 2,
        "grid": {
            "rules.points.red_light.points": [-5, -20],
            "sources.camera.misattribution": [0.0, 0.1],
        },
        **extra,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep), encoding="utf-8")
    return path


def test_a_sweep_runs_every_cell_and_resumes(tmp_path: Path) -> None:
    path, out = sweep_file(tmp_path), tmp_path / "out"
    shown = run_script("sweep", str(path), "--out", str(out), "--workers", "2", timeout=300)
    assert shown.code == 0, shown.text
    table = pq.read_table(out / "sweep.parquet")
    assert len(set(table["cell"].to_pylist())) == 2 * 2 * 2
    assert set(table["seed"].to_pylist()) == {7, 8}
    # One cell, checked against a run of its scenario.
    mine = table.filter(pc.and_(pc.equal(table["seed"], 8),
                                pc.equal(table["sources.camera.misattribution"], 0.1)))  # fmt: skip
    mine = mine.filter(pc.equal(mine["rules.points.red_light.points"], -20))
    doc = base_scenario(days=40)
    doc["population"]["size"] = 3000
    doc["rules"]["points"]["red_light"] = {"points": -20, "yearly_cap": None, "lifetime_days": None}
    doc["sources"][0]["misattribution"] = 0.1
    doc["run"]["seed"] = 8
    expected = audit(carnet.simulate(doc)).sanctions.to_pylist()[-1]
    got = {r["figure"]: r["value"] for r in mine.to_pylist() if r["row"] == "group=all"}
    assert got["wrongful"] == expected["wrongful"] > 0
    assert got["sanctions"] == expected["sanctions"]
    honest = table.filter(pc.equal(table["sources.camera.misattribution"], 0.0))
    wrongful = honest.filter(pc.equal(honest["figure"], "wrongful"))
    assert set(wrongful["value"].to_pylist()) == {0.0}
    # Resume: only the missing cell runs again, and the table comes out the same.
    before = (out / "sweep.parquet").read_bytes()
    cells = sorted((out / "cells").glob("*.parquet"))
    stamps = {c: c.stat().st_mtime_ns for c in cells}
    cells[0].unlink()
    again = run_script("sweep", str(path), "--out", str(out), "--workers", "2", timeout=300)
    assert again.code == 0, again.text
    assert (out / "sweep.parquet").read_bytes() == before
    assert cells[0].is_file()
    assert all(c.stat().st_mtime_ns == stamps[c] for c in cells[1:])


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"grid": {"rules.points.nope.points": [1]}}, "rules.points.nope.points", "no 'nope'"),
        ({"grid": {"sources.spy.detect": [1]}}, "sources.spy.detect", "no item 'spy'"),
        ({"grid": {"sources.camera.misattribution": [2.0]}}, "sources.camera.misattribution",
         "must be <= 1"),
        ({"grid": {"run.days": []}}, "grid.run.days", "non-empty list"),
        ({"seeds": 0}, "seeds", "a positive number"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)  # fmt: skip
def test_errors_name_the_path(
    tmp_path: Path, change: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        Sweep(sweep_file(tmp_path, **change))
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()
    shown = run_script("sweep", str(tmp_path / "sweep.yaml"), "--out", str(tmp_path / "o"))
    assert shown.code == 2 and "Traceback" not in shown.text


def test_a_killed_worker_s_cells_run_again_elsewhere(
    tmp_path: Path, cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    address, procs = cluster
    path = sweep_file(tmp_path, size=20_000, days=150)
    reference = run_sweep(Sweep(path), tmp_path / "local", workers=2)
    out = tmp_path / "remote"
    killed: list[int] = []

    def kill_after_the_first_cell() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if list((out / "cells").glob("*.parquet")):
                os.killpg(procs[1].pid, signal.SIGKILL)
                killed.append(1)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_after_the_first_cell)
    watcher.start()
    table = run_sweep(Sweep(path), out, scheduler=address)
    watcher.join()
    assert killed and procs[1].wait(timeout=10) != 0
    assert table.read_bytes() == reference.read_bytes()
