"""The daily step: the whole day of one shard, phase by phase, in the order of DESIGN.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from carnet.phases.behave import Acts, behave
from carnet.phases.observe import Observations, observe
from carnet.phases.record import Recorder
from carnet.phases.score import ExpiryQueue, score
from carnet.population import State
from carnet.tables import Tables


@dataclass
class Shard:
    """A contiguous range of citizen blocks with everything needed to step it through a day."""

    tables: Tables
    state: State
    recorder: Recorder
    seed: int
    block_size: int
    acts: Acts = field(default_factory=lambda: Acts(1 << 12))
    seen: Observations = field(default_factory=lambda: Observations(1 << 12))
    queue: ExpiryQueue = field(default_factory=ExpiryQueue)


def step(shard: Shard, day: int) -> None:
    """One day: behave → observe → score → list → gate → respond → record."""
    state, t = shard.state, shard.tables
    acts = behave(state, t, shard.seed, shard.block_size, day, shard.acts)
    seen = observe(state, t, shard.seed, shard.block_size, day, acts, shard.seen)
    shard.seen = seen
    changes = score(state, t, day, acts, seen, shard.queue)
    # list: blacklist and redlist entries, exits and joint punishment — arrives with lists.
    # gate: loans, jobs, school seats and tickets decided by grade and list — arrives with gates.
    # respond: deterrence by grade is read from today's points by tomorrow's behave; feedback from
    # gates, chilling and peer effects arrive with lists and gates.
    shard.recorder.record(state, t, day, acts, seen, changes)
