"""Rare events for any phase: candidates along the citizen-day axis, and queues of due events.

A phase that needs "each citizen does X at rate r" draws candidates by exponential gaps, block by
block, from a stream keyed by its component, day and block; each candidate comes with a fixed
number of uniforms for the phase to accept, decide and time it. Drawing is pure (it changes no
state), so a buffer that overflows is simply drawn again, larger.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import numpy.typing as npt

from carnet.sim.jit import kernel
from carnet.sim.rng import stream_key, uniform
from carnet.sim.streams import seed_key

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@kernel()
def _candidates(
    seed: np.uint64,
    key: np.uint64,
    day: int,
    first: int,
    n: int,
    block_size: int,
    rate: float,
    out_citizen: I64,
    out_uniform: F64,
) -> int:  # pragma: no cover - compiled
    capacity, width = out_uniform.shape
    scale = 1.0 / rate  # a product per candidate, not a division
    count = 0
    for lo in range(0, n, block_size):
        length = min(block_size, n - lo)
        state = stream_key(seed, key, day, (first + lo) // block_size)
        x = 0.0
        while True:
            state, u = uniform(state)
            x -= np.log(1.0 - u) * scale  # an exponential gap (1 - u is exact)
            if x >= length:
                break
            if count < capacity:
                out_citizen[count] = lo + int(x)
            for j in range(width):
                state, u = uniform(state)
                if count < capacity:
                    out_uniform[count, j] = u
            count += 1
    return count


def candidates(
    seed: int,
    key: np.uint64,
    day: int,
    first: int,
    n: int,
    block_size: int,
    rate: float,
    width: int,
) -> tuple[I64, F64]:
    """Local indices of citizens with a candidate event today, and ``width`` uniforms each.

    ``rate`` is per citizen-day; a citizen may have several candidates on one day.
    """
    if rate <= 0.0 or n == 0:
        return np.empty(0, np.int64), np.empty((0, width))
    capacity = int(1.5 * n * rate) + 256
    while True:
        citizen = np.empty(capacity, np.int64)
        uniforms = np.empty((capacity, width))
        count = _candidates(seed_key(seed), key, day, first, n, block_size, rate, citizen, uniforms)
        if count <= capacity:
            return citizen[:count], uniforms[:count]
        capacity = int(count * 1.25) + 256


class DueQueue:
    """Citizens with something due on a later day (a recovery, the end of a listing), in order."""

    def __init__(self) -> None:
        self._due: defaultdict[int, list[tuple[I64, I64]]] = defaultdict(list)

    def push(self, due: I64, citizen: I64, amount: I64) -> None:
        """Schedule ``citizen[i]`` for day ``due[i]``, with an amount to undo (or 0)."""
        if len(due) == 0:
            return
        # One stable sort, then a slice per day: a mask per distinct day cost days x entries.
        order = np.argsort(due, kind="stable")
        days = due[order]
        citizen, amount = citizen[order], amount[order]
        cuts = np.flatnonzero(days[1:] != days[:-1]) + 1
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(days)], strict=True):
            self._due[int(days[lo])].append((citizen[lo:hi], amount[lo:hi]))

    def pop(self, day: int) -> tuple[I64, I64]:
        """Citizens due on ``day`` and their amounts, in the order they were scheduled."""
        parts = self._due.pop(day, [])
        if not parts:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def snapshot(self) -> dict[str, npt.NDArray[Any]]:
        """The queue as flat arrays, by due day then order of scheduling."""
        days = sorted(self._due)
        parts = [(d, c, a) for d in days for c, a in self._due[d]]
        empty = np.empty(0, np.int64)
        return {
            "due": np.concatenate([empty] + [np.full(len(c), d, np.int64) for d, c, _ in parts]),
            "citizen": np.concatenate([empty] + [c for _, c, _ in parts]),
            "amount": np.concatenate([empty] + [a for _, _, a in parts]),
        }

    @classmethod
    def restore(cls, arrays: dict[str, npt.NDArray[Any]]) -> DueQueue:
        """The queue that :meth:`snapshot` saved."""
        queue = cls()
        queue.push(arrays["due"], arrays["citizen"], arrays["amount"])
        return queue
