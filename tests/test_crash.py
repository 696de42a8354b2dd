"""Crash safety: a run killed with SIGKILL at random moments resumes to the same bytes."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from helpers import carnet_exe, crashy, same_files, write_yaml

import carnet
from carnet.runs.integrity import verify
from carnet.runs.local import resume, run_to_directory


def test_resuming_a_complete_run_changes_nothing(tmp_path: Path) -> None:
    s = carnet.load_scenario(crashy(population=5_000, days=10))
    done = run_to_directory(s, tmp_path / "run")
    before = {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    again = resume(tmp_path / "run")
    assert again.head == done.head
    assert before == {p: p.read_bytes() for p in (tmp_path / "run").rglob("*") if p.is_file()}


def checkpoint_stamp(run: Path) -> int:
    """When the run's checkpoint was last replaced (0: none yet)."""
    try:
        return (run / "checkpoint.npz").stat().st_mtime_ns
    except FileNotFoundError:
        return 0


@pytest.mark.slow
@pytest.mark.alone  # kills timed against the uninterrupted run's own pace
def test_twenty_sigkills_then_resume_equal_the_uninterrupted_run(tmp_path: Path) -> None:
    scenario = write_yaml(crashy(), tmp_path / "crashy.yaml")
    reference = tmp_path / "reference"
    # Time the uninterrupted run: start-up until its directory appears, then the simulation.
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*carnet_exe(), "run", str(scenario), "--out", str(reference), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    while not (reference / "scenario.yaml").exists() and proc.poll() is None:
        time.sleep(0.005)
    startup = time.perf_counter() - start
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    compute = time.perf_counter() - start - startup

    run = tmp_path / "run"
    rng = random.Random(20261129)
    killed = 0
    reached: list[int] = []  # the checkpoint's day after each kill
    for attempt in range(20):
        if attempt == 0 or not (run / "scenario.yaml").exists():
            argv = ["run", str(scenario), "--out", str(run), "--overwrite", "--quiet"]
        else:
            argv = ["run", "--resume", str(run), "--quiet"]
        before = checkpoint_stamp(run)
        proc = subprocess.Popen(
            [*carnet_exe(), *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, startup))  # during start-up
        else:
            # Once this attempt has checkpointed, kill it at a random moment in the next tenth
            # of the run: while it steps, writes a ledger part or writes a checkpoint.
            while checkpoint_stamp(run) == before and proc.poll() is None:
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, compute / 10))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=300)
        if proc.returncode == 0:
            break  # the run finished before its kill: nothing left to interrupt
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
        if (run / "checkpoint.npz").exists():
            with np.load(run / "checkpoint.npz") as saved:
                reached.append(int(saved["day"]))
    print(f"{killed} kills in {attempt + 1} attempts; checkpoint days after them: {reached}")
    assert killed >= 10, f"only {killed} kills landed while the run was going"
    assert len(set(reached)) >= 8 and max(reached) >= 120, "the kills did not span the run"

    if (run / "scenario.yaml").exists():
        argv = ["run", "--resume", str(run), "--quiet"]
    else:  # the last kill struck before the new run directory existed
        argv = ["run", str(scenario), "--out", str(run), "--overwrite", "--quiet"]
    final = subprocess.run(
        [*carnet_exe(), *argv],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert final.returncode == 0, final.stderr
    assert same_files(reference, run) == []
    ledger, expected = pq.read_table(run / "ledger"), pq.read_table(reference / "ledger")
    assert ledger.num_rows == expected.num_rows > 0
    assert ledger.equals(expected)  # no row lost, none written twice
    assert verify(run) == []


def test_a_run_directory_has_one_writer_at_a_time(tmp_path: Path) -> None:
    from carnet.errors import RunError
    from carnet.runs.directory import RunDirectory

    s = carnet.load_scenario(crashy(population=5_000, days=10))

    def stop(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_to_directory(s, tmp_path / "run", progress=stop)
    with RunDirectory(tmp_path / "run").locked():
        with pytest.raises(RunError, match="being written by another carnet process"):
            resume(tmp_path / "run")
        busy = subprocess.run(
            [*carnet_exe(), "run", "--resume", str(tmp_path / "run")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert busy.returncode == 1 and "another carnet process" in busy.stderr
    assert resume(tmp_path / "run").resumed_from == 3  # the lock dies with its holder


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_checkpoint_is_refused_with_its_path(tmp_path: Path, damage: str) -> None:
    """A checkpoint that cannot be read is named in a RunError, never a traceback."""
    from carnet.errors import RunError
    from carnet.runs.directory import RunDirectory
    from carnet.sim.phases.expiry import ExpiryQueue

    run = RunDirectory.create(tmp_path / "run", carnet.load_scenario("minimal", population=1000))
    queue = ExpiryQueue()
    rng = np.random.default_rng(2)
    from helpers import APPEAL_DAYS, LIFETIME, day_changes, flags_for

    queue.push(day_changes(rng, 2000), LIFETIME, 0, APPEAL_DAYS, flags_for(rng, 0.1))
    run.save_checkpoint(queue.snapshot(), [])
    assert run.load_checkpoint() is not None
    path = run.path / "checkpoint.npz"
    data = path.read_bytes()
    path.write_bytes(b"not a checkpoint" * 10 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(RunError, match=r"checkpoint\.npz: unreadable checkpoint"):
        run.load_checkpoint()
