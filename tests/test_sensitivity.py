"""Sensitivity analysis: known answers, the Ishigami function's closed form, resume, bad specs."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import chromium, need, offline_page, run_script

need("SALib")
need("distributed")

from carnet.analysis.sensitivity import SensitivitySpec, indices, ranking, run_sensitivity  # noqa: E402
from carnet.errors import ScenarioError  # noqa: E402

MISATTRIBUTION = "sources.traffic_cameras.misattribution"
POINTS = "rules.points.traffic_violation.points"


def spec_file(tmp_path: Path, **changes: Any) -> Path:
    doc: dict[str, Any] = {
        "scenario": "rongcheng",
        "population": 10_000,
        "days": 180,
        "method": "sobol",
        "samples": 64,
        "seeds": 1,
        "parameters": {MISATTRIBUTION: [0.0, 0.05], POINTS: [-20, -1]},
        "outputs": ["wrongful_per_100k[all]", "gini"],
    }
    doc.update(changes)
    doc = {k: v for k, v in doc.items() if v is not None}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _row(table: Any, parameter: str, output: str) -> dict[str, float]:
    rows = [r for r in table.to_pylist() if r["parameter"] == parameter and r["output"] == output]
    assert len(rows) == 1, rows
    return rows[0]  # type: ignore[no-any-return]


def test_sobol_finds_that_misattribution_not_points_makes_wrongful_sanctions(
    tmp_path: Path,
) -> None:
    spec = SensitivitySpec.read(spec_file(tmp_path))
    table = run_sensitivity(spec, tmp_path / "out", workers=2)
    cause = _row(table, MISATTRIBUTION, "wrongful_per_100k[all]")
    bystander = _row(table, POINTS, "wrongful_per_100k[all]")
    # Wrongful sanctions are the misattributed detections: misattribution explains them, alone.
    assert cause["ST"] > 0.8
    assert abs(cause["ST"] - cause["S1"]) <= math.hypot(cause["ST_conf"], cause["S1_conf"])
    # The penalty's points do not make anyone wrongly sanctioned: ST within its interval of 0.
    assert bystander["ST"] - bystander["ST_conf"] <= 0.0
    # And the points, not misattribution, spread the points (the Gini coefficient).
    assert ranking(table, "sobol")["gini"][0][0] == POINTS
    assert {"sensitivity.parquet", "cells.parquet", "samples.parquet", "sensitivity.html"} <= {
        p.name for p in (tmp_path / "out").iterdir()
    }


def test_morris_screens_the_same(tmp_path: Path) -> None:
    spec = SensitivitySpec.read(spec_file(tmp_path, method="morris", samples=10, levels=4))
    table = run_sensitivity(spec, tmp_path / "out", workers=2)
    cause = _row(table, MISATTRIBUTION, "wrongful_per_100k[all]")
    bystander = _row(table, POINTS, "wrongful_per_100k[all]")
    assert cause["mu_star"] - cause["mu_star_conf"] > 100  # per 100,000, over the whole range
    assert bystander["mu_star"] - bystander["mu_star_conf"] <= 0.0
    assert len(pq.read_table(tmp_path / "out" / "samples.parquet")) == 10 * 3


def _ishigami(x: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_the_indices_of_the_ishigami_function_are_its_closed_form(tmp_path: Path) -> None:
    """The design, its mapping onto ranges and the analysis, on a function with known indices."""
    a, b = 7.0, 0.1
    pi = math.pi
    v1 = 0.5 * (1 + b * pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * pi**8 * (1 / 18 - 1 / 50)
    total = v1 + v2 + v13
    exact = {"S1": [v1 / total, v2 / total, 0.0], "ST": [(v1 + v13) / total, v2 / total,
                                                          v13 / total]}  # fmt: skip
    path = spec_file(
        tmp_path,
        samples=4096,
        parameters={f"behaviours.{n}.rate_per_year": [0.0, 2 * pi] for n in
                    ("traffic_violation", "loan_arrears", "late_utility_fee")},
        outputs=None,
    )  # fmt: skip
    spec = SensitivitySpec.read(path)
    units = spec.design()
    values = spec.values(units)
    x = np.array([[v[p.path] for p in spec.parameters] for v in values]) - pi
    y = _ishigami(x)
    # Two seeds that differ by noise of their own: the indices are those of the mean.
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 0.01, size=(len(y), 2))
    cube = (y[:, None] + noise)[:, :, None]
    table = indices(spec, units, cube, ["ishigami"])
    for i, p in enumerate(spec.parameters):
        row = _row(table, p.path, "ishigami")
        for index in ("S1", "ST"):
            # SALib's bootstrap interval is 95%; widen to 3 of its standard errors.
            assert abs(row[index] - exact[index][i]) <= 1.5 * row[f"{index}_conf"] + 1e-3, (
                p.path, index, row[index], exact[index][i])  # fmt: skip
    assert 0 < _row(table, spec.parameters[0].path, "ishigami")["noise_share"] < 0.01


def test_a_killed_analysis_resumes_without_running_its_done_cells(tmp_path: Path) -> None:
    path = spec_file(tmp_path, samples=32, seeds=2)
    whole = run_sensitivity(SensitivitySpec.read(path), tmp_path / "whole", workers=2)
    out = tmp_path / "killed"
    cmd = [str(Path(sys.executable).with_name("carnet")), "sensitivity", str(path),
           "--out", str(out), "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "cells").glob("*.parquet"))) < 20:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its workers, mid-way
    proc.wait(timeout=30)
    done = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.parquet")}
    total = len(list((tmp_path / "whole" / "cells").glob("*.parquet")))
    assert 20 <= len(done) < total, "the kill came too late to test a resume"
    assert not (out / "sensitivity.parquet").exists()
    again = run_script("sensitivity", str(path), "--out", str(out), "--workers", "2", timeout=300)
    assert again.code == 0, again.text
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in done.items())
    assert len(list((out / "cells").glob("*.parquet"))) == total
    assert pq.read_table(out / "sensitivity.parquet").num_rows == whole.num_rows
    assert (out / "sensitivity.parquet").read_bytes() == (
        tmp_path / "whole" / "sensitivity.parquet").read_bytes()  # fmt: skip
    assert (out / "cells.parquet").read_bytes() == (
        tmp_path / "whole" / "cells.parquet"
    ).read_bytes()


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"parameters": {"rules.points.nope.points": [-5, -1]}},
         "parameters.rules.points.nope.points", "no 'nope'"),
        ({"parameters": {MISATTRIBUTION: [0.0, 1.5]}}, f"parameters.{MISATTRIBUTION}",
         "1.5 is out of bounds: must be <= 1"),
        ({"parameters": {MISATTRIBUTION: [0.1, 0.01]}}, f"parameters.{MISATTRIBUTION}",
         "must be below high"),
        ({"parameters": {MISATTRIBUTION: {"low": 0.0, "high": 0.1, "log": True}}},
         f"parameters.{MISATTRIBUTION}", "a log range must be above 0"),
        ({"parameters": {"population.groups": [0, 1]}}, "parameters.population.groups",
         "holds a list, not a number"),
        ({"samples": 8}, "samples", "sobol needs at least 16"),
        ({"samples": 48}, "samples", "a power of two"),
        ({"method": "morris", "samples": 2}, "samples", "morris needs at least 4"),
        ({"method": "fast"}, "method", "sobol or morris"),
        ({"outputs": ["wrongful_per_1k"]}, "outputs.0", "unknown figure 'wrongful_per_1k'"),
        ({"outputs": ["impact_ratio[loan]"]}, "outputs.0", "takes [gate,group]"),
        ({"outputs": ["wrongful_per_100k[martians]"]}, "outputs.0", "no group 'martians'"),
        ({"seeds": 0}, "seeds", "a positive number"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)  # fmt: skip
def test_bad_specs_name_the_path(
    tmp_path: Path, change: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        SensitivitySpec.read(spec_file(tmp_path, **change))
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()
    shown = run_script("sensitivity", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "o"))
    assert shown.code == 2 and path in shown.stderr and "Traceback" not in shown.text
    assert not (tmp_path / "o").exists()


def test_the_tables_read_back_in_duckdb_and_the_page_renders(tmp_path: Path) -> None:
    import duckdb

    path = spec_file(tmp_path, samples=16)
    out = tmp_path / "out"
    shown = run_script("sensitivity", str(path), "--out", str(out), "--workers", "2", timeout=300)
    assert shown.code == 0, shown.text
    assert "What drives each figure" in shown.stdout and MISATTRIBUTION in shown.stdout
    top = duckdb.execute(
        f"select parameter from '{out / 'sensitivity.parquet'}' "
        "where output = 'wrongful_per_100k[all]' order by ST desc limit 1"
    ).fetchall()
    assert top == [(MISATTRIBUTION,)]
    runs = duckdb.execute(f"select count(distinct sample) from '{out / 'cells.parquet'}'")
    assert runs.fetchall() == [(16 * 4,)]
    chromium()
    with offline_page(("file://",), 1200, 900) as (page, errors, remote):
        page.goto((out / "sensitivity.html").as_uri())
        page.wait_for_selector("#chart-output-0 .main-svg")
        bars = page.locator("#chart-output-0 .bars .point").count()
        assert bars == 4  # S1 and ST of two parameters
        assert errors == [] and remote == []


def test_a_killed_worker_s_cells_run_again_elsewhere(
    tmp_path: Path, cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    address, procs = cluster
    path = spec_file(tmp_path, samples=16, population=20_000)
    spec = SensitivitySpec.read(path)
    reference = run_sensitivity(spec, tmp_path / "local", workers=2)
    out = tmp_path / "remote"
    killed: list[int] = []

    def kill_after_the_first_cells() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(list((out / "cells").glob("*.parquet"))) >= 4:
                os.killpg(procs[1].pid, signal.SIGKILL)
                killed.append(1)
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_after_the_first_cells)
    watcher.start()
    table = run_sensitivity(spec, out, scheduler=address)
    watcher.join()
    assert killed and procs[1].wait(timeout=10) != 0
    assert table.num_rows == reference.num_rows
    for name in ("sensitivity.parquet", "cells.parquet"):
        assert (out / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
