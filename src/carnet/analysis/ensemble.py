"""Many small runs, fast: the cells of a sensitivity analysis or of a calibration's trials.

A cell is the base scenario with some values set by path, run at one seed. Cells run in
batches, each a Dask task on a worker that keeps its compiled kernels and its base scenario
between tasks; a cell keeps only its figures (:mod:`carnet.analysis.figures`), written to
``FOLDER/cells/<key>.parquet`` once it is done, and nothing else: no run directory, no ledger.
Running the same cells again into the same folder runs only those not done: a stopped
experiment resumes where it stopped, and a task lost with its worker is run again elsewhere,
skipping the cells its first try finished. A cell's key is a hash of its values and seed, so
its figures are the same bytes whichever worker runs it, and whenever.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from carnet.analysis import figures
from carnet.scenario.loading import load_scenario
from carnet.scenario.paths import set as set_values
from carnet.scenario.schema import Scenario

Progress = Callable[[int, int], None]
CELLS = "cells"
#: A batch should take a few seconds: Dask's cost per task is then negligible, and a lost
#: worker costs little to run again.
BATCH_SECONDS = 4.0


@dataclass(frozen=True)
class Cell:
    """One run: the values set on the base scenario, by path, and the seed."""

    values: dict[str, Any]
    seed: int
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            text = json.dumps([self.values, self.seed], sort_keys=True)
            object.__setattr__(self, "key", hashlib.sha256(text.encode()).hexdigest()[:20])


@dataclass(frozen=True)
class Request:
    """What each cell computes: audit figures (by name) and daily trajectories (by name)."""

    figures: tuple[str, ...] = ()
    daily: tuple[str, ...] = ()


def _cell_path(folder: Path, cell: Cell) -> Path:
    return folder / CELLS / f"{cell.key}.parquet"


_bases: dict[str, Scenario] = {}


def _base(doc_text: str) -> Scenario:
    """The base scenario of a worker's tasks, validated once per worker (not once per cell)."""
    found = _bases.get(doc_text)
    if found is None:
        _bases.clear()
        found = _bases[doc_text] = load_scenario(json.loads(doc_text))
    return found


def evaluate(scenario: Scenario, request: Request) -> tuple[dict[str, float], dict[str, Any]]:
    """Run ``scenario`` (one thread) and return its figures and its daily trajectories."""
    from carnet.analysis.audit import without_responses
    from carnet.result import simulate

    result = simulate(scenario, threads=1)
    counterfactual = None
    if figures.needs_behaviour(request.figures):
        counterfactual = without_responses(scenario, threads=1)
    tables = figures.tables_for(result, request.figures, counterfactual)
    found = figures.headlines(tables, request.figures) if request.figures else {}
    daily = {}
    for name in request.daily:
        column, group = figures.parse_daily(name) or (name, None)
        daily[name] = figures.trajectory(result, column, group)
    return found, daily


def _table(cell: Cell, found: dict[str, float], daily: dict[str, npt.NDArray[Any]]) -> pa.Table:
    names = list(found) + [f"{n}@{d}" for n, series in daily.items() for d in range(len(series))]
    values = list(found.values()) + [float(v) for series in daily.values() for v in series]
    return pa.table(
        {
            "cell": pa.array([cell.key] * len(names), pa.string()),
            "seed": pa.array([cell.seed] * len(names), pa.int64()),
            "figure": pa.array(names, pa.string()),
            "value": pa.array(values, pa.float64()),
        }
    )


def run_batch(folder: str, doc_text: str, cells: list[Cell], request: Request) -> int:
    """Run the cells of a batch not done yet (on a worker); return how many it ran."""
    from carnet.runs.directory import atomic_write, parquet_bytes

    base = _base(doc_text)
    ran = 0
    for cell in cells:
        target = _cell_path(Path(folder), cell)
        if target.is_file():
            continue
        scenario = set_values(base, {**cell.values, "run.seed": cell.seed})
        found, daily = evaluate(scenario, request)
        atomic_write(target, parquet_bytes(_table(cell, found, daily)))
        ran += 1
    return ran


def batches(cells: Sequence[Cell], workers: int, seconds_per_cell: float) -> list[list[Cell]]:
    """Cells cut into batches of about :data:`BATCH_SECONDS`, at least four per worker."""
    per = max(1, int(BATCH_SECONDS / max(seconds_per_cell, 1e-3)))
    per = max(1, min(per, -(-len(cells) // (4 * max(workers, 1)))))
    return [list(cells[i : i + per]) for i in range(0, len(cells), per)]


def seconds_per_cell(base: Scenario) -> float:
    """A rough guess of one cell's time, from its citizen-days (to size the batches)."""
    return 0.05 + base.population.size * base.run.days / 2e8


def run_cells(
    base: Scenario,
    cells: Sequence[Cell],
    request: Request,
    folder: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> pa.Table:
    """Run every cell not done yet in ``folder`` on Dask; return the figures of all ``cells``.

    Cells with the same values and seed are one cell, run once (progress counts them once).
    The table has a row per (cell, figure): ``cell`` (its key), ``seed``, ``figure`` (a figure's
    name, or ``NAME@DAY`` for a trajectory's day) and ``value``, cells in the order given.
    """
    from distributed import as_completed

    from carnet.runs.dask import client_for

    (folder / CELLS).mkdir(parents=True, exist_ok=True)
    unique = list({c.key: c for c in cells}.values())
    todo = [c for c in unique if not _cell_path(folder, c).is_file()]
    done = len(unique) - len(todo)
    if progress is not None:
        progress(done, len(unique))
    if todo:
        doc_text = json.dumps(base.model_dump(mode="json"), sort_keys=True)
        count = workers or os.cpu_count() or 1
        with client_for(scheduler, count) as client:
            parts = batches(todo, count, seconds_per_cell(base))
            futures = [
                client.submit(run_batch, str(folder), doc_text, part, request, pure=False)
                for part in parts
            ]
            sizes = {f.key: len(part) for f, part in zip(futures, parts, strict=True)}
            for future in as_completed(futures):  # type: ignore[no-untyped-call]
                done += sizes[future.key]
                if progress is not None:
                    progress(done, len(unique))
            client.gather(futures)
    return read_cells(folder, cells)


def read_cells(folder: Path, cells: Sequence[Cell]) -> pa.Table:
    """The figures of ``cells`` that are done, in their order (a cell twice given, once)."""
    keys = dict.fromkeys(c.key for c in cells)
    tables = [pq.read_table(p) for k in keys if (p := folder / CELLS / f"{k}.parquet").is_file()]
    if not tables:
        return _table(Cell({}, 0), {}, {})
    return pa.concat_tables(tables)


def matrix(table: pa.Table, cells: Sequence[Cell], names: Sequence[str]) -> npt.NDArray[np.float64]:
    """The figures ``names`` of ``cells`` as a (cells, names) array (NaN where missing)."""
    rows: dict[str, list[int]] = {}  # two cells may be one: whole numbers rounded alike
    for i, c in enumerate(cells):
        rows.setdefault(c.key, []).append(i)
    column = {n: j for j, n in enumerate(names)}
    out = np.full((len(cells), len(names)), np.nan)
    keys, found, values = (table[c].to_pylist() for c in ("cell", "figure", "value"))
    for key, name, value in zip(keys, found, values, strict=True):
        if key in rows and name in column:
            out[rows[key], column[name]] = value
    return out
