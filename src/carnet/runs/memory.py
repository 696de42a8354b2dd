"""Memory: predict what a run needs before it starts, and refuse one that cannot fit.

The prediction adds, per citizen, the state arrays; per day, the event buffers; for the panel, the
ledger and population tables kept in memory; and a fixed cost for the interpreter and libraries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from carnet.sim.employers import company_count, company_scenario
from carnet.errors import RunError
from carnet.sim.population import panel_probability
from carnet.scenario.schema import Scenario

FIXED_BYTES = 230 * 2**20  # Python, numpy, numba, pyarrow and compiled kernels
# The share of the available memory that a plan of shards may fill: 15% goes to what the
# prediction misses (it is within 15% of the measured peak) and 10% stays for the page cache and
# the rest of the machine. More, smaller shards cost no speed (a shard's time is its
# citizen-days); filling 85% left china at 1.4 billion 1.5 GB short of a 24 GB machine's total.
PLAN_SHARE = 0.75
# Points int16, profile uint16, exposure, flags, household, children uint8 (8 bytes), and what
# the days add per citizen on average (measured: 9-10 bytes in all).
STATE_BYTES = 10
MEMORY_BYTES = 4  # deterrence memory of the punished and their households, when on
EARNED_BYTES = 2  # per capped rule
# Per act of a day: the act (10), what the sources made of it (27: target, source, outcome, its
# side stream, the list of the seen), and its changes (two copies while recorded).
ACT_BYTES = 10 + 27 + 2 * 26
LEDGER_ROW_BYTES = 40  # an Arrow row of a part kept in memory (Result.ledger_parts)
PANEL_BYTES = 90  # a row of the population table, and its columns while it is built
# A restoration waiting for its day: outside the panel packed into 6 bytes (local index, behaviour
# and truth, amount as int8; measured 6.0 on china at 2 M x 365, phases/expiry.py), the panel's
# kept whole (Records: 27 bytes).
PENDING_BYTES = 6
PANEL_PENDING_BYTES = 27
DECISION_ROW_BYTES = 33  # a panel decision: an Arrow row of a part kept in memory
WRONGFUL_BYTES = 2  # the wrongful balance of each citizen, kept when there are gates
LOAN_BYTES = 16  # a granted loan waiting for its term (DueQueue: int64 citizen and amount)
STAFF_BYTES = 3 * 8 + 2  # a company's employee places, representative, co-workers' memory


def predict_bytes(s: Scenario, *, checkpoints: bool | None = None) -> int:
    """Bytes a run of ``s`` is expected to need at its peak.

    ``checkpoints``: whether the run writes checkpoints, which copy its queues while they are
    written (default: whether ``run.checkpoint_days`` asks for any before the last day).
    """
    n, days = s.population.size, s.run.days
    capped = sum(1 for r in s.rules.points.values() if r.yearly_cap is not None)
    acts_per_citizen_day = sum(b.rate_per_year for b in s.behaviours) / 365
    seen_per_citizen_day = (
        sum(
            b.rate_per_year * max((o.detect for o in b.observed_by), default=0.0)
            for b in s.behaviours
        )
        / 365
    )
    lifetime = s.rules.lifetime_days or 0
    r = s.responses
    remembers = r.punished < 1.0 or r.household < 1.0 or r.coworkers < 1.0
    per_citizen = STATE_BYTES + EARNED_BYTES * capped + (MEMORY_BYTES if remembers else 0)
    state = n * (per_citizen + (WRONGFUL_BYTES if s.gates else 0))
    buffers = int(1.25 * n * acts_per_citizen_day * ACT_BYTES)
    share = panel_probability(s)
    records = n * seen_per_citizen_day * min(lifetime, days)
    pending_panel = int(records * share * PANEL_PENDING_BYTES)
    pending = pending_panel + int(records * (1 - share) * PENDING_BYTES)
    loans = 0
    if s.lending is not None:
        gate = next(g for g in s.gates if g.name == s.lending.gate)
        waiting = min(s.lending.term_days, days) / 365
        loans = int(n * gate.applications_per_year * waiting * LOAN_BYTES)
    queued = pending + loans
    if checkpoints is None:
        from carnet.runs.directory import writes_checkpoints

        checkpoints = writes_checkpoints(s, None)
    if checkpoints:
        # A checkpoint writes the packed restorations piece by piece (carnet.sim.chunks), but
        # copies the panel's and the loans whole while it writes them or reads them back.
        queued += pending_panel + loans
    panel = n * share
    ledger = int(panel * seen_per_citizen_day * days * LEDGER_ROW_BYTES)
    population = int(panel * PANEL_BYTES)
    children = s.population.households.children_mean / s.population.households.adults_mean
    per_year = sum(
        g.applications_per_year * (children if g.applicant == "child" else 1.0) for g in s.gates
    )
    decisions = int(panel * per_year * days / 365 * DECISION_ROW_BYTES)
    groups, grades, k = len(s.population.groups), len(s.grades), len(s.behaviours)
    metrics = days * groups * (grades + 2 + 6 * k + len(s.sources) + 24) * 8 * 3
    metrics += days * len(s.gates) * 4 * groups * grades * 8 * 3  # gate counts, per shard
    total = FIXED_BYTES + state + buffers + queued + ledger + population + metrics + decisions
    if s.companies is not None:
        # Companies are a population of their own, plus their links to employees.
        companies = predict_bytes(company_scenario(s), checkpoints=checkpoints) - FIXED_BYTES
        total += companies + company_count(s) * STAFF_BYTES
    return total


def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup limit if any."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            room = int(limit) - used
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    if available is None and hasattr(os, "sysconf"):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            available = None
    return available


def gib(n: float) -> str:
    """Bytes as a short human figure."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def check_memory(
    s: Scenario,
    limit: int | None = None,
    *,
    share: float = 1.0,
    checkpoints: bool | None = None,
) -> int:
    """Refuse, before anything is allocated, a run predicted not to fit; return the prediction.

    ``share`` is the part of the citizens this process runs (a shard of a sharded run);
    ``checkpoints`` as for :func:`predict_bytes`.
    """
    need = FIXED_BYTES + int((predict_bytes(s, checkpoints=checkpoints) - FIXED_BYTES) * share)
    room = limit if limit is not None else available_bytes()
    if room is not None and need > room and share < 1.0:
        raise RunError(
            f"a shard of {s.name} ({share:.1%} of its citizens) needs about {gib(need)} of "
            f"memory and this worker has {gib(room)} available: run more, smaller shards"
        )
    if room is not None and need > room:
        raise RunError(_too_large(s, need, room, "."))
    return need


def _too_large(s: Scenario, need: int, room: int, why: str) -> str:
    """The refusal of a run that cannot fit here: what it needs, and the cluster it would take."""
    # Shards on a cluster split the citizens; each worker also loads the libraries.
    machines = -(-(need - FIXED_BYTES) // max(1, room - FIXED_BYTES))
    return (
        f"scenario {s.name} with {s.population.size:,} citizens needs about {gib(need)} of "
        f"memory; {gib(room)} is available{why} Lower --population, or split the run into "
        f"shards on a Dask cluster of {machines} or more such machines: carnet run {s.name} "
        f"--shards {2 * machines} --scheduler tcp://HOST:PORT"
    )


@dataclass(frozen=True)
class ShardFit:
    """How a run too large for one process fits: as shards, ``workers`` of them at a time."""

    shards: int
    workers: int
    need: int  # bytes the run would need in one process
    room: int  # bytes available
    per_shard: int  # bytes one shard's process is predicted to need

    def why(self, s: Scenario) -> str:
        """Why the run needs shards."""
        return (
            f"{s.name} with {s.population.size:,} citizens needs about "
            f"{self.need / 2**30:.2f} GiB in one process and {self.room / 2**30:.2f} GiB is "
            "available"
        )

    def describe(self, s: Scenario) -> str:
        """One line for the person who started the run."""
        return (
            f"{self.why(s)}: running it as {self.shards} shards, {self.workers} at a time, "
            f"about {gib(self.per_shard)} each (the same results)"
        )


def shards_to_fit(
    s: Scenario,
    limit: int | None = None,
    workers: int | None = None,
    *,
    checkpoints: bool = False,
) -> ShardFit | None:
    """None if ``s`` fits in one process; else the fewest shards that fit ``workers`` at a time.

    Each worker process holds one shard and the libraries; the coordinator holds the libraries.
    Shards come in whole rounds of workers (so that no round runs half empty), and are whole
    blocks of citizens, so there are at most as many shards as blocks. ``checkpoints``: whether
    the shards write checkpoints (a shard is the unit of recovery without them). In one process,
    the run is judged with the checkpoints ``s`` asks for.

    Raises:
        RunError: not even shards of one block each would fit (the message says what would).
    """
    room = limit if limit is not None else available_bytes()
    if room is None or predict_bytes(s) <= room:
        return None
    need = predict_bytes(s, checkpoints=checkpoints)
    workers = max(1, workers or os.cpu_count() or 1)
    blocks = -(-s.population.size // s.run.block_size)
    spare = int(PLAN_SHARE * room) - (workers + 1) * FIXED_BYTES
    if spare > 0:
        shards = -(-workers * (need - FIXED_BYTES) // spare)
        shards = max(workers, -(-shards // workers) * workers)
        if shards <= blocks:
            per_shard = FIXED_BYTES + (need - FIXED_BYTES) // shards
            return ShardFit(shards, min(workers, shards), need, room, per_shard)
    why = f", too little even for shards of one block each, {workers} at a time."
    raise RunError(_too_large(s, need, room, why))
