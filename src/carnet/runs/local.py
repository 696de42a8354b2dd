"""Runs that write their directory as they go, checkpoint, and resume after a crash.

A run killed at any moment resumes from its last checkpoint: ledger parts written after it are
discarded and written again, and because every random stream is keyed by (seed, component, day,
block), the resumed run ends with the same bytes as one that was never interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from carnet.errors import RunError
from carnet.result import Result, result_of
from carnet.runs.directory import (
    RunDirectory,
    checkpoint_days,
    describe_os_error,
    load_run,
    read_manifest,
    writes_checkpoints,
)
from carnet.runs.integrity import LedgerPart, verify
from carnet.runs.layout import PART_KINDS, SCENARIO
from carnet.runs.memory import check_memory
from carnet.scenario.schema import Scenario
from carnet.sim.simulation import Progress, Simulation, started


@dataclass
class Finished:
    """A completed run directory: its result, its head hash, and the day it resumed from."""

    result: Result
    path: Path
    head: str
    resumed_from: int | None = None
    replaced: str | None = None  # what --overwrite removed to make room, in words


def run_to_directory(
    scenario: Scenario,
    out: Path,
    *,
    overwrite: bool = False,
    checkpoint_every: int | None = None,
    threads: int | None = None,
    shards: int | None = None,
    progress: Progress | None = None,
    max_memory: int | None = None,
) -> Finished:
    """Run ``scenario``, writing ``out`` as the run goes, with a checkpoint every few days.

    Args:
        scenario: a validated scenario.
        out: the run directory; nothing is written anywhere else.
        overwrite: replace ``out`` if it holds a carnet run.
        checkpoint_every: days between checkpoints (default ``run.checkpoint_days``; 0: none).
        threads: threads stepping shards in parallel.
        shards: ranges of citizen blocks (results do not depend on it).
        progress: called as ``progress(days_done, days_total)``.
        max_memory: refuse to start if the run is predicted to need more bytes than this
            (default: the memory available now).

    Raises:
        RunError: the run would not fit in memory, or its directory cannot be written; in the
            latter case the directory keeps its last checkpoint and can be resumed.
    """
    check_memory(scenario, max_memory, checkpoints=writes_checkpoints(scenario, checkpoint_every))
    try:
        run = RunDirectory.create(out, scenario, overwrite=overwrite)
    except OSError as exc:
        raise RunError(describe_os_error(exc, out)) from None
    with run.locked(), started(scenario, threads=threads, shards=shards) as sim:
        finished = _run_to_end(run, sim, [], checkpoint_every, progress)
    finished.replaced = run.replaced
    return finished


def resume(
    run_dir: Path,
    *,
    checkpoint_every: int | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    max_memory: int | None = None,
) -> Finished:
    """Continue an interrupted run from its last checkpoint (or from the start if it had none)."""
    run = RunDirectory(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run directory")
    with run.locked():
        return _resume(run, checkpoint_every, threads, progress, max_memory)


def reopen(run: RunDirectory) -> Finished:
    """A finished run, verified and read back; nothing is written, leftovers are removed.

    A kill between the manifest's write and the checkpoint's removal leaves the checkpoint, one
    while a file is written leaves its temporary file: they are removed here (see
    :meth:`RunDirectory.remove_leftovers`), since the manifest proves the run complete. The
    caller holds the lock.
    """
    run.remove_leftovers()
    problems = verify(run.path)
    if problems:
        raise RunError(f"{run.path} is complete but fails verification: {problems[0]}")
    head = str(read_manifest(run.path)["head"])
    result = load_run(run.path)
    return Finished(result, run.path, head, resumed_from=result.scenario.run.days)


def _resume(
    run: RunDirectory,
    checkpoint_every: int | None,
    threads: int | None,
    progress: Progress | None,
    max_memory: int | None,
) -> Finished:
    run_dir = run.path
    if run.is_complete():
        return reopen(run)
    if not (run_dir / SCENARIO).is_file():
        raise RunError(f"{run_dir} holds no run to resume (no scenario.yaml)")
    scenario = run.scenario()
    check_memory(scenario, max_memory, checkpoints=writes_checkpoints(scenario, checkpoint_every))
    saved = run.load_checkpoint()
    plan = None if saved is None else np.asarray(saved[0]["plan"]).tolist()
    shards = None if plan is None else len(plan)
    try:
        with started(scenario, threads=threads, shards=shards) as sim:
            if plan is not None and [tuple(p) for p in plan] != sim.plan:
                raise RunError(f"{run_dir}: the checkpoint's shards do not match the scenario")
            parts = continue_from(run, sim, saved)
            start = sim.day
            finished = _run_to_end(run, sim, parts, checkpoint_every, progress)
    except OSError as exc:
        raise RunError(describe_os_error(exc, Path(exc.filename or run_dir))) from None
    finished.resumed_from = start
    return finished


def continue_from(
    run: RunDirectory,
    sim: Simulation,
    saved: tuple[dict[str, Any], list[LedgerPart]] | None,
) -> list[LedgerPart]:
    """Bring ``sim`` to its ``saved`` checkpoint (or the start): parts after it are discarded.

    Returns the parts the run keeps, to which the next ones are added.
    """
    if saved is None:
        run.discard_after([])
        return []
    arrays, parts = saved
    run.discard_after(parts)
    sim.restore(arrays, *(run.read_parts(parts, kind) for kind in PART_KINDS))
    return parts


def advance_to_end(
    run: RunDirectory,
    sim: Simulation,
    parts: list[LedgerPart],
    every: int,
    progress: Progress | None = None,
) -> None:
    """Step ``sim`` to its last day, writing parts as they are cut and a checkpoint ``every``."""
    while not sim.done:
        for kind, table in sim.advance():
            parts.append(run.write_part(kind, table, parts))
        if every and sim.day % every == 0 and not sim.done:
            run.save_checkpoint(sim.snapshot(), parts)
        if progress is not None:
            progress(sim.day, sim.scenario.run.days)


def _run_to_end(
    run: RunDirectory,
    sim: Simulation,
    parts: list[LedgerPart],
    checkpoint_every: int | None,
    progress: Progress | None,
) -> Finished:
    s = sim.scenario
    every = checkpoint_days(s, checkpoint_every)
    try:
        if progress is not None and sim.day:
            progress(sim.day, s.run.days)
        advance_to_end(run, sim, parts, every, progress)
        result = result_of(sim)
        head = run.finish(result, parts)
    except OSError as exc:
        where = Path(exc.filename) if exc.filename else run.path
        raise RunError(
            f"{describe_os_error(exc, where)}. The run directory keeps its last checkpoint; "
            f"once the cause is fixed, continue with: carnet run --resume {run.path}"
        ) from None
    return Finished(result, run.path, head)
