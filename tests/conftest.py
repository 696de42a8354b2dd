"""Fixtures and hooks only; what the tests share otherwise is in helpers.py (``import helpers``).

Under xdist (the default, ``-n auto`` in pyproject.toml) two markers order the tests:

* ``alone``: the test times itself or measures a peak; it runs with no other test running on the
  machine. Every other test takes a shared lock, an ``alone`` test the exclusive one (a
  turnstile in front keeps a stream of shared takers from starving it). They also share one
  xdist group, so they queue on one worker instead of stalling both in turn.
* a test that uses the ``cluster`` fixture (a scheduler and two workers of its own) is in the
  ``dask-cluster`` group: one such cluster at a time.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import WORKER_CONFIG, base_scenario, need

try:
    import fcntl
except ImportError:  # not POSIX: no lock, the markers' groups alone keep order
    fcntl = None  # type: ignore[assignment]

# --- who may run beside whom ----------------------------------------------------------------------

_LOCK = "carnet_machine_lock"
_lock_key = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("alone") is not None:
            item.add_marker(pytest.mark.xdist_group("alone"))
        elif "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("dask-cluster"))


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller, or a run without xdist
        folder = tempfile.mkdtemp(prefix="carnet-tests-")
        config.stash[_lock_key] = str(Path(folder) / "machine.lock")


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_lock_key, None)
    if path is not None:
        shutil.rmtree(Path(path).parent, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker takes its turns on the controller's lock file."""
    node.workerinput[_LOCK] = node.config.stash[_lock_key]


def _lock_path(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None  # one process: the tests run one after another anyway
    path: str | None = workerinput.get(_LOCK)
    return path


@contextmanager
def _share_of_the_machine(path: str | None, alone: bool) -> Iterator[None]:
    if path is None or fcntl is None:
        yield
        return
    with open(path + ".turnstile", "a") as turnstile, open(path, "a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    alone = item.get_closest_marker("alone") is not None
    with _share_of_the_machine(_lock_path(item.config), alone):
        yield


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def scenario_doc() -> dict[str, Any]:
    return copy.deepcopy(base_scenario())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1.

    The scheduler picks its own port (``--port 0``) and writes its address to a file the workers
    read: no port is chosen here, so none can be taken meanwhile by another test or worker.
    """
    need("distributed")
    from distributed import Client

    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    dask = str(Path(sys.executable).with_name("dask"))
    # The workers' configuration that the README recommends for a cluster of one's own.
    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "carnet.yaml").write_text(WORKER_CONFIG, encoding="utf-8")
    env = {**os.environ, "DASK_CONFIG": str(config)}
    address_file = tmp_path / "scheduler.json"

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        with open(logs / log, "wb") as out:
            proc = subprocess.Popen([dask, *args], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=tmp_path, env=env)  # fmt: skip
        procs.append(proc)
        return proc

    def stop() -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    try:
        scheduler = start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(address_file), log="scheduler.log")  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                address: str = json.loads(address_file.read_text(encoding="utf-8"))["address"]
                break
            except (OSError, ValueError, KeyError):  # not written yet, or not whole yet
                assert scheduler.poll() is None, (logs / "scheduler.log").read_text()
                assert time.monotonic() < deadline, "the scheduler wrote no address within 60 s"
                time.sleep(0.1)
        for name in ("w1", "w2"):
            start("worker", "--scheduler-file", str(address_file), "--nworkers", "1",
                  "--nthreads", "1", "--no-dashboard", "--name", name, "--host", "127.0.0.1",
                  log=f"{name}.log")  # fmt: skip
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, procs
    finally:
        stop()
