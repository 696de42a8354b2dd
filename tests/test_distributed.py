"""Sharded runs on Dask: a real scheduler and real workers on 127.0.0.1, and a worker killed.

The sharded run must equal the run in one process: metrics, population and gates byte for
byte, and the same ledger and decision rows (cut into parts per shard).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import run_script
from test_companies import with_companies

import carnet
from carnet.runs.integrity import verify
from carnet.runs.local import run_to_directory

pytest.importorskip("distributed")

SAME_BYTES = ("metrics.parquet", "population.parquet", "gates.parquet", "companies.parquet",
              "company_metrics.parquet")  # fmt: skip


def scenario(size: int = 12_000, days: int = 150) -> carnet.Scenario:
    """Lists, gates with school seats (the one decision across shards), companies, responses."""
    doc = with_companies(exit_per_year=3.0)
    doc["population"]["size"] = size  # blocks of 1024: a dozen, split in shards
    doc["population"]["regions"] = [{"name": "north", "share": 0.5},
                                    {"name": "south", "share": 0.5}]  # fmt: skip
    doc["lists"] = {"blacklist": {"distress_per_year": 1.0, "lawsuits_per_year": 4.0,
                                  "listing_probability": 0.5, "term_days": 30}}  # fmt: skip
    doc["gates"].append({"name": "school", "applicant": "child", "applications_per_year": 1.0,
                         "refuse_blacklisted": True, "seats_per_region": 40,
                         "allocation_day": 60})  # fmt: skip
    doc["responses"] = {"punished": 0.5, "household": 0.7, "coworkers": 0.8, "memory_days": 20}
    doc["run"].update(days=days, checkpoint_days=5, ledger_part_days=25)
    return carnet.load_scenario(doc)


def rows(table: Any) -> list[str]:
    return sorted(map(str, table.to_pylist()))


def assert_same_run(one: Path, sharded: Path) -> None:
    for name in SAME_BYTES:
        assert (one / name).read_bytes() == (sharded / name).read_bytes(), name
    a, b = carnet.load_run(one), carnet.load_run(sharded)
    assert a.ledger.num_rows > 1000 and rows(a.ledger) == rows(b.ledger)
    assert rows(a.decisions) == rows(b.decisions)
    assert a.company_ledger is not None and b.company_ledger is not None
    assert rows(a.company_ledger) == rows(b.company_ledger)
    assert verify(sharded) == []


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    return run_to_directory(scenario(), out, shards=1, threads=1).path


def test_local_shards_equal_one_process(one_process: Path, tmp_path: Path) -> None:
    from carnet.runs.dask import run_sharded

    finished = run_sharded(scenario(), tmp_path / "run", shards=3)
    assert_same_run(one_process, finished.path)
    assert len(list((finished.path / "shards").glob("0*/ledger/*.parquet"))) > 3


def test_a_real_cluster_equals_one_process(
    one_process: Path, tmp_path: Path, cluster: tuple[str, list[Any]]
) -> None:
    address, _ = cluster
    out = tmp_path / "run"
    shown = run_script("run", str(scenario_file(tmp_path)), "--shards", "4", "--scheduler",
                       address, "--out", str(out), "--no-report", timeout=300)  # fmt: skip
    assert shown.code == 0, shown.text
    assert_same_run(one_process, out)
    # The README's worker configuration reached the workers.
    from distributed import Client

    with Client(address, timeout=30) as client:
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(trim.values()) == [None, None]


def scenario_file(tmp_path: Path) -> Path:
    from carnet.scenario.loading import to_yaml

    path = tmp_path / "scenario.yaml"
    path.write_text(to_yaml(scenario()), encoding="utf-8")
    return path


def test_a_killed_worker_s_shard_is_retried_and_nothing_is_lost(
    one_process: Path, tmp_path: Path, cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    from carnet.runs.dask import run_sharded

    address, procs = cluster
    out = tmp_path / "run"
    import threading

    killed: list[str] = []

    def kill_when_both_have_checkpoints() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            marks = list(out.glob("shards/*/checkpoint.npz"))
            if len(marks) >= 2:
                os.killpg(procs[1].pid, signal.SIGKILL)  # worker w1, nanny and all
                killed.append(str(marks))
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_when_both_have_checkpoints)
    watcher.start()
    finished = run_sharded(scenario(), out, shards=2, scheduler=address)
    watcher.join()
    assert killed, "the run ended before a worker could be killed"
    assert procs[1].wait(timeout=10) != 0
    assert_same_run(one_process, finished.path)


def test_a_stopped_sharded_run_resumes(one_process: Path, tmp_path: Path) -> None:
    from carnet.runs.dask import run_sharded

    out = run_sharded(scenario(), tmp_path / "run", shards=3).path
    # The coordinator stopped before sealing the run, and one shard had not finished.
    (out / "manifest.json").unlink()
    (out / "metrics.parquet").unlink()
    (out / "shards" / "0001" / "output.npz").unlink()
    kept = (out / "shards" / "0000" / "output.npz").stat().st_mtime_ns
    shown = run_script("run", "--resume", str(out), "--no-report", timeout=300)
    assert shown.code == 0, shown.text
    assert (out / "shards" / "0000" / "output.npz").stat().st_mtime_ns == kept  # not run again
    assert_same_run(one_process, out)


def test_a_shard_that_cannot_fit_is_refused_before_it_starts() -> None:
    from carnet.errors import RunError
    from carnet.runs.memory import check_memory, predict_bytes

    s = carnet.load_scenario("china")
    whole = predict_bytes(s)
    with pytest.raises(RunError, match="run more, smaller shards"):
        check_memory(s, 2**30, share=0.5)
    assert check_memory(s, whole, share=0.25) < whole / 3  # a quarter fits where all would


def test_local_workers_keep_glibc_s_mmap_threshold_and_no_profiler() -> None:
    """Dask's default MALLOC_TRIM_THRESHOLD_ made every daily array a fresh mapping (slow)."""
    from carnet.runs.dask import client_for

    def settings() -> tuple[str | None, bool, str]:
        import dask

        return (
            os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            dask.config.get("distributed.worker.profile.enabled"),
            os.environ.get("OMP_NUM_THREADS", ""),
        )

    with client_for(None, 1) as client:
        (got,) = client.run(settings).values()
    # No trim threshold, no profiler, and the rest of Dask's worker environment kept.
    assert got == (None, False, "1")
