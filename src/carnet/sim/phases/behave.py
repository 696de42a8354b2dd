"""behave: draw the acts that happen today.

Acts are rare, so the cost must follow the number of acts, not citizens × behaviours. Within a
block, each behaviour is a Poisson process along the "citizen-day" axis at the largest rate any
citizen has: the block's number of candidate acts is Poisson, each lands on a uniformly drawn
citizen, and each is accepted with the citizen's own rate over the largest (thinning). The
result is, for every citizen, a Poisson process at exactly their own rate, drawn in time
proportional to the number of acts, with two uniforms per candidate and no logarithm.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.sim.employers import Staff, employer_of
from carnet.sim.jit import kernel
from carnet.sim.parameters import POINTS_OFFSET, Parameters
from carnet.sim.population import AWARE, State
from carnet.sim.rng import poisson, stream_key, uniform
from carnet.sim.streams import seed_key

BATCH = 64  # candidate acts drawn before they are judged
NO_PRESSURE = np.zeros(0, np.int64)  # contagion off: no block pressure


class BehaveTables(NamedTuple):
    """What behave reads of the scenario (from :class:`~carnet.sim.parameters.Parameters`)."""

    keys: npt.NDArray[np.uint64]  # [behaviour] its stream (streams.BEHAVE)
    rate_max: npt.NDArray[np.float64]
    accept: npt.NDArray[np.float64]
    accept_varies: npt.NDArray[np.bool_]
    negative: npt.NDArray[np.bool_]
    lawful: npt.NDArray[np.bool_]
    deter_aware: npt.NDArray[np.float64]
    deter_unaware: float
    aware_only: bool
    grade_of_points: npt.NDArray[np.uint8]
    punished: float
    household_deterred: float
    coworkers_deterred: float
    chilling: float
    chance_seen: npt.NDArray[np.float64]  # [behaviour, group, exposure]
    group_of_profile: npt.NDArray[np.uint8]

    @classmethod
    def of(cls, t: Parameters) -> BehaveTables:
        """The tables of ``t``."""
        return cls(
            t.behave_keys, t.rate_max, t.accept, t.accept_varies, t.negative, t.lawful,
            t.deter_aware, t.deter_unaware, t.aware_only, t.grade_of_points, t.punished,
            t.household_deterred, t.coworkers_deterred, t.chilling, t.chance_seen,
            t.group_of_profile,
        )  # fmt: skip


class ResponseTables(NamedTuple):
    """What only contagion, rewards by awareness and the gates' stakes add to behave's tables.

    A kernel of its own reads them (:func:`_responsive`), so that with all three off behave runs
    the kernel it ran before, at its cost: the same loop, the same tables to type at the call.
    """

    # Contagion: the block's pressure raises negative acts.
    contagion: bool
    spread_neighbours: float
    spread_household: float
    spread_coworkers: float
    spread_max: float
    # Rewards by awareness (only where ``rewards_vary``), stakes at the gates.
    rewards_vary: bool
    reward_varies: npt.NDArray[np.bool_]
    reward_aware: npt.NDArray[np.float64]
    reward_unaware: npt.NDArray[np.float64]
    stakes: bool
    stake_factor: npt.NDArray[np.float64]  # [grade now, grade after]
    rule_points: npt.NDArray[np.int32]
    floor: int
    ceiling: int

    @classmethod
    def of(cls, t: Parameters) -> ResponseTables | None:
        """The tables of ``t``, or None where none of the three is on."""
        rewards_vary = bool(t.reward_varies.any())
        if not (t.contagion or rewards_vary or t.stakes):
            return None
        return cls(
            t.contagion, t.spread_neighbours, t.spread_household, t.spread_coworkers,
            t.spread_max, rewards_vary, t.reward_varies, t.reward_aware, t.reward_unaware,
            t.stakes, t.stake_factor, t.rule_points, t.floor, t.ceiling,
        )  # fmt: skip


@kernel(inline=True)
def _draw_batch(
    stream: np.uint64,
    m: int,
    lo: int,
    length: int,
    at: npt.NDArray[np.int64],
    draw: npt.NDArray[np.float64],
) -> np.uint64:  # pragma: no cover - compiled
    """Draw ``m`` candidates of a block: each one's citizen (``at``) and acceptance uniform.

    Where, then whether: the acceptance uniform is always drawn, so that streams stay aligned
    between scenarios whose multipliers differ (common random numbers). Both kernels of behave
    draw through here, so that they draw alike.
    """
    for i in range(m):
        stream, u = uniform(stream)
        stream, v = uniform(stream)
        at[i] = lo + int(u * length)
        draw[i] = v
    return stream


@kernel()
def _behave(
    state: State,
    tables: BehaveTables,
    staff: Staff,
    seed: np.uint64,
    day: int,
    block_size: int,
    out_citizen: npt.NDArray[np.int64],
    out_behaviour: npt.NDArray[np.int16],
) -> int:  # pragma: no cover - compiled
    n = len(state.points)
    capacity = len(out_citizen)
    count = 0
    # Candidates are drawn a batch at a time, then judged: the judging loop, free of logarithms
    # and hashing, is short enough for the processor to have many of its cache misses (on the
    # citizens' arrays, far larger than the caches at national scale) in flight at once.
    at = np.empty(BATCH, np.int64)
    draw = np.empty(BATCH)
    for lo in range(0, n, block_size):
        length = min(block_size, n - lo)
        block = (state.first_citizen + lo) // block_size
        for k in range(len(tables.keys)):
            rate = tables.rate_max[k]
            if rate <= 0.0:
                continue
            stream = stream_key(seed, tables.keys[k], day, block)
            stream, remaining = poisson(stream, rate * length)
            while remaining:
                m = min(remaining, BATCH)
                remaining -= m
                stream = _draw_batch(stream, m, lo, length, at, draw)
                for i in range(m):
                    c, u = at[i], draw[i]
                    # Only what the act's acceptance depends on is read: each array read is a
                    # cache miss at national scale.
                    p = tables.accept[state.profile[c] if tables.accept_varies[k] else 0, k]
                    if tables.negative[k]:
                        if not tables.aware_only or state.flags[c] & AWARE:
                            grade = tables.grade_of_points[state.points[c] + POINTS_OFFSET]
                            p *= tables.deter_aware[grade]
                            # Recently punished, or a housemate or co-worker of the punished.
                            if len(state.until_self):
                                if day < state.until_self[c]:
                                    p *= tables.punished
                                elif day < state.until_household[c]:
                                    p *= tables.household_deterred
                                elif len(staff.until):
                                    e = employer_of(
                                        c, block_size, staff.blocks, staff.start, staff.per_block
                                    )
                                    if e >= 0 and day < staff.until[e]:
                                        p *= tables.coworkers_deterred
                        else:
                            p *= tables.deter_unaware
                    elif (
                        tables.lawful[k]
                        and tables.chilling > 0.0
                        and (not tables.aware_only or state.flags[c] & AWARE)
                    ):
                        g = tables.group_of_profile[state.profile[c]]
                        p *= max(
                            0.0, 1.0 - tables.chilling * tables.chance_seen[k, g, state.exposure[c]]
                        )
                    if u < p:
                        if count < capacity:
                            out_citizen[count] = c
                            out_behaviour[count] = k
                        count += 1
    return count


@kernel()
def _responsive(
    state: State,
    tables: BehaveTables,
    more: ResponseTables,
    staff: Staff,
    pressure: npt.NDArray[np.int64],
    seed: np.uint64,
    day: int,
    block_size: int,
    out_citizen: npt.NDArray[np.int64],
    out_behaviour: npt.NDArray[np.int16],
) -> int:  # pragma: no cover - compiled
    """:func:`_behave` with contagion, rewards by awareness and the gates' stakes."""
    n = len(state.points)
    capacity = len(out_citizen)
    count = 0
    # Candidates are drawn a batch at a time, then judged: the judging loop, free of logarithms
    # and hashing, is short enough for the processor to have many of its cache misses (on the
    # citizens' arrays, far larger than the caches at national scale) in flight at once.
    at = np.empty(BATCH, np.int64)
    draw = np.empty(BATCH)
    for lo in range(0, n, block_size):
        length = min(block_size, n - lo)
        block = (state.first_citizen + lo) // block_size
        # The neighbourhood's multiplier, once per block (pressure is kept per block of the shard).
        near = 1.0
        if more.contagion:
            near += more.spread_neighbours * pressure[lo // block_size] / length
        for k in range(len(tables.keys)):
            rate = tables.rate_max[k]
            if rate <= 0.0:
                continue
            # What only some mechanisms read, once per behaviour rather than per candidate.
            rewards_vary = more.rewards_vary and more.reward_varies[k]
            delta = more.rule_points[k] if more.stakes else 0
            stream = stream_key(seed, tables.keys[k], day, block)
            stream, remaining = poisson(stream, rate * length)
            while remaining:
                m = min(remaining, BATCH)
                remaining -= m
                stream = _draw_batch(stream, m, lo, length, at, draw)
                for i in range(m):
                    c, u = at[i], draw[i]
                    # Only what the act's acceptance depends on is read: each array read is a
                    # cache miss at national scale.
                    p = tables.accept[state.profile[c] if tables.accept_varies[k] else 0, k]
                    if tables.negative[k]:
                        if not tables.aware_only or state.flags[c] & AWARE:
                            points = int(state.points[c])
                            grade = tables.grade_of_points[points + POINTS_OFFSET]
                            p *= tables.deter_aware[grade]
                            if more.stakes:
                                # What the act's points would do to the grade, if recorded.
                                after = min(max(points + delta, more.floor), more.ceiling)
                                below = tables.grade_of_points[after + POINTS_OFFSET]
                                p *= more.stake_factor[grade, below]
                            # Recently punished, or a housemate or co-worker of the punished.
                            if len(state.until_self):
                                if day < state.until_self[c]:
                                    p *= tables.punished
                                elif day < state.until_household[c]:
                                    p *= tables.household_deterred
                                elif len(staff.until):
                                    e = employer_of(
                                        c, block_size, staff.blocks, staff.start, staff.per_block
                                    )
                                    if e >= 0 and day < staff.until[e]:
                                        p *= tables.coworkers_deterred
                        else:
                            p *= tables.deter_unaware
                        if more.contagion:
                            # Ties: the block's pressure, a housemate's or co-worker's sanction
                            # (one's own is one's own deterrence, ``punished``); over the clip.
                            tie = near
                            if more.spread_household != 1.0 and day < state.until_household[c]:
                                tie *= more.spread_household
                            if (
                                more.spread_coworkers != 1.0
                                and len(staff.until)
                                and not day < state.until_self[c]
                            ):
                                e = employer_of(
                                    c, block_size, staff.blocks, staff.start, staff.per_block
                                )
                                if e >= 0 and day < staff.until[e]:
                                    tie *= more.spread_coworkers
                            p *= min(tie, more.spread_max) / more.spread_max
                    elif rewards_vary:
                        p *= (
                            more.reward_aware[k]
                            if state.flags[c] & AWARE
                            else more.reward_unaware[k]
                        )
                    elif (
                        tables.lawful[k]
                        and tables.chilling > 0.0
                        and (not tables.aware_only or state.flags[c] & AWARE)
                    ):
                        g = tables.group_of_profile[state.profile[c]]
                        p *= max(
                            0.0, 1.0 - tables.chilling * tables.chance_seen[k, g, state.exposure[c]]
                        )
                    if u < p:
                        if count < capacity:
                            out_citizen[count] = c
                            out_behaviour[count] = k
                        count += 1
    return count


class Acts:
    """Today's acts in a reusable buffer: local citizen index and behaviour, block by block."""

    def __init__(self, capacity: int) -> None:
        self.citizen = np.empty(capacity, dtype=np.int64)
        self.behaviour = np.empty(capacity, dtype=np.int16)
        self.n = 0


def behave(
    state: State,
    t: Parameters,
    seed: int,
    block_size: int,
    day: int,
    acts: Acts,
    staff: Staff | None = None,
    pressure: npt.NDArray[np.int64] | None = None,
) -> Acts:
    """Fill ``acts`` with today's acts of the shard; grow the buffer if it overflows.

    ``staff`` links citizens to their employers, for the deterrence of co-workers; ``pressure``
    is contagion's, per block of the shard (:mod:`carnet.sim.phases.contagion`).
    """
    deter = staff is not None and t.coworker_ties
    staff = staff if deter and staff is not None else Staff.none()
    tables = BehaveTables.of(t)
    more = ResponseTables.of(t)
    pressure = pressure if pressure is not None else NO_PRESSURE
    if more is not None and more.contagion and len(pressure) * block_size < state.size:
        # The kernel reads one pressure per block, unchecked: a shard made without contagion
        # (contagion.pressures) has none to read.
        raise ValueError("contagion needs the shard's block pressures (contagion.pressures)")
    while True:
        if more is None:
            n = _behave(
                state, tables, staff, seed_key(seed), day, block_size, acts.citizen,
                acts.behaviour,
            )  # fmt: skip
        else:
            n = _responsive(
                state, tables, more, staff, pressure, seed_key(seed), day, block_size,
                acts.citizen, acts.behaviour,
            )  # fmt: skip
        if n <= len(acts.citizen):
            acts.n = n
            return acts
        # Streams are keyed, so drawing the day again gives the same acts.
        acts.__init__(int(n * 1.25) + 1024)  # type: ignore[misc]
