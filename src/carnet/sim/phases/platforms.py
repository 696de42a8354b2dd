"""Platforms that share with the state, or do not: what a platform saw and kept to itself.

A source run by a platform (``sources[].platform``) sees acts as any source does; the state gets
each detection with the platform's compliance (:func:`carnet.sim.parameters.operating`). Right
after observe, each of today's detections by such a source draws one side-stream uniform of its
act (index :data:`U_SHARED`, beyond those observe draws), and a detection that is not passed on
is, for the state, an act missed: it is scored by no one, and counted by the actor's group and
behaviour as ``withheld`` (and as ``missed`` in the acts' tally). Sources the state runs itself,
and compliant platforms (compliance 1), draw nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from carnet.sim.jit import kernel
from carnet.sim.parameters import Parameters
from carnet.sim.phases.behave import Acts
from carnet.sim.phases.observe import MISSED, ObservationColumns, Observations
from carnet.sim.population import State
from carnet.sim.rng import side_uniform

#: The side-stream uniform of an act that says whether its platform shares it: an index beyond
#: those that observe and score draw (observe's U_* constants), so it is independent of them.
U_SHARED = 32


@kernel()
def _withhold(
    citizen: npt.NDArray[np.int64],
    behaviour: npt.NDArray[np.int16],
    n_hits: int,
    profile: npt.NDArray[np.uint16],
    group_of_profile: npt.NDArray[np.uint8],
    shared: npt.NDArray[np.float64],
    out: ObservationColumns,
    withheld: npt.NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    kept = 0
    for h in range(n_hits):
        j = out.hits[h]
        p = shared[out.source[j]]
        if p < 1.0 and side_uniform(out.branch[j], U_SHARED) >= p:
            g, k = group_of_profile[profile[citizen[j]]], behaviour[j]
            out.tally[g, k, out.outcome[j]] -= 1
            out.tally[g, k, MISSED] += 1
            withheld[g, k] += 1
            out.outcome[j], out.target[j] = MISSED, -1
            continue
        out.hits[kept] = j
        kept += 1
    return kept


def withhold(
    state: State,
    t: Parameters,
    acts: Acts,
    observations: Observations,
    withheld: npt.NDArray[np.int64],
) -> None:
    """Drop today's detections that their platforms keep from the state, counted in ``withheld``.

    ``withheld`` is [group, behaviour]. Nothing happens where every source shares everything.
    """
    if (t.shared >= 1.0).all() or not observations.n_hits:
        return
    observations.n_hits = _withhold(
        acts.citizen, acts.behaviour, observations.n_hits, state.profile, t.group_of_profile,
        t.shared, observations.columns(), withheld,
    )  # fmt: skip
