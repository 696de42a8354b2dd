"""The synthetic society: citizens drawn from aggregate parameters only, block by block.

Each block of citizens draws from its own keyed stream, so a citizen's attributes are the same
whichever shard synthesises them. Regions are laid out as contiguous ranges of citizens.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import kernel
from carnet.sim.parameters import Parameters
from carnet.sim.policies import start_law
from carnet.sim.rng import poisson, stream_key, uniform
from carnet.sim.streams import COMPANIES, HOUSEHOLDS, POPULATION, START_POINTS, seed_key

AWARE = np.uint8(1)  # knows the system exists, and so responds to it
PANEL = np.uint8(2)  # dossier kept: every change goes into the ledger
DISTRESSED = np.uint8(4)  # in financial distress: may be sued
LISTED = np.uint8(8)  # on the blacklist of judgment defaulters
PUBLISHED = np.uint8(16)  # listed, and the name published
JOINT = np.uint8(32)  # listed with the company they represent (joint punishment)
# The listing (a company's, or a representative's joint listing) rests on a violation that did not
# happen or was another's: known to carnet, not to the system.
WRONGFUL = np.uint8(64)
MAX_CHILDREN = 8


class State(NamedTuple):
    """The mutable state of one shard: a struct of small arrays, one entry per citizen.

    A named tuple, so that a kernel takes it as one argument (numba passes its arrays as if each
    were an argument of its own); its arrays change in place, never the tuple.
    """

    first_citizen: int  # global id of the shard's first citizen
    points: npt.NDArray[np.int16]
    profile: npt.NDArray[np.uint16]
    exposure: npt.NDArray[np.uint8]  # digital exposure, 0..255
    flags: npt.NDArray[np.uint8]  # AWARE, PANEL, DISTRESSED, LISTED, PUBLISHED, JOINT, WRONGFUL
    earned: npt.NDArray[np.int16]  # [capped rule, citizen] points awarded this year
    household: npt.NDArray[np.uint8]  # how many places after the household's head, 0 for heads
    children: npt.NDArray[np.uint8]  # school-age children of the household, kept by its head
    # Deterrence after a sanction: the day until which the punished citizen, and their household,
    # hold back (empty arrays when punishment has no lasting effect).
    until_self: npt.NDArray[np.uint16]
    until_household: npt.NDArray[np.uint16]
    # Net points that wrongful records hold against (or for) each citizen now: points minus this is
    # what the citizen's record would say if only true records counted (empty without gates, its
    # only reader).
    wrongful: npt.NDArray[np.int16]
    # Bit i: the citizen has applied to the i-th gate whose policy takes one application per
    # person (empty without such gates).
    applied: npt.NDArray[np.uint8]

    @property
    def size(self) -> int:
        """Number of citizens in the shard."""
        return len(self.points)

    def snapshot(self) -> dict[str, npt.NDArray[np.generic]]:
        """The state's arrays, by name."""
        return {name: getattr(self, name) for name in STATE_ARRAYS}

    def restore(self, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        """Overwrite the state with a :meth:`snapshot` of the same shard."""
        for name in STATE_ARRAYS:
            getattr(self, name)[...] = arrays[name]


#: The arrays of a :class:`State`: every field but the first citizen.
STATE_ARRAYS = State._fields[1:]


def panel_probability(s: Scenario) -> float:
    """Chance that a citizen's dossier is kept: 1 up to ``full_up_to``, else sample / size."""
    size, panel = s.population.size, s.run.panel
    return 1.0 if size <= panel.full_up_to else min(1.0, panel.sample / size)


class SynthesisTables(NamedTuple):
    """What synthesis reads of the scenario (from :class:`~carnet.sim.parameters.Parameters`)."""

    group_cum: npt.NDArray[np.float64]
    income_cum: npt.NDArray[np.float64]
    exposure_cdf: npt.NDArray[np.float64]
    awareness: npt.NDArray[np.float64]
    region_bounds: npt.NDArray[np.int64]
    urban_share: npt.NDArray[np.float64]
    n_regions: int

    @classmethod
    def of(cls, t: Parameters) -> SynthesisTables:
        """The tables of ``t``."""
        return cls(
            t.group_cum, t.income_cum, t.exposure_cdf, t.awareness, t.region_bounds,
            t.urban_share, t.n_regions,
        )  # fmt: skip


@kernel()
def _synthesise(
    first: int,
    n: int,
    block_size: int,
    seed: np.uint64,
    key: np.uint64,
    tables: SynthesisTables,
    panel_p: float,
    profile: npt.NDArray[np.uint16],
    exposure: npt.NDArray[np.uint8],
    flags: npt.NDArray[np.uint8],
) -> None:  # pragma: no cover - compiled
    group_cum, income_cum, exposure_cdf, awareness, region_bounds, urban_share, n_regions = tables
    # Draws are counted and compared arithmetically, without branches: a draw's outcome is
    # unpredictable, and a mispredicted branch costs more than the rest of the citizen's work.
    region = 0
    stream = np.uint64(0)
    next_block = first  # the modulo per citizen was a 64-bit division: once per block instead
    for local in range(n):
        citizen = first + local
        if citizen == next_block:
            block = citizen // block_size
            stream = stream_key(seed, key, 0, block)
            next_block = (block + 1) * block_size
        while citizen >= region_bounds[region + 1]:
            region += 1
        # The cumulative tables are non-decreasing, so the first index whose cumulative exceeds
        # u is the count of cumulatives <= u (the last is 1 and never counts).
        stream, u = uniform(stream)
        group = 0
        for j in range(len(group_cum) - 1):
            group += group_cum[j] <= u
        stream, u = uniform(stream)
        urban = np.int64(u < urban_share[region])
        stream, u = uniform(stream)
        income = 0
        for j in range(4):
            income += income_cum[group, j] <= u
        stream, u = uniform(stream)
        aware = u < awareness[group]
        stream, u = uniform(stream)
        panel = u < panel_p
        # Only the level rint(255 x) of a Beta draw x is kept, so the level is drawn directly
        # and exactly, by inversion of its tables: a search of the level's cumulative table, 4-ary
        # (each round's three compares are independent, so the chain of loads is 4 long, not 8).
        stream, u = uniform(stream)
        row = exposure_cdf[group]
        level = 0
        for step in (64, 16, 4, 1):
            level += step * (
                (row[level + step - 1] <= u)
                + (row[level + 2 * step - 1] <= u)
                + (row[level + 3 * step - 1] <= u)
            )
        exposure[local] = np.uint8(level)
        flags[local] = np.uint8(AWARE * aware + PANEL * panel)
        profile[local] = np.uint16(((group * n_regions + region) * 2 + urban) * 5 + income)


@kernel()
def _households(
    first: int,
    n: int,
    block_size: int,
    seed: np.uint64,
    key: np.uint64,
    extra_adults: float,
    children_mean: float,
    household: npt.NDArray[np.uint8],
    children: npt.NDArray[np.uint8],
) -> None:  # pragma: no cover - compiled
    """Consecutive neighbours form households, which never straddle a block (nor a shard)."""
    for lo in range(0, n, block_size):
        hi = min(lo + block_size, n)
        stream = stream_key(seed, key, 0, (first + lo) // block_size)
        head = lo
        while head < hi:
            stream, extra = poisson(stream, extra_adults)
            size = min(1 + extra, 256, hi - head)
            stream, kids = poisson(stream, children_mean)
            children[head] = min(kids, MAX_CHILDREN)
            for j in range(size):
                household[head + j] = j
                if j:
                    children[head + j] = 0
            head += size


@kernel()
def _start_points(
    first: int,
    block_size: int,
    seed: np.uint64,
    key: np.uint64,
    profile: npt.NDArray[np.uint16],
    group_of_profile: npt.NDArray[np.uint8],
    cdf: npt.NDArray[np.float64],
    floor: int,
    out: npt.NDArray[np.int16],
) -> None:  # pragma: no cover - compiled
    """One uniform per citizen, inverted through the cumulative law of the citizen's group."""
    stream = np.uint64(0)
    next_block = first
    last = cdf.shape[1] - 1
    for local in range(len(profile)):
        citizen = first + local
        if citizen == next_block:
            block = citizen // block_size
            stream = stream_key(seed, key, 0, block)
            next_block = (block + 1) * block_size
        stream, u = uniform(stream)
        row = cdf[group_of_profile[profile[local]]]
        lo, hi = 0, last  # the first index whose cumulative exceeds u (the last is 1)
        while lo < hi:
            mid = (lo + hi) // 2
            if row[mid] <= u:
                lo = mid + 1
            else:
                hi = mid
        out[local] = np.int16(floor + lo)


def start_points(
    s: Scenario, t: Parameters, first_citizen: int, profile: npt.NDArray[np.uint16]
) -> npt.NDArray[np.int16]:
    """The start points of citizens ``first_citizen ..`` with these profiles.

    Drawn from the stream ``population/points`` when a group has a law of start points (the
    same numbers whenever they are drawn again, as the panel's table does); else every citizen
    starts at ``population.start_points``.
    """
    law = start_law(s)
    if law is None:
        return np.full(len(profile), s.population.start_points, dtype=np.int16)
    cdf = np.cumsum(law, axis=1)
    cdf[:, -1] = 1.0
    out = np.empty(len(profile), dtype=np.int16)
    if len(profile):
        _start_points(
            first_citizen, s.run.block_size, seed_key(s.run.seed), START_POINTS.id, profile,
            t.group_of_profile, cdf, s.rules.floor, out,
        )  # fmt: skip
    return out


def synthesise(
    s: Scenario, t: Parameters, first_citizen: int, n: int, *, companies_per_block: int = 0
) -> State:
    """Draw citizens ``first_citizen .. first_citizen + n - 1`` of the scenario's society.

    With ``companies_per_block``, ``s`` is a :func:`~carnet.sim.employers.sized_company_view`, the
    entities drawn are companies, from streams of their own, without households.
    """
    profile = np.empty(n, dtype=np.uint16)
    exposure = np.empty(n, dtype=np.uint8)
    flags = np.empty(n, dtype=np.uint8)
    block_size = companies_per_block or s.run.block_size
    if n:
        _synthesise(
            first_citizen, n, block_size, seed_key(s.run.seed),
            (COMPANIES if companies_per_block else POPULATION).id, SynthesisTables.of(t),
            panel_probability(s), profile, exposure, flags,
        )  # fmt: skip
    household = np.zeros(n, dtype=np.uint8)
    children = np.zeros(n, dtype=np.uint8)
    if n and not companies_per_block:
        h = s.population.households
        _households(
            first_citizen,
            n,
            s.run.block_size,
            seed_key(s.run.seed),
            HOUSEHOLDS.id,
            h.adults_mean - 1.0,
            h.children_mean,
            household,
            children,
        )
    return State(
        first_citizen=first_citizen,
        points=(
            start_points(s, t, first_citizen, profile)
            if not companies_per_block
            else np.full(n, s.population.start_points, dtype=np.int16)
        ),
        profile=profile,
        exposure=exposure,
        flags=flags,
        earned=np.zeros((t.n_capped, n), dtype=np.int16),
        household=household,
        children=children,
        until_self=np.zeros(n if t.memory_days >= 0 else 0, dtype=np.uint16),
        until_household=np.zeros(n if t.memory_days >= 0 else 0, dtype=np.uint16),
        wrongful=np.zeros(n if s.gates else 0, dtype=np.int16),
        applied=np.zeros(
            n if any(g.policy is not None and g.policy.once for g in s.gates) else 0, np.uint8
        ),
    )


@kernel()
def _data_per_day(
    profile: npt.NDArray[np.uint16],
    exposure: npt.NDArray[np.uint8],
    group_of_profile: npt.NDArray[np.uint8],
    data_rate: npt.NDArray[np.float64],
    exposure_weight: npt.NDArray[np.float64],
    first: int,
    block_size: int,
    n_groups: int,
) -> npt.NDArray[np.int64]:  # pragma: no cover - compiled
    n_sources = len(data_rate)
    total = np.zeros((n_groups, n_sources), dtype=np.int64)
    block = np.zeros((n_groups, n_sources))
    n = len(profile)
    for local in range(n):
        g = group_of_profile[profile[local]]
        e = exposure[local] / 255.0
        for src in range(n_sources):
            w = exposure_weight[src]
            block[g, src] += data_rate[src] * (1.0 - w + w * e)
        # Blocks are the indivisible unit of sharding: rounding per block keeps sums additive.
        if (first + local + 1) % block_size == 0 or local == n - 1:
            for gi in range(n_groups):
                for src in range(n_sources):
                    total[gi, src] += np.int64(np.rint(block[gi, src]))
                    block[gi, src] = 0.0
    return total


def data_points_per_day(
    state: State, t: Parameters, block_size: int, *, reaching_state: bool = False
) -> npt.NDArray[np.int64]:
    """Data points the sources collect each day from this shard, by [group, source].

    With ``reaching_state``, those that reach the state (a platform passes on its compliance's
    share of what it collects).
    """
    return _data_per_day(
        state.profile,
        state.exposure,
        t.group_of_profile,
        t.data_rate * t.shared if reaching_state else t.data_rate,
        t.exposure_weight,
        state.first_citizen,
        block_size,
        t.n_groups,
    )
