"""carnet's benchmark: the minimal model (shared/bench-minimal.md) at 1,000,000 citizens × 365 days.

    python bench/run.py [--population N] [--days D] [--repeats R]

Start-up (imports, kernel compilation, population synthesis is included in the run) is excluded
by a warm-up run. Prints citizen-days per second on one thread and on every core, peak memory,
and whether the target of issue 2 (at least 100 million citizen-days per second on one core) holds.
Exits 1 if it does not.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

TARGET_ONE_CORE = 100e6


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numba

    import carnet

    scenario = carnet.load_scenario("minimal", population=args.population, days=args.days)
    carnet.simulate(scenario, days=5, population=min(args.population, 100_000), threads=1)

    cores = os.cpu_count() or 1
    print(f"machine: {machine()}")
    print(f"carnet {carnet.__version__}, numba {numba.__version__}")
    print(
        f"model: minimal, {args.population:,} citizens x {args.days} days, best of {args.repeats}"
    )
    citizen_days = args.population * args.days
    best: dict[int, float] = {}
    for threads in sorted({1, cores}):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = carnet.simulate(scenario, threads=threads)
            times.append(time.perf_counter() - start)
        best[threads] = citizen_days / min(times)
        print(
            f"  {threads} core(s): {min(times):.3f} s, {best[threads] / 1e6:,.0f} million "
            f"citizen-days/s, ledger rows {result.ledger.num_rows:,}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:,.0f} MiB")
    shares = result.summary().grade_shares["all"]
    print("final grade shares: " + ", ".join(f"{g} {v:.4f}" for g, v in shares.items()))
    ok = best[1] >= TARGET_ONE_CORE
    verdict = "holds" if ok else "FAILS"
    print(f"target >= {TARGET_ONE_CORE / 1e6:.0f} million citizen-days/s on one core: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
