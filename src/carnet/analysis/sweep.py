"""Sweeps: a grid of scenario overrides × seeds, each cell run and audited as a Dask task.

A sweep file names a scenario, optional overrides for every cell, the seeds, and a grid of
parameters to vary, each by its path in the scenario::

    scenario: rongcheng            # a preset, or a file beside the sweep file
    population: 100000             # optional: population.size and run.days of every cell
    days: 365
    seeds: 20                      # how many (run.seed and the next), or a list
    grid:
      rules.points.traffic_violation.points: [-5, -10, -20]
      sources.traffic_cameras.misattribution: [0.001, 0.01]

Each grid key is a path of :mod:`carnet.scenario.paths` (what :func:`carnet.set` and
``carnet run --set`` take, and errors print): keys joined by dots, a list's items by position
or by name. The table's columns are named by the keys as the sweep file writes them. Each cell
writes its headline figures to ``OUT/cells/<cell>.parquet`` once done, so a sweep that stops is
finished later by running it again: done cells are not run again. The table of every cell,
``OUT/sweep.parquet``, holds one row per (cell, figure), with the cell's parameters and seed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from carnet.errors import ScenarioError, show
from carnet.scenario.loading import load_scenario, parse_yaml, to_yaml
from carnet.scenario.paths import set as set_values

Progress = Callable[[int, int], None]
CELLS = "cells"
TABLE = "sweep.parquet"
#: The figures each cell keeps: (audit table, figure), for every row of the table.
HEADLINES = (
    ("sanctions", "sanctions"),
    ("sanctions", "wrongful"),
    ("sanctions", "wrongful_share"),
    ("sanctions", "wrongful_per_100k"),
    ("gates", "approval_rate"),
    ("gates", "impact_ratio"),
    ("gates", "refused_wrongfully"),
    ("listings", "entries"),
    ("listings", "wrongful_entries"),
    ("privacy", "per_citizen_year"),
    ("appeals", "wrongful_left_standing"),
)


class Sweep:
    """A parsed sweep file: the base scenario mapping, the seeds and the grid."""

    def __init__(self, path: Path) -> None:
        where = str(path)
        doc = parse_yaml(path.read_text(encoding="utf-8"), where)
        unknown = set(doc) - {"scenario", "population", "days", "seeds", "grid"}
        problems = [(str(k), "unknown key; a sweep has scenario, population, days, seeds, grid")
                    for k in sorted(map(str, unknown))]  # fmt: skip
        grid = doc.get("grid")
        if not isinstance(grid, dict) or not grid:
            problems.append(("grid", "a mapping of scenario paths to lists of values"))
            grid = {}
        for key, values in grid.items():
            if not isinstance(values, list) or not values:
                problems.append((f"grid.{key}", "a non-empty list of values"))
        seeds = doc.get("seeds", 1)
        if not (isinstance(seeds, int) and seeds > 0) and not (
            isinstance(seeds, list) and seeds and all(isinstance(x, int) for x in seeds)
        ):
            problems.append(("seeds", "a positive number of seeds, or a list of seeds"))
        if problems:
            raise ScenarioError(where, problems)
        source = str(doc.get("scenario", "rongcheng"))
        beside = path.parent / source
        self.path = path
        self.base = load_scenario(
            beside if beside.is_file() else source,
            population=doc.get("population"),
            days=doc.get("days"),
        )
        first = self.base.run.seed
        self.seeds: list[int] = (
            list(range(first, first + seeds)) if isinstance(seeds, int) else list(seeds)
        )
        self.grid: dict[str, list[Any]] = {str(k): list(v) for k, v in grid.items()}
        for combination in self.combinations():  # every cell must be a valid scenario
            self.scenario(combination, self.seeds[0])

    def combinations(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values, in order."""
        keys = list(self.grid)
        return [dict(zip(keys, values, strict=True))
                for values in itertools.product(*self.grid.values())]  # fmt: skip

    def scenario(self, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
        """The scenario of one cell, as a mapping (validated): the base, overrides, seed.

        Raises:
            ScenarioError: naming the grid key, as written, whose path leads nowhere (with the
                keys or items there), or the path of the cell's invalid value.
        """
        cell = ", ".join(f"{k}={show(v)}" for k, v in overrides.items())
        where = f"{self.path}: the cell {cell}" if cell else str(self.path)
        scenario = set_values(self.base, {**overrides, "run.seed": seed}, source=where)
        doc: dict[str, Any] = scenario.model_dump(mode="json")
        return doc

    def cells(self) -> list[dict[str, Any]]:
        """Every cell: its overrides, seed, and a key that names its file."""
        out = []
        for overrides in self.combinations():
            for seed in self.seeds:
                text = json.dumps([overrides, seed], sort_keys=True)
                key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
                out.append({"overrides": overrides, "seed": seed, "key": key})
        return out


def run_cell(sweep_dir: str, cell: dict[str, Any], scenario: dict[str, Any]) -> str:
    """Run and audit one cell; write its figures to ``cells/<key>.parquet``; return the path.

    Safe to run again: a cell already written is not run again, and a cell lost with its worker
    gives the same bytes wherever it runs again.
    """
    from carnet.analysis.audit import audit
    from carnet.result import simulate
    from carnet.runs.directory import atomic_write, parquet_bytes

    target = Path(sweep_dir) / CELLS / f"{cell['key']}.parquet"
    if target.is_file():
        return str(target)
    found = audit(simulate(load_scenario(scenario), threads=1)).tables()
    rows: dict[str, list[Any]] = {"table": [], "row": [], "figure": [], "value": []}
    for table, figure in HEADLINES:
        t = found[table]
        keys = [f.name for f in t.schema if pa.types.is_string(f.type)]
        for r in t.to_pylist():
            rows["table"].append(table)
            rows["row"].append(", ".join(f"{k}={r[k]}" for k in keys))
            rows["figure"].append(figure)
            rows["value"].append(float(r[figure]))
    columns: dict[str, Any] = {name: pa.array([v] * len(rows["value"]))
                               for name, v in cell["overrides"].items()}  # fmt: skip
    columns["seed"] = pa.array([cell["seed"]] * len(rows["value"]), pa.int64())
    columns["cell"] = pa.array([cell["key"]] * len(rows["value"]), pa.string())
    columns.update({k: pa.array(v) for k, v in rows.items()})
    atomic_write(target, parquet_bytes(pa.table(columns)))
    return str(target)


def run_sweep(
    sweep: Sweep,
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Run every cell not done yet on Dask, then write ``out/sweep.parquet``; return it."""
    import os

    from distributed import as_completed

    from carnet.runs.dask import client_for
    from carnet.runs.directory import atomic_write, parquet_bytes

    (out / CELLS).mkdir(parents=True, exist_ok=True)
    atomic_write(out / "sweep.yaml", sweep.path.read_bytes())
    atomic_write(out / "scenario.yaml", to_yaml(sweep.base).encode("utf-8"))
    cells = sweep.cells()
    todo = [c for c in cells if not (out / CELLS / f"{c['key']}.parquet").is_file()]
    done = len(cells) - len(todo)
    if progress is not None:
        progress(done, len(cells))
    if todo:
        with client_for(scheduler, workers or os.cpu_count() or 1) as client:
            futures = [
                client.submit(
                    run_cell,
                    str(out),
                    c,
                    sweep.scenario(c["overrides"], c["seed"]),
                    key=f"carnet-cell-{c['key']}",
                    pure=False,
                )
                for c in todo
            ]
            for _ in as_completed(futures):  # type: ignore[no-untyped-call]
                done += 1
                if progress is not None:
                    progress(done, len(cells))
            client.gather(futures)
    tables = [pq.read_table(out / CELLS / f"{c['key']}.parquet") for c in cells]
    atomic_write(out / TABLE, parquet_bytes(pa.concat_tables(tables, promote_options="default")))
    return out / TABLE
