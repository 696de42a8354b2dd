"""The small tables that contagion and incentives compile to (see carnet.scenario.contagion).

Everything here is computed once from a scenario, so that behave pays at most one table lookup
per act for each mechanism that is on, and nothing at all for those that are off.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario

F64 = npt.NDArray[np.float64]


def reward_multipliers(s: Scenario) -> F64:
    """Each behaviour's multiplier from its reward: 1 + e x points / R, clipped to 0 .. reward_max.

    Only positive behaviours answer their reward; the others get 1. All ones when rewards do not
    move behaviour.
    """
    f = np.ones(len(s.behaviours))
    i = s.responses.incentives
    if i is None or i.reward_elasticity == 0.0:
        return f
    for k, b in enumerate(s.behaviours):
        if b.kind == "positive":
            points = s.rules.points[b.name].points
            f[k] = min(max(1.0 + i.reward_elasticity * points / i.reward_reference, 0.0),
                       i.reward_max)  # fmt: skip
    return f


def lost_applications(s: Scenario) -> F64:
    """[grade now, grade after] applications a year admitted at the first, refused at the other.

    Over the gates that adults apply to (a child's gate is the child's application), from
    ``min_grade`` and ``require_redlist``; nonzero only where the grade after is worse.
    """
    names = [g.name for g in s.grades]
    red = set(s.lists.redlist.grades) if s.lists.redlist is not None else set()
    n = len(names)
    lost = np.zeros((n, n))
    for gate in s.gates:
        if gate.applicant != "adult":
            continue
        lowest = names.index(gate.min_grade) if gate.min_grade is not None else n - 1
        admitted = np.array(
            [g <= lowest and (not gate.require_redlist or names[g] in red) for g in range(n)]
        )
        for now in range(n):
            for after in range(now + 1, n):
                if admitted[now] and not admitted[after]:
                    lost[now, after] += gate.applications_per_year
    return lost


def stake_factors(s: Scenario) -> F64:
    """[grade now, grade after] the factor 1 / (1 + gate_stakes x lost applications)."""
    i = s.responses.incentives
    stakes = 0.0 if i is None else i.gate_stakes
    return 1.0 / (1.0 + stakes * lost_applications(s))


def lifetimes_by_group(s: Scenario, lifetime: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """[group, behaviour] each rule's lifetime for the group's records (-1: never expires)."""
    by = s.rules.lifetime_by_group
    m = np.array([by.get(g.name, 1.0) for g in s.population.groups])
    days = np.maximum(1, np.rint(m[:, None] * lifetime[None, :])).astype(np.int32)
    return np.where(lifetime[None, :] < 0, lifetime[None, :], days).astype(np.int32)


def contagion_fields(s: Scenario) -> dict[str, Any]:
    """The fields of :class:`~carnet.sim.parameters.Parameters` that contagion sets."""
    c = s.responses.contagion
    if c is None:
        return {"contagion": False, "spread_neighbours": 0.0, "spread_household": 1.0,
                "spread_coworkers": 1.0, "spread_max": 1.0,
                "spread_listings": False}  # fmt: skip
    return {
        "contagion": True,
        "spread_neighbours": c.neighbours,
        "spread_household": c.household,
        "spread_coworkers": c.coworkers,
        "spread_max": c.max_multiplier,
        "spread_listings": c.listings,
    }
