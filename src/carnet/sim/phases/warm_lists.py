"""A warm start for the blacklist: its own flows run for a stated number of days before day 0.

A list that starts empty fills over its first terms: a one-year run of a national list reports a
fraction of the stock that its parameters imply. ``lists.blacklist.warm_up_days`` runs the list
phase alone (distress onsets and recoveries, lawsuits, listings, exits) for that many days before
the run, from streams of its own (``streams.WARM_DISTRESS``, ``WARM_LAWSUIT``), then hands what
is pending to the run: a recovery or an exit due on day ``d`` of the warm-up is due on day
``d - warm_up_days`` of the run. Listings taken then hold their points (a listing's points) and
their flags on day 0; their counts are not in the run's metrics, nor their rows in its ledger.

Nothing else runs in the warm-up: no behaviour, no gate, no loan, so the distress that refusals
and defaults bring is not in the warm stock (a run adds it from day 0). The warm-up is drawn block
by block, like every stream, so a shard's warm-up is the same whatever the split.
"""

from __future__ import annotations

import numpy as np

from carnet.sim.parameters import Parameters
from carnet.sim.phases.events import DueQueue
from carnet.sim.phases.lists import COUNTS, ListRules, ListState, list_phase
from carnet.sim.population import State
from carnet.sim.streams import WARM_DISTRESS, WARM_LAWSUIT


def warm_up(
    state: State,
    t: Parameters,
    rules: ListRules,
    seed: int,
    block_size: int,
    days: int,
) -> ListState:
    """Run the list phase alone for ``days`` days on ``state``; return what is pending, by run day.

    Changes ``state`` in place (flags, points, income of the listed).
    """
    pending = ListState(DueQueue(), DueQueue())
    counts = np.zeros((t.n_groups, len(COUNTS)), np.int64)  # not the run's: left out
    for day in range(days):
        list_phase(
            state, t, rules, pending, seed, block_size, day, counts, (WARM_DISTRESS, WARM_LAWSUIT)
        )
    return ListState(_shifted(pending.recoveries, days), _shifted(pending.exits, days))


def _shifted(queue: DueQueue, days: int) -> DueQueue:
    """The queue with every due day moved ``days`` earlier (none is due before day ``days``)."""
    arrays = queue.snapshot()
    assert (arrays["due"] >= days).all()
    arrays["due"] = arrays["due"] - days
    return DueQueue.restore(arrays)
