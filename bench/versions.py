"""This checkout against another version of carnet, alternated in fresh processes.

    git worktree add /tmp/v020 c38aea7          # 0.2.0
    python bench/versions.py /tmp/v020/src minimal 10000000 60 --rounds 4

Each round runs ``carnet.simulate(preset, population, days, threads=2)`` once with each
version's source on PYTHONPATH, in a new process after a small warm-up (so the kernels come
from numba's cache), alternating which goes first; it prints each time and, pair by pair, the
ratio this checkout / the other, whose median the machine's drift cannot favour.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "src"


def one(preset: str, population: int, days: int) -> None:
    import carnet

    carnet.simulate(carnet.load_scenario(preset, population=20_000, days=5), threads=2)
    s = carnet.load_scenario(preset, population=population, days=days)
    start = time.perf_counter()
    carnet.simulate(s, threads=2)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def timed(src: Path, args: argparse.Namespace) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    argv = [sys.executable, __file__, "--one", args.other, args.preset, str(args.population)]
    done = subprocess.run(
        [*argv, str(args.days)], env=env, capture_output=True, text=True, check=True, cwd="/"
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("other", help="the other version's src/ folder")
    parser.add_argument("preset")
    parser.add_argument("population", type=int)
    parser.add_argument("days", type=int)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args.preset, args.population, args.days)
        return
    mine: list[float] = []
    theirs: list[float] = []
    for r in range(args.rounds):
        order = [(HERE, mine), (Path(args.other), theirs)]
        for src, times in order if r % 2 else order[::-1]:
            times.append(timed(src, args))
            print(f"{'this' if times is mine else 'other'}: {times[-1]:.3f} s", flush=True)
    ratios = [a / b for a, b in zip(mine, theirs, strict=True)]
    print(
        f"{args.preset} {args.population:,} x {args.days}: other median "
        f"{statistics.median(theirs):.3f} s, this {statistics.median(mine):.3f} s; "
        f"this / other by pair {[round(x, 3) for x in ratios]}, median "
        f"{statistics.median(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
