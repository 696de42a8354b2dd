"""behave: draw the acts that happen today.

Acts are rare, so the cost must follow the number of acts, not citizens × behaviours. Within a
block, each behaviour is a Poisson process along the "citizen-day" axis at the largest rate any
citizen has: the block's number of candidate acts is Poisson, each lands on a uniformly drawn
citizen, and each is accepted with the citizen's own rate over the largest (thinning). The
result is, for every citizen, a Poisson process at exactly their own rate, drawn in time
proportional to the number of acts, with two uniforms per candidate and no logarithm.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from carnet.sim.employers import Staff, employer_of
from carnet.sim.jit import kernel
from carnet.sim.parameters import POINTS_OFFSET, Parameters
from carnet.sim.population import AWARE, State
from carnet.sim.rng import poisson, stream_key, uniform
from carnet.sim.streams import seed_key

BATCH = 64  # candidate acts drawn before they are judged


@kernel()
def _behave(
    points: npt.NDArray[np.int16],
    profile: npt.NDArray[np.uint16],
    flags: npt.NDArray[np.uint8],
    first: int,
    block_size: int,
    seed: np.uint64,
    day: int,
    keys: npt.NDArray[np.uint64],
    rate_max: npt.NDArray[np.float64],
    accept: npt.NDArray[np.float64],
    accept_varies: npt.NDArray[np.bool_],
    negative: npt.NDArray[np.bool_],
    deter_aware: npt.NDArray[np.float64],
    deter_unaware: float,
    aware_only: bool,
    grade_of_points: npt.NDArray[np.uint8],
    lawful: npt.NDArray[np.bool_],
    until_self: npt.NDArray[np.uint16],
    until_household: npt.NDArray[np.uint16],
    punished: float,
    household_deterred: float,
    coworkers_deterred: float,
    until_staff: npt.NDArray[np.uint16],
    staff_blocks: npt.NDArray[np.int64],
    staff_start: npt.NDArray[np.int64],
    per_block: int,
    chilling: float,
    seen: npt.NDArray[np.float64],
    exposure: npt.NDArray[np.uint8],
    group_of_profile: npt.NDArray[np.uint8],
    out_citizen: npt.NDArray[np.int64],
    out_behaviour: npt.NDArray[np.int16],
) -> int:  # pragma: no cover - compiled
    n = len(points)
    capacity = len(out_citizen)
    count = 0
    # Candidates are drawn a batch at a time, then judged: the judging loop, free of logarithms
    # and hashing, is short enough for the processor to have many of its cache misses (on the
    # citizens' arrays, far larger than the caches at national scale) in flight at once.
    at = np.empty(BATCH, np.int64)
    draw = np.empty(BATCH)
    for lo in range(0, n, block_size):
        length = min(block_size, n - lo)
        block = (first + lo) // block_size
        for k in range(len(keys)):
            rate = rate_max[k]
            if rate <= 0.0:
                continue
            state = stream_key(seed, keys[k], day, block)
            state, remaining = poisson(state, rate * length)
            while remaining:
                m = min(remaining, BATCH)
                remaining -= m
                for i in range(m):
                    # Where, then whether: the acceptance uniform is always drawn, so that
                    # streams stay aligned between scenarios whose multipliers differ
                    # (common random numbers).
                    state, u = uniform(state)
                    state, v = uniform(state)
                    at[i] = lo + int(u * length)
                    draw[i] = v
                for i in range(m):
                    c, u = at[i], draw[i]
                    # Only what the act's acceptance depends on is read: each array read is a
                    # cache miss at national scale.
                    p = accept[profile[c] if accept_varies[k] else 0, k]
                    if negative[k]:
                        if not aware_only or flags[c] & AWARE:
                            p *= deter_aware[grade_of_points[points[c] + POINTS_OFFSET]]
                            if len(until_self):  # recently punished, or a housemate or co-worker
                                if day < until_self[c]:
                                    p *= punished
                                elif day < until_household[c]:
                                    p *= household_deterred
                                elif len(until_staff):
                                    e = employer_of(
                                        c, block_size, staff_blocks, staff_start, per_block
                                    )
                                    if e >= 0 and day < until_staff[e]:
                                        p *= coworkers_deterred
                        else:
                            p *= deter_unaware
                    elif lawful[k] and chilling > 0.0 and (not aware_only or flags[c] & AWARE):
                        p *= max(
                            0.0,
                            1.0 - chilling * seen[k, group_of_profile[profile[c]], exposure[c]],
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
) -> Acts:
    """Fill ``acts`` with today's acts of the shard; grow the buffer if it overflows.

    ``staff`` links citizens to their employers, for the deterrence of co-workers.
    """
    deter = staff is not None and t.coworkers_deterred != 1.0
    staff = staff if deter and staff is not None else Staff.none()
    while True:
        n = _behave(
            state.points,
            state.profile,
            state.flags,
            state.first_citizen,
            block_size,
            seed_key(seed),
            day,
            t.behave_keys,
            t.rate_max,
            t.accept,
            t.accept_varies,
            t.negative,
            t.deter_aware,
            t.deter_unaware,
            t.aware_only,
            t.grade_of_points,
            t.lawful,
            state.until_self,
            state.until_household,
            t.punished,
            t.household_deterred,
            t.coworkers_deterred,
            staff.until,
            staff.blocks,
            staff.start,
            staff.per_block,
            t.chilling,
            t.seen,
            state.exposure,
            t.group_of_profile,
            acts.citizen,
            acts.behaviour,
        )
        if n <= len(acts.citizen):
            acts.n = n
            return acts
        # Streams are keyed, so drawing the day again gives the same acts.
        acts.__init__(int(n * 1.25) + 1024)  # type: ignore[misc]
