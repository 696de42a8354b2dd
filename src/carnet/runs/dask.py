"""Runs split into shards that run apart: in local processes, or as tasks on a Dask cluster.

A shard is a range of whole citizen blocks with their companies. No link crosses a block —
households, employers and co-workers, denunciations and misattributions stay inside one, by
construction — so shards exchange nothing while they run. The one decision that spans shards,
the allocation of scarce school seats by grade then lottery, changes no state: each shard keeps
its seat applications, and the seats are allocated once every shard is done, exactly as a run in
one process allocates them day by day. So a sharded run's metrics are the same bytes as a run in
one process.

Each shard runs as one task. It writes its ledger parts and checkpoints into
``RUN/shards/<shard>/`` (the run directory is a path every worker shares) and ends with
``output.npz``. A task lost with its worker is run again elsewhere: it resumes from the shard's
last checkpoint and discards what came after, so no ledger row is lost or written twice, and its
files are the same bytes whichever worker wrote them. The coordinator then allocates the seats
and writes metrics, population, gates and the manifest, which lists every shard's parts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from carnet.errors import RunError
from carnet.result import assemble
from carnet.runs import faults
from carnet.runs.directory import (
    RunDirectory,
    atomic_write,
    checkpoint_days,
    describe_os_error,
    writes_checkpoints,
)
from carnet.runs.integrity import LedgerPart
from carnet.runs.layout import (
    CHECKPOINT,
    COMPANY_LEDGER,
    DECISIONS,
    LEDGER,
    PLAN,
    SCENARIO,
    SHARD_OUTPUT,
    SHARDS,
    shard_folder,
)
from carnet.runs.local import Finished, advance_to_end, continue_from
from carnet.runs.memory import check_memory
from carnet.scenario.loading import load_scenario
from carnet.scenario.schema import Scenario
from carnet.sim.phases.gates import SeatPool
from carnet.sim.simulation import (
    ShardOutput,
    plan_shards,
    seats_from_arrays,
    seats_to_arrays,
    started,
)
from carnet.sim.timeline import Timeline

PRE_SPAWN = "distributed.nanny.pre-spawn-environ"  # Dask's setting: what a worker starts with
Arrays = dict[str, npt.NDArray[Any]]
Progress = Callable[[int, int], None]


def shard_dir(run_dir: Path, index: int) -> Path:
    """Where shard ``index`` of a sharded run writes."""
    return run_dir / shard_folder(index)


def run_shard(run_dir: str, index: int, checkpoint_every: int | None = None) -> str:
    """Run shard ``index`` of the sharded run in ``run_dir``, or finish it; return its output.

    Safe to run again, on any worker, after a crash at any point: it resumes from the shard's
    last checkpoint, and a shard already finished is not run again.
    """
    root = Path(run_dir)
    scenario = load_scenario(root / SCENARIO)
    plan = _plan(root)
    share = plan[index][1] / scenario.population.size
    check_memory(scenario, share=share, checkpoints=writes_checkpoints(scenario, checkpoint_every))
    folder = shard_dir(root, index)
    if (folder / SHARD_OUTPUT).is_file():
        # Its worker may have been lost between the output's write and the checkpoint's removal.
        (folder / CHECKPOINT).unlink(missing_ok=True)
        return str(folder / SHARD_OUTPUT)
    if (folder / SCENARIO).is_file():
        run = RunDirectory(folder)
    else:
        run = RunDirectory.create(folder, scenario, overwrite=folder.exists())
    with run.locked(), started(scenario, threads=1, plan=[plan[index]], defer_seats=True) as sim:
        parts = continue_from(run, sim, run.load_checkpoint())
        advance_to_end(run, sim, parts, checkpoint_days(scenario, checkpoint_every))
        (output,) = sim.outputs()
        (pending,) = sim.pending_seats_by_shard()
        flat: dict[str, Any] = _flatten(output, pending, parts)
        atomic_write(folder / SHARD_OUTPUT, lambda f: np.savez(f, **flat))
        faults.point("shard output written, checkpoint not removed")
        (folder / CHECKPOINT).unlink(missing_ok=True)
    return str(folder / SHARD_OUTPUT)


def _flatten(
    output: ShardOutput, pending: list[tuple[int, SeatPool]], parts: list[LedgerPart]
) -> Arrays:
    """A shard's output as flat arrays (no pickles: the coordinator reads shared files)."""
    out: Arrays = {"first": np.array(output.first), "data_per_day": output.data_per_day,
                   "state_data_per_day": output.state_data_per_day}  # fmt: skip
    for section in ("recorder", "panel", "company_recorder", "company_panel"):
        arrays = getattr(output, section)
        if arrays is not None:
            out.update({f"{section}/{k}": v for k, v in arrays.items()})
    out.update(seats_to_arrays([(day, 0, pool) for day, pool in pending]))
    meta = json.dumps([p.as_dict() for p in parts]).encode("utf-8")
    out["parts"] = np.frombuffer(meta, dtype=np.uint8)
    return out


def _unflatten(
    arrays: Arrays, prefix: str
) -> tuple[ShardOutput, list[tuple[int, SeatPool]], list[LedgerPart]]:
    """Read back :func:`_flatten`; parts become relative to the run directory (``prefix``)."""
    sections: dict[str, Arrays] = {}
    for key, value in arrays.items():
        section, _, name = key.partition("/")
        if name and section != "seats":
            sections.setdefault(section, {})[name] = value
    output = ShardOutput(
        first=int(arrays["first"]),
        recorder=sections["recorder"],
        panel=sections["panel"],
        data_per_day=arrays["data_per_day"],
        state_data_per_day=arrays["state_data_per_day"],
        company_recorder=sections.get("company_recorder"),
        company_panel=sections.get("company_panel"),
    )
    pending = [(day, pool) for day, _, pool in seats_from_arrays(arrays)]
    parts = [
        LedgerPart(**{**p, "file": f"{prefix}/{p['file']}"})
        for p in json.loads(arrays["parts"].tobytes().decode("utf-8"))
    ]
    return output, pending, parts


@contextmanager
def client_for(scheduler: str | None, workers: int) -> Iterator[Any]:
    """A Dask client: of the cluster at ``scheduler``, or of local worker processes."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise RunError("sharded runs need Dask: pip install 'carnet[distributed]'") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=30)  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise RunError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client:
            yield client
        return
    # The scheduler serves HTTP whatever its dashboard: on a free loopback port, not 8787
    # (which another cluster may hold).
    with dask.config.set(local_settings()):
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True,
            dashboard_address="127.0.0.1:0", host="127.0.0.1", memory_limit=0,
        )  # fmt: skip
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def local_settings() -> dict[str, Any]:
    """Dask settings for local workers that each run a few long shards on a core of their own.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, so that they hand freed
    memory back to the system at once. That also pins glibc's mmap threshold at 128 KiB, so
    every array a shard allocates each day is mapped afresh and faulted in page by page:
    ``china`` at 350 M citizens spent 44 s in the kernel instead of 9. A shard frees its memory
    when it ends, so the variable is unset (Dask reads None as "unset"). The statistical
    profiler, which samples the running task 100 times a second, and the monitors of a dashboard
    nobody watches take the core a shard is using: they go, or slow down.
    """
    return {
        f"{PRE_SPAWN}.MALLOC_TRIM_THRESHOLD_": None,
        "distributed.worker.profile.enabled": False,
        "distributed.admin.system-monitor.interval": "5s",
        "distributed.admin.tick.interval": "1s",
    }


def run_sharded(
    scenario: Scenario,
    out: Path,
    *,
    shards: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    checkpoint_every: int | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Finished:
    """Run ``scenario`` as ``shards`` tasks on Dask and write the run directory ``out``.

    ``shards`` defaults to the cluster's workers (the machine's cores without ``scheduler``);
    ``workers`` caps the local worker processes (default: the cores).
    Without ``scheduler``, the tasks run in as many local worker processes; with it, on the
    cluster at that address, whose workers must all reach ``out`` at the same path. The result
    equals a run in one process: metrics, population and gates byte for byte, and the same
    ledger rows, in parts cut per shard.
    """
    if shards is None:
        shards = _workers(scheduler)
    try:
        plan = plan_shards(scenario.population.size, scenario.run.block_size, shards)
        # The plan is written with the scenario: a sharded run is sharded from its first moment.
        files = {f"{SHARDS}/{PLAN}": json.dumps(plan).encode("utf-8")}
        run = RunDirectory.create(out, scenario, overwrite=overwrite, files=files)
    except OSError as exc:
        raise RunError(describe_os_error(exc, out)) from None
    finished = _coordinate(run, scenario, plan, scheduler, checkpoint_every, progress, workers)
    finished.replaced = run.replaced
    return finished


def resume_sharded(
    run_dir: Path, *, scheduler: str | None = None, progress: Progress | None = None
) -> Finished:
    """Finish a sharded run whose coordinator stopped: finished shards are not run again."""
    run = RunDirectory(run_dir)
    return _coordinate(run, run.scenario(), _plan(run_dir), scheduler, None, progress)


def _plan(run_dir: Path) -> list[tuple[int, int]]:
    saved = json.loads((run_dir / SHARDS / PLAN).read_text(encoding="utf-8"))
    return [(int(first), int(count)) for first, count in saved]


def _coordinate(
    run: RunDirectory,
    scenario: Scenario,
    plan: list[tuple[int, int]],
    scheduler: str | None,
    checkpoint_every: int | None,
    progress: Progress | None,
    workers: int | None = None,
) -> Finished:
    from distributed import as_completed

    out = run.path
    # Locally, one worker process per core: more would only compete for the cores, and each
    # holds a shard in memory, so shards beyond the cores wait their turn (a run too large for
    # memory runs as many small shards, a few at a time).
    with client_for(scheduler, min(len(plan), workers or os.cpu_count() or 1)) as client:
        futures = client.map(
            run_shard, [str(out)] * len(plan), list(range(len(plan))),
            [checkpoint_every] * len(plan), pure=False,
        )  # fmt: skip
        for done, _ in enumerate(as_completed(futures), start=1):  # type: ignore[no-untyped-call]
            if progress is not None:
                progress(done, len(plan))
        paths = client.gather(futures)
    outputs, pending, parts = [], [], []
    for i, path in enumerate(paths):
        with np.load(path, allow_pickle=False) as npz:
            output, seats, written = _unflatten({k: npz[k] for k in npz.files}, shard_folder(i))
        outputs.append(output)
        pending.append(seats)
        parts += written
    tables = {kind: run.read_parts(parts, kind) for kind in (LEDGER, DECISIONS, COMPANY_LEDGER)}
    result = assemble(
        scenario, Timeline.build(scenario), outputs, pending, tables[LEDGER], tables[DECISIONS],
        tables[COMPANY_LEDGER],
    )  # fmt: skip
    seat_parts = result.decision_parts[len(tables[DECISIONS]) :]
    with run.locked():
        for table in seat_parts:  # the seats allocated across shards, in their own part
            parts.append(run.write_part(DECISIONS, table, parts))
        kept = [f"{SHARDS}/{PLAN}"] + [
            f"{SHARDS}/{i:04d}/{name}"
            for i in range(len(plan))
            for name in (SCENARIO, SHARD_OUTPUT)
        ]
        head = run.finish(result, parts, kept)
    return Finished(result, out, head)


def _workers(scheduler: str | None) -> int:
    if scheduler is None:
        return os.cpu_count() or 1
    with client_for(scheduler, 0) as client:
        return max(1, len(client.scheduler_info()["workers"]))


def is_sharded(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a sharded run."""
    return (run_dir / SHARDS / PLAN).is_file()
