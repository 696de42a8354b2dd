"""Sharded runs on Dask: a real scheduler and real workers on 127.0.0.1, and a worker killed.

The sharded run must equal the run in one process: metrics, population and gates byte for
byte, and the same ledger and decision rows (cut into parts per shard).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_script
from test_companies import with_companies

import carnet
from carnet.integrity import verify
from carnet.runner import run_to_directory

pytest.importorskip("distributed")

DASK = str(Path(sys.executable).with_name("dask"))
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
    a, b = carnet.Result.load(one), carnet.Result.load(sharded)
    assert a.ledger.num_rows > 1000 and rows(a.ledger) == rows(b.ledger)
    assert rows(a.decisions) == rows(b.decisions)
    assert a.company_ledger is not None and b.company_ledger is not None
    assert rows(a.company_ledger) == rows(b.company_ledger)
    assert verify(sharded) == []


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    return run_to_directory(scenario(), out, shards=1, threads=1).path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        with open(logs / log, "wb") as out:
            proc = subprocess.Popen([DASK, *args], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=tmp_path)  # fmt: skip
        procs.append(proc)
        return proc

    start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
          log="scheduler.log")  # fmt: skip
    for name in ("w1", "w2"):
        start("worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
              "--name", name, "--host", "127.0.0.1", log=f"{name}.log")  # fmt: skip
    from distributed import Client

    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        yield address, procs
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def test_local_shards_equal_one_process(one_process: Path, tmp_path: Path) -> None:
    from carnet.distributed import run_sharded

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


def scenario_file(tmp_path: Path) -> Path:
    from carnet.loading import to_yaml

    path = tmp_path / "scenario.yaml"
    path.write_text(to_yaml(scenario()), encoding="utf-8")
    return path


def test_a_killed_worker_s_shard_is_retried_and_nothing_is_lost(
    one_process: Path, tmp_path: Path, cluster: tuple[str, list[subprocess.Popen[bytes]]]
) -> None:
    from carnet.distributed import run_sharded

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
