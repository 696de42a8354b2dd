"""Replicates of the default city: the target of issue 4 (10 seeds in under 3 minutes, 2 cores).

    python bench/replicates.py [--replicates N] [--scenario NAME]

Each replicate is two runs of the scenario (with responses, and without them for the behaviour
audit) and their audit. Kernel compilation is excluded by a short warm-up run. Prints the wall
time, the time per replicate and peak memory; exits 1 if the target does not hold.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

TARGET_SECONDS = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--scenario", default="rongcheng")
    args = parser.parse_args()

    import carnet
    from carnet.analysis.replicates import replicate, summarise

    s = carnet.load_scenario(args.scenario)
    replicate(carnet.load_scenario(args.scenario, population=20_000, days=5), 1)  # compile
    start = time.perf_counter()
    audits = replicate(s, args.replicates)
    summary = summarise(audits)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wrongful = next(
        r
        for r in summary["sanctions"].to_pylist()
        if r["group"] == "all" and r["metric"] == "wrongful_share"
    )
    print(f"scenario: {s.name}, {s.population.size:,} citizens x {s.run.days} days")
    print(f"{args.replicates} replicates: {wall:.1f} s ({wall / args.replicates:.1f} s each)")
    print(f"peak RSS: {peak:.0f} MiB")
    print(
        f"wrongful share of sanctions: {wrongful['mean']:.5f} "
        f"[{wrongful['low']:.5f}, {wrongful['high']:.5f}]"
    )
    holds = wall < TARGET_SECONDS or args.replicates != 10
    print(f"target 10 replicates < {TARGET_SECONDS:.0f} s: {'holds' if holds else 'MISSED'}")
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
