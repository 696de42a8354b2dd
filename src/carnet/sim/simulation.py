"""Running a scenario: shards of citizen blocks stepped day by day, then merged exactly."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.scenario.schema import Scenario
from carnet.sim.chunks import Chunks, Column
from carnet.sim.company_outputs import (
    company_ledger_table,
    company_panel,
    employer_column,
)
from carnet.sim.compiled import Compiled
from carnet.sim.day import Shard, step
from carnet.sim.employers import build_staff
from carnet.sim.metrics import decisions_table, ledger_names
from carnet.sim.panel import panel_columns
from carnet.sim.phases.attention import AttentionState, group_counts
from carnet.sim.phases.company_lists import COUNTS as COMPANY_COUNTS
from carnet.sim.phases.company_lists import CompanyListings
from carnet.sim.phases.contagion import pressures
from carnet.sim.phases.events import DueQueue
from carnet.sim.phases.expiry import ExpiryQueue
from carnet.sim.phases.gates import SeatPool, allocate_seats
from carnet.sim.phases.lists import ListState, redlisted_grades
from carnet.sim.phases.record import Recorder, count_seats, ledger_table
from carnet.sim.phases.warm_lists import warm_up
from carnet.sim.policies import Learner, start_law
from carnet.sim.population import PANEL, data_points_per_day, synthesise
from carnet.sim.timeline import Timeline

Progress = Callable[[int, int], None]
SEAT_POOL_ARRAYS = ("citizen", "grade", "region", "lottery", "group", "panel")
Arrays = dict[str, npt.NDArray[Any]]


def plan_shards(size: int, block_size: int, shards: int) -> list[tuple[int, int]]:
    """Split citizens into ``shards`` contiguous ranges of whole blocks, as (first, count)."""
    n_blocks = -(-size // block_size)
    shards = max(1, min(shards, n_blocks))
    edges = [round(i * n_blocks / shards) * block_size for i in range(shards + 1)]
    return [(lo, min(hi, size) - lo) for lo, hi in pairwise(edges) if lo < size]


def make_shard(s: Scenario, rules: Compiled, first: int, n: int) -> Shard:
    """Synthesise a shard's citizens and companies, and prepare their recorders."""
    t = rules.parameters
    state = synthesise(s, t, first, n)
    bl = s.lists.blacklist
    listings = ListState(DueQueue(), DueQueue())
    if rules.lists is not None and bl is not None and bl.warm_up_days:
        listings = warm_up(state, t, rules.lists, s.run.seed, bl.warm_up_days)
    recorder = Recorder(
        state, t, s.run.days, s.run.block_size, s.run.ledger_part_days,
        n_gates=len(s.gates),
        redlisted=redlisted_grades(s),
        prices=None if rules.gates is None else rules.gates.price,
        n_adaptive=0 if rules.attention is None else rules.attention.n,
        thresholds=rules.gates is not None and bool(rules.gates.policy.thresholds_recorded.any()),
    )  # fmt: skip
    shard = Shard(
        parameters=t, state=state, recorder=recorder, seed=s.run.seed, block_size=s.run.block_size,
        list_rules=rules.lists, gate_rules=rules.gates, lending=rules.lending, listings=listings,
        learner=None if rules.gates is None else Learner.start(rules.gates.policy, s, first, n),
        pressure=pressures(t, n, s.run.block_size),
    )  # fmt: skip
    if t.contagion and t.spread_listings:
        # A warm list's listed press on their blocks from day 0, as if listed in the run.
        listed = listings.exits.snapshot()["citizen"]
        shard.pressure += np.bincount(listed // s.run.block_size, minlength=len(shard.pressure))
    if rules.attention is not None:
        shard.attention_rules = rules.attention
        shard.attention = AttentionState(
            rules.attention, group_counts(state, t, s.run.block_size), t.n_sources
        )
    warm_points = bl is not None and bl.warm_up_days > 0 and bl.points != 0
    if start_law(s) is not None or warm_points:
        # Drawn start points, or a warm list's points on day 0: the panel's are kept for its
        # table, so that points are start points plus the ledger.
        shard.panel_start = state.points[(state.flags & PANEL) > 0].copy()
    cs, ct = rules.companies, rules.company_parameters
    if cs is not None and ct is not None:
        staff = build_staff(s, first, n)
        companies = synthesise(
            cs, ct, staff.first_company, staff.size, companies_per_block=staff.per_block
        )
        shard.staff = staff
        shard.company_lists = rules.company_lists
        shard.companies = Shard(
            parameters=ct,
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


def seats_to_arrays(pending: list[tuple[int, int, SeatPool]]) -> Arrays:
    """Deferred seat applications, as (day, shard, pool), as flat arrays ``seats/<j>/...``."""
    out: Arrays = {}
    for j, (day, shard, pool) in enumerate(pending):
        out[f"seats/{j}/where"] = np.array([day, shard, pool.gate], np.int64)
        out.update({f"seats/{j}/{k}": getattr(pool, k) for k in SEAT_POOL_ARRAYS})
    return out


def seats_from_arrays(arrays: Arrays) -> list[tuple[int, int, SeatPool]]:
    """The deferred seat applications that :func:`seats_to_arrays` saved."""
    pending = []
    j = 0
    while f"seats/{j}/where" in arrays:
        day, shard, gate = (int(v) for v in arrays[f"seats/{j}/where"])
        pool = SeatPool(gate, **{k: arrays[f"seats/{j}/{k}"] for k in SEAT_POOL_ARRAYS})
        pending.append((day, shard, pool))
        j += 1
    return pending


@dataclass
class ShardOutput:
    """What the result needs from one shard once it has run: small, and picklable.

    Aggregates are exact integers that add across shards; the panel's rows are few. A shard run
    in another process hands this back instead of its state.
    """

    first: int  # the shard's first citizen
    recorder: Arrays  # Recorder.aggregates()
    panel: Arrays  # panel.panel_columns(), with each citizen's employer where there are companies
    data_per_day: npt.NDArray[np.int64]  # [epoch of the timeline, group, source]
    state_data_per_day: npt.NDArray[np.int64]  # the same, what reaches the state
    company_recorder: Arrays | None = None
    company_panel: Arrays | None = None


def shard_output(sh: Shard, timeline: Timeline) -> ShardOutput:
    """The output of a shard that has run (its data collected each day of each epoch)."""
    s_block = sh.block_size
    panel = panel_columns(sh.state)
    if sh.panel_start is not None:
        panel["start_points"] = sh.panel_start
    collected = np.array(
        [data_points_per_day(sh.state, c.parameters, s_block) for c in timeline.compiled]
    )
    # What reaches the state is what is collected unless a platform keeps some: a pass over the
    # shard's citizens only then.
    shares = any((c.parameters.shared < 1.0).any() for c in timeline.compiled)
    reached = collected
    if shares:
        reached = np.array(
            [data_points_per_day(sh.state, c.parameters, s_block, reaching_state=True)
             for c in timeline.compiled]
        )  # fmt: skip
    out = ShardOutput(
        first=sh.state.first_citizen,
        recorder=sh.recorder.aggregates(),
        panel=panel,
        data_per_day=collected,
        state_data_per_day=reached,
    )
    if sh.companies is not None:
        panel["employer"] = employer_column(panel, sh.staff, sh.state.first_citizen, s_block)
        out.company_recorder = sh.companies.recorder.aggregates()
        out.company_panel = company_panel(sh.companies.state, sh.staff, sh.state.first_citizen)
    return out


def allocate_pending(
    timeline: Timeline,
    outputs: list[ShardOutput],
    pending: list[list[tuple[int, SeatPool]]],
    recorders: list[Any],
) -> list[Arrays]:
    """Allocate deferred seats; count them in ``recorders`` and return the panel's rows."""
    if timeline.first.gates is None or not any(pending):
        return []
    firsts = [o.first for o in outputs]
    rows: list[Arrays] = []
    when = sorted({(day, pool.gate) for shard in pending for day, pool in shard})
    for day, gate in when:
        pools = [next(p for d, p in shard if (d, p.gate) == (day, gate)) for shard in pending]
        gates = timeline.at(day).gates
        assert gates is not None  # a timeline never removes the gates
        won = allocate_seats(pools, firsts, int(gates.seats[gate]))
        for r, pool, w, first in zip(recorders, pools, won, firsts, strict=True):
            found = count_seats(r.gates, gates.price, first, day, pool, w)
            if len(found["day"]):
                rows.append(found)
    return rows


class Simulation:
    """A run in progress: its shards, the next day to simulate, and the ledger parts cut so far.

    ``advance`` steps days; ``snapshot`` and ``restore`` save and reload everything a run needs to
    continue, so that a resumed run ends byte for byte where an uninterrupted one does.
    """

    def __init__(
        self,
        scenario: Scenario,
        plan: list[tuple[int, int]],
        pool: ThreadPoolExecutor,
        *,
        defer_seats: bool = False,
    ):
        self.scenario = scenario
        # A run split across processes allocates seats once every shard has run (allocation
        # changes no state, only what is recorded): until then its pools wait here.
        self.defer_seats = defer_seats
        self.pending_seats: list[tuple[int, int, SeatPool]] = []  # day, shard, pool
        self.timeline = Timeline.build(scenario)
        self.rules = self.timeline.first
        self.parameters = self.rules.parameters
        self.plan = plan
        self._pool = pool
        s, rules = scenario, self.rules
        self.gate_rules = rules.gates
        self.shards = list(pool.map(lambda p: make_shard(s, rules, p[0], p[1]), plan))
        self.day = 0  # the next day to simulate
        self.parts: list[pa.Table] = []  # ledger parts cut so far
        self.decision_parts: list[pa.Table] = []
        self.company_parts: list[pa.Table] = []  # the companies' ledger parts

    @property
    def done(self) -> bool:
        """Whether every day has been simulated."""
        return self.day >= self.scenario.run.days

    def advance(self, days: int = 1) -> list[tuple[str, pa.Table]]:
        """Simulate ``days`` days, fewer if a ledger part or the run ends first.

        Returns the parts completed: ("ledger" | "decisions" | "company_ledger", table). Without
        gates (whose seats are allocated over every shard each day), each shard steps its days
        without waiting for the others between them: shards share nothing else (linked citizens
        share a shard), and a shard that a busy core slows holds the others up once, not daily.
        """
        first, shards = self.day, self.shards
        part_days = self.scenario.run.ledger_part_days
        end = min(
            first + max(1, days), (first // part_days + 1) * part_days, self.scenario.run.days
        )

        timeline = self.timeline

        def step_span(sh: Shard, span: range) -> None:
            for day in span:
                use(sh, timeline.at(day))
                step(sh, day)

        # Gates' seats are allocated over every shard each day: then the shards go day by day.
        whole = range(first, end)
        spans = [whole] if self.gate_rules is None else [range(d, d + 1) for d in whole]
        for span in spans:
            if len(shards) == 1:
                step_span(shards[0], span)  # no hand-off to a thread for a single shard
            else:
                list(self._pool.map(lambda sh, span=span: step_span(sh, span), shards))
            self._allocate_seats(span[-1])
        self.day = end
        if self.day % part_days and not self.done:
            return []
        part = (end - 1) // part_days
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
        rules = self.timeline.at(day).gates
        if rules is None:
            return
        if self.defer_seats:
            for i, sh in enumerate(self.shards):
                self.pending_seats += [(day, i, p) for p in sh.today.pools]
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
                sh.recorder.record_seats(sh.state.first_citizen, day, pool, w)

    def outputs(self) -> list[ShardOutput]:
        """What the result needs from each shard (see :func:`carnet.result.assemble`)."""
        return [shard_output(sh, self.timeline) for sh in self.shards]

    def pending_seats_by_shard(self) -> list[list[tuple[int, SeatPool]]]:
        """Deferred seat applications, grouped by shard (empty unless ``defer_seats``)."""
        return [
            [(d, p) for d, i, p in self.pending_seats if i == shard]
            for shard in range(len(self.shards))
        ]

    def snapshot(self) -> dict[str, Column]:
        """Every array the run needs to continue, keyed ``shard<i>/<part>/<name>``."""
        out: dict[str, Column] = {
            "day": np.array(self.day),
            "plan": np.array(self.plan, dtype=np.int64),
        }
        for i, sh in enumerate(self.shards):
            sections: list[tuple[str, Mapping[str, Column]]] = [
                ("state", sh.state.snapshot()),
                ("recorder", sh.recorder.snapshot()),
                ("queue", sh.queue.snapshot()),
                ("recoveries", sh.listings.recoveries.snapshot()),
                ("exits", sh.listings.exits.snapshot()),
                ("loans", sh.loans.snapshot()),
                *([("learner", sh.learner.snapshot())] if sh.learner is not None else []),
                *company_arrays(sh),
                *([("attention", sh.attention.snapshot())] if sh.attention is not None else []),
                *([("contagion", {"pressure": sh.pressure})] if len(sh.pressure) else []),
            ]
            for part, arrays in sections:
                out.update({f"shard{i}/{part}/{k}": v for k, v in arrays.items()})
        out.update(seats_to_arrays(self.pending_seats))
        return out

    def restore(
        self,
        saved: dict[str, Column],
        parts: list[pa.Table],
        decision_parts: list[pa.Table],
        company_parts: list[pa.Table] | None = None,
    ) -> None:
        """Continue from a :meth:`snapshot`, with the parts of each kind cut before it."""
        company_parts = company_parts or []
        # Only the expiry queues keep columns in pieces (given to them as they are); everything
        # else is read as arrays.
        arrays: Arrays = {k: np.asarray(v) for k, v in saved.items() if not isinstance(v, Chunks)}
        for i, sh in enumerate(self.shards):

            def section(part: str, i: int = i) -> Arrays:
                prefix = f"shard{i}/{part}/"
                return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}

            def queue(part: str, i: int = i) -> dict[str, Column]:
                prefix = f"shard{i}/{part}/"
                return {k[len(prefix) :]: v for k, v in saved.items() if k.startswith(prefix)}

            sh.state.restore(section("state"))
            sh.recorder.restore(section("recorder"))
            sh.queue = ExpiryQueue.restore(queue("queue"))
            sh.listings = ListState(
                DueQueue.restore(section("recoveries")), DueQueue.restore(section("exits"))
            )
            sh.loans = DueQueue.restore(section("loans"))
            if sh.attention is not None and sh.attention_rules is not None:
                sh.attention.restore(sh.attention_rules, section("attention"))
            if sh.learner is not None:
                sh.learner.restore(section("learner"))
            co = sh.companies
            if co is not None:
                co.state.restore(section("companies/state"))
                co.recorder.restore(section("companies/recorder"))
                co.queue = ExpiryQueue.restore(queue("companies/queue"))
                sh.company_listings = CompanyListings(
                    DueQueue.restore(section("companies/exits")),
                    DueQueue.restore(section("companies/releases")),
                )
                sh.staff.until[...] = section("companies/staff")["until"]
            if len(sh.pressure):
                sh.pressure[...] = section("contagion")["pressure"]
        self.pending_seats = seats_from_arrays(arrays)
        self.day = int(arrays["day"])
        self.parts = list(parts)
        self.decision_parts = list(decision_parts)
        self.company_parts = list(company_parts)


def use(sh: Shard, rules: Compiled) -> None:
    """Have the shard step with ``rules`` (the epoch of the timeline in force), if it does not."""
    if sh.parameters is rules.parameters:
        return
    sh.parameters = rules.parameters
    sh.list_rules, sh.gate_rules, sh.lending = rules.lists, rules.gates, rules.lending
    if rules.attention is not None:
        sh.attention_rules = rules.attention
    if rules.gates is not None:
        sh.recorder.prices = rules.gates.price
    co = sh.companies
    if co is not None and rules.company_parameters is not None:
        co.parameters = rules.company_parameters
        sh.company_lists = rules.company_lists


def company_arrays(sh: Shard) -> list[tuple[str, Mapping[str, Column]]]:
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
    scenario: Scenario,
    *,
    threads: int | None = None,
    shards: int | None = None,
    plan: list[tuple[int, int]] | None = None,
    defer_seats: bool = False,
) -> Iterator[Simulation]:
    """A new Simulation whose shards step in parallel threads (the kernels release the GIL).

    ``plan`` runs only these ranges of whole blocks, as (first, count): a part of a run split
    across processes, which also ``defer_seats`` (see :class:`Simulation`).
    """
    threads = max(1, threads or os.cpu_count() or 1)
    if plan is None:
        plan = plan_shards(scenario.population.size, scenario.run.block_size, shards or threads)
    with ThreadPoolExecutor(min(threads, len(plan))) as pool:
        yield Simulation(scenario, plan, pool, defer_seats=defer_seats)
