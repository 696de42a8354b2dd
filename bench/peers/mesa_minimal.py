"""The minimal model (shared/bench-minimal.md) in Mesa 3: one Agent per citizen, acting in its step.

Idiomatic Mesa, as the Mesa tutorials write a model: a ``Citizen(mesa.Agent)`` holding its points
and grade, ``model.agents.do("step")`` once a day (the citizens do not interact, so the order of
activation does not matter and the cheaper unshuffled ``do`` is used), each citizen drawing, for
each behaviour, a Poisson number of acts (by inversion, from the model's seeded ``random``: one
uniform a behaviour-day, as bench-minimal.md's Poisson process needs), then whether each act is
observed; a ``mesa.DataCollector`` records the number of citizens in each grade at the end of
every day. No vectorisation bypasses Mesa's agent loop.

Runs in the peers' environment (bench/peers/setup.sh), not carnet's:

    bench/.venv-peers/bin/python bench/peers/mesa_minimal.py --population 20000 --days 365 --seed 1

prints one JSON object: the final grade counts, mean and variance of the final points, and the
wall time of the days (agent creation excluded, reported separately).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import mesa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model import (  # the shared table, beside this file
    BEHAVIOURS,
    CEILING,
    DETERRENCE,
    FLOOR,
    GRADES,
    START_POINTS,
    daily_rate,
    grade_of,
    poisson,
)

# For each grade, for each behaviour: (e^-mean, mean, detection probability, points), the mean
# being the daily rate of acts, deterred by the grade for negative behaviours.
DRAWS = tuple(
    tuple(
        (math.exp(-m), m, b.detect, b.delta)
        for b in BEHAVIOURS
        for m in [daily_rate(b) * (factor if b.negative else 1.0)]
    )
    for factor in DETERRENCE
)


class Citizen(mesa.Agent):
    """One citizen: points, and the grade they give."""

    def __init__(self, model: MinimalModel) -> None:
        super().__init__(model)
        self.points = START_POINTS
        self.grade = grade_of(START_POINTS)

    def step(self) -> None:
        """One day: a Poisson number of acts of each behaviour, each act observed or not."""
        random = self.random.random
        change = 0
        for p0, mean, detect, delta in DRAWS[self.grade]:
            for _ in range(poisson(random, p0, mean)):
                if random() < detect:
                    change += delta
        if change:
            self.points = min(max(self.points + change, FLOOR), CEILING)
            self.grade = grade_of(self.points)


def grade_counts(model: mesa.Model) -> dict[int, int]:
    """The number of citizens in each grade (the model's daily output)."""
    counts: dict[int, int] = model.agents.groupby("grade", result_type="list").count()
    return counts


class MinimalModel(mesa.Model):
    """The minimal model: N citizens at 1000 points, one step per day."""

    def __init__(self, population: int, seed: int) -> None:
        super().__init__(rng=seed)
        Citizen.create_agents(self, population)
        self.datacollector = mesa.DataCollector(model_reporters={"grades": grade_counts})

    def step(self) -> None:
        """One day for every citizen, then the grade counts."""
        self.agents.do("step")
        self.datacollector.collect(self)


def run(population: int, days: int, seed: int) -> dict[str, Any]:
    """Build and run the model; return its final grades and timings."""
    start = time.perf_counter()
    model = MinimalModel(population, seed)
    built = time.perf_counter()
    cpu_start = time.process_time()
    for _ in range(days):
        model.step()
    done = time.perf_counter()
    cpu = time.process_time() - cpu_start
    final = model.datacollector.model_vars["grades"][-1]
    points = model.agents.get("points")
    mean = sum(points) / len(points)
    variance = sum((p - mean) ** 2 for p in points) / max(len(points) - 1, 1)
    return {
        "implementation": "mesa",
        "version": mesa.__version__,
        "population": population,
        "days": days,
        "seed": seed,
        "grades": {GRADES[g]: int(final.get(g, 0)) for g in range(len(GRADES))},
        "points_mean": mean,
        "points_var": variance,
        "setup_s": built - start,
        "run_s": done - built,
        "cpu_s": cpu,  # CPU time of the run, all threads
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.population, args.days, args.seed)))


if __name__ == "__main__":
    main()
