"""Running a scenario: shards of citizen blocks stepped day by day, then merged exactly."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.company_tables import company_ledger_table, company_tables, with_employers
from carnet.employers import build_staff, company_scenario
from carnet.loading import load_scenario
from carnet.metrics import decisions_table, gates_table, ledger_names, metrics_table
from carnet.phases.company_lists import COUNTS as COMPANY_COUNTS
from carnet.phases.company_lists import CompanyListings, CompanyListRules
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


@dataclass(frozen=True)
class Rules:
    """Everything compiled from a scenario that every shard shares."""

    tables: Tables
    lists: ListRules | None
    gates: GateRules | None
    lending: LendingRules | None
    companies: Scenario | None  # the companies as a population (see company_scenario)
    company_tables: Tables | None
    company_lists: CompanyListRules | None

    @classmethod
    def build(cls, s: Scenario) -> Rules:
        """Compile ``s``."""
        t = build_tables(s)
        cs = company_scenario(s) if s.companies is not None else None
        return cls(
            tables=t,
            lists=ListRules.build(s, t),
            gates=GateRules.build(s, t),
            lending=LendingRules.build(s, t),
            companies=cs,
            company_tables=None if cs is None else build_tables(cs, stream="companies/"),
            company_lists=CompanyListRules.build(s),
        )


def make_shard(s: Scenario, rules: Rules, first: int, n: int) -> Shard:
    """Synthesise a shard's citizens and companies, and prepare their recorders."""
    t = rules.tables
    state = synthesise(s, t, first, n)
    recorder = Recorder(
        state, t, s.run.days, s.run.block_size, s.run.ledger_part_days,
        n_gates=len(s.gates),
        redlisted=redlisted_grades(s),
        prices=None if rules.gates is None else rules.gates.price,
    )  # fmt: skip
    shard = Shard(
        tables=t, state=state, recorder=recorder, seed=s.run.seed, block_size=s.run.block_size,
        list_rules=rules.lists, gate_rules=rules.gates, lending=rules.lending,
    )  # fmt: skip
    cs, ct = rules.companies, rules.company_tables
    if cs is not None and ct is not None:
        staff = build_staff(s, first, n)
        companies = synthesise(
            cs, ct, staff.first_company, staff.size, companies_per_block=staff.per_block
        )
        shard.staff = staff
        shard.company_lists = rules.company_lists
        shard.companies = Shard(
            tables=ct,
            state=companies,
            recorder=Recorder(
                companies,
                ct,
                s.run.days,
                staff.per_block,
                s.run.ledger_part_days,
                list_counts=len(COMPANY_COUNTS),
            ),
            seed=s.run.seed,
            block_size=staff.per_block,
        )
    return shard


class Simulation:
    """A run in progress: its shards, the next day to simulate, and the ledger parts cut so far.

    ``advance`` steps days; ``snapshot`` and ``restore`` save and reload everything a run needs to
    continue, so that a resumed run ends byte for byte where an uninterrupted one does.
    """

    def __init__(self, scenario: Scenario, plan: list[tuple[int, int]], pool: ThreadPoolExecutor):
        self.scenario = scenario
        self.rules = Rules.build(scenario)
        self.tables = self.rules.tables
        self.plan = plan
        self._pool = pool
        s, t, rules = scenario, self.tables, self.rules
        self.gate_rules = rules.gates
        self.shards = list(pool.map(lambda p: make_shard(s, rules, p[0], p[1]), plan))
        per_shard = pool.map(
            lambda sh: data_points_per_day(sh.state, t, s.run.block_size), self.shards
        )
        self.data_per_day: npt.NDArray[np.int64] = np.sum(list(per_shard), axis=0)
        self.day = 0  # the next day to simulate
        self.parts: list[pa.Table] = []  # ledger parts cut so far
        self.decision_parts: list[pa.Table] = []
        self.company_parts: list[pa.Table] = []  # the companies' ledger parts

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
        companies = [sh.companies.recorder for sh in shards if sh.companies is not None]
        company_rows = [c for c in (r.ledger_part(part) for r in companies) if c]
        if company_rows:
            merged = {k: np.concatenate([c[k] for c in company_rows]) for k in company_rows[0]}
            table = company_ledger_table(merged, self.scenario)
            self.company_parts.append(table)
            done.append(("company_ledger", table))
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
        result = Result(
            scenario=s,
            metrics=metrics_table(s, recorders, self.data_per_day),
            ledger_parts=list(self.parts),
            population=population_table(s, t, [sh.state for sh in self.shards]),
            gates=gates_table(s, recorders),
            decision_parts=list(self.decision_parts),
        )
        if self.rules.companies is not None:
            result.companies, result.company_metrics = company_tables(s, self.rules, self.shards)
            result.company_ledger_parts = list(self.company_parts)
            staffs = [(sh.state.first_citizen, sh.staff) for sh in self.shards]
            result.population = with_employers(result.population, staffs, s.run.block_size)
        return result

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
                *company_arrays(sh),
            ):
                out.update({f"shard{i}/{part}/{k}": v for k, v in arrays.items()})
        return out

    def restore(
        self,
        arrays: Arrays,
        parts: list[pa.Table],
        decision_parts: list[pa.Table],
        company_parts: list[pa.Table] | None = None,
    ) -> None:
        """Continue from a :meth:`snapshot`, with the parts of each kind cut before it."""
        company_parts = company_parts or []
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
            co = sh.companies
            if co is not None:
                co.state.restore(section("companies/state"))
                co.recorder.restore(section("companies/recorder"))
                co.queue = ExpiryQueue.restore(section("companies/queue"))
                sh.company_listings = CompanyListings(
                    DueQueue.restore(section("companies/exits")),
                    DueQueue.restore(section("companies/releases")),
                )
                sh.staff.until[...] = section("companies/staff")["until"]
        self.day = int(arrays["day"])
        self.parts = list(parts)
        self.decision_parts = list(decision_parts)
        self.company_parts = list(company_parts)


def company_arrays(sh: Shard) -> list[tuple[str, Arrays]]:
    """The parts of a shard's snapshot that belong to its companies (none without companies)."""
    co = sh.companies
    if co is None:
        return []
    return [
        ("companies/state", co.state.snapshot()),
        ("companies/recorder", co.recorder.snapshot()),
        ("companies/queue", co.queue.snapshot()),
        ("companies/exits", sh.company_listings.exits.snapshot()),
        ("companies/releases", sh.company_listings.releases.snapshot()),
        ("companies/staff", {"until": sh.staff.until}),
    ]


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
