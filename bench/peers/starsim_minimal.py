"""The minimal model (shared/bench-minimal.md) in Starsim 3: per-citizen states and Poisson draws.

Idiomatic Starsim, as its user guide writes a custom module: an ``ss.Module`` whose states
(``ss.IntArr`` points and grade) live on ``ss.People``; ``ss.poisson`` distributions for the
number of *observed* acts of each behaviour on a day, one per behaviour and deterrence factor
(D, C, the rest) for negative behaviours, of mean the daily rate times the detection
probability times the factor:
acts form a Poisson process and each is observed independently, so the observed ones form a
Poisson process thinned by detection, the same law as drawing the acts and then observing each
(Starsim's random-number machinery, with common random numbers as by default; ``--no-crn`` turns
them off, Starsim's documented faster setting); a ``step`` that applies the day's points, clamps
them and updates grades; one ``ss.Result`` per grade, filled in ``update_results``. ``ss.Sim``
runs it with a time step of one day.

Runs in the peers' environment (bench/peers/setup.sh), not carnet's:

    bench/.venv-peers/bin/python bench/peers/starsim_minimal.py --population 200000 --days 365

prints one JSON object: the final grade counts, mean and variance of the final points, and the
wall time of ``sim.run()`` (building the sim reported separately as setup).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import starsim as ss

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model import (  # the shared table, beside this file
    BEHAVIOURS,
    CEILING,
    DETERRENCE,
    FLOOR,
    GRADE_MIN,
    GRADES,
    START_POINTS,
    Behaviour,
    daily_rate,
)


def observed_rates(behaviour: Behaviour) -> dict[float, float]:
    """The daily mean of observed acts by deterrence factor (one factor: not deterred)."""
    m = daily_rate(behaviour) * behaviour.detect
    factors = sorted(set(DETERRENCE)) if behaviour.negative else [1.0]
    return {f: m * f for f in factors}


class SocialCredit(ss.Module):
    """Points from observed acts, clamped to [floor, ceiling], and the grades they give."""

    def __init__(self, pars: Any = None, **kwargs: Any) -> None:
        super().__init__()
        self.define_pars(
            start_points=START_POINTS,
            floor=FLOOR,
            ceiling=CEILING,
        )
        self.update_pars(pars, **kwargs)
        self.define_states(
            ss.IntArr("points", default=START_POINTS, label="Points"),
            ss.IntArr("grade", default=int(np.searchsorted(GRADE_MIN, START_POINTS, "right") - 1)),
        )
        self.deterrence = np.array(DETERRENCE)
        self.thresholds = np.array(GRADE_MIN[1:])
        self.deltas = [b.delta for b in BEHAVIOURS]
        # One ss.poisson per behaviour and deterrence factor, each of a constant mean: Starsim
        # draws a constant-mean Poisson by a table of its CDF, but an array of means through
        # SciPy's generic inverse (37 times slower here), so the grades' means are not an array.
        self.observed = [
            {
                f: ss.poisson(lam=m, name=f"seen_{b.name}_{f:g}")
                for f, m in observed_rates(b).items()
            }
            for b in BEHAVIOURS
        ]

    def init_results(self) -> None:
        """One count per grade and day."""
        super().init_results()
        self.define_results(*[ss.Result(f"n_{g}", dtype=int, label=g) for g in GRADES])

    def step(self) -> None:
        """Draw today's acts from everyone's grade of yesterday, then score them."""
        change = np.zeros(len(self.points.raw), dtype=np.int64)
        everyone = self.sim.people.auids
        factor = self.deterrence[self.grade[everyone]]
        for observed, delta in zip(self.observed, self.deltas, strict=True):
            for f, seen in observed.items():
                uids = everyone if len(observed) == 1 else everyone[factor == f]
                if len(uids):
                    change[uids] += delta * seen.rvs(uids)
        changed = ss.uids(np.flatnonzero(change))
        if len(changed):
            points = np.clip(
                self.points[changed] + change[changed], self.pars.floor, self.pars.ceiling
            )
            self.points[changed] = points
            self.grade[changed] = np.searchsorted(self.thresholds, points, side="right")

    def update_results(self) -> None:
        """The number of citizens in each grade at the end of the day."""
        super().update_results()
        counts = np.bincount(self.grade.values, minlength=len(GRADES))
        for g, name in enumerate(GRADES):
            self.results[f"n_{name}"][self.ti] = counts[g]


def run(population: int, days: int, seed: int, crn: bool = True) -> dict[str, Any]:
    """Build and run the sim; return its final grades and timings."""
    ss.options.set(crn=crn)
    start = time.perf_counter()
    sim = ss.Sim(
        n_agents=population,
        custom=SocialCredit(),
        start=0,
        dur=ss.days(days - 1),  # the time vector includes both ends: dur + 1 steps of a day
        dt=ss.days(1),
        rand_seed=seed,
        verbose=0,
    )
    sim.init()
    built = time.perf_counter()
    cpu_start = time.process_time()
    sim.run()
    done = time.perf_counter()
    cpu = time.process_time() - cpu_start
    module = sim.custom.socialcredit
    steps = len(module.results.timevec)
    points = module.points.values.astype(np.float64)
    return {
        "implementation": "starsim" if crn else "starsim (crn off)",
        "version": ss.__version__,
        "population": population,
        "days": steps,
        "seed": seed,
        "grades": {g: int(module.results[f"n_{g}"][-1]) for g in GRADES},
        "points_mean": float(points.mean()),
        "points_var": float(points.var(ddof=1)),
        "setup_s": built - start,
        "run_s": done - built,
        "cpu_s": cpu,  # CPU time of the run, all threads
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-crn", action="store_true", help="without common random numbers")
    args = parser.parse_args()
    print(json.dumps(run(args.population, args.days, args.seed, crn=not args.no_crn)))


if __name__ == "__main__":
    main()
