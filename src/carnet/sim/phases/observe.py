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
# misattributed?, to whom, found by an audit arm?, then the further tries at whom (a misattribution
# within the actor's group: TRIES candidates at most, the first from U_OTHER).
U_APPEAL, U_WIN, U_TRUE, U_VERIFY, U_WHOM, U_MISTAKEN, U_OTHER, U_AUDIT, U_TRY = range(9)
#: Candidates drawn for a misattribution within the actor's group before the scan (see
#: :func:`_in_group`).
TRIES = 16
BLOCK, GROUP, REGION = range(3)  # Source.misattributed_to, as parameters.MISATTRIBUTED_TO


class ObserveTables(NamedTuple):
    """What observe reads of the scenario (from :class:`~carnet.sim.parameters.Parameters`)."""

    keys: npt.NDArray[np.uint64]  # [behaviour] its stream (streams.OBSERVE)
    obs_source: npt.NDArray[np.int16]
    obs_detect: npt.NDArray[np.float64]
    misattribution: npt.NDArray[np.float64]
    exposure_weight: npt.NDArray[np.float64]
    detect_by_group: npt.NDArray[np.float64]
    group_of_profile: npt.NDArray[np.uint8]
    misattribution_by_group: npt.NDArray[np.float64]
    misattributed_to: npt.NDArray[np.uint8]
    region_of_profile: npt.NDArray[np.uint8]
    region_bounds: npt.NDArray[np.int64]

    @classmethod
    def of(cls, t: Parameters) -> ObserveTables:
        """The tables of ``t``."""
        return cls(
            t.observe_keys, t.obs_source, t.obs_detect, t.misattribution, t.exposure_weight,
            t.detect_by_group, t.group_of_profile, t.misattribution_by_group, t.misattributed_to,
            t.region_of_profile, t.region_bounds,
        )  # fmt: skip


class Watch(NamedTuple):
    """What observe reads and counts of the adaptive sources' attention (phases.attention).

    Observe takes None instead where no source adapts, and then reads nothing more per act.
    """

    slot: npt.NDArray[np.int16]  # [source] its row in the arrays below, -1 if not adaptive
    multiplier: npt.NDArray[np.float64]  # [adaptive, local block, group] of detection
    audit: npt.NDArray[np.float64]  # [adaptive, local block, group] P(audit arm | detected)
    found: npt.NDArray[np.int64]  # [adaptive, local block, group landed on] this period
    audit_found: npt.NDArray[np.int64]  # [adaptive, group landed on] found by audits today


@kernel()
def _in_group(
    c: int,
    group: int,
    lo: int,
    length: int,
    stream: np.uint64,
    profile: npt.NDArray[np.uint16],
    group_of_profile: npt.NDArray[np.uint8],
) -> int:  # pragma: no cover - compiled
    """Another citizen of the block ``[lo, lo + length)`` in ``group``, or -1 if there is none.

    Rejection sampling: up to TRIES uniform candidates among the block's others (uniform over the
    group's others when one is accepted); then a scan forward from the last candidate, wrapping,
    to the next citizen of the group (slightly favours those after a run of other groups).
    """
    other = c
    for i in range(TRIES):
        u = side_uniform(stream, U_OTHER if i == 0 else U_TRY + i - 1)
        other = lo + int(u * (length - 1))
        if other >= c:
            other += 1
        if group_of_profile[profile[other]] == group:
            return other
    for step in range(1, length):
        candidate = lo + (other - lo + step) % length
        if candidate != c and group_of_profile[profile[candidate]] == group:
            return candidate
    return -1


@kernel()
def _in_region(
    c: int,
    lo: int,
    length: int,
    first: int,
    stream: np.uint64,
    region: int,
    region_bounds: npt.NDArray[np.int64],
) -> int:  # pragma: no cover - compiled
    """Another citizen of the block ``[lo, lo + length)`` in ``region``, or -1 if there is none.

    Regions are contiguous ranges of citizens, so the block's part of one is a range too.
    """
    start = max(lo, int(region_bounds[region]) - first)
    stop = min(lo + length, int(region_bounds[region + 1]) - first)
    if stop - start < 2:
        return -1
    other = start + int(side_uniform(stream, U_OTHER) * (stop - start - 1))
    return other + 1 if other >= c else other


@kernel()
def _whom(
    c: int,
    group: int,
    source: int,
    lo: int,
    length: int,
    first: int,
    stream: np.uint64,
    state: State,
    tables: ObserveTables,
) -> int:  # pragma: no cover - compiled
    """Whom a misattributed act of citizen ``c`` lands on (-1: nobody, it stays with ``c``).

    Called only for misattributed acts, so that observe's loop stays as short as it was.
    """
    whom = tables.misattributed_to[source]
    if whom == BLOCK:
        other = lo + int(side_uniform(stream, U_OTHER) * (length - 1))
        return other + 1 if other >= c else other
    if whom == GROUP:
        return _in_group(c, group, lo, length, stream, state.profile, tables.group_of_profile)
    region = tables.region_of_profile[state.profile[c]]
    return _in_region(c, lo, length, first, stream, region, tables.region_bounds)


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
    watch: Watch | None,
) -> int:  # pragma: no cover - compiled
    n_hits = 0
    n_citizens = len(state.points)
    first = state.first_citizen
    current_k = -1
    lo = hi = 0  # local range of the current block: tested instead of dividing for each act
    # Without adaptive sources ``watch`` is None, and numba compiles this kernel without the
    # branches that read it (dead-branch pruning on a None argument): nothing more per act.
    local = 0  # the current block among the shard's
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
                if watch is not None:
                    local = lo // block_size
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
                if watch is not None and watch.slot[src] >= 0:
                    p *= watch.multiplier[watch.slot[src], local, group]
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
                mistaken = tables.misattribution_by_group[source, group]
                if side_uniform(stream, U_MISTAKEN) < mistaken and length > 1:
                    other = _whom(c, group, source, lo, length, first, stream, state, tables)
                    if other >= 0:
                        out.outcome[j], out.target[j] = MISATTRIBUTED, other
            if watch is not None and sighted and watch.slot[source] >= 0:
                a = watch.slot[source]
                landed = group
                if out.target[j] != c:
                    landed = tables.group_of_profile[state.profile[out.target[j]]]
                watch.found[a, local, landed] += 1
                audit = watch.audit[a, local, group]
                if audit > 0.0 and side_uniform(stream, U_AUDIT) < audit:
                    watch.audit_found[a, landed] += 1
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
    state: State,
    t: Parameters,
    seed: int,
    block_size: int,
    day: int,
    acts: Acts,
    out: Observations,
    watch: Watch | None = None,
) -> Observations:
    """Decide, for each of today's acts, whether it is seen, by which source, and pinned on whom.

    ``watch``: the adaptive sources' attention (multipliers read, findings counted), if any.
    """
    if len(out.target) < acts.n:
        out.__init__(len(acts.citizen))  # type: ignore[misc]
    out.tally = np.zeros((t.n_groups, t.n_behaviours, len(OUTCOMES)), dtype=np.int64)
    out.n_hits = _observe(
        acts.citizen, acts.behaviour, acts.n, state, ObserveTables.of(t), seed_key(seed), day,
        block_size, out.columns(), watch,
    )  # fmt: skip
    return out
