"""Counter-based random streams keyed by (seed, component, day, block of citizens).

A stream is a SplitMix64 sequence whose starting state is a hash of its key, so any part of a run
can be drawn in any process, thread or order and still see the same numbers: results do not depend
on how a run is split, and two scenarios that differ only in rules draw the same acts (common random
numbers). SplitMix64 is the generator behind Java's SplittableRandom; its output passes BigCrush.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from carnet.sim.jit import kernel

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


def component_id(name: str) -> np.uint64:
    """A stable 64-bit id for a named component (Python's ``hash`` is salted per process)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return np.uint64(int.from_bytes(digest, "little"))


@kernel(inline=True)
def mix64(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """SplitMix64's finaliser: a bijective avalanche of 64 bits."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@kernel(inline=True)
def stream_key(
    seed: np.uint64, component: np.uint64, day: int, block: int
) -> np.uint64:  # pragma: no cover
    """Starting state of the stream for one component, day and block."""
    h = mix64(seed ^ GOLDEN)
    h = mix64(h ^ component)
    h = mix64(h ^ np.uint64(day))
    return mix64(h ^ (np.uint64(block) * GOLDEN))


@kernel(inline=True)
def uniform(state: np.uint64) -> tuple[np.uint64, float]:  # pragma: no cover - compiled
    """Advance a stream; return the new state and a uniform double in [0, 1)."""
    state = state + GOLDEN
    return state, float(mix64(state) >> _S11) * _TO_UNIT


@kernel()
def normal(state: np.uint64) -> tuple[np.uint64, float]:  # pragma: no cover - compiled
    """A standard normal variate (Box-Muller)."""
    state, u1 = uniform(state)
    state, u2 = uniform(state)
    return state, np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


_SALT = np.uint64(0xD1B54A32D192ED03)


@kernel(inline=True)
def side_uniform(state: np.uint64, i: int) -> float:  # pragma: no cover - compiled
    """The ``i``-th uniform of a side stream branching off ``state``, without advancing it.

    Lets a phase draw extra numbers for an event only when it needs them, while every event
    keeps the same numbers whatever other events needed (common random numbers).
    """
    return float(mix64((state ^ _SALT) + np.uint64(i + 1) * GOLDEN) >> _S11) * _TO_UNIT


@kernel(inline=True)
def poisson_inverse(
    state: np.uint64, mean: float, p0: float
) -> tuple[np.uint64, int]:  # pragma: no cover - compiled
    """Poisson(``mean``) by inversion, one uniform, ``p0 = exp(-mean)`` given.

    For a caller that draws many variates of one small mean (most of them 0), the exponential
    is taken once instead of per draw.
    """
    state, u = uniform(state)
    k = 0
    p = p0
    total = p
    while u >= total and p > 0.0:  # p underflows only in a tail far below 2**-53
        k += 1
        p *= mean / k
        total += p
    return state, k


@kernel(inline=True)
def _poisson_small(state: np.uint64, mean: float) -> tuple[np.uint64, int]:  # pragma: no cover
    """Poisson(mean) by inversion, one uniform: for means below 10, where it is quickest."""
    return poisson_inverse(state, mean, np.exp(-mean))


@kernel()
def poisson(state: np.uint64, mean: float) -> tuple[np.uint64, int]:  # pragma: no cover
    """Advance a stream; return the new state and a Poisson(``mean``) variate.

    Exact for every mean: inversion below 10; above, Hörmann's transformed rejection with
    squeeze (PTRS, "The transformed rejection method for generating Poisson random variables",
    1993), which takes about 1.1 pairs of uniforms whatever the mean.
    """
    if mean < 10.0:
        return _poisson_small(state, mean)
    root = np.sqrt(mean)
    log_mean = np.log(mean)
    b = 0.931 + 2.53 * root
    a = -0.059 + 0.02483 * b
    log_alpha = np.log(1.1239 + 1.1328 / (b - 3.4))
    v_r = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        state, u = uniform(state)
        state, v = uniform(state)
        u -= 0.5
        us = 0.5 - abs(u)
        k = np.floor((2.0 * a / us + b) * u + mean + 0.43)
        if us >= 0.07 and v <= v_r:
            return state, int(k)
        if k < 0.0 or (us < 0.013 and v > us):
            continue
        if np.log(v) + log_alpha - np.log(a / (us * us) + b) <= (
            -mean + k * log_mean - math.lgamma(k + 1.0)
        ):
            return state, int(k)
