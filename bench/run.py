"""carnet's benchmark: the minimal model (shared/bench-minimal.md) at 1,000,000 citizens × 365 days.

    python bench/run.py [--population N] [--days D] [--repeats R]
    python bench/run.py --peers [--agree-population N] [--mesa-population N]
        [--starsim-population N] [--peer-repeats R]

Start-up (imports, kernel compilation, population synthesis is included in the run) is excluded
by a warm-up run. Prints citizen-days per second on one thread and on every core, peak memory,
and whether the target of issue 2 (at least 100 million citizen-days per second on one core) holds.
Exits 1 if it does not.

With ``--peers`` (issue 5), the same invocation also runs the model in Mesa 3 and Starsim 3
(bench/peers/, in the environment that bench/peers/setup.sh builds): first all three at one common
size with the same parameters and seed, checking that their final grade distributions agree within
sampling error (exit 1 if not, before any timing); then each at a size it handles in seconds, and
this machine's own limits (random scatter-add into a large int16 array, sequential scan). It prints
each one's citizen-days per second, the ratios, carnet as a fraction of the machine's limits, and
whether carnet reaches 1 billion citizen-days per second on 2 cores (reported, not enforced).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_ONE_CORE = 100e6
TARGET_TWO_CORES = 1e9  # issue 5, goal 2


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


def load() -> str:
    """The machine's load average: other work on a shared machine skews every figure."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    peers = parser.add_argument_group("peers (issue 5)")
    peers.add_argument("--peers", action="store_true", help="compare with Mesa 3 and Starsim 3")
    peers.add_argument("--agree-population", type=int, default=20_000)
    peers.add_argument("--mesa-population", type=int, default=20_000)
    peers.add_argument("--starsim-population", type=int, default=200_000)
    peers.add_argument("--peer-repeats", type=int, default=2)
    peers.add_argument("--limit-elements", type=int, default=1 << 29, help="int16 array")
    peers.add_argument("--limit-scatters", type=int, default=1 << 26, help="random indices")
    args = parser.parse_args()

    import numba
    import numpy

    import carnet

    cores = os.cpu_count() or 1
    print(f"machine: {machine()}; {load()}")
    print(f"carnet {carnet.__version__}, numba {numba.__version__}, numpy {numpy.__version__}")
    scenario = carnet.load_scenario(
        "minimal", population=args.population, days=args.days, seed=args.seed
    )

    if args.peers:
        import compare

        problems = compare.model_mismatches(scenario)
        missing = compare.peers_missing()
        if problems or missing:
            for problem in [*problems, *([missing] if missing else [])]:
                print(f"cannot compare: {problem}")
            return 2
        agreed, agreement_runs = agree(args)
        if not agreed:
            return 1

    carnet.simulate(scenario, days=5, population=min(args.population, 100_000), threads=1)
    print(
        f"model: minimal, {args.population:,} citizens x {args.days} days, best of {args.repeats}"
    )
    citizen_days = args.population * args.days
    best: dict[int, float] = {}
    thread_counts = sorted({1, min(2, cores), cores} if args.peers else {1, cores})
    for threads in thread_counts:
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
    if args.peers:
        grades = list(compare.shared_model().GRADES)
        final = compare.carnet_final(result, grades)
        peers_ok = versus_peers(args, best, final, agreement_runs)
        ok = ok and peers_ok
    return 0 if ok else 1


def agree(args: argparse.Namespace) -> tuple[bool, list[Any]]:
    """All three at one size, same parameters and seed: do their grade distributions agree?"""
    import compare
    from agreement import agreement

    n, days, seed = args.agree_population, args.days, args.seed
    grades = list(compare.shared_model().GRADES)
    print(f"\nagreement: {n:,} citizens x {days} days, seed {seed}, in each implementation")
    cores = min(2, os.cpu_count() or 1)
    runs = [compare.carnet_run(n, days, seed, cores, grades)]
    for name in compare.PEER_SCRIPTS:
        runs.append(compare.peer_run(name, n, days, seed))
    for run in runs:
        print(f"  {run.line()}, mean points {run.points_mean:.2f}")
    verdict = agreement(
        {r.implementation: r.grades for r in runs},
        grades,
        points={r.implementation: (r.points_mean, r.points_var) for r in runs},
    )
    for line in verdict.lines():
        print(line)
    print(f"  the three agree: {'yes' if verdict.passed else 'NO, timing skipped'}")
    return verdict.passed, runs


def versus_peers(
    args: argparse.Namespace,
    best: dict[int, float],
    final: tuple[dict[str, int], float, float],
    earlier: list[Any],
) -> bool:
    """Time the peers, measure the machine's limits, print the ratios; True if the grades agree.

    ``earlier`` runs (the agreement's) count as timing runs of a peer where the size is the same.
    """
    import compare
    import limits
    from agreement import agreement

    grades = list(compare.shared_model().GRADES)
    print("\npeers, each at a size it handles in seconds (best of "
          f"{args.peer_repeats}, start-up excluded):")  # fmt: skip
    timed: dict[str, compare.Run] = {}
    for name, population, options in (
        ("mesa", args.mesa_population, ()),
        ("starsim", args.starsim_population, ()),
        ("starsim", args.starsim_population, ("--no-crn",)),
    ):
        same = [r for r in earlier if (r.implementation, r.population) == (name, population)]
        runs = [] if options else same
        while len(runs) < args.peer_repeats:
            runs.append(compare.peer_run(name, population, args.days, args.seed, options=options))
        run = max(runs, key=lambda r: r.citizen_days_per_s)
        timed[run.implementation] = run
        print(f"  {run.line()}")

    print("  grades at these sizes (carnet's from its last timed run):")
    counts = {"carnet": final[0]} | {name: run.grades for name, run in timed.items()}
    points = {"carnet": final[1:]} | {n: (r.points_mean, r.points_var) for n, r in timed.items()}
    verdict = agreement(counts, grades, points=points)
    for line in verdict.lines():
        print("  " + line)

    cores = min(2, os.cpu_count() or 1)
    print(
        f"\nmachine limits, same run: int16 array of {args.limit_elements:,} elements "
        f"({args.limit_elements * 2 / 2**30:.2f} GiB), {args.limit_scatters:,} random indices"
    )
    measured = {}
    for threads in sorted({1, cores}):
        lim = limits.measure(args.limit_elements, args.limit_scatters, threads=threads)
        measured[threads] = lim
        print(
            f"  {threads} thread(s): scatter-add {lim.scatter_per_s / 1e6:,.0f} million/s; "
            f"scan {lim.scan_per_s / 1e9:,.2f} billion elements/s "
            f"({lim.scan_bytes_per_s / 1e9:.1f} GB/s; sum {lim.sum_per_s / 1e9:.2f}, "
            f"max {lim.max_per_s / 1e9:.2f} billion/s)"
        )

    model = compare.shared_model()
    acts = sum(b.rate_per_year for b in model.BEHAVIOURS) / model.DAYS_PER_YEAR
    mesa, starsim = timed["mesa"].citizen_days_per_s, timed["starsim"].citizen_days_per_s
    fast = timed["starsim (crn off)"].citizen_days_per_s
    lim = measured[cores]
    ours = best[cores]
    print(f"\nsummary: ratios measured in this run (carnet on {cores} core(s) unless said)")
    print(f"  carnet / Mesa:    {ours / mesa:,.0f}x   (1 core: {best[1] / mesa:,.0f}x)")
    print(f"  carnet / Starsim: {ours / starsim:,.1f}x   (1 core: {best[1] / starsim:,.1f}x)")
    print(
        f"  carnet / Starsim without common random numbers: {ours / fast:,.1f}x   "
        f"(1 core: {best[1] / fast:,.1f}x)"
    )
    print(
        f"  carnet / scan limit:    {ours / lim.scan_per_s:.3f}   (1.0 = one read of every "
        "citizen's int16 points per day; a model that visits every citizen daily stays below)"
    )
    print(
        f"  carnet / scatter limit: {ours / lim.scatter_per_s:.2f}   (1.0 = one random int16 "
        "update per citizen-day)"
    )
    ceiling = lim.scatter_per_s / acts
    print(
        f"  carnet's acts / scatter limit: {ours * acts / lim.scatter_per_s:.3f}   (carnet draws "
        f"{acts:.4f} candidate acts per citizen-day; 1.0 = each act costs one random update, "
        f"the event-driven ceiling of {ceiling / 1e9:.2f} billion citizen-days/s here)"
    )
    print(
        f"  citizen-days/s: carnet {ours / 1e6:,.0f} million ({cores} cores), "
        f"{best[1] / 1e6:,.0f} million (1 core); Starsim {starsim / 1e6:,.2f} million "
        f"({fast / 1e6:,.2f} without common random numbers); "
        f"Mesa {mesa / 1e6:,.3f} million"
    )
    met = "holds" if ours >= TARGET_TWO_CORES else "NOT MET"
    print(
        f"  target >= 1 billion citizen-days/s on 2 cores: {met} "
        f"({ours / 1e9:.2f} billion on {cores} core(s), {ours / TARGET_TWO_CORES:.0%} of it)"
    )
    print(f"  at the end: {load()}")
    return verdict.passed


if __name__ == "__main__":
    sys.exit(main())
