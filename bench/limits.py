"""This machine's own limits, measured in the bench's run, to put carnet's throughput against.

* Random scatter-add: ``counts[index[i]] += 1`` over random int32 indices into a large int16 array
  (far larger than the caches): the cost of updating one random citizen's points once. Threads
  split the indices; two threads may race on one element (an update is then lost), which does not
  change the cost being measured.
* Sequential scan: reading every element of the same array once, the cost of one dense pass over
  every citizen's points. Measured two ways: the sum (int16 widened to int64, which the compiler
  vectorises only partly, so it may be bound by arithmetic rather than memory) and the maximum
  (which streams at memory speed); the faster of the two is the scan limit.

Compiled with numba (no GIL), each of ``threads`` Python threads on its own slice of the work;
the best of ``repeats`` runs. The array is 1 GiB and the indices 256 MiB by default.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt


@numba.njit(nogil=True, cache=False)
def _scatter(counts: npt.NDArray[np.int16], index: npt.NDArray[np.int32]) -> None:
    for i in range(len(index)):
        counts[index[i]] += 1


@numba.njit(nogil=True, cache=False)
def _sum(values: npt.NDArray[np.int16]) -> int:
    total = 0
    for i in range(len(values)):
        total += values[i]
    return total


@numba.njit(nogil=True, cache=False)
def _max(values: npt.NDArray[np.int16]) -> int:
    largest = values[0]
    for i in range(len(values)):
        largest = max(largest, values[i])
    return int(largest)


@dataclass
class Limits:
    """Operations per second of each kind of memory access, on some threads."""

    threads: int
    array_elements: int
    scatter_per_s: float  # random int16 increments per second
    sum_per_s: float  # int16 elements summed per second
    max_per_s: float  # int16 elements reduced by maximum per second

    @property
    def scan_per_s(self) -> float:
        """The scan limit: int16 elements read per second by the faster scan."""
        return max(self.sum_per_s, self.max_per_s)

    @property
    def scan_bytes_per_s(self) -> float:
        """The scan limit in bytes per second."""
        return self.scan_per_s * 2


def _seconds(
    pool: ThreadPoolExecutor, threads: int, work: Callable[[slice], object], n: int
) -> float:
    """Seconds for ``threads`` threads to do ``work`` on equal slices of range(n)."""
    size = (n + threads - 1) // threads
    parts = [slice(t * size, min(n, (t + 1) * size)) for t in range(threads)]
    start = time.perf_counter()
    for future in [pool.submit(work, part) for part in parts]:
        future.result()
    return max(time.perf_counter() - start, 1e-9)


def measure(
    array_elements: int = 1 << 29,
    scatters: int = 1 << 26,
    threads: int = 1,
    repeats: int = 3,
    seed: int = 0,
) -> Limits:
    """Measure the three rates on ``threads`` threads (the best of ``repeats`` runs each)."""
    if array_elements < threads or scatters < threads or threads < 1 or repeats < 1:
        raise ValueError("sizes must be at least the threads, threads and repeats positive")
    if array_elements > np.iinfo(np.int32).max:
        raise ValueError("array_elements must fit int32 indices")
    rng = np.random.default_rng(seed)
    counts = np.ones(array_elements, dtype=np.int16)  # ones, not zeros: every page touched
    index = rng.integers(0, array_elements, size=scatters, dtype=np.int32)
    _scatter(counts[:16], np.zeros(1, dtype=np.int32))  # compile outside the timing
    _sum(counts[:16])
    _max(counts[:16])

    def scatter(part: slice) -> None:
        _scatter(counts, index[part])

    def summed(part: slice) -> None:
        _sum(counts[part])

    def maximum(part: slice) -> None:
        _max(counts[part])

    with ThreadPoolExecutor(threads) as pool:
        best = {
            name: min(_seconds(pool, threads, work, n) for _ in range(repeats))
            for name, work, n in (
                ("scatter", scatter, scatters),
                ("sum", summed, array_elements),
                ("max", maximum, array_elements),
            )
        }
    return Limits(
        threads=threads,
        array_elements=array_elements,
        scatter_per_s=scatters / best["scatter"],
        sum_per_s=array_elements / best["sum"],
        max_per_s=array_elements / best["max"],
    )
