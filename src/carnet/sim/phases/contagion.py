"""contagion: the pressure that sanctions leave on their neighbourhood, day by day.

Each block of citizens (``run.block_size`` citizens laid out region by region: a neighbourhood)
keeps a pressure P. At the end of each day, in the respond phase, it decays by
``exp(-1 / memory_days)`` and then every negative sanction of one of its citizens today (a point
change of kind ACT that took points; with ``listings``, every new blacklisting too) adds 1. The
next day's behave multiplies the block's negative acts by 1 + neighbours x P / citizens of the
block (carnet.sim.phases.behave). A block is a whole shard's or none, so shards exchange nothing.
Cost: O(blocks) for the decay plus O(changes) a day; state: one float64 per block. The process is
a linear self-exciting (Hawkes) process whose stationary law is derived in docs/contagion.md.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from carnet.sim.jit import kernel
from carnet.sim.parameters import Parameters
from carnet.sim.phases.lists import LISTING
from carnet.sim.records import ACT, RecordColumns, Records

F64 = npt.NDArray[np.float64]


def pressures(t: Parameters, n_citizens: int, block_size: int) -> F64:
    """A shard's pressures, one per block, all 0; empty where contagion is off."""
    return np.zeros(-(-n_citizens // block_size) if t.contagion else 0)


@kernel()
def _spread(
    pressure: F64,
    decay: float,
    changes: RecordColumns,
    n: int,
    listings: bool,
    block_size: int,
) -> None:  # pragma: no cover - compiled
    for b in range(len(pressure)):
        pressure[b] *= decay
    citizen, kind, before, after = changes.citizen, changes.kind, changes.before, changes.after
    for j in range(n):
        sanction = kind[j] == ACT and after[j] < before[j]
        if sanction or (listings and kind[j] == LISTING):
            pressure[citizen[j] // block_size] += 1.0


def spread(pressure: F64, t: Parameters, changes: Records, block_size: int) -> None:
    """Decay the shard's block pressures by a day, then add today's sanctions (and listings).

    Shards begin at a block's first citizen, so a local citizen's block in the shard is its local
    index over the block size.
    """
    if not t.contagion:
        return
    _spread(pressure, t.spread_decay, changes.columns(), changes.n, t.spread_listings, block_size)
