"""observe: the sources see some acts, miss others, and pin some on the wrong citizen.

Every act draws the same number of uniforms whatever happens to it, from a stream keyed by its
behaviour, day and block, so a change to one source's probabilities changes only what that source
sees; what follows a sighting (a misattribution, an appeal) draws from the act's own side stream.
A misattributed act lands on another citizen of the same block: citizens are laid out region by
region, so that is a neighbour, and a block never leaves its shard.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.sim.jit import kernel
from carnet.sim.parameters import Parameters
from carnet.sim.phases.behave import BATCH, Acts
from carnet.sim.population import State
from carnet.sim.rng import side_uniform, stream_key, uniform
from carnet.sim.streams import seed_key

MISSED, DETECTED, MISATTRIBUTED = 0, 1, 2
OUTCOMES = ("missed", "detected", "misattributed")  # names, indexed by the constants above
# The side-stream uniforms of an act: appealed?, appeal won?, report true?, checked?, accused,
# misattributed?, to whom.
U_APPEAL, U_WIN, U_TRUE, U_VERIFY, U_WHOM, U_MISTAKEN, U_OTHER = range(7)


class ObserveTables(NamedTuple):
    """What observe reads of the scenario (from :class:`~carnet.sim.parameters.Parameters`)."""

    keys: npt.NDArray[np.uint64]  # [behaviour] its stream (streams.OBSERVE)
    obs_source: npt.NDArray[np.int16]
    obs_detect: npt.NDArray[np.float64]
    misattribution: npt.NDArray[np.float64]
    exposure_weight: npt.NDArray[np.float64]
    detect_by_group: npt.NDArray[np.float64]
    group_of_profile: npt.NDArray[np.uint8]

    @classmethod
    def of(cls, t: Parameters) -> ObserveTables:
        """The tables of ``t``."""
        return cls(
            t.observe_keys, t.obs_source, t.obs_detect, t.misattribution, t.exposure_weight,
            t.detect_by_group, t.group_of_profile,
        )  # fmt: skip


class ObservationColumns(NamedTuple):
    """The arrays of :class:`Observations`, for kernels."""

    target: npt.NDArray[np.int64]
    source: npt.NDArray[np.int16]
    outcome: npt.NDArray[np.uint8]
    branch: npt.NDArray[np.uint64]
    hits: npt.NDArray[np.int64]
    tally: npt.NDArray[np.int64]


@kernel()
def _observe(
    citizen: npt.NDArray[np.int64],
    behaviour: npt.NDArray[np.int16],
    n_acts: int,
    state: State,
    tables: ObserveTables,
    seed: np.uint64,
    day: int,
    block_size: int,
    out: ObservationColumns,
) -> int:  # pragma: no cover - compiled
    n_hits = 0
    n_citizens = len(state.points)
    first = state.first_citizen
    current_k = -1
    lo = hi = 0  # local range of the current block: tested instead of dividing for each act
    stream = np.uint64(0)
    # The acts' citizens are looked up a batch at a time first: a short loop of loads keeps many
    # cache misses in flight, where the loop below, with its draws, would wait on each in turn.
    # Only what detection depends on is read: with one group, or no source that sees the
    # digitally exposed better, the citizens' arrays are not visited at all.
    groups = np.zeros(BATCH, np.uint8)
    exposures = np.zeros(BATCH)
    by_group = tables.detect_by_group.shape[1] > 1
    by_exposure = (tables.exposure_weight > 0.0).any()
    for start in range(0, n_acts, BATCH):
        stop = min(start + BATCH, n_acts)
        if by_group:
            for j in range(start, stop):
                groups[j - start] = tables.group_of_profile[state.profile[citizen[j]]]
        if by_exposure:
            for j in range(start, stop):
                exposures[j - start] = state.exposure[citizen[j]] / 255.0
        for j in range(start, stop):
            c, k = citizen[j], behaviour[j]
            if k != current_k or c < lo or c >= hi:
                block = (first + c) // block_size
                stream = stream_key(seed, tables.keys[k], day, block)
                current_k = k
                lo = block * block_size - first
                hi = lo + block_size
            group, e = groups[j - start], exposures[j - start]
            source = -1
            for slot in range(tables.obs_source.shape[1]):
                src = tables.obs_source[k, slot]
                if src < 0:
                    break
                stream, u = uniform(stream)
                w = tables.exposure_weight[src]
                p = (
                    tables.obs_detect[k, slot]
                    * tables.detect_by_group[src, group]
                    * (1.0 - w + w * e)
                )
                # Selected, not branched on: whether a source sees an act is unpredictable.
                source = src if source < 0 and u < p else source
            # What follows an act (a misattribution, an appeal, a report's truth) draws from a
            # side stream that branches off here, only when needed: see rng.side_uniform.
            sighted = source >= 0
            out.branch[j] = stream
            out.source[j] = source
            out.outcome[j] = DETECTED if sighted else MISSED
            out.target[j] = c if sighted else -1
            # The index is written whatever happens, and kept only if the act was seen.
            out.hits[n_hits] = j
            n_hits += sighted
            if sighted and tables.misattribution[source] > 0.0:
                length = min(block_size, n_citizens - lo)
                if side_uniform(stream, U_MISTAKEN) < tables.misattribution[source] and length > 1:
                    other = lo + int(side_uniform(stream, U_OTHER) * (length - 1))
                    if other >= c:
                        other += 1
                    out.outcome[j], out.target[j] = MISATTRIBUTED, other
            out.tally[group, k, out.outcome[j]] += 1
    return n_hits


class Observations:
    """What the sources made of today's acts, aligned with the acts buffer.

    ``hits[:n_hits]`` lists the acts some source saw, in order: the only ones later phases
    score. ``tally`` counts every act by [actor's group, behaviour, outcome].
    """

    def __init__(self, capacity: int) -> None:
        self.target = np.empty(capacity, dtype=np.int64)  # local index of the scored citizen
        self.source = np.empty(capacity, dtype=np.int16)
        self.outcome = np.empty(capacity, dtype=np.uint8)
        self.branch = np.empty(capacity, dtype=np.uint64)  # side-stream state of each act
        self.hits = np.empty(capacity, dtype=np.int64)
        self.n_hits = 0
        self.tally = np.zeros((0, 0, len(OUTCOMES)), dtype=np.int64)

    def columns(self) -> ObservationColumns:
        """The arrays, for kernels."""
        return ObservationColumns(
            self.target, self.source, self.outcome, self.branch, self.hits, self.tally
        )


def observe(
    state: State, t: Parameters, seed: int, block_size: int, day: int, acts: Acts, out: Observations
) -> Observations:
    """Decide, for each of today's acts, whether it is seen, by which source, and pinned on whom."""
    if len(out.target) < acts.n:
        out.__init__(len(acts.citizen))  # type: ignore[misc]
    out.tally = np.zeros((t.n_groups, t.n_behaviours, len(OUTCOMES)), dtype=np.int64)
    out.n_hits = _observe(
        acts.citizen, acts.behaviour, acts.n, state, ObserveTables.of(t), seed_key(seed), day,
        block_size, out.columns(),
    )  # fmt: skip
    return out
