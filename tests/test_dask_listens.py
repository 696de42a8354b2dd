"""Every Dask process carnet starts itself listens on 127.0.0.1 only.

``client_for`` starts a LocalCluster (a scheduler with its dashboard, nannies, workers with their
HTTP servers) when no scheduler is given. The listening sockets of this process and every
process below it are listed while the cluster is up (psutil, which Dask itself depends on): one
bound to anything but loopback would let another machine drive or watch the run.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from helpers import base_scenario, need

import carnet

need("distributed")
psutil = pytest.importorskip("psutil")  # distributed's own dependency

from carnet.runs.dask import client_for, run_sharded  # noqa: E402


def listening() -> dict[tuple[str, int], tuple[int, str]]:
    """Every TCP address this process and its descendants listen on: (host, port) → pid, name."""
    me = psutil.Process(os.getpid())
    found: dict[tuple[str, int], tuple[int, str]] = {}
    for proc in [me, *me.children(recursive=True)]:
        try:
            for conn in proc.net_connections(kind="tcp"):  # IPv4 and IPv6
                if conn.status == psutil.CONN_LISTEN:
                    found[(conn.laddr.ip, conn.laddr.port)] = (proc.pid, proc.name())
        except psutil.NoSuchProcess:  # ended while listed (a spawn helper)
            continue
    return found


def not_loopback(found: dict[tuple[str, int], tuple[int, str]]) -> list[str]:
    return [
        f"{host}:{port} (pid {pid} {name})"
        for (host, port), (pid, name) in found.items()
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback
    ]


def test_a_local_cluster_listens_on_loopback_only() -> None:
    before = set(listening())
    with client_for(None, 2) as client:
        client.wait_for_workers(2, timeout=60)
        info = client.scheduler_info()
        found = {a: p for a, p in listening().items() if a not in before}
        workers = info["workers"]
        assert len(workers) == 2
        assert not_loopback(found) == [], found
        ports = {port for _, port in found}
        # What is started: the scheduler, its HTTP server (the dashboard), each nanny, each
        # worker and the HTTP server each worker keeps; all of them are among those listed.
        scheduler_port = int(info["address"].rsplit(":", 1)[1])
        assert info["address"].startswith("tcp://127.0.0.1:") and scheduler_port in ports
        assert int(info["services"]["dashboard"]) in ports
        for address, worker in workers.items():
            assert address.startswith("tcp://127.0.0.1:"), address
            assert int(address.rsplit(":", 1)[1]) in ports
            assert worker["nanny"].startswith("tcp://127.0.0.1:"), worker
            assert int(worker["nanny"].rsplit(":", 1)[1]) in ports
            assert int(worker["services"]["dashboard"]) in ports
        assert len(found) == 2 + 3 * len(workers), found
        pids = {pid for pid, _ in found.values()}
        assert len(pids) == 1 + len(workers)  # this process (scheduler, nannies), each worker


def test_a_sharded_run_listens_on_loopback_only(tmp_path: Path) -> None:
    doc = base_scenario(days=30)
    doc["population"]["size"] = 6000
    before = set(listening())
    seen: list[dict[tuple[str, int], tuple[int, str]]] = []

    def progress(done: int, total: int) -> None:  # called while the cluster is up
        seen.append({a: p for a, p in listening().items() if a not in before})

    finished = run_sharded(carnet.load_scenario(doc), tmp_path / "run", shards=2, workers=2,
                           progress=progress)  # fmt: skip
    assert finished.path.is_dir()
    assert seen and max(len(s) for s in seen) >= 2 + 3 * 2, seen  # the cluster, seen running
    for found in seen:
        assert not_loopback(found) == [], found
    assert set(listening()) <= before  # and gone once the run is over
