"""A kill campaign over every fault point (carnet.runs.faults), one process and sharded.

An uninterrupted run lists the points it passes (``CARNET_FAULT_LOG``). Then, for each point, a
run is killed there with SIGKILL (its whole process group, Dask workers included), and finished
as a user would finish it: ``carnet run --resume`` when the run folder exists, the same command
with ``--overwrite`` when the kill struck before it did. Every finished run must be
byte-identical to the uninterrupted one, pass ``carnet verify``, and leave nothing beside it.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from carnet.runs.faults import FAULT, LOG
from carnet.scenario.loading import preset_text

SEALED_ONLY = ("report.html",)  # drawn again by each resume: not sealed, not compared


def carnet(*args: str, fault: str | None = None, log: Path | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k not in (FAULT, LOG)}
    if fault is not None:
        env[FAULT] = fault
    if log is not None:
        env[LOG] = str(log)
    done = subprocess.run(
        [sys.executable, "-m", "carnet", *args],
        env=env, capture_output=True, text=True, timeout=600,
        start_new_session=True,  # its own process group: the fault kills the run and its workers
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"carnet {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.returncode


def files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in SEALED_ONLY
    }


def scenario_file(tmp_path: Path) -> Path:
    doc = yaml.safe_load(preset_text("rongcheng-gated"))
    doc["population"]["size"] = 3000
    doc["run"].update(days=30, checkpoint_days=10, ledger_part_days=10)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


#: Every fault point a run passes, in the order first passed (checked by the first test).
ONE_PROCESS = (
    "scenario.yaml: before",
    "scenario.yaml: written, not renamed",
    "scenario.yaml: renamed",
    "run folder: built, not renamed",
    "ledger/part-#.parquet: before",
    "ledger/part-#.parquet: written, not renamed",
    "ledger/part-#.parquet: renamed",
    "decisions/part-#.parquet: before",
    "decisions/part-#.parquet: written, not renamed",
    "decisions/part-#.parquet: renamed",
    "checkpoint.npz: before",
    "checkpoint.npz: written, not renamed",
    "checkpoint.npz: renamed",
    "metrics.parquet: before",
    "metrics.parquet: written, not renamed",
    "metrics.parquet: renamed",
    "population.parquet: before",
    "population.parquet: written, not renamed",
    "population.parquet: renamed",
    "gates.parquet: before",
    "gates.parquet: written, not renamed",
    "gates.parquet: renamed",
    "manifest.json: before",
    "manifest.json: written, not renamed",
    "manifest.json: renamed",
    "manifest written, checkpoint not removed",
    "report.html: before",
    "report.html: written, not renamed",
    "report.html: renamed",
)
SHARDED = (
    "scenario.yaml: before",
    "scenario.yaml: written, not renamed",
    "scenario.yaml: renamed",
    "shards/plan.json: before",
    "shards/plan.json: written, not renamed",
    "shards/plan.json: renamed",
    "run folder: built, not renamed",
    "shard/scenario.yaml: before",
    "shard/scenario.yaml: written, not renamed",
    "shard/scenario.yaml: renamed",
    "shard folder: built, not renamed",
    "shard/ledger/part-#.parquet: before",
    "shard/ledger/part-#.parquet: written, not renamed",
    "shard/ledger/part-#.parquet: renamed",
    "shard/decisions/part-#.parquet: before",
    "shard/decisions/part-#.parquet: written, not renamed",
    "shard/decisions/part-#.parquet: renamed",
    "shard/checkpoint.npz: before",
    "shard/checkpoint.npz: written, not renamed",
    "shard/checkpoint.npz: renamed",
    "shard/output.npz: before",
    "shard/output.npz: written, not renamed",
    "shard/output.npz: renamed",
    "shard output written, checkpoint not removed",
    "metrics.parquet: before",
    "metrics.parquet: written, not renamed",
    "metrics.parquet: renamed",
    "population.parquet: before",
    "population.parquet: written, not renamed",
    "population.parquet: renamed",
    "gates.parquet: before",
    "gates.parquet: written, not renamed",
    "gates.parquet: renamed",
    "manifest.json: before",
    "manifest.json: written, not renamed",
    "manifest.json: renamed",
    "manifest written, checkpoint not removed",
    "report.html: before",
    "report.html: written, not renamed",
    "report.html: renamed",
)
HOW = {"one process": ("--threads", "2"), "sharded": ("--shards", "2", "--threads", "1")}


@pytest.fixture(scope="session")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[str]]]:
    """Each way's uninterrupted run, and the points it passed (once per test process)."""
    folder = tmp_path_factory.mktemp("kill-references")
    scenario = scenario_file(folder)
    found = {}
    for way, how in HOW.items():
        if way == "sharded" and importlib.util.find_spec("distributed") is None:
            continue
        out, log = folder / way.replace(" ", "-"), folder / f"{way}.log"
        assert carnet("run", str(scenario), "--out", str(out), "-q", *how, log=log) == 0
        found[way] = (out, list(dict.fromkeys(log.read_text(encoding="utf-8").splitlines())))
    return found


@pytest.mark.campaign
def test_the_points_are_the_ones_the_campaign_covers(
    references: dict[str, tuple[Path, list[str]]],
) -> None:
    assert references["one process"][1] == list(ONE_PROCESS)
    if "sharded" in references:
        assert references["sharded"][1] == list(SHARDED)


def kill_and_finish(
    tmp_path: Path, references: dict[str, tuple[Path, list[str]]], way: str, point: str
) -> None:
    if way not in references:
        pytest.skip("pip install 'carnet[distributed]'")
    scenario = scenario_file(tmp_path)
    out = tmp_path / "runs" / "run"
    start = ["run", str(scenario), "--out", str(out), "-q", *HOW[way]]
    assert carnet(*start, fault=point) == -signal.SIGKILL, f"not killed at {point!r}"
    if (out / "scenario.yaml").is_file():
        assert carnet("run", "--resume", str(out), "-q") == 0
    else:
        assert carnet(*start, "--overwrite") == 0
    assert files(out) == files(references[way][0]), "other bytes than the uninterrupted run"
    assert carnet("verify", str(out)) == 0, "verify fails"
    left = sorted(p.name for p in out.parent.iterdir() if p.name != "run")
    assert not left, f"left {left} beside the run"


@pytest.mark.campaign
@pytest.mark.parametrize("point", ONE_PROCESS)
def test_a_run_in_one_process_killed_at_each_point_resumes_to_the_same_bytes(
    tmp_path: Path, references: dict[str, tuple[Path, list[str]]], point: str
) -> None:
    kill_and_finish(tmp_path, references, "one process", point)


@pytest.mark.campaign
@pytest.mark.parametrize("point", SHARDED)
def test_a_sharded_run_killed_at_each_point_resumes_to_the_same_bytes(
    tmp_path: Path, references: dict[str, tuple[Path, list[str]]], point: str
) -> None:
    kill_and_finish(tmp_path, references, "sharded", point)
