"""Issue 5, goal 1: `carnet run china --days 365` at national scale, timed and weighed.

    python bench/china.py                       # the full preset (1.4 billion), or why not
    python bench/china.py --population 20000000 --population 40000000

Each size is one `carnet run china --population N --days D --no-report` in a fresh process (the
CLI's own path: it predicts memory, refuses what cannot fit, writes metrics and the panel's
ledger into a run directory). The bench prints the wall time, the process's peak resident memory
(from `wait4`, the kernel's figure for that very process) and citizen-days per second.

When the full size is refused here (the prediction exceeds the memory available), the bench says so
with the CLI's message, runs the sizes given by --population (by default 1/70 and 1/35 of the
preset, 20 and 40 million), and extrapolates to the full size: time by citizen-days per second at
the largest size run, memory by the straight line through the two peaks (fixed cost + bytes per
citizen). Extrapolated figures are labelled as such. Exits 0 only if a full-size run was measured
within both targets.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

WALL_TARGET_S = 600.0  # under 10 minutes
MEMORY_TARGET = 20e9  # under 20 GB
DEFAULT_SIZES = (20_000_000, 40_000_000)

sys.path.insert(0, str(Path(__file__).resolve().parent))


@dataclass
class Measured:
    """One `carnet run` of the preset at one size."""

    population: int
    days: int
    wall_s: float
    peak_bytes: int
    exit_code: int
    output: str

    @property
    def citizen_days_per_s(self) -> float:
        return self.population * self.days / self.wall_s

    def line(self) -> str:
        if self.exit_code:
            return f"{self.population:>13,} citizens: exit {self.exit_code}"
        return (
            f"{self.population:>13,} citizens x {self.days} days: wall {self.wall_s:8.1f} s, "
            f"peak RSS {self.peak_bytes / 2**30:6.2f} GiB, "
            f"{self.citizen_days_per_s / 1e6:,.0f} million citizen-days/s"
        )


def carnet_run(population: int, days: int, threads: int | None) -> Measured:
    """Run the CLI in a fresh process; its peak RSS comes from wait4 on that process."""
    with tempfile.TemporaryDirectory(prefix="carnet-china-") as tmp:
        command = [
            sys.executable, "-m", "carnet", "run", "china", "--population", str(population),
            "--days", str(days), "--out", str(Path(tmp) / "run"), "--no-report", "--quiet",
        ]  # fmt: skip
        if threads:
            command += ["--threads", str(threads)]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert process.stdout is not None
        output = process.stdout.read().decode(errors="replace")
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(population, days, wall, usage.ru_maxrss * 1024, process.returncode, output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, action="append", help="sizes to run")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    args = parser.parse_args()

    from run import load, machine

    import carnet
    from carnet.resources import available_bytes, predict_bytes

    full = carnet.load_scenario("china").population.size
    print(f"machine: {machine()}; {load()}")
    print(f"carnet {carnet.__version__}: china preset, {args.days} days, every phase on")
    print(f"targets (issue 5, goal 1): wall < {WALL_TARGET_S / 60:.0f} min, "
          f"peak memory < {MEMORY_TARGET / 1e9:.0f} GB at {full:,} citizens")  # fmt: skip
    predicted = predict_bytes(carnet.load_scenario("china", days=args.days))
    free = available_bytes()
    print(
        f"predicted at full size: {predicted / 2**30:.1f} GiB; available here: "
        + (f"{free / 2**30:.1f} GiB" if free else "unknown")
    )

    # Fill numba's cache first, so that no timed run compiles kernels (the CLI loads them).
    carnet_run(100_000, 2, args.threads)
    sizes = args.population or [full]
    runs = []
    for size in sizes:
        run = carnet_run(size, args.days, args.threads)
        print("  " + run.line())
        if run.exit_code:
            print("    " + run.output.strip().replace("\n", "\n    "))
        runs.append(run)

    done = [r for r in runs if r.exit_code == 0]
    at_full = [r for r in done if r.population == full]
    if at_full:
        r = at_full[-1]
        ok = r.wall_s < WALL_TARGET_S and r.peak_bytes < MEMORY_TARGET
        print(f"full size measured: {'holds' if ok else 'FAILS'}")
        return 0 if ok else 1

    if not args.population:
        print("the full size did not run here; measuring smaller sizes to extrapolate")
        for size in DEFAULT_SIZES:
            run = carnet_run(size, args.days, args.threads)
            print("  " + run.line())
            if run.exit_code:
                print("    " + run.output.strip().replace("\n", "\n    "))
            else:
                done.append(run)
    if not done:
        return 1
    # Straight lines through the two largest sizes: a fixed cost (start-up, libraries) plus a
    # cost per citizen, for the wall time and for the peak.
    pair = sorted({r.population: r for r in done}.values(), key=lambda r: r.population)[-2:]
    if len(pair) < 2:
        print("extrapolation needs two sizes that ran")
        return 1
    a, b = pair
    print(f"extrapolated to {full:,} citizens from {a.population:,} and {b.population:,} "
          "(not measured):")  # fmt: skip
    for what, unit, scale, per, target, got in (
        ("wall", "min", 60.0, "ns", WALL_TARGET_S, lambda r: r.wall_s),
        ("peak RSS", "GiB", 2.0**30, "bytes", MEMORY_TARGET, lambda r: float(r.peak_bytes)),
    ):
        slope = (got(b) - got(a)) / (b.population - a.population)
        fixed = got(a) - slope * a.population
        value = fixed + slope * full
        slope_shown = slope * 1e9 if per == "ns" else slope
        verdict = "would hold" if value < target else "FAILS"
        print(f"  {what} {value / scale:,.1f} {unit} = {fixed / scale:.2f} {unit} fixed + "
              f"{slope_shown:.3g} {per} per citizen (target {target / scale:,.1f} {unit}: "
              f"{verdict})")  # fmt: skip
    print(f"  throughput at {b.population:,}: {b.citizen_days_per_s / 1e6:,.0f} million "
          "citizen-days/s (whole process, start-up included)")  # fmt: skip
    return 1


if __name__ == "__main__":
    sys.exit(main())
