"""``carnet.run`` and ``carnet.resume``: what ``carnet run`` does, for Python.

:func:`run` chooses how a run executes — in this process, with threads, or as shards on Dask
(on the cluster at ``scheduler``, or in local worker processes when the run would not fit in
memory in one process) — writes its run directory as it goes, with checkpoints, and returns the
finished run. :func:`resume` finishes a run that stopped, whichever way it ran. The command line
only parses its options, calls these and prints what they return, so both write the same run
directory byte for byte.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carnet.errors import InputError, RunError
from carnet.runs.dask import is_sharded, resume_sharded, run_sharded
from carnet.runs.directory import RunDirectory, check_out
from carnet.runs.layout import SCENARIO
from carnet.runs.local import Finished, reopen, run_to_directory
from carnet.runs.local import resume as resume_here
from carnet.runs.memory import shards_to_fit
from carnet.scenario.loading import load_scenario
from carnet.scenario.schema import Scenario
from carnet.sim.output_names import check as check_names
from carnet.sim.simulation import Progress
from carnet.sim.timeline import check as check_timeline

Notify = Callable[[str], None]


def default_out(scenario: Scenario) -> Path:
    """``runs/<name>-seed<seed>``, or the first of ``-2``, ``-3``, … that does not exist yet."""
    base = Path("runs") / f"{scenario.name}-seed{scenario.run.seed}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


@dataclass(frozen=True)
class Launch:
    """How a new run will execute, decided before it starts (see :func:`prepare`)."""

    scenario: Scenario
    out: Path
    overwrite: bool
    threads: int | None
    max_memory: int | None
    checkpoint_every: int | None
    shards: int | None  # None: in this process
    scheduler: str | None
    why_shards: str | None  # said when carnet chose shards because memory is short

    @property
    def sharded(self) -> bool:
        """Whether the run executes as shards on Dask (progress then counts shards done)."""
        return self.shards is not None or self.scheduler is not None


def prepare(
    scenario: Scenario | str | Path | dict[str, Any],
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    shards: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    max_memory: int | None = None,
    checkpoint_every: int | None = None,
) -> Launch:
    """Decide how a run executes, without starting it; the arguments are :func:`run`'s.

    Raises:
        ScenarioError: the scenario is not valid.
        RunError: ``out`` cannot be used, or the run cannot fit in memory even as shards, or it
            needs shards and Dask is not installed.
    """
    s = load_scenario(scenario)
    check_names(s)  # before anything is written
    check_timeline(s)
    target = Path(out) if out is not None else default_out(s)
    check_out(target, overwrite=overwrite)
    why = None
    if shards is None and scheduler is None:
        # A run too large for one process runs as shards, a few at a time, each within memory.
        fit = shards_to_fit(s, max_memory, workers=threads, checkpoints=bool(checkpoint_every))
        if fit is not None:
            if importlib.util.find_spec("distributed") is None:
                raise RunError(
                    f"{fit.why(s)}: it can run as {fit.shards} shards, {fit.workers} at a time, "
                    "with Dask: pip install 'carnet[distributed]'"
                )
            shards, why = fit.shards, fit.describe(s)
            if checkpoint_every is None:
                checkpoint_every = 0  # a shard is the unit of recovery: re-run whole if lost
    return Launch(
        s, target, overwrite, threads, max_memory, checkpoint_every, shards, scheduler, why
    )


def start(launch: Launch, progress: Progress | None = None) -> Finished:
    """Execute a prepared run; ``progress(done, total)`` counts days, or shards done."""
    if launch.sharded:
        return run_sharded(
            launch.scenario, launch.out, shards=launch.shards, scheduler=launch.scheduler,
            overwrite=launch.overwrite, checkpoint_every=launch.checkpoint_every,
            progress=progress, workers=launch.threads,
        )  # fmt: skip
    return run_to_directory(
        launch.scenario, launch.out, overwrite=launch.overwrite,
        checkpoint_every=launch.checkpoint_every, threads=launch.threads, progress=progress,
        max_memory=launch.max_memory,
    )  # fmt: skip


def run(
    scenario: Scenario | str | Path | dict[str, Any],
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    shards: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    max_memory: int | None = None,
    checkpoint_every: int | None = None,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> Finished:
    """Run a scenario into a run directory, as ``carnet run`` does, and return the finished run.

    Args:
        scenario: a Scenario, or anything :func:`carnet.load_scenario` accepts.
        out: the run directory (default ``runs/<name>-seed<seed>``, never reused); nothing is
            written anywhere else.
        overwrite: replace ``out`` if it holds a carnet run that no process is writing (only a
            folder proven to be a run: :func:`carnet.runs.directory.prove_run`).
        shards: run as this many shards on Dask (the same results as one process).
        scheduler: run the shards on the Dask cluster at this address (``tcp://HOST:PORT``);
            ``out`` must be a path every worker shares.
        threads: threads stepping the shards of one process, or local worker processes.
        max_memory: bytes the run may use (default: what is available now); a run predicted to
            need more runs as shards that fit, or is refused.
        checkpoint_every: days between checkpoints (default ``run.checkpoint_days``; 0: none).
        progress: called as ``progress(done, total)``: days, or shards done for sharded runs.
        notify: called with each sentence worth telling the person who started the run (the
            shards chosen for memory, what ``overwrite`` removed).

    Returns:
        The finished run: its :class:`~carnet.result.Result`, directory and head hash.

    Raises:
        ScenarioError: the scenario is not valid.
        RunError: the run cannot start, or its directory cannot be written (it can then be
            finished with :func:`resume` once the cause is fixed).
    """
    launch = prepare(
        scenario, out, overwrite=overwrite, shards=shards, scheduler=scheduler,
        threads=threads, max_memory=max_memory, checkpoint_every=checkpoint_every,
    )  # fmt: skip
    if launch.why_shards is not None and notify is not None:
        notify(launch.why_shards)
    finished = start(launch, progress)
    if finished.replaced is not None and notify is not None:
        notify(finished.replaced)
    return finished


def resume(
    run_dir: str | Path,
    *,
    scheduler: str | None = None,
    threads: int | None = None,
    max_memory: int | None = None,
    checkpoint_every: int | None = None,
    progress: Progress | None = None,
) -> Finished:
    """Finish a run that stopped (a crash, a kill, a full disk), as ``carnet run --resume``.

    A run that was killed resumes from its last checkpoint, and ends with the same bytes as one
    never interrupted; a sharded run runs only its unfinished shards again. A run already
    finished is verified and read back, and nothing is written to it.

    Raises:
        InputError: ``run_dir`` holds no carnet run.
        RunError: the run cannot be resumed (another process writes it, it fails verification,
            its checkpoint belongs to another version or scenario).
    """
    path = Path(run_dir)
    if not (path / SCENARIO).is_file():
        raise InputError(f"{path}: not a carnet run directory (no {SCENARIO})")
    run = RunDirectory(path)
    if run.is_complete():
        with run.locked():
            return reopen(run)
    if is_sharded(path):
        return resume_sharded(path, scheduler=scheduler, progress=progress)
    return resume_here(
        path, checkpoint_every=checkpoint_every, threads=threads, progress=progress,
        max_memory=max_memory,
    )  # fmt: skip


def prepare_resume(run_dir: str | Path) -> tuple[Scenario, bool]:
    """The scenario of the run in ``run_dir`` and whether it runs as shards, before resuming.

    Raises:
        InputError: ``run_dir`` holds no carnet run.
    """
    path = Path(run_dir)
    if not (path / SCENARIO).is_file():
        raise InputError(f"{path}: not a carnet run directory (no {SCENARIO})")
    return RunDirectory(path).scenario(), is_sharded(path)
