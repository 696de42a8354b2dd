"""Sharded runs on Dask: a real scheduler and real workers on 127.0.0.1, and a worker killed.

The sharded run must equal the run in one process: metrics, population and gates byte for
byte, and the same ledger and decision rows (cut into parts per shard). On a local cluster, and
stopped then resumed: tests/test_identity.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_same_run, need, run_script, sharded_society

import carnet
from carnet.runs.local import run_to_directory

need("distributed")


def scenario() -> carnet.Scenario:
    """Lists, gates with school seats (the one decision across shards), companies, responses."""
    return carnet.load_scenario(sharded_society())


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    return run_to_directory(scenario(), out, shards=1, threads=1).path


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
