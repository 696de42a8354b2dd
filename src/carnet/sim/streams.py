"""Every random stream of a run, declared once: its name, what draws from it, its 64-bit id.

A stream is keyed by (seed, component, day, block) (:func:`carnet.sim.rng.stream_key`), and the
component is the hash of the stream's name (:func:`carnet.sim.rng.component_id`). Common random
numbers rest on these names: two scenarios draw the same numbers for the same act because their
streams have the same names, and renaming a stream changes every number drawn from it (so every
output). This module is the only caller of ``component_id``, and :func:`seed_key` the one place
where a run's seed becomes a stream key's first part; ``tests/test_streams.py`` pins the names.

Most streams have one name; a few are one per behaviour or per gate, built by a :class:`Pattern`
from the scenario's names. :func:`used_by` lists every stream a scenario draws from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.rng import component_id


@dataclass(frozen=True)
class Stream:
    """A named random stream: ``id`` is the component of its keys."""

    name: str
    draws: str  # what draws from it, and what its keys' day and block stand for
    id: np.uint64 = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", component_id(self.name))


@dataclass(frozen=True)
class Pattern:
    """Streams named from a template, one per behaviour or gate of the scenario."""

    template: str  # a str.format template with one field
    draws: str

    def __call__(self, name: str) -> Stream:
        """The stream of the behaviour or gate called ``name``."""
        return Stream(self.template.format(name), self.draws)

    def ids(self, names: list[str]) -> npt.NDArray[np.uint64]:
        """The ids of the streams of ``names``, in order (a kernel's table of keys)."""
        return np.array([self(name).id for name in names], np.uint64)


def seed_key(seed: int) -> np.uint64:
    """A run's seed as the first part of every stream's key (the kernels take it as uint64)."""
    return np.uint64(seed)


# Day 0 of these keys is synthesis; their block is a block of citizens (or of companies).
POPULATION = Stream(
    "population",
    "synthesis of each citizen, by block: group, area, income quintile, awareness, panel, "
    "digital exposure (population.synthesise)",
)
HOUSEHOLDS = Stream(
    "households",
    "synthesis of households, by block: how many adults each has, and its school-age children "
    "(population.synthesise)",
)
START_POINTS = Stream(
    "population/points",
    "each citizen's start points, by block, one uniform each, only where a group has a law of "
    "start points (population.synthesise)",
)
COMPANIES = Stream(
    "companies",
    "synthesis of each company, by block of companies: the same draws as population, sectors "
    "playing the groups (population.synthesise of employers.sized_company_view)",
)
STAFF = Stream(
    "companies/staff",
    "who works where, by block of citizens: the shuffle of the block's places and the "
    "log-normal sizes of its companies (employers.build_staff)",
)

# Daily streams, keyed by day and block of citizens (or of companies).
BEHAVE = Pattern(
    "behave/{}",
    "a behaviour's acts of the day, by block: how many candidates, where, whether accepted "
    "(phases.behave)",
)
OBSERVE = Pattern(
    "observe/{}",
    "what the sources make of a behaviour's acts, by block: one uniform per source that may "
    "see it; each act's side stream branches off after them (misattribution and whom it lands "
    "on, an audit arm's finding, appeal, denunciation: phases.observe, phases.score)",
)
COMPANY_BEHAVE = Pattern("companies/behave/{}", "the same as behave/, for a company behaviour")
COMPANY_OBSERVE = Pattern("companies/observe/{}", "the same as observe/, for a company behaviour")
LIST_DISTRESS = Stream(
    "list/distress",
    "onsets of financial distress, by block: candidates, each with 2 uniforms (accepted?, "
    "how long) (phases.lists)",
)
LIST_LAWSUIT = Stream(
    "list/lawsuit",
    "lawsuits against the distressed, by block: candidates, each with 4 uniforms (listed?, "
    "published?, early exit, income down) (phases.lists)",
)
GATE = Pattern(
    "gate/{}",
    "applications at a gate, by block: candidates with 2 uniforms (applies?, income up or "
    "distress), or on a seat gate's allocation day each child's application and lottery "
    "(phases.gates)",
)
# Keyed by day and the entity's global id (the block part of the key): one decision each.
WARM_UP = Stream(
    "list/warm-up",
    "the blacklist's warm-up before day 0, by citizen (day 0 of the key): onset candidates, "
    "each one's day, acceptance and length, then each episode's lawsuits with their days, "
    "listing, publication, early exit and income (phases.warm_lists)",
)
DISTRESS_AFTER_DEFAULT = Stream(
    "list/distress/default",
    "how long the distress lasts that a loan's default brought on, by citizen "
    "(phases.lists.distress_from)",
)
DISTRESS_AFTER_REFUSAL = Stream(
    "list/distress/refused",
    "how long the distress lasts that a refusal at a gate brought on, by citizen "
    "(phases.lists.distress_from)",
)
LOAN_REPAY = Stream(
    "loan/repay",
    "whether a loan due today is repaid, by citizen: the side-stream uniform of the loan's rank "
    "among the citizen's loans due that day (phases.lending)",
)
COMPANY_BLACKLIST = Stream(
    "companies/blacklist",
    "a company's listing for today's violation, by company: listed?, early exit, then one "
    "uniform per agency (phases.company_lists)",
)

#: Every stream with a fixed name, and every pattern, in the order declared above.
STREAMS = (
    POPULATION, HOUSEHOLDS, START_POINTS, COMPANIES, STAFF, LIST_DISTRESS, LIST_LAWSUIT,
    DISTRESS_AFTER_DEFAULT, DISTRESS_AFTER_REFUSAL, LOAN_REPAY, COMPANY_BLACKLIST, WARM_UP,
)  # fmt: skip
PATTERNS = (BEHAVE, OBSERVE, COMPANY_BEHAVE, COMPANY_OBSERVE, GATE)


def used_by(s: Scenario) -> list[Stream]:
    """Every stream that a run of ``s`` may draw from, in a fixed order."""
    behaviours = [b.name for b in s.behaviours]
    out = [POPULATION, HOUSEHOLDS]
    if any(g.start is not None for g in s.population.groups):
        out.append(START_POINTS)
    out += [BEHAVE(name) for name in behaviours] + [OBSERVE(name) for name in behaviours]
    blacklist = s.lists.blacklist is not None
    if blacklist:
        out += [LIST_DISTRESS, LIST_LAWSUIT]
        if s.lists.blacklist is not None and s.lists.blacklist.warm_up_days:
            out.append(WARM_UP)
    out += [GATE(g.name) for g in s.gates]
    if blacklist and any(g.distress_if_refused > 0.0 for g in s.gates):
        out.append(DISTRESS_AFTER_REFUSAL)
    if s.lending is not None:
        out.append(LOAN_REPAY)
        if blacklist and s.lending.distress_on_default:
            out.append(DISTRESS_AFTER_DEFAULT)
    c = s.companies
    if c is not None:
        names = [b.name for b in c.behaviours]
        out += [COMPANIES, STAFF]
        out += [COMPANY_BEHAVE(name) for name in names]
        out += [COMPANY_OBSERVE(name) for name in names]
        if c.blacklist is not None:
            out.append(COMPANY_BLACKLIST)
    return out
