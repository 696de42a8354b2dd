"""carnet against its peers, Mesa 3 and Starsim 3, on the minimal model (``bench/run.py --peers``).

The peers run in their own environment (bench/.venv-peers, built by bench/peers/setup.sh) as
subprocesses, one at a time, each printing one JSON object; carnet runs in this process. This module
holds what bench/run.py needs: the check that the peers' table of the model is carnet's ``minimal``
preset, one run of each implementation, and the summary lines.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / "peers"
PEERS_PYTHON = BENCH / ".venv-peers" / "bin" / "python"
PEER_SCRIPTS = {"mesa": PEERS / "mesa_minimal.py", "starsim": PEERS / "starsim_minimal.py"}
SETUP = "bench/peers/setup.sh"


def shared_model() -> ModuleType:
    """bench/peers/model.py, the model's table that the peers read."""
    spec = importlib.util.spec_from_file_location("carnet_bench_peer_model", PEERS / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and NamedTuples look their module up
    spec.loader.exec_module(module)
    return module


def model_mismatches(scenario: Any) -> list[str]:
    """Every difference between the peers' table and carnet's scenario (empty: the same model)."""
    m = shared_model()
    problems: list[str] = []

    def differ(what: str, peers: object, carnet: object) -> None:
        if peers != carnet:
            problems.append(f"{what}: peers {peers!r}, carnet {carnet!r}")

    differ("behaviours", [b.name for b in m.BEHAVIOURS], [b.name for b in scenario.behaviours])
    for b, c in zip(m.BEHAVIOURS, scenario.behaviours, strict=False):
        differ(f"{b.name} rate", b.rate_per_year, c.rate_per_year)
        differ(f"{b.name} detect", [b.detect], [o.detect for o in c.observed_by])
        differ(f"{b.name} points", b.delta, scenario.rules.points[c.name].points)
        differ(f"{b.name} negative", b.negative, c.kind == "negative")
    differ("start points", m.START_POINTS, scenario.population.start_points)
    differ("floor", m.FLOOR, scenario.rules.floor)
    differ("ceiling", m.CEILING, scenario.rules.ceiling)
    grades = sorted(scenario.grades, key=lambda g: g.min_points or scenario.rules.floor)
    differ("grades", list(m.GRADES), [g.name for g in grades])
    differ(
        "grade thresholds",
        list(m.GRADE_MIN),
        [g.min_points or scenario.rules.floor for g in grades],
    )
    deterrence = scenario.responses.deterrence
    differ("deterrence", list(m.DETERRENCE), [float(deterrence.get(g.name, 1.0)) for g in grades])
    differ("groups", 1, len(scenario.population.groups))
    differ("awareness", 1.0, scenario.population.groups[0].awareness)
    return problems


@dataclass
class Run:
    """One implementation's run of the minimal model."""

    implementation: str
    version: str
    population: int
    days: int
    seed: int
    grades: dict[str, int]
    points_mean: float
    points_var: float
    seconds: float  # wall time of the days, start-up excluded
    cpu_seconds: float  # CPU time of the same, over all threads
    threads: int = 1

    @property
    def citizen_days_per_s(self) -> float:
        """Citizen-days per second of wall time."""
        return self.population * self.days / max(self.seconds, 1e-9)

    @property
    def cores_busy(self) -> float:
        """CPU time over wall time: how many cores the run kept busy on average."""
        return self.cpu_seconds / max(self.seconds, 1e-9)

    def line(self) -> str:
        """One line: size, time and throughput."""
        return (
            f"{self.implementation} {self.version}: {self.population:,} citizens x {self.days} "
            f"days in {self.seconds:.2f} s ({self.cores_busy:.1f} cores busy), "
            f"{self.citizen_days_per_s / 1e6:,.2f} million citizen-days/s"
        )


def carnet_final(result: Any, grades: list[str]) -> tuple[dict[str, int], float, float]:
    """A carnet result's citizens in each grade at the end of the last day, and the mean and
    variance of their points (the mean exact, from the metrics; the variance from the panel)."""
    metrics = result.metrics
    days = metrics.column("day").to_pylist()
    rows = [i for i, d in enumerate(days) if d == max(days)]
    counts = {g: sum(metrics.column(f"grade_{g}")[i].as_py() for i in rows) for g in grades}
    citizens = sum(metrics.column("citizens")[i].as_py() for i in rows)
    mean = sum(metrics.column("points_sum")[i].as_py() for i in rows) / max(citizens, 1)
    panel = result.population.column("points").to_numpy().astype("float64")
    variance = float(panel.var(ddof=1)) if len(panel) > 1 else 0.0
    return counts, mean, variance


def carnet_run(population: int, days: int, seed: int, threads: int, grades: list[str]) -> Run:
    """Run carnet's minimal preset (start-up included in the time, as bench/run.py times it)."""
    import carnet

    scenario = carnet.load_scenario("minimal", population=population, days=days, seed=seed)
    start, cpu = time.perf_counter(), time.process_time()
    result = carnet.simulate(scenario, threads=threads)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    counts, mean, variance = carnet_final(result, grades)
    return Run(
        "carnet",
        carnet.__version__,
        population,
        days,
        seed,
        counts,
        mean,
        variance,
        seconds,
        cpu_seconds,
        threads,
    )


def peers_missing() -> str | None:
    """Why the peers cannot run here, or None."""
    if not PEERS_PYTHON.is_file():
        return f"no peers' environment at {PEERS_PYTHON} (build it with {SETUP})"
    return None


def peer_run(
    name: str,
    population: int,
    days: int,
    seed: int,
    timeout: float = 900,
    options: tuple[str, ...] = (),
) -> Run:
    """Run one peer in its environment; raise RuntimeError with its output if it fails."""
    command = [
        str(PEERS_PYTHON),
        str(PEER_SCRIPTS[name]),
        f"--population={population}",
        f"--days={days}",
        f"--seed={seed}",
        *options,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{name} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    out = json.loads(lines[-1])
    return Run(
        out["implementation"],
        out["version"],
        out["population"],
        out["days"],
        out["seed"],
        {k: int(v) for k, v in out["grades"].items()},
        float(out["points_mean"]),
        float(out["points_var"]),
        float(out["run_s"]),
        float(out["cpu_s"]),
    )
