"""Resource faults for real: a full disk, a read-only file system, a forbidden folder, no memory.

Each ends with a clear message and exit status 1, never a traceback; after a full disk the run
directory resumes, once there is room, to the same bytes as a run that never failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import base_scenario, carnet_exe, same_files, write_yaml

import carnet
from carnet.errors import RunError
from carnet.runs.local import run_to_directory


def mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir(exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'})")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB file system, remountable: too small for the run below, large once remounted."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "3m")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def scenario_doc() -> dict:
    doc = base_scenario(days=120, checkpoint_days=5, ledger_part_days=10)
    doc["population"]["size"] = 100_000
    doc["sources"][0]["misattribution"] = 0.05
    doc["rules"]["lifetime_days"] = 30
    return doc


def run_cli(*argv: str, cwd: Path, user: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if user else []
    return subprocess.run(
        [*prefix, *carnet_exe(), *argv], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_disk_full_then_resume_once_there_is_room(small_disk: Path, tmp_path: Path) -> None:
    scenario = write_yaml(scenario_doc(), tmp_path / "scenario.yaml")
    reference = run_to_directory(carnet.load_scenario(scenario), tmp_path / "reference").path
    run = small_disk / "run"

    failed = run_cli("run", str(scenario), "--out", str(run), cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the disk is full" in failed.stderr
    assert f"carnet run --resume {run}" in failed.stderr
    assert "Traceback" not in failed.stdout + failed.stderr
    assert (run / "scenario.yaml").is_file() and not (run / "manifest.json").exists()
    assert not list(run.glob(".tmp-*")), "a half-written temporary file was left behind"

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resumed = run_cli("run", "--resume", str(run), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at day" in resumed.stdout
    assert same_files(reference, run) == []
    assert run_cli("verify", str(run), cwd=tmp_path).returncode == 0


def test_read_only_file_system(small_disk: Path, tmp_path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    scenario = write_yaml(scenario_doc(), tmp_path / "scenario.yaml")
    done = run_cli("run", str(scenario), "--out", str(small_disk / "run"), cwd=tmp_path)
    assert done.returncode == 1
    assert "read-only" in done.stderr and "Traceback" not in done.stderr


def test_permission_denied() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to act as an unprivileged user")
    # pytest's own temporary folders are private to root; this one can be entered by anyone.
    outer = Path(tempfile.mkdtemp(prefix="carnet-perm-"))
    try:
        outer.chmod(0o755)
        locked = outer / "locked"
        locked.mkdir(mode=0o755)  # root's: others may enter but not write
        argv = [
            "run",
            "minimal",
            "--population",
            "5000",
            "--days",
            "5",
            "--out",
            str(locked / "run"),
        ]
        done = run_cli(*argv, cwd=outer, user="nobody")
        assert done.returncode == 1, done.stdout + done.stderr
        assert "permission denied" in done.stderr and "Traceback" not in done.stderr
        assert not any(locked.iterdir())
    finally:
        shutil.rmtree(outer)


def test_unreadable_scenario_file() -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to act as an unprivileged user")
    private = Path(tempfile.mkdtemp(prefix="carnet-private-"))  # mode 0700, root's
    try:
        (private / "scenario.yaml").write_text("name: x\n")
        for command in ("validate", "run"):
            done = run_cli(command, str(private / "scenario.yaml"), cwd=Path("/"), user="nobody")
            assert done.returncode == 2, done.stdout + done.stderr
            assert "cannot read: Permission denied" in done.stderr
            assert "Traceback" not in done.stderr and "unexpected" not in done.stderr
    finally:
        shutil.rmtree(private)


def test_population_that_cannot_fit_is_refused_before_it_starts(tmp_path: Path) -> None:
    # 700 MiB cannot hold even two shard processes and a coordinator: refused outright (a run
    # that fits as shards runs as shards: tests/test_fit.py).
    start = time.perf_counter()
    done = run_cli(
        "run", "china", "--max-memory", "700M", "--out", str(tmp_path / "run"), cwd=tmp_path
    )
    assert done.returncode == 1
    assert "needs about" in done.stderr and "700 MiB is available" in done.stderr
    assert "too little even for shards" in done.stderr and "--scheduler" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    assert time.perf_counter() - start < 30  # refused at once, not after synthesising anyone


def test_memory_check_in_the_library(tmp_path: Path) -> None:
    s = carnet.load_scenario("minimal", population=300_000_000)
    with pytest.raises(RunError, match="needs about"):
        run_to_directory(s, tmp_path / "never-written", max_memory=2**30)
    assert not (tmp_path / "never-written").exists()


def test_bad_max_memory_value(tmp_path: Path) -> None:
    done = run_cli("run", "minimal", "--max-memory", "lots", cwd=tmp_path)
    assert done.returncode == 2 and "--max-memory" in done.stderr
