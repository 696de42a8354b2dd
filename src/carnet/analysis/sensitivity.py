"""Sensitivity analysis: which of a scenario's assumptions drive its headline figures (SALib).

A sensitivity spec names a scenario, the parameters to vary with their ranges
(:mod:`carnet.analysis.experiment`), the method and its samples, the seeds every sample runs on,
and the figures to explain (:mod:`carnet.analysis.figures`)::

    scenario: rongcheng
    population: 20000
    days: 365
    method: sobol          # or morris
    samples: 256           # sobol: the base sample N (a power of two); morris: trajectories
    seeds: 2               # replicates of every sample, on common random numbers
    parameters:
      sources.traffic_cameras.misattribution: [0.0, 0.05]
      rules.points.traffic_violation.points: [-20, -1]
    outputs: [wrongful_per_100k, gini]   # default: every family of headline figures

Sobol' (Saltelli's design, Jansen's estimators as SALib computes them) runs ``N (D + 2)``
samples for ``D`` parameters and gives each parameter's first-order index S1 (the share of the
output's variance it explains alone) and total index ST (alone and with the others), each with
a 95% bootstrap interval. Morris runs ``N (D + 1)``, one trajectory of ``D + 1`` steps per
sample, and gives mu* (the mean absolute elementary effect, in the output's units per the
parameter's whole range), its interval, and sigma (how much the effect varies: interaction or
non-linearity). Parameters are sampled on [0, 1] and mapped onto their range (a log scale where
the spec says ``log``), so the effects are per range, comparable across parameters.

Every sample runs on the same seeds, so the seeds' noise is common to all samples and the
indices measure the parameters; each figure is the mean over the seeds, and ``noise_share``
says what part of its variance across samples is still the seeds' noise (its within-sample
variance over the seeds, divided by their number). Cells run on Dask as the sweep's do
(:mod:`carnet.analysis.ensemble`): a stopped analysis resumes without running its done cells.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.analysis import ensemble, figures
from carnet.analysis.experiment import (
    Parameter,
    Problems,
    base_scenario,
    parse_parameters,
    require,
    unknown_keys,
)
from carnet.errors import ScenarioError
from carnet.scenario.loading import parse_yaml, to_yaml
from carnet.scenario.schema import Scenario

F64 = npt.NDArray[np.float64]
Progress = Callable[[int, int], None]
Method = Literal["sobol", "morris"]
KEYS = ("scenario", "population", "days", "method", "samples", "levels", "seeds", "seed",
        "parameters", "outputs")  # fmt: skip
#: The fewest samples each method's indices and their bootstrap intervals can stand on.
FEWEST = {"sobol": 16, "morris": 4}
TABLE, CELLS_TABLE, SAMPLES_TABLE, PAGE = (
    "sensitivity.parquet",
    "cells.parquet",
    "samples.parquet",
    "sensitivity.html",
)
#: The indices' columns, by method.
COLUMNS: dict[str, tuple[str, ...]] = {
    "sobol": ("S1", "S1_conf", "ST", "ST_conf"),
    "morris": ("mu_star", "mu_star_conf", "sigma", "mu"),
}


def _outputs(base: Scenario, given: Any) -> tuple[list[str], Problems]:
    if given is None:
        return list(figures.FAMILIES), []
    if not isinstance(given, list) or not given or not all(isinstance(g, str) for g in given):
        return [], [("outputs", "a list of figure names, e.g. [wrongful_per_100k, gini]")]
    problems: Problems = []
    known = {
        "group": [g.name for g in base.population.groups] + ["all"],
        "gate": [g.name for g in base.gates],
    }
    for i, name in enumerate(given):
        try:
            family, key = figures.parse(name)
        except ValueError as exc:
            problems.append((f"outputs.{i}", str(exc)))
            continue
        for part, kind in zip(key or (), figures.FAMILIES[family].keys, strict=False):
            if kind in known and part not in known[kind]:
                listed = ", ".join(known[kind])
                problems.append((f"outputs.{i}", f"no {kind} {part!r} in {name}; known: {listed}"))
    return list(given), problems


def _count(doc: dict[str, Any], key: str, default: int, problems: Problems) -> int:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append((key, f"a whole number of at least 1, not {value!r}"))
        return default
    return value


@dataclass(frozen=True)
class SensitivitySpec:
    """A parsed, checked sensitivity spec: its scenario, design and outputs."""

    path: Path
    base: Scenario
    method: Method
    samples: int
    levels: int
    seeds: tuple[int, ...]
    seed: int
    parameters: tuple[Parameter, ...]
    outputs: tuple[str, ...]

    @classmethod
    def read(cls, path: Path) -> SensitivitySpec:
        """Read and check the spec at ``path``.

        Raises:
            ScenarioError: every problem at once, each at its path in the spec (an unknown key,
                a path that leads nowhere, a range outside the field's bounds, too few samples
                for the method, an unknown figure), or the scenario's own problems.
        """
        require("SALib", "sensitivity analysis")
        require("distributed", "sensitivity analysis")
        where = str(path)
        doc = parse_yaml(path.read_text(encoding="utf-8"), where)
        problems = unknown_keys(doc, KEYS, "a sensitivity spec")
        method = doc.get("method", "sobol")
        if method not in FEWEST:
            problems.append(("method", f"sobol or morris, not {method!r}"))
            method = "sobol"
        samples = _count(doc, "samples", 64, problems)
        if "samples" in doc and samples < FEWEST[method]:
            problems.append(("samples", f"{method} needs at least {FEWEST[method]}, not {samples}"))
        if method == "sobol" and samples & (samples - 1):
            problems.append(
                ("samples", f"sobol takes a power of two (Sobol' balance), not {samples}")
            )
        levels = _count(doc, "levels", 4, problems)
        if method == "morris" and (levels < 2 or levels % 2):
            problems.append(("levels", f"morris takes an even number of levels, not {levels}"))
        sampler_seed = _count(doc, "seed", 1, problems)
        seeds = doc.get("seeds", 1)
        if not (isinstance(seeds, int) and not isinstance(seeds, bool) and seeds > 0) and not (
            isinstance(seeds, list) and seeds and all(isinstance(s, int) for s in seeds)
        ):
            problems.append(("seeds", "a positive number of seeds, or a list of seeds"))
            seeds = 1
        if problems:
            raise ScenarioError(where, problems)
        base = base_scenario(doc, path)
        try:
            parameters = parse_parameters(base, doc.get("parameters"), where)
        except ScenarioError as exc:
            problems += exc.problems
            parameters = []
        outputs, wrong = _outputs(base, doc.get("outputs"))
        problems += wrong
        if problems:
            raise ScenarioError(where, problems)
        first = base.run.seed
        return cls(
            path=path,
            base=base,
            method=method,
            samples=samples,
            levels=levels,
            seeds=tuple(range(first, first + seeds)) if isinstance(seeds, int) else tuple(seeds),
            seed=sampler_seed,
            parameters=tuple(parameters),
            outputs=tuple(outputs),
        )

    def problem(self) -> dict[str, Any]:
        """The design's problem as SALib takes it: every parameter on [0, 1]."""
        return {
            "num_vars": len(self.parameters),
            "names": [p.path for p in self.parameters],
            "bounds": [[0.0, 1.0]] * len(self.parameters),
        }

    def design(self) -> F64:
        """The samples on [0, 1]: one row per sample, one column per parameter (SALib's)."""
        if self.method == "sobol":
            from SALib.sample import sobol

            units = sobol.sample(self.problem(), self.samples, calc_second_order=False,
                                 seed=self.seed)  # fmt: skip
        else:
            from SALib.sample import morris

            units = morris.sample(self.problem(), self.samples, num_levels=self.levels,
                                  seed=self.seed)  # fmt: skip
        return np.asarray(units, np.float64)

    def values(self, units: F64) -> list[dict[str, float | int]]:
        """Each sample's parameter values, as the scenario holds them."""
        return [
            {p.path: p.value(float(u)) for p, u in zip(self.parameters, row, strict=True)}
            for row in units
        ]

    def cells(self, values: list[dict[str, float | int]]) -> list[list[ensemble.Cell]]:
        """The cells of each sample: its values on every seed."""
        return [[ensemble.Cell(v, seed) for seed in self.seeds] for v in values]


def _analyse(spec: SensitivitySpec, units: F64, y: F64) -> dict[str, F64]:
    """One output's indices, by column of :data:`COLUMNS` (one value per parameter)."""
    problem = spec.problem()
    if not np.all(np.isfinite(y)) or float(np.var(y)) == 0.0:
        # A figure that never changes (or the run lacks) has no variance to apportion.
        return {c: np.full(len(spec.parameters), np.nan) for c in COLUMNS[spec.method]}
    with warnings.catch_warnings():
        # SALib warns when a figure is constant over some samples' subsets (a share that stays
        # 0): its indices are then 0, which is what they are.
        warnings.simplefilter("ignore", UserWarning)
        if spec.method == "sobol":
            from SALib.analyze import sobol

            found = sobol.analyze(problem, y, calc_second_order=False, seed=spec.seed)
        else:
            from SALib.analyze import morris

            found = morris.analyze(problem, units, y, num_levels=spec.levels, seed=spec.seed)
    return {c: np.asarray(found[c], np.float64) for c in COLUMNS[spec.method]}


def indices(spec: SensitivitySpec, units: F64, cube: F64, names: list[str]) -> pa.Table:
    """Every output's indices from the figures ``cube`` (samples, seeds, outputs).

    One row per (parameter, output): the method's columns (:data:`COLUMNS`) and the output's
    ``noise_share``, the part of its variance across samples that is the seeds' noise.
    """
    columns = ("parameter", "output", *COLUMNS[spec.method], "noise_share")
    rows: dict[str, list[Any]] = {c: [] for c in columns}
    for j, name in enumerate(names):
        y = cube[:, :, j].mean(axis=1)
        noise = np.nan
        if cube.shape[1] > 1 and np.all(np.isfinite(y)) and float(np.var(y, ddof=1)) > 0:
            within = float(np.mean(np.var(cube[:, :, j], axis=1, ddof=1))) / cube.shape[1]
            noise = min(1.0, within / float(np.var(y, ddof=1)))
        found = _analyse(spec, units, y)
        for i, p in enumerate(spec.parameters):
            rows["parameter"].append(p.path)
            rows["output"].append(name)
            for c in COLUMNS[spec.method]:
                rows[c].append(float(found[c][i]))
            rows["noise_share"].append(noise)
    types = {"parameter": pa.string(), "output": pa.string()}
    return pa.table({k: pa.array(v, types.get(k, pa.float64())) for k, v in rows.items()})


def ranking(table: pa.Table, method: str) -> dict[str, list[tuple[str, float, float]]]:
    """Per output, its parameters from the most to the least influential: (path, index, conf).

    The index is ST for Sobol', mu* for Morris; outputs without variance are left out.
    """
    index, conf = ("ST", "ST_conf") if method == "sobol" else ("mu_star", "mu_star_conf")
    out: dict[str, list[tuple[str, float, float]]] = {}
    for row in table.to_pylist():
        if np.isfinite(row[index]):
            out.setdefault(row["output"], []).append((row["parameter"], row[index], row[conf]))
    return {k: sorted(v, key=lambda t: -t[1]) for k, v in out.items()}


def _samples_table(spec: SensitivitySpec, values: list[dict[str, float | int]]) -> pa.Table:
    columns: dict[str, Any] = {"sample": pa.array(range(len(values)), pa.int64())}
    for p in spec.parameters:
        columns[p.path] = pa.array([float(v[p.path]) for v in values], pa.float64())
    return pa.table(columns)


def _cells_table(
    spec: SensitivitySpec, values: list[dict[str, float | int]], cube: F64, names: list[str]
) -> pa.Table:
    n, k, m = cube.shape
    sample = np.repeat(np.arange(n), k * m)
    columns: dict[str, Any] = {
        "sample": pa.array(sample, pa.int64()),
        "seed": pa.array(np.tile(np.repeat(np.array(spec.seeds), m), n), pa.int64()),
        "figure": pa.array(names * (n * k), pa.string()),
        "value": pa.array(cube.reshape(-1), pa.float64()),
    }
    for p in spec.parameters:
        per_sample = np.array([float(v[p.path]) for v in values])
        columns[p.path] = pa.array(np.repeat(per_sample, k * m), pa.float64())
    return pa.table(columns)


def run_sensitivity(
    spec: SensitivitySpec,
    out: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> pa.Table:
    """Run the spec's cells not done yet into ``out``, then its indices; return them.

    Writes ``out/sensitivity.parquet`` (the indices), ``cells.parquet`` (every cell's figures
    with its sample's values and seed), ``samples.parquet`` (the design), ``sensitivity.html``
    (a chart per output) and the spec and scenario it ran.
    """
    from carnet.runs.directory import atomic_write, parquet_bytes

    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "sensitivity.yaml", spec.path.read_bytes())
    atomic_write(out / "scenario.yaml", to_yaml(spec.base).encode("utf-8"))
    units = spec.design()
    values = spec.values(units)
    per_sample = spec.cells(values)
    flat = [c for cells in per_sample for c in cells]
    request = ensemble.Request(figures=spec.outputs)
    found = ensemble.run_cells(spec.base, flat, request, out, scheduler=scheduler,
                               workers=workers, progress=progress)  # fmt: skip
    names = _names(found)
    cube = ensemble.matrix(found, flat, names).reshape(len(values), len(spec.seeds), len(names))
    table = indices(spec, units, cube, names)
    atomic_write(out / TABLE, parquet_bytes(table))
    atomic_write(out / CELLS_TABLE, parquet_bytes(_cells_table(spec, values, cube, names)))
    atomic_write(out / SAMPLES_TABLE, parquet_bytes(_samples_table(spec, values)))
    atomic_write(out / PAGE, _page(spec, table, len({c.key for c in flat})).encode("utf-8"))
    return table


def _page(spec: SensitivitySpec, table: pa.Table, runs: int) -> str:
    from carnet._version import __version__
    from carnet.analysis.sensitivity_page import sensitivity_page

    meta = (
        f"{spec.method}, {spec.samples} samples, {len(spec.seeds)} seed(s): {runs} runs of "
        f"{spec.base.name} ({spec.base.population.size:,} synthetic citizens, "
        f"{spec.base.run.days} days); carnet {__version__}"
    )
    return sensitivity_page(table, spec.method, spec.parameters, f"Sensitivity: {spec.base.name}",
                            meta, spec.path.read_text(encoding="utf-8"))  # fmt: skip


def _names(found: pa.Table) -> list[str]:
    """The figures every cell has, in the order of the first cell's."""
    seen: dict[str, None] = {}
    for name in found["figure"].to_pylist():
        seen.setdefault(name, None)
    return list(seen)
