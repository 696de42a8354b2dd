"""attention: adaptive sources re-allocate their watching, block by block, by what they found.

Within each block of citizens (a precinct: it never leaves its shard, so every split of a run
gives the same bytes) an adaptive source splits a fixed detection budget across the groups
living there: an allocation ``a_bg`` (shares adding up to 1 over the block's groups). A citizen
of group ``g`` in block ``b`` is watched with the multiplier ``m_bg = a_bg * n_b / n_bg``, so the
mean multiplier over the block's citizens (the budget) stays 1; detection probabilities above 1
are clipped, which breaks the budget's exactness there. With an audit arm of share ``s``, the
multiplier is ``(1 - s) * m_bg + s``: that share of the checks is made uniformly at random.

At the end of every ``period_days``-th day, the allocation is set from what the source recorded
(by the group of the citizen a record landed on, i.e. what the source believes, audit findings
included) in the trailing window, or since the start:

    a_bg = (1 - e) * (prior * a_bg(0) + F_bg) / (prior + F_b) + e * n_bg / n_b

with ``a_bg(0)`` proportional to ``n_bg * by_group_g`` (the static ``by_group`` sets the initial
allocation). Without a window, with ``e = 0`` and identical groups, that is a batched Pólya urn
(docs/attention.md). The state is per (adaptive source, block, group), never per citizen; it is
carried by :meth:`carnet.sim.simulation.Simulation.snapshot`. Companies never adapt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import kernel
from carnet.sim.parameters import Parameters
from carnet.sim.phases.observe import Watch
from carnet.sim.population import State

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
#: The allocation's unit in the metrics: ``attention_<source>`` sums round(PPM * a_bg) over blocks.
PPM = 1_000_000


@dataclass(frozen=True)
class AttentionRules:
    """The adaptive sources' parameters, compiled from the scenario (immutable)."""

    sources: npt.NDArray[np.int16]  # [adaptive] the source's index
    names: tuple[str, ...]  # [adaptive] the source's name
    period: I64  # [adaptive] days between re-allocations
    periods: I64  # [adaptive] periods in the window; 0: every finding so far
    prior: F64  # [adaptive]
    exploration: F64  # [adaptive]
    audit: F64  # [adaptive] audit share
    weight: F64  # [adaptive, group] by_group, the initial allocation's weights

    @property
    def n(self) -> int:
        """Number of adaptive sources."""
        return len(self.sources)

    @property
    def slots(self) -> int:
        """Periods of findings kept (the longest window; 1 where every finding counts)."""
        return int(max(1, self.periods.max(initial=1)))

    @classmethod
    def build(cls, s: Scenario, t: Parameters) -> AttentionRules | None:
        """The rules of ``s``'s adaptive sources, or None if none adapts."""
        adaptive = [(j, src) for j, src in enumerate(s.sources) if src.attention is not None]
        if not adaptive:
            return None
        groups = [g.name for g in s.population.groups]
        att = [src.attention for _, src in adaptive]
        assert all(a is not None for a in att)
        return cls(
            sources=np.array([j for j, _ in adaptive], np.int16),
            names=tuple(src.name for _, src in adaptive),
            period=np.array([a.period_days for a in att if a], np.int64),
            periods=np.array(
                [0 if a.window_days is None else a.window_days // a.period_days for a in att if a],
                np.int64,
            ),
            prior=np.array([a.prior for a in att if a]),
            exploration=np.array([a.exploration for a in att if a]),
            audit=np.array([a.audit_share for a in att if a]),
            weight=np.array([[src.by_group.get(g, 1.0) for g in groups] for _, src in adaptive]),
        )


@kernel()
def _group_counts(
    profile: npt.NDArray[np.uint16],
    group_of_profile: npt.NDArray[np.uint8],
    block_size: int,
    counts: I64,
) -> None:  # pragma: no cover - compiled
    for c in range(len(profile)):
        counts[c // block_size, group_of_profile[profile[c]]] += 1


def group_counts(state: State, t: Parameters, block_size: int) -> I64:
    """Citizens of each group in each of the shard's blocks, [local block, group].

    One pass over the profiles, once per shard, with no temporary array per citizen.
    """
    counts = np.zeros((-(-state.size // block_size), t.n_groups), np.int64)
    _group_counts(state.profile, t.group_of_profile, block_size, counts)
    return counts


class AttentionState:
    """The adaptive sources' state in one shard: allocations and findings, per block and group."""

    def __init__(self, rules: AttentionRules, counts: I64, n_sources: int) -> None:
        A, (B, G) = rules.n, counts.shape
        self.counts = counts  # [block, group] n_bg, fixed from synthesis
        size = counts.sum(axis=1, keepdims=True)  # [block, 1] n_b
        self.spread = np.divide(counts, size, out=np.zeros((B, G)), where=size > 0)
        weighted = counts[None, :, :] * rules.weight[:, None, :]
        total = weighted.sum(axis=2, keepdims=True)
        # By group size times by_group; where that is 0 for every group, by group size.
        self.initial = np.where(
            total > 0, weighted / np.where(total > 0, total, 1.0), self.spread[None]
        )
        self.allocation = self.initial.copy()  # [adaptive, block, group] a_bg in force
        self.found = np.zeros((A, B, G), np.int64)  # this period's findings, by group landed on
        self.window = np.zeros((A, rules.slots, B, G), np.int64)  # past periods' (or all, sum)
        self.audit_today = np.zeros((A, G), np.int64)
        self.slot = np.full(n_sources, -1, np.int16)
        self.slot[rules.sources] = np.arange(A, dtype=np.int16)
        self.multiplier = np.zeros((A, B, G))
        self.audit = np.zeros((A, B, G))
        self._derive(rules)

    def _derive(self, rules: AttentionRules) -> None:
        """Multipliers and audit shares from the allocation (``m_bg = a_bg * n_b / n_bg``)."""
        size = self.counts.sum(axis=1, keepdims=True)
        targeted = np.divide(
            self.allocation * size[None],
            self.counts[None],
            out=np.zeros_like(self.allocation),
            where=self.counts[None] > 0,
        )
        s = rules.audit[:, None, None]
        present = self.counts[None] > 0
        self.multiplier[...] = np.where(present, (1.0 - s) * targeted + s, 0.0)
        self.audit[...] = np.divide(
            np.broadcast_to(s, self.multiplier.shape),
            self.multiplier,
            out=np.zeros_like(self.multiplier),
            where=self.multiplier > 0,
        )

    def watch(self) -> Watch:
        """What observe reads and counts."""
        return Watch(self.slot, self.multiplier, self.audit, self.found, self.audit_today)

    def end_of_day(self, rules: AttentionRules, day: int) -> None:
        """At the end of a period, re-allocate each block's attention from the findings."""
        for a in range(rules.n):
            period = int(rules.period[a])
            if (day + 1) % period:
                continue
            periods = int(rules.periods[a])
            if periods == 0:
                self.window[a, 0] += self.found[a]
                found = self.window[a, 0]
            else:
                self.window[a, ((day + 1) // period - 1) % periods] = self.found[a]
                found = self.window[a, :periods].sum(axis=0)
            self.found[a] = 0
            prior, e = rules.prior[a], rules.exploration[a]
            total = found.sum(axis=1, keepdims=True)  # [block, 1]
            weight = prior + total
            urn = np.where(
                weight > 0,
                (prior * self.initial[a] + found) / np.where(weight > 0, weight, 1.0),
                self.initial[a],
            )
            self.allocation[a] = (1.0 - e) * urn + e * self.spread
        self._derive(rules)

    def snapshot(self) -> dict[str, npt.NDArray[np.generic]]:
        """The arrays a checkpoint carries (the rest derives from them and the population)."""
        return {"allocation": self.allocation, "found": self.found, "window": self.window}

    def restore(self, rules: AttentionRules, arrays: dict[str, npt.NDArray[np.generic]]) -> None:
        """Continue from a :meth:`snapshot` of the same shard."""
        self.allocation[...] = arrays["allocation"]
        self.found[...] = arrays["found"]
        self.window[...] = arrays["window"]
        self.audit_today[...] = 0
        self._derive(rules)

    def record(
        self, rules: AttentionRules, attention: I64, audit_found: I64, exposure: I64
    ) -> None:
        """Count today's allocation, audit findings and audit exposure, [group, adaptive] each.

        ``attention``: the sum over blocks of round(PPM * a_bg) in force today (micro-shares);
        ``exposure``: round(PPM * audit share) per citizen of the group, the audit's checks in
        micro-citizen-days (an unbiased rate: ``audit_found / exposure * PPM``, see
        docs/attention.md).
        """
        attention += np.rint(self.allocation * PPM).astype(np.int64).sum(axis=1).T
        audit_found += self.audit_today.T
        self.audit_today[...] = 0
        per = np.rint(rules.audit * PPM).astype(np.int64)  # [adaptive]
        exposure += self.counts.sum(axis=0)[:, None] * per[None, :]
