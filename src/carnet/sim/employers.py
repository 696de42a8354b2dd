"""Employers: companies, the citizens they employ, and their legal representatives.

Companies are drawn block by block: a block of citizens (a neighbourhood) holds
``companies_per_block`` companies, which employ citizens of that block only, so a shard holds its
companies whole and no link crosses a shard. Within a block, citizens are shuffled by a keyed
permutation (an odd multiplier and an offset, modulo a power of two, walked back into range); the
first ``employed`` places of the shuffled order are jobs, cut into companies of log-normal sizes.
A citizen's employer is found by shuffling their place and searching the company bounds, and a
co-worker by unshuffling a place of the same company: no array per citizen, so employment costs
memory per company, not per citizen. Each company's legal representative holds its first place.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario, company_view
from carnet.sim.jit import kernel
from carnet.sim.rng import normal, stream_key, uniform
from carnet.sim.streams import STAFF, seed_key

I64 = npt.NDArray[np.int64]
#: Columns of :attr:`Staff.blocks`, one row per block of the shard.
N_PLACES, MASK, MULTIPLIER, INVERSE, OFFSET, EMPLOYED, N_COMPANIES = range(7)
#: Multiplier of the shuffle, as a fraction of the block: the golden ratio spreads consecutive
#: citizens (a household) as far apart as possible (the three-distance theorem).
_SPREAD = 0.6180339887498949


def companies_in(s: Scenario, n_citizens: int) -> int:
    """Companies in a block of ``n_citizens``: at most one per employee."""
    c = s.companies
    if c is None or n_citizens <= 0:
        return 0
    return min(round(n_citizens * c.per_1000_citizens / 1000.0), employed_in(s, n_citizens))


def employed_in(s: Scenario, n_citizens: int) -> int:
    """Jobs in a block of ``n_citizens``."""
    c = s.companies
    return 0 if c is None else round(n_citizens * c.employed_share)


def company_count(s: Scenario) -> int:
    """Companies in the whole society."""
    size, block = s.population.size, s.run.block_size
    return (size // block) * companies_in(s, block) + companies_in(s, size % block)


def sized_company_view(s: Scenario) -> Scenario:
    """:func:`~carnet.scenario.schema.company_view` of ``s``, its population the companies' count.

    The scenario that the companies' phases run: ``company_view`` leaves the size to its caller.
    """
    view = company_view(s)
    return view.model_copy(
        update={"population": view.population.model_copy(update={"size": company_count(s)})}
    )


class Staff(NamedTuple):
    """A shard's employment links, as arrays per block and per company.

    ``until`` is the only mutable part: the day until which a company's employees hold back after
    one of them was sanctioned (deterrence of co-workers). A named tuple, which kernels take whole.
    """

    first_company: int  # global id of the shard's first company
    per_block: int  # companies in a full block: block ``b``'s first company is ``b * per_block``
    blocks: I64  # [block, column] see N_PLACES .. N_COMPANIES
    start: I64  # [company] first shuffled place of its employees within the block
    end: I64  # [company] one past the last
    representative: I64  # [company] local index of the citizen who represents it
    until: npt.NDArray[np.uint16]  # [company]

    @property
    def size(self) -> int:
        """Number of companies in the shard."""
        return len(self.start)

    @classmethod
    def none(cls) -> Staff:
        """No companies: every citizen is without an employer."""
        empty = np.empty(0, np.int64)
        return cls(0, 0, np.empty((0, 7), np.int64), empty, empty, empty, np.empty(0, np.uint16))


@kernel(inline=True)
def place_of(c: int, block_size: int, blocks: I64) -> int:  # pragma: no cover - compiled
    """Shuffled place of local citizen ``c`` within its block."""
    row = c // block_size
    n, mask = blocks[row, N_PLACES], blocks[row, MASK]
    a, offset = blocks[row, MULTIPLIER], blocks[row, OFFSET]
    x = (a * (c - row * block_size) + offset) & mask
    while x >= n:  # cycle-walking: the permutation of [0, mask] restricted to [0, n)
        x = (a * x + offset) & mask
    return int(x)


@kernel(inline=True)
def citizen_at(row: int, place: int, block_size: int, blocks: I64) -> int:  # pragma: no cover
    """Local citizen who holds shuffled ``place`` in block ``row`` (inverse of place_of)."""
    n, mask = blocks[row, N_PLACES], blocks[row, MASK]
    inverse, offset = blocks[row, INVERSE], blocks[row, OFFSET]
    x = ((place - offset) * inverse) & mask
    while x >= n:
        x = ((x - offset) * inverse) & mask
    return int(row * block_size + x)


@kernel(inline=True)
def employer_of(
    c: int, block_size: int, blocks: I64, start: I64, per_block: int
) -> int:  # pragma: no cover - compiled
    """Local index of the company employing local citizen ``c``, or -1."""
    if per_block == 0:
        return -1
    row = c // block_size
    place = place_of(c, block_size, blocks)
    if place >= blocks[row, EMPLOYED]:
        return -1
    lo = row * per_block  # the last company of the block whose first place is <= place
    hi = lo + int(blocks[row, N_COMPANIES]) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if start[mid] <= place:
            lo = mid
        else:
            hi = mid - 1
    return lo


@kernel(inline=True)
def coworker_of(
    c: int, u: float, block_size: int, blocks: I64, start: I64, end: I64, per_block: int
) -> int:  # pragma: no cover - compiled
    """A co-worker of local citizen ``c`` chosen by uniform ``u``, or -1 if they have none."""
    j = employer_of(c, block_size, blocks, start, per_block)
    if j < 0 or end[j] - start[j] < 2:
        return -1
    own = place_of(c, block_size, blocks)
    place = start[j] + int(u * (end[j] - start[j] - 1))
    if place >= own:
        place += 1
    return citizen_at(c // block_size, place, block_size, blocks)


@kernel()
def _staff(
    n: int,
    block_size: int,
    first_block: int,
    per_1000: float,
    employed_share: float,
    per_block: int,
    sigma: float,
    seed: np.uint64,
    key: np.uint64,
    blocks: I64,
    start: I64,
    end: I64,
    representative: I64,
) -> None:  # pragma: no cover - compiled
    for row in range(len(blocks)):
        lo = row * block_size
        places = min(block_size, n - lo)
        k = 1
        while k < places:
            k *= 2
        mask = k - 1
        a = int(k * _SPREAD) | 1
        inverse = 1  # a's inverse modulo k, by Newton's iteration on odd numbers
        for _ in range(6):
            inverse = (inverse * (2 - a * inverse)) & mask
        state = stream_key(seed, key, 0, first_block + row)
        state, u = uniform(state)
        employed = int(np.rint(places * employed_share))
        m = min(int(np.rint(places * per_1000 / 1000.0)), employed)
        blocks[row, N_PLACES], blocks[row, MASK] = places, mask
        blocks[row, MULTIPLIER], blocks[row, INVERSE] = a, inverse
        blocks[row, OFFSET] = int(u * k) & mask
        blocks[row, EMPLOYED], blocks[row, N_COMPANIES] = employed, m
        # Log-normal sizes: company j holds 1 place plus its share of the other employed - m.
        first = row * per_block
        weight = np.empty(m)
        for j in range(m):
            state, z = normal(state)
            weight[j] = np.exp(sigma * z)
        total, cum = weight.sum(), 0.0
        for j in range(m):
            start[first + j] = j + int((cum / total) * (employed - m))
            cum += weight[j]
        for j in range(m):
            end[first + j] = start[first + j + 1] if j + 1 < m else employed
            representative[first + j] = citizen_at(row, start[first + j], block_size, blocks)


def build_staff(s: Scenario, first_citizen: int, n: int) -> Staff:
    """The companies of citizens ``first_citizen .. first_citizen + n - 1`` (whole blocks)."""
    c = s.companies
    if c is None or n == 0:
        return Staff.none()
    block = s.run.block_size
    per_block = companies_in(s, block)
    n_blocks = -(-n // block)
    n_companies = (n // block) * per_block + companies_in(s, n % block)
    blocks = np.zeros((n_blocks, 7), np.int64)
    start, end = np.zeros(n_companies, np.int64), np.zeros(n_companies, np.int64)
    representative = np.zeros(n_companies, np.int64)
    _staff(
        n, block, first_citizen // block, c.per_1000_citizens, c.employed_share, per_block,
        c.size_spread, seed_key(s.run.seed), STAFF.id, blocks, start,
        end, representative,
    )  # fmt: skip
    return Staff(
        first_company=first_citizen // block * per_block,
        per_block=per_block,
        blocks=blocks,
        start=start,
        end=end,
        representative=representative,
        until=np.zeros(n_companies, np.uint16),
    )


@kernel()
def _employers(
    citizen: I64, block_size: int, blocks: I64, start: I64, per_block: int, first_company: int
) -> I64:  # pragma: no cover - compiled
    out = np.empty(len(citizen), np.int64)
    for j in range(len(citizen)):
        e = employer_of(citizen[j], block_size, blocks, start, per_block)
        out[j] = -1 if e < 0 else first_company + e
    return out


def employers(staff: Staff, citizen: I64, block_size: int) -> I64:
    """Global id of each local citizen's employer, or -1."""
    return _employers(
        citizen, block_size, staff.blocks, staff.start, staff.per_block, staff.first_company
    )
