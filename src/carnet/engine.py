"""Running a scenario: shards of citizen blocks stepped day by day, then merged exactly."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.loading import load_scenario
from carnet.metrics import decisions_table, gates_table, ledger_names, metrics_table
from carnet.phases.events import DueQueue
from carnet.phases.gates import GateRules, allocate_seats
from carnet.phases.lending import LendingRules
from carnet.phases.lists import ListRules, ListState, redlisted_grades
from carnet.phases.record import Recorder, ledger_table
from carnet.phases.score import ExpiryQueue
from carnet.population import data_points_per_day, synthesise
from carnet.result import Result, population_table
from carnet.scenario import Scenario
from carnet.step import Shard, step
from carnet.tables import Tables, build_tables

Progress = Callable[[int, int], None]
Arrays = dict[str, npt.NDArray[Any]]


def plan_shards(size: int, block_size: int, shards: int) -> list[tuple[int, int]]:
    """Split citizens into ``shards`` contiguous ranges of whole blocks, as (first, count)."""
    n_blocks = -(-size // block_size)
    shards = max(1, min(shards, n_blocks))
    edges = [round(i * n_blocks / shards) * block_size for i in range(shards + 1)]
    return [(lo, min(hi, size) - lo) for lo, hi in pairwise(edges) if lo < size]


def make_shard(
    s: Scenario,
    t: Tables,
    first: int,
    n: int,
    lists: ListRules | None = None,
    gates: GateRules | None = None,
    lending: LendingRules | None = None,
) -> Shard:
    """Synthesise a shard's citizens and prepare its recorder."""
    state = synthesise(s, t, first, n)
    recorder = Recorder(
        state, t, s.run.days, s.run.block_size, s.run.ledger_part_days,
        n_gates=len(s.gates),
        redlisted=redlisted_grades(s),
        prices=None if gates is None else gates.price,
    )  # fmt: skip
    return Shard(
        tables=t, state=state, recorder=recorder, seed=s.run.seed, block_size=s.run.block_size,
        list_rules=lists, gate_rules=gates, lending=lending,
    )  # fmt: skip


class Simulation:
    """A run in progress: its shards, the next day to simulate, and the ledger parts cut so far.

    ``advance`` steps days; ``snapshot`` and ``restore`` save and reload everything a run needs to
    continue, so that a resumed run ends byte for byte where an uninterrupted one does.
    """

    def __init__(self, scenario: Scenario, plan: list[tuple[int, int]], pool: ThreadPoolExecutor):
        self.scenario = scenario
        self.tables = build_tables(scenario)
        self.plan = plan
        self._pool = pool
        s, t = scenario, self.tables
        self.list_rules = ListRules.build(s, t)
        self.gate_rules = GateRules.build(s, t)
        self.lending = LendingRules.build(s, t)
        lists, gates, lending = self.list_rules, self.gate_rules, self.lending
        self.shards = list(
            pool.map(lambda p: make_shard(s, t, p[0], p[1], lists, gates, lending), plan)
        )
        per_shard = pool.map(
            lambda sh: data_points_per_day(sh.state, t, s.run.block_size), self.shards
        )
        self.data_per_day: npt.NDArray[np.int64] = np.sum(list(per_shard), axis=0)
        self.day = 0  # the next day to simulate
        self.parts: list[pa.Table] = []  # ledger parts cut so far
        self.decision_parts: list[pa.Table] = []

    @property
    def done(self) -> bool:
        """Whether every day has been simulated."""
        return self.day >= self.scenario.run.days

    def advance(self) -> list[tuple[str, pa.Table]]:
        """Simulate one day; return the parts it completed: ("ledger" | "decisions", table)."""
        day, shards = self.day, self.shards
        list(self._pool.map(lambda sh: step(sh, day), shards))
        self._allocate_seats(day)
        self.day += 1
        part_days = self.scenario.run.ledger_part_days
        if self.day % part_days and not self.done:
            return []
        part = day // part_days
        done: list[tuple[str, pa.Table]] = []
        ledger = [c for c in self._pool.map(lambda sh: sh.recorder.ledger_part(part), shards) if c]
        if ledger:
            merged = {k: np.concatenate([c[k] for c in ledger]) for k in ledger[0]}
            table = ledger_table(merged, *ledger_names(self.scenario))
            self.parts.append(table)
            done.append(("ledger", table))
        decided = [c for c in (sh.recorder.decisions_part(part) for sh in shards) if c]
        if decided:
            merged = {k: np.concatenate([c[k] for c in decided]) for k in decided[0]}
            table = decisions_table(self.scenario, merged)
            self.decision_parts.append(table)
            done.append(("decisions", table))
        return done

    def _allocate_seats(self, day: int) -> None:
        """Seats per region go to the best grades, then the lottery, over every shard at once."""
        rules = self.gate_rules
        if rules is None:
            return
        for gate in np.flatnonzero(rules.seats >= 0):
            pools = [
                next((p for p in sh.today.pools if p.gate == gate), None) for sh in self.shards
            ]
            if any(p is None for p in pools):
                continue  # not this gate's allocation day
            ready = [p for p in pools if p is not None]
            firsts = [sh.state.first_citizen for sh in self.shards]
            won = allocate_seats(ready, firsts, int(rules.seats[gate]))
            for sh, pool, w in zip(self.shards, ready, won, strict=True):
                sh.recorder.record_seats(sh.state, self.tables, day, pool, w)

    def result(self) -> Result:
        """The result of the days simulated so far (all of them, once ``done``)."""
        s, t = self.scenario, self.tables
        recorders = [sh.recorder for sh in self.shards]
        return Result(
            scenario=s,
            metrics=metrics_table(s, recorders, self.data_per_day),
            ledger_parts=list(self.parts),
            population=population_table(s, t, [sh.state for sh in self.shards]),
            gates=gates_table(s, recorders),
            decision_parts=list(self.decision_parts),
        )

    def snapshot(self) -> Arrays:
        """Every array the run needs to continue, keyed ``shard<i>/<part>/<name>``."""
        out: Arrays = {"day": np.array(self.day), "plan": np.array(self.plan, dtype=np.int64)}
        for i, sh in enumerate(self.shards):
            for part, arrays in (
                ("state", sh.state.snapshot()),
                ("recorder", sh.recorder.snapshot()),
                ("queue", sh.queue.snapshot()),
                ("recoveries", sh.listings.recoveries.snapshot()),
                ("exits", sh.listings.exits.snapshot()),
                ("loans", sh.loans.snapshot()),
            ):
                out.update({f"shard{i}/{part}/{k}": v for k, v in arrays.items()})
        return out

    def restore(
        self, arrays: Arrays, parts: list[pa.Table], decision_parts: list[pa.Table]
    ) -> None:
        """Continue from a :meth:`snapshot`, with the ledger and decision parts cut before it."""
        for i, sh in enumerate(self.shards):

            def section(part: str, i: int = i) -> Arrays:
                prefix = f"shard{i}/{part}/"
                return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

            sh.state.restore(section("state"))
            sh.recorder.restore(section("recorder"))
            sh.queue = ExpiryQueue.restore(section("queue"))
            sh.listings = ListState(
                DueQueue.restore(section("recoveries")), DueQueue.restore(section("exits"))
            )
            sh.loans = DueQueue.restore(section("loans"))
        self.day = int(arrays["day"])
        self.parts = list(parts)
        self.decision_parts = list(decision_parts)


@contextmanager
def started(
    scenario: Scenario, *, threads: int | None = None, shards: int | None = None
) -> Iterator[Simulation]:
    """A new Simulation whose shards step in parallel threads (the kernels release the GIL)."""
    threads = max(1, threads or os.cpu_count() or 1)
    plan = plan_shards(scenario.population.size, scenario.run.block_size, shards or threads)
    with ThreadPoolExecutor(min(threads, len(plan))) as pool:
        yield Simulation(scenario, plan, pool)


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
    """Run a scenario in memory and return its result.

    Args:
        scenario: a Scenario, or anything :func:`carnet.load_scenario` accepts.
        seed: override ``run.seed``.
        days: override ``run.days``.
        population: override ``population.size``.
        threads: threads stepping shards in parallel (default: the machine's cores).
        shards: ranges of citizen blocks (default: one per thread). The result does not depend
            on ``threads`` or ``shards``: random streams are keyed by block, not by shard.
        progress: called as ``progress(days_done, days_total)`` after every day.

    To write a run directory as the run goes, with checkpoints it can resume from, use
    :func:`carnet.run_directory.run_to_directory`.
    """
    s = load_scenario(scenario, seed=seed, days=days, population=population)
    with started(s, threads=threads, shards=shards) as sim:
        while not sim.done:
            sim.advance()
            if progress is not None:
                progress(sim.day, s.run.days)
        return sim.result()
