"""Running a scenario: shards of citizen blocks stepped day by day, then merged exactly."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import pyarrow as pa

from carnet.loading import load_scenario
from carnet.metrics import metrics_table
from carnet.phases.record import Recorder, ledger_table
from carnet.population import data_points_per_day, synthesise
from carnet.result import Result, population_table
from carnet.scenario import Scenario
from carnet.step import Shard, step
from carnet.tables import Tables, build_tables

Progress = Callable[[int, int], None]


def plan_shards(size: int, block_size: int, shards: int) -> list[tuple[int, int]]:
    """Split citizens into ``shards`` contiguous ranges of whole blocks, as (first, count)."""
    n_blocks = -(-size // block_size)
    shards = max(1, min(shards, n_blocks))
    edges = [round(i * n_blocks / shards) * block_size for i in range(shards + 1)]
    return [(lo, min(hi, size) - lo) for lo, hi in pairwise(edges) if lo < size]


def make_shard(s: Scenario, t: Tables, first: int, n: int) -> Shard:
    """Synthesise a shard's citizens and prepare its recorder."""
    state = synthesise(s, t, first, n)
    recorder = Recorder(state, t, s.run.days, s.run.block_size, s.run.ledger_part_days)
    return Shard(
        tables=t, state=state, recorder=recorder, seed=s.run.seed, block_size=s.run.block_size
    )


def simulate(
    scenario: Scenario | str,
    *,
    seed: int | None = None,
    days: int | None = None,
    population: int | None = None,
    threads: int | None = None,
    shards: int | None = None,
    progress: Progress | None = None,
) -> Result:
    """Run a scenario and return its result.

    Args:
        scenario: a Scenario, or anything :func:`carnet.load_scenario` accepts.
        seed: override ``run.seed``.
        days: override ``run.days``.
        population: override ``population.size``.
        threads: threads stepping shards in parallel (default: the machine's cores).
        shards: ranges of citizen blocks (default: one per thread). The result does not depend
            on ``threads`` or ``shards``: random streams are keyed by block, not by shard.
        progress: called as ``progress(days_done, days_total)`` after every day.
    """
    s = load_scenario(scenario, seed=seed, days=days, population=population)
    t = build_tables(s)
    threads = max(1, threads or os.cpu_count() or 1)
    plan = plan_shards(s.population.size, s.run.block_size, shards or threads)
    behaviours = [b.name for b in s.behaviours]
    sources = [src.name for src in s.sources]
    part_days = s.run.ledger_part_days
    parts: list[pa.Table] = []
    with ThreadPoolExecutor(min(threads, len(plan))) as pool:
        # Kernels release the GIL, so shards advance in parallel threads, each day in lockstep.
        shard_list = list(pool.map(lambda p: make_shard(s, t, *p), plan))
        data = np.sum(
            list(
                pool.map(lambda sh: data_points_per_day(sh.state, t, s.run.block_size), shard_list)
            ),
            axis=0,
        )
        for day in range(s.run.days):
            list(pool.map(lambda sh: step(sh, day), shard_list))  # noqa: B023
            if (day + 1) % part_days == 0 or day == s.run.days - 1:
                part = day // part_days
                pieces = pool.map(lambda sh: sh.recorder.ledger_part(part), shard_list)  # noqa: B023
                cols = [p for p in pieces if p is not None]
                if cols:
                    merged = {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}
                    parts.append(ledger_table(merged, behaviours, sources))
            if progress is not None:
                progress(day + 1, s.run.days)
    return Result(
        scenario=s,
        metrics=metrics_table(s, [sh.recorder for sh in shard_list], data),
        ledger_parts=parts,
        population=population_table(s, t, [sh.state for sh in shard_list]),
    )
