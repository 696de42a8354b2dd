"""Shared builders: small scenarios written as mappings, so each test states what it varies."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import pytest


def base_scenario(**run: Any) -> dict[str, Any]:
    """A one-group society with three behaviours, no clamping, caps, expiry or deterrence."""
    doc: dict[str, Any] = {
        "name": "test",
        "population": {
            "size": 20000,
            "start_points": 1000,
            "groups": [{"name": "everyone", "share": 1.0, "exposure": {"mean": 0.5}}],
        },
        "sources": [
            {"name": "camera", "sensitivity": "location", "data_points_per_day": 2.0},
            {"name": "bank", "sensitivity": "financial", "data_points_per_day": 1.0},
        ],
        "behaviours": [
            {"name": "red_light", "kind": "negative", "rate_per_year": 3.0,
             "observed_by": [{"source": "camera", "detect": 0.6}]},
            {"name": "late_payment", "kind": "negative", "rate_per_year": 1.5,
             "observed_by": [{"source": "bank", "detect": 0.9}]},
            {"name": "volunteering", "kind": "positive", "rate_per_year": 2.0,
             "observed_by": [{"source": "camera", "detect": 0.5}]},
        ],
        "rules": {
            "floor": -32768,
            "ceiling": 32767,
            "lifetime_days": None,
            "points": {"red_light": -5, "late_payment": -10, "volunteering": 7},
        },
        "grades": [
            {"name": "A", "min_points": 1000},
            {"name": "B", "min_points": 900},
            {"name": "C"},
        ],
        "run": {"days": 365, "seed": 7, "block_size": 1024, **run},
    }  # fmt: skip
    return doc


@pytest.fixture
def scenario_doc() -> dict[str, Any]:
    return copy.deepcopy(base_scenario())


def script_path() -> str | None:
    """The installed ``carnet`` console script: beside this interpreter, else on the PATH."""
    beside = Path(sys.executable).with_name("carnet")
    return str(beside) if beside.is_file() else shutil.which("carnet")


def carnet_exe() -> list[str]:
    """The command that runs the installed ``carnet`` console script."""
    return [script_path() or "carnet"]


class Outcome(NamedTuple):
    """What a command printed and how it ended."""

    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run_script(*args: str, timeout: float = 120) -> Outcome:
    """Run the console script as a person would (wide terminal, no debug tracebacks)."""
    found = script_path()
    if found is None:
        pytest.skip("the carnet console script is not installed")
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("CARNET_DEBUG", None)
    done = subprocess.run(
        [found, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def write_yaml(doc: dict[str, Any], path: Any) -> Any:
    """Write a scenario mapping as a YAML file and return its path."""
    import yaml

    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def same_files(a: Any, b: Any) -> list[str]:
    """Relative paths whose bytes differ between two folders, or that only one has.

    The report (a view that ``carnet run`` derives, unless --no-report) is left out.
    """
    from carnet.runs.integrity import DERIVED

    def files(root: Any) -> dict[str, Any]:
        found = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
        return {name: p for name, p in found.items() if not name.startswith(DERIVED)}

    fa, fb = files(a), files(b)
    differ = sorted(set(fa) ^ set(fb))
    differ += [n for n in sorted(set(fa) & set(fb)) if fa[n].read_bytes() != fb[n].read_bytes()]
    return differ


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# As in the README: Dask's nanny would start workers with MALLOC_TRIM_THRESHOLD_=65536, which
# makes shards a fifth slower (carnet.runs.dask.local_settings); null unsets it.
WORKER_CONFIG = """\
distributed:
  nanny:
    pre-spawn-environ:
      MALLOC_TRIM_THRESHOLD_: null
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A `dask scheduler` and two `dask worker` processes on 127.0.0.1."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    dask = str(Path(sys.executable).with_name("dask"))
    # The workers' configuration that the README recommends for a cluster of one's own.
    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "carnet.yaml").write_text(WORKER_CONFIG, encoding="utf-8")
    env = {**os.environ, "DASK_CONFIG": str(config)}

    def start(*args: str, log: str) -> subprocess.Popen[bytes]:
        with open(logs / log, "wb") as out:
            proc = subprocess.Popen([dask, *args], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=tmp_path, env=env)  # fmt: skip
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


# Debian's chromium, which Playwright drives when given its path (Playwright's own browser cannot
# be downloaded here); these flags let it run as root in a container, offline.
CHROMIUM = os.environ.get("CARNET_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium() -> str:
    """The browser's path; skip the test without one, except in CI, which installs it."""
    if not Path(CHROMIUM).is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run installs it")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@contextmanager
def offline_page(
    allowed: tuple[str, ...], width: int, height: int
) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page of headless Chromium that may load only URLs starting with one of ``allowed``.

    Yields the page, the errors it logs (console and uncaught), and the URLs it asked for
    elsewhere, which are refused. The browser closes on leaving.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    remote: list[str] = []

    def local_only(route: Any) -> None:
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", local_only)
            yield page, errors, remote
        finally:
            browser.close()
