"""A timeline compiled: what every shard uses on each day, swapped in at the start of the day.

:func:`carnet.scenario.timeline.epochs` gives the scenario in force from each change day on;
:class:`Timeline` compiles each once (:class:`~carnet.sim.compiled.Compiled`) and checks that
every epoch has the shape of the first: the same arrays, with the same shapes, in the compiled
tables and in what a citizen carries (:class:`~carnet.sim.population.State`). A change that
would need new state (a deterrence with a memory where there was none, a rule that gains a
yearly cap) is refused, at the change that causes it. The numbers drawn do not depend on the
epoch: streams are keyed by names, which a timeline never changes, so two scenarios that
differ only in their timelines draw the same numbers until their first change, and afterwards
wherever what they changed plays no part.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import numpy as np

from carnet.errors import ScenarioError
from carnet.scenario.schema import Scenario
from carnet.scenario.timeline import epochs
from carnet.sim.compiled import Compiled
from carnet.sim.population import synthesise


@dataclass(frozen=True)
class Timeline:
    """The compiled scenario in force from each change day on: ``compiled[i]`` from ``days[i]``."""

    days: tuple[int, ...]  # days[0] is 0
    compiled: tuple[Compiled, ...]

    @classmethod
    def build(cls, s: Scenario, source: str | None = None) -> Timeline:
        """Compile every epoch of ``s``; refuse a change that would change the run's shape.

        ``source`` is what an error names as the scenario's source (default ``scenario NAME``).

        Raises:
            ScenarioError: naming the first change of each day whose epoch has another shape.
        """
        found = epochs(s)
        compiled = [Compiled.build(epoch) for _, epoch in found]
        first = shape_of(found[0][1], compiled[0])
        problems = []
        for (day, epoch), rules in zip(found[1:], compiled[1:], strict=True):
            differs = _differences(first, shape_of(epoch, rules))
            if differs:
                where = next(i for i, c in enumerate(s.timeline) if c.day == day)
                problems.append((
                    f"timeline.{where}",
                    f"the changes of day {day} change what the run keeps ({', '.join(differs)}): "
                    "a timeline changes values only; give the scenario, from day 0, the parts "
                    "that these values need (for instance a deterrence of 1, which does nothing)",
                ))  # fmt: skip
        if problems:
            raise ScenarioError(source or f"scenario {s.name}", problems)
        return cls(tuple(d for d, _ in found), tuple(compiled))

    def at(self, day: int) -> Compiled:
        """The compiled scenario in force on ``day``."""
        return self.compiled[bisect_right(self.days, day) - 1]

    @property
    def first(self) -> Compiled:
        """The compiled scenario of day 0."""
        return self.compiled[0]


def check(s: Scenario, source: str | None = None) -> None:
    """Refuse a timeline whose changes change the run's shape (see :meth:`Timeline.build`)."""
    if s.timeline:
        Timeline.build(s, source)


def shape_of(s: Scenario, rules: Compiled) -> dict[str, Any]:
    """Every array of the compiled rules and of a citizen's state, by name: dtype and shape.

    Sections that are absent are None; numbers are left out (a timeline may change them).
    """
    shape: dict[str, Any] = {}

    def walk(value: Any, name: str) -> None:
        if isinstance(value, np.ndarray):
            shape[name] = (value.dtype.str, value.shape)
        elif value is None:
            shape[name] = None
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), f"{name}.{f.name}")
        elif isinstance(value, tuple) and hasattr(value, "_fields"):
            for field in value._fields:
                walk(getattr(value, field), f"{name}.{field}")
        elif isinstance(value, list | tuple):
            shape[name] = ("list", len(value))
        elif isinstance(value, Scenario):
            shape[name] = "scenario"

    walk(rules, "rules")
    state = synthesise(s, rules.parameters, 0, 1)
    walk(state._replace(first_citizen=0), "state")
    # Numbers that size or index state kept over the run: an adaptive source's period and window
    # (its ring of periods' findings), a learned lender's bins of points (its counts), and
    # which gates decide by which policy.
    if rules.attention is not None:
        shape["attention.period_days"] = tuple(rules.attention.period.tolist())
        shape["attention.window_days"] = tuple(rules.attention.periods.tolist())
    if rules.gates is not None:
        policy = rules.gates.policy
        shape["gates.policy.kind"] = tuple(policy.kind.tolist())
        if policy.learned_gate >= 0:
            shape["gates.policy.bin_points"] = policy.bin_points
            shape["rules.floor, rules.ceiling (a learned lender's bins)"] = (
                rules.parameters.floor, rules.parameters.ceiling,
            )  # fmt: skip
    return shape


def _differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    names = sorted(set(a) | set(b))
    return [n.split(".", 1)[-1] if n.startswith(("rules.", "state.")) else n
            for n in names if a.get(n, "?") != b.get(n, "?")]  # fmt: skip
