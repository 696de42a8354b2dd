"""contagion: the pressure that live sanctions and listings put on their neighbourhood.

Each block of citizens (``run.block_size`` citizens laid out region by region: a neighbourhood)
keeps a pressure P: the number of its citizens' negative records that still count, plus, with
``listings``, the number of its citizens on the blacklist. At the end of each day, in the respond
phase, today's changes move it: a sanction (a point change of kind ACT that took points) adds 1,
the end of such a record (an EXPIRY or APPEAL_WON of a rule that takes points: exactly one per
sanction, since score schedules one for every act that moved points) takes 1 away; a listing
adds 1, its end takes 1 away. The next day's behave multiplies the block's negative acts by
1 + neighbours x P / citizens of the block (:mod:`carnet.sim.phases.behave`), so a record presses
for exactly its lifetime, and a listing for its term: the lifetimes and terms by group are the
sentence lengths of Lum et al. (2014). A block is a whole shard's or none, so shards exchange
nothing. Cost: O(changes) a day; state: one int64 per block. It is a linear self-exciting
(Hawkes) process whose stationary law is derived in docs/contagion.md.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from carnet.sim.jit import kernel
from carnet.sim.parameters import Parameters
from carnet.sim.phases.lists import DELISTING, LISTING
from carnet.sim.records import ACT, APPEAL_WON, EXPIRY, RecordColumns, Records

I64 = npt.NDArray[np.int64]


def pressures(t: Parameters, n_citizens: int, block_size: int) -> I64:
    """A shard's pressures, one per block, all 0; empty where contagion is off."""
    return np.zeros(-(-n_citizens // block_size) if t.contagion else 0, np.int64)


@kernel()
def _spread(
    pressure: I64,
    changes: RecordColumns,
    n: int,
    rule_points: npt.NDArray[np.int32],
    listings: bool,
    block_size: int,
) -> None:  # pragma: no cover - compiled
    citizen, kind, behaviour = changes.citizen, changes.kind, changes.behaviour
    before, after = changes.before, changes.after
    n_rules = len(rule_points)
    for j in range(n):
        step = 0
        if kind[j] == ACT:
            step = 1 if after[j] < before[j] else 0
        elif kind[j] == EXPIRY or kind[j] == APPEAL_WON:
            # The end of a record; one of a sanction if its rule takes points (list records
            # carry behaviour codes past the rules, and never expire this way).
            k = behaviour[j]
            step = -1 if 0 <= k < n_rules and rule_points[k] < 0 else 0
        elif listings:
            step = 1 if kind[j] == LISTING else -1 if kind[j] == DELISTING else 0
        if step:
            pressure[citizen[j] // block_size] += step


def spread(pressure: I64, t: Parameters, changes: Records, block_size: int) -> None:
    """Move the shard's block pressures by today's sanctions and ends of records (and listings).

    Shards begin at a block's first citizen, so a local citizen's block in the shard is its local
    index over the block size.
    """
    if not t.contagion:
        return
    _spread(pressure, changes.columns(), changes.n, t.rule_points, t.spread_listings, block_size)
