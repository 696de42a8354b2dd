"""The scenario: one declarative document that describes a social-credit system and its society.

Every parameter is declared here once, with its bounds and its help text; validation, the CLI
overrides, the documentation and (later) the lab's widgets all read these declarations. Structural
checks are pydantic's; the checks that relate one section to another (a rule for every behaviour,
sources that exist, shares that add up) live in :func:`cross_check` so that each can name the exact
path of what is wrong.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from carnet.scenario.attention import Attention, MisattributedTo, check_attention
from carnet.scenario.base import (
    POINTS_MAX,
    POINTS_MIN,
    SENSITIVITIES,
    GradeName,
    Multiplier,
    Name,
    Points,
    Probability,
    ScenarioName,
    Section,
    Sensitivity,
    Share,
)
from carnet.scenario.contagion import Contagion, Incentives, check_responses
from carnet.scenario.pathsyntax import format_path
from carnet.scenario.policies import Policy, RepayCurve, RepayModel, StartPoints

__all__ = [
    "POINTS_MAX", "POINTS_MIN", "SENSITIVITIES", "GradeName", "Multiplier", "Name", "Points",
    "Probability", "ScenarioName", "Section", "Sensitivity", "Share",
]  # fmt: skip


class Exposure(Section):
    """Digital exposure: how visible a citizen is to online sources, drawn from a Beta law."""

    mean: Probability = Field(0.5, description="mean exposure of the group, 0 (offline) to 1")
    concentration: float = Field(
        4.0, gt=0.0, le=1e6, description="Beta concentration a+b: higher means less spread"
    )


class Group(Section):
    """A population group (e.g. local residents, migrant workers, an ethnic minority)."""

    name: Name
    share: Share = Field(description="share of the population in this group")
    income: list[Annotated[float, Field(ge=0.0, le=1e6)]] = Field(
        default_factory=lambda: [1.0] * 5,
        min_length=5,
        max_length=5,
        description="relative weights of income quintiles 1 (poorest) to 5 (richest)",
    )
    exposure: Exposure = Field(default_factory=Exposure)
    awareness: Probability = Field(
        1.0, description="share aware of the system; only aware citizens respond to it"
    )
    start: StartPoints | None = Field(
        None, description="the group's start points, drawn (default: population.start_points)"
    )


class Region(Section):
    """A region; citizens are laid out region by region, so a block is a neighbourhood."""

    name: Name
    share: Share = Field(description="share of the population living in this region")
    urban_share: Probability = Field(0.5, description="share of the region's citizens in cities")


class Households(Section):
    """Adults live in households of neighbours; children are counts, not agents."""

    adults_mean: float = Field(
        2.0, ge=1.0, le=8.0, description="mean adults per household (1 + Poisson)"
    )
    children_mean: float = Field(
        0.6, ge=0.0, le=8.0, description="mean school-age children per household (Poisson)"
    )


class Population(Section):
    """How the synthetic society is drawn: only aggregate parameters, never individual records."""

    size: int = Field(ge=1, le=2_000_000_000, description="number of adult citizens")
    start_points: Points = Field(1000, description="points every citizen starts with")
    groups: list[Group] = Field(min_length=1, max_length=16)
    regions: list[Region] = Field(
        default_factory=lambda: [Region(name="all", share=1.0)], min_length=1, max_length=255
    )
    households: Households = Field(default_factory=Households)


class Observation(Section):
    """A source that can see a behaviour, with its base probability of detecting one act."""

    source: Name = Field(description="name of a source in `sources`")
    detect: Probability = Field(description="probability that the source sees one act")


class AreaMultipliers(Section):
    """Rate multipliers for urban and rural citizens."""

    urban: Multiplier = Field(1.0, description="rate multiplier for city dwellers")
    rural: Multiplier = Field(1.0, description="rate multiplier for rural citizens")


class Behaviour(Section):
    """Something a citizen may do, at a base rate modulated by who they are."""

    name: Name
    kind: Literal["negative", "positive", "lawful"] = Field(
        description="negative acts are deterred; lawful ones are lawful but may be disfavoured"
    )
    rate_per_year: float = Field(ge=0.0, le=3650.0, description="acts per person-year")
    by_group: dict[Name, Multiplier] = Field(
        default_factory=dict, description="rate multiplier by group (default 1)"
    )
    by_region: dict[Name, Multiplier] = Field(
        default_factory=dict, description="rate multiplier by region (default 1)"
    )
    by_income: list[Multiplier] | None = Field(
        None, min_length=5, max_length=5, description="rate multiplier by income quintile 1..5"
    )
    by_area: AreaMultipliers = Field(default_factory=AreaMultipliers)
    observed_by: list[Observation] = Field(
        default_factory=list,
        max_length=8,
        description="sources that can see it, in order; the first that detects an act records "
        "it, once",
    )
    description: str = Field("", max_length=500)


class Source(Section):
    """A data source: detects acts, sometimes blames the wrong person, and collects data always."""

    name: Name
    sensitivity: Sensitivity = Field(description="kind of private data the source holds")
    misattribution: Probability = Field(
        0.0, description="probability that a detected act is pinned on another citizen"
    )
    exposure_weight: Probability = Field(
        0.0, description="how far detection and collection scale with digital exposure"
    )
    by_group: dict[Name, Multiplier] = Field(
        default_factory=dict,
        description="detection multiplier by group (not collection); with attention, the "
        "initial allocation instead (shares by group size times this)",
    )
    misattribution_by_group: dict[Name, Multiplier] = Field(
        default_factory=dict,
        description="multiplier of misattribution by the actor's group, e.g. face recognition "
        "that errs more on some (default 1; the probability is clipped at 1)",
    )
    misattributed_to: MisattributedTo = Field(
        "block",
        description="whom a misattributed act lands on: a random other citizen of the actor's "
        "block, of the block and the actor's group, or of the block and the actor's region "
        "(none there: the act stays with the actor)",
    )
    attention: Attention | None = Field(
        None,
        description="adaptive attention, re-allocated across groups in each block by what the "
        "source found (default: none, detection fixed)",
    )
    data_points_per_day: float = Field(
        0.0, ge=0.0, le=1e6, description="data points collected per fully exposed citizen-day"
    )
    platform: Name | None = Field(
        None,
        description="the platform in `platforms` that runs the source (none: the state runs it, "
        "and everything it sees and collects reaches the state)",
    )
    description: str = Field("", max_length=500)


class Platform(Section):
    """A company that runs sources (a social network, a payment app) and is told to share.

    The platform sees what its sources see and collects their data; the state gets each detection,
    and each data point, with the platform's compliance probability. A banned platform's sources
    see and collect nothing, unless its users move to a ``successor``: then the sources go on,
    run by it, with its compliance (followed along successors while they are banned too).
    """

    name: Name
    compliance: Probability = Field(
        1.0,
        description="chance that the platform passes each detection and data point to the state",
    )
    banned: bool = Field(False, description="banned: its sources stop, or move to its successor")
    successor: Name | None = Field(
        None, description="the platform its users move to once it is banned (none: they leave)"
    )
    description: str = Field("", max_length=500)


class Rule(Section):
    """Points for one observed behaviour."""

    points: int = Field(ge=-10000, le=10000, description="points per observed act")
    yearly_cap: int | None = Field(
        None, ge=1, le=POINTS_MAX, description="most points this rule may award per year"
    )
    lifetime_days: int | None = Field(
        None, ge=1, le=36500, description="days until the record expires (default: rules')"
    )


class Rules(Section):
    """How observations become points."""

    floor: Points = Field(0, description="points never fall below this")
    ceiling: Points = Field(POINTS_MAX, description="points never rise above this")
    lifetime_days: int | None = Field(
        730, ge=1, le=36500, description="days a record counts before its points are restored"
    )
    points: dict[Name, Rule] = Field(
        min_length=1, description="a rule for every behaviour: `name: points` or a mapping"
    )
    lifetime_by_group: dict[Name, Annotated[float, Field(ge=0.01, le=100.0)]] = Field(
        default_factory=dict,
        description="every rule's lifetime times this for the group's records, rounded, at "
        "least 1 day; records that never expire still never do (default 1)",
    )

    @field_validator("points", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """Accept ``red_light: -5`` as a short form of ``red_light: {points: -5}``."""
        if isinstance(value, dict):
            # Any scalar is taken as points, so `-5.5` is reported as a non-integer point value.
            return {k: v if isinstance(v, dict) else {"points": v} for k, v in value.items()}
        return value


class Grade(Section):
    """A band of points; grades are listed from the best to the worst."""

    name: GradeName = Field(description="e.g. AAA; starts with a capital letter")
    min_points: Points | None = Field(None, description="lowest points of the band; none for last")


class Responses(Section):
    """How behaviour responds to the system; only aware citizens respond, unless told otherwise."""

    deterrence: dict[GradeName, Annotated[float, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=dict, description="multiplier on negative acts by the citizen's grade"
    )
    aware_only: bool = Field(True, description="only citizens aware of the system respond")
    punished: Probability = Field(
        1.0, description="multiplier on negative acts of the recently sanctioned (1: no effect)"
    )
    household: Probability = Field(
        1.0, description="the same for their household, usually weaker (1: no effect)"
    )
    coworkers: Probability = Field(
        1.0, description="the same for their co-workers (needs `companies`; 1: no effect)"
    )
    memory_days: int = Field(
        180,
        ge=1,
        le=3650,
        description="how long a sanction deters the punished and their household",
    )
    chilling: float = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description="lawful acts fall by this times the chance of being seen doing them (to 0)",
    )
    contagion: Contagion | None = Field(
        None, description="sanctions spread to neighbours, housemates, co-workers (none: off)"
    )
    incentives: Incentives | None = Field(
        None, description="rewards raise positive acts; gates' stakes deter (none: off)"
    )


class Blacklist(Section):
    """Judgment defaulters: financial distress, then a lawsuit, then listing with a probability."""

    distress_per_year: float = Field(
        0.02, ge=0.0, le=100.0, description="onsets of financial distress per person-year"
    )
    distress_by_group: dict[Name, Multiplier] = Field(
        default_factory=dict, description="distress onset multiplier by group (default 1)"
    )
    distress_by_income: list[Multiplier] | None = Field(
        None, min_length=5, max_length=5, description="onset multiplier by income quintile 1..5"
    )
    distress_days: float = Field(
        365.0, gt=0.0, le=36500.0, description="mean days a distress episode lasts (exponential)"
    )
    lawsuits_per_year: float = Field(
        0.5, ge=0.0, le=365.0, description="lawsuits per person-year while in distress"
    )
    listing_probability: Probability = Field(
        0.5, description="probability that a lost lawsuit (an unpaid judgment) is listed"
    )
    term_days: int = Field(730, ge=1, le=36500, description="days a listing lasts at most")
    term_days_by_group: dict[Name, Annotated[int, Field(ge=1, le=36500)]] = Field(
        default_factory=dict, description="term_days for the group's listings (default term_days)"
    )
    exit_per_year: float = Field(
        0.0, ge=0.0, le=365.0, description="hazard of leaving early: repayment or credit repair"
    )
    points: Annotated[int, Field(ge=-10000, le=0)] = Field(
        0, description="points taken on listing (restored when the listing ends)"
    )
    publish_probability: Probability = Field(
        1.0, description="probability that a listed name is published"
    )
    income_down_on_listing: Probability = Field(
        0.0, description="chance that a listing costs the citizen one income quintile"
    )
    warm_up_days: int = Field(
        0,
        ge=0,
        le=36500,
        description="days of the blacklist's own flows (distress, lawsuits, listings, exits) "
        "run before day 0, so that the list starts near the stock they imply (0: it starts "
        "empty); nothing else runs then, and nothing of them is recorded",
    )


class Redlist(Section):
    """The honour roll: holders of the best grades."""

    grades: list[GradeName] = Field(min_length=1, description="grades whose holders are listed")


class Lists(Section):
    """Blacklists and redlists; each is optional."""

    blacklist: Blacklist | None = None
    redlist: Redlist | None = None


class Gate(Section):
    """A decision that grades and lists control: a loan, a job, a ticket, a seat, a perk."""

    name: Name
    description: str = Field("", max_length=500)
    applicant: Literal["adult", "child"] = Field(
        "adult", description="who applies: an adult, or each school-age child (by the parent)"
    )
    applications_per_year: float = Field(ge=0.0, le=365.0, description="per applicant-year")
    by_group: dict[Name, Multiplier] = Field(
        default_factory=dict, description="application rate multiplier by group"
    )
    by_income: list[Multiplier] | None = Field(
        None, min_length=5, max_length=5, description="application rate by income quintile"
    )
    refuse_blacklisted: bool = Field(
        False, description="blacklisted applicants are refused (jointly punished ones too)"
    )
    require_redlist: bool = Field(False, description="only redlisted applicants pass")
    min_grade: GradeName | None = Field(None, description="applicants below this grade are refused")
    price_by_grade: dict[GradeName, Annotated[float, Field(ge=0.0, le=1000.0)]] = Field(
        default_factory=dict, description="price (e.g. interest multiplier) by grade, default 1"
    )
    seats_per_region: int | None = Field(
        None,
        ge=0,
        le=2_000_000_000,
        description="seats per region per year, given once a year by grade then lottery",
    )
    allocation_day: int = Field(
        243, ge=0, le=364, description="day of the year when seats are allocated"
    )
    income_up_if_approved: Probability = Field(
        0.0, description="chance that approval (a job) lifts the income by one quintile"
    )
    distress_if_refused: Probability = Field(
        0.0, description="chance that a refusal (a loan) throws the applicant into distress"
    )
    policy: Policy | None = Field(
        None, description="how the gate decides (default: by grade and lists, as above)"
    )


class Lending(Section):
    """Loans granted at a gate, repaid or defaulted when their term ends."""

    gate: Name = Field(description="the gate whose approvals are loans")
    term_days: int = Field(365, ge=1, le=3650, description="days until a loan is due")
    repay_intercept: float = Field(
        2.0, ge=-50.0, le=50.0, description="logistic repayment: log-odds at 1000 points"
    )
    repay_per_point: float = Field(
        0.01, ge=-1.0, le=1.0, description="logistic repayment: log-odds per point above 1000"
    )
    repay_by_grade: dict[GradeName, Probability] = Field(
        default_factory=dict, description="repayment probability by grade (replaces the logistic)"
    )
    repay_table: RepayCurve | None = Field(
        None, description="repayment by points, interpolated linearly (replaces the logistic)"
    )
    repay_by_group: dict[Name, RepayModel] = Field(
        default_factory=dict,
        description="a group's own repayment model (replaces the others for its borrowers)",
    )
    interest: float = Field(
        0.08, ge=0.0, le=10.0, description="interest per loan, times the gate's price by grade"
    )
    points_on_repayment: Annotated[int, Field(ge=-10000, le=10000)] = 0
    points_on_default: Annotated[int, Field(ge=-10000, le=10000)] = -50
    distress_on_default: bool = Field(
        True, description="a default throws the borrower into distress"
    )


class Denunciations(Section):
    """Reports of misconduct: each observed act of ``behaviour`` accuses someone nearby."""

    behaviour: Name = Field(description="the positive behaviour whose acts are reports")
    sanction: Name = Field(description="the behaviour whose rule sanctions the accused")
    true_probability: Probability = Field(
        0.5, description="chance that the accused really did what the report says"
    )
    verify_probability: Probability = Field(
        0.3, description="chance that the authority checks a report; a false one is then dropped"
    )
    target: Literal["household", "neighbour", "coworker"] = Field(
        "neighbour",
        description="whom reports accuse: a household member, a neighbour, or a co-worker "
        "(reporters without an employer accuse a neighbour)",
    )
    neighbourhood: int = Field(
        50, ge=1, le=100_000, description="neighbours live within this many places of each other"
    )


class Appeals(Section):
    """Sanctioned citizens may appeal; a won appeal gives back exactly the points taken."""

    probability: Probability = Field(0.1, description="chance that a sanctioned citizen appeals")
    by_group: dict[Name, Multiplier] = Field(
        default_factory=dict, description="appeal probability multiplier by group"
    )
    by_income: list[Multiplier] | None = Field(
        None, min_length=5, max_length=5, description="multiplier by income quintile 1..5"
    )
    success_if_wrongful: Probability = Field(
        0.5, description="chance an appeal wins when the citizen did not do it"
    )
    success_if_deserved: Probability = Field(
        0.05, description="chance an appeal wins when the citizen did it"
    )
    decision_days: int = Field(30, ge=1, le=3650, description="days from sanction to decision")


class CompanyBlacklist(Section):
    """Serious violations put a company on a blacklist that many agencies act on.

    Each agency that receives the list acts on a listing with a probability and takes its own
    points from the company; with joint punishment the legal representative is listed too, and
    refused wherever blacklisted citizens are, for as long as the company stays listed.
    """

    triggers: list[Name] = Field(
        min_length=1, description="company behaviours whose observed acts may list the company"
    )
    listing_probability: Probability = Field(
        0.2, description="chance that an observed act of a trigger lists the company"
    )
    term_days: int = Field(1095, ge=1, le=36500, description="days a listing lasts at most")
    exit_per_year: float = Field(
        0.0, ge=0.0, le=365.0, description="hazard of leaving early: rectification, repair"
    )
    agencies: int = Field(40, ge=0, le=500, description="agencies that receive the list")
    act_probability: Probability = Field(
        1.0, description="chance that each agency acts on a listing (an independent channel)"
    )
    points_per_agency: Annotated[int, Field(ge=-1000, le=0)] = Field(
        -5, description="points each acting agency takes (restored when the listing ends)"
    )
    joint_punishment: bool = Field(
        False, description="the legal representative is listed with the company"
    )
    representative_points: Annotated[int, Field(ge=-10000, le=0)] = Field(
        0, description="points the representative loses by joint punishment (restored after)"
    )


class Companies(Section):
    """Employers: scored entities with their own behaviours, points, grades and blacklist.

    Companies are drawn neighbourhood by neighbourhood (per block of citizens) and employ citizens
    of their own block, so a shard holds its companies whole. Company sizes are log-normal; each
    company's legal representative is one of its employees. Sectors work like population groups:
    their ``income`` weights are revenue quintiles, ``exposure`` the digital footprint and
    ``awareness`` the share of companies that respond to the system.
    """

    per_1000_citizens: float = Field(
        20.0, gt=0.0, le=500.0, description="companies per 1,000 adult citizens"
    )
    employed_share: Probability = Field(
        0.6, description="share of adults employed by a company (the others have no employer)"
    )
    size_spread: float = Field(
        1.5, ge=0.0, le=5.0, description="sigma of the log-normal law of company sizes"
    )
    start_points: Points = Field(1000, description="points every company starts with")
    sectors: list[Group] = Field(min_length=1, max_length=16, description="like groups")
    behaviours: list[Behaviour] = Field(
        min_length=1, max_length=64, description="like behaviours, at rates per company-year"
    )
    rules: Rules
    grades: list[Grade] | None = Field(None, description="default: the citizens' grades")
    responses: Responses = Field(default_factory=Responses)
    blacklist: CompanyBlacklist | None = None


class Panel(Section):
    """Whose dossiers are kept: everyone in small runs, a uniform sample in large ones."""

    full_up_to: int = Field(
        1_000_000,
        ge=0,
        le=2_000_000_000,
        description="every citizen is in the panel up to this size",
    )
    sample: int = Field(
        100_000, ge=0, le=100_000_000, description="expected panel size above it (uniform sample)"
    )


class Run(Section):
    """How long, with which seed, and how the ledger is cut."""

    # Up to a century: days are int32 everywhere, and the uint16 days until which a deterred
    # citizen or company holds back (day + memory_days <= 40,150) stay below 65,535.
    days: int = Field(365, ge=1, le=36500, description="days simulated")
    seed: int = Field(1, ge=0, le=2**63 - 1, description="seed of every random stream")
    panel: Panel = Field(default_factory=Panel)
    block_size: int = Field(
        65536, ge=256, le=1 << 20, description="citizens per random-stream block (power of two)"
    )
    ledger_part_days: int = Field(30, ge=1, le=3650, description="days per ledger part file")
    checkpoint_days: int = Field(
        30, ge=0, le=3650, description="days between checkpoints of a run directory (0: none)"
    )

    @field_validator("block_size")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"must be a power of two, got {value}")
        return value


class Change(Section):
    """Values that change at the start of a day of the run: a rollout, a reform, a ban.

    Each key is a path of :mod:`carnet.scenario.paths` (``rules.points.spitting.points``,
    ``sources.camera.by_group.minority``) and each value what the scenario would hold there. A
    change keeps the scenario's shape: it changes values, never names, never what the society
    was drawn from (``population``, ``companies``' sizes and sectors), never ``run``, and never
    adds or removes a section. Changes of one day apply in the order they are listed.
    """

    day: int = Field(ge=0, le=36499, description="day at whose start the values change (0: first)")
    set: dict[str, Any] = Field(
        min_length=1,
        max_length=256,
        description="the new values, by path (`PATH: VALUE`): values only, never a name, "
        "`population`, companies' sizes and sectors, or `run`; no section added or removed",
    )
    description: str = Field("", max_length=500)


class Scenario(Section):
    """A complete scenario. Build one with :func:`carnet.load_scenario`."""

    name: ScenarioName
    description: str = Field("", max_length=5000)
    population: Population
    behaviours: list[Behaviour] = Field(min_length=1, max_length=64)
    sources: list[Source] = Field(min_length=1, max_length=32)
    rules: Rules
    grades: list[Grade] = Field(min_length=2, max_length=16)
    lists: Lists = Field(default_factory=Lists)
    appeals: Appeals | None = None
    denunciations: Denunciations | None = None
    lending: Lending | None = None
    gates: list[Gate] = Field(default_factory=list, max_length=32)
    companies: Companies | None = None
    responses: Responses = Field(default_factory=Responses)
    platforms: list[Platform] = Field(
        default_factory=list, max_length=32, description="companies that run sources (default none)"
    )
    run: Run = Field(default_factory=Run)
    timeline: list[Change] = Field(
        default_factory=list, max_length=1000, description="dated changes of values (default none)"
    )

    def behaviour_index(self, name: str) -> int:
        """Position of the behaviour called ``name``."""
        return [b.name for b in self.behaviours].index(name)


def _at(*parts: str | int) -> str:
    """The path of a value as errors print it: ``_at("grades", 2, "min_points")``."""
    return format_path(parts)


def cross_check(s: Scenario) -> list[tuple[str, str]]:
    """Checks that relate sections to each other, as ``(path, message)`` pairs.

    Paths are written in the syntax of :mod:`carnet.scenario.paths`, items by position.
    """
    errors: list[tuple[str, str]] = []

    def unique(items: list[Any], path: str) -> None:
        seen: set[str] = set()
        for i, item in enumerate(items):
            if item.name in seen:
                errors.append((f"{path}.{_at(i, 'name')}", f"duplicate name {item.name!r}"))
            seen.add(item.name)

    def shares(items: list[Any], path: str) -> None:
        total = sum(item.share for item in items)
        if abs(total - 1.0) > 1e-6:
            errors.append((path, f"shares must add up to 1, got {total:.6g}"))

    pop = s.population
    unique(pop.groups, "population.groups")
    unique(pop.regions, "population.regions")
    unique(s.behaviours, "behaviours")
    unique(s.sources, "sources")
    unique(s.grades, "grades")
    shares(pop.groups, "population.groups")
    shares(pop.regions, "population.regions")
    for i, g in enumerate(pop.groups):
        if sum(g.income) <= 0:
            errors.append((_at("population", "groups", i, "income"), "weights must not all be 0"))
    n_profiles = len(pop.groups) * len(pop.regions) * 2 * 5
    if n_profiles > 65535:
        errors.append(
            ("population", f"groups x regions x 10 must be at most 65535, got {n_profiles}")
        )

    groups = {g.name for g in pop.groups}
    regions = {r.name for r in pop.regions}
    sources = {src.name for src in s.sources}
    behaviours = {b.name for b in s.behaviours}

    def known(keys: Any, valid: set[str], path: tuple[str | int, ...], what: str) -> None:
        for key in keys:
            if key not in valid:
                errors.append((_at(*path, key), f"unknown {what} {key!r}; known: {sorted(valid)}"))

    for i, b in enumerate(s.behaviours):
        known(b.by_group, groups, ("behaviours", i, "by_group"), "group")
        known(b.by_region, regions, ("behaviours", i, "by_region"), "region")
        seen_sources: set[str] = set()
        for j, obs in enumerate(b.observed_by):
            seen_at = ("behaviours", i, "observed_by", j, "source")
            if obs.source not in sources:
                unknown = f"unknown source {obs.source!r}; known: {sorted(sources)}"
                errors.append((_at(*seen_at), unknown))
            if obs.source in seen_sources:
                errors.append((_at(*seen_at), f"source {obs.source!r} listed twice"))
            seen_sources.add(obs.source)
        if b.name not in s.rules.points:
            errors.append((_at("rules", "points", b.name), f"no rule for behaviour {b.name!r}"))
    for j, src in enumerate(s.sources):
        known(src.by_group, groups, ("sources", j, "by_group"), "group")
    unique(s.platforms, "platforms")
    errors += _check_platforms(s)
    errors += check_attention(s.sources, groups)
    known(s.rules.points, behaviours, ("rules", "points"), "behaviour")
    known(s.rules.lifetime_by_group, groups, ("rules", "lifetime_by_group"), "group")
    for name, rule in s.rules.points.items():
        if rule.yearly_cap is not None and rule.points <= 0:
            errors.append(
                (_at("rules", "points", name, "yearly_cap"), "caps apply to rewards only")
            )

    r = s.rules
    if r.floor >= r.ceiling:
        errors.append(("rules.ceiling", f"must be above floor {r.floor}, got {r.ceiling}"))
    if not r.floor <= pop.start_points <= r.ceiling:
        errors.append(
            (
                "population.start_points",
                f"must lie within rules floor {r.floor} and ceiling {r.ceiling}, "
                f"got {pop.start_points}",
            )
        )

    for i, grade in enumerate(s.grades):
        last = i == len(s.grades) - 1
        if last and grade.min_points is not None:
            errors.append(
                (_at("grades", i, "min_points"), "the last (lowest) grade has no minimum")
            )
        if not last and grade.min_points is None:
            errors.append((_at("grades", i, "min_points"), "required for every grade but the last"))
    mins = [g.min_points for g in s.grades[:-1] if g.min_points is not None]
    for i in range(1, len(mins)):
        if mins[i] >= mins[i - 1]:
            errors.append(
                (
                    _at("grades", i, "min_points"),
                    f"grades go from best to worst: must be below {mins[i - 1]}, got {mins[i]}",
                )
            )
    grade_names = {g.name for g in s.grades}
    known(s.responses.deterrence, grade_names, ("responses", "deterrence"), "grade")
    bl = s.lists.blacklist
    if bl is not None:
        known(bl.distress_by_group, groups, ("lists", "blacklist", "distress_by_group"), "group")
        known(bl.term_days_by_group, groups, ("lists", "blacklist", "term_days_by_group"), "group")
    if s.lists.redlist is not None:
        for i, red in enumerate(s.lists.redlist.grades):
            if red not in grade_names:
                errors.append(
                    (
                        _at("lists", "redlist", "grades", i),
                        f"unknown grade {red!r}; known: {sorted(grade_names)}",
                    )
                )
    if s.appeals is not None:
        known(s.appeals.by_group, groups, ("appeals", "by_group"), "group")
    if s.lending is not None:
        gate_names = [g.name for g in s.gates]
        if s.lending.gate not in gate_names:
            errors.append(("lending.gate", f"unknown gate {s.lending.gate!r}; known: {gate_names}"))
        elif s.gates[gate_names.index(s.lending.gate)].seats_per_region is not None:
            errors.append(("lending.gate", "a loan gate cannot have seats_per_region"))
        known(
            s.lending.repay_by_grade,
            {g.name for g in s.grades},
            ("lending", "repay_by_grade"),
            "grade",
        )
    d = s.denunciations
    if d is not None:
        kinds = {b.name: b.kind for b in s.behaviours}
        for field_name, kind in (("behaviour", "positive"), ("sanction", "negative")):
            name = getattr(d, field_name)
            if name not in kinds:
                errors.append(
                    (
                        f"denunciations.{field_name}",
                        f"unknown behaviour {name!r}; known: {sorted(kinds)}",
                    )
                )
            elif kinds[name] != kind:
                errors.append(
                    (
                        f"denunciations.{field_name}",
                        f"must be a {kind} behaviour, {name!r} is {kinds[name]}",
                    )
                )
    unique(s.gates, "gates")
    for i, gate in enumerate(s.gates):
        where = ("gates", i)
        known(gate.by_group, groups, (*where, "by_group"), "group")
        known(gate.price_by_grade, grade_names, (*where, "price_by_grade"), "grade")
        if gate.min_grade is not None and gate.min_grade not in grade_names:
            errors.append(
                (
                    _at(*where, "min_grade"),
                    f"unknown grade {gate.min_grade!r}; known: {sorted(grade_names)}",
                )
            )
        company_bl = s.companies.blacklist if s.companies is not None else None
        joint = company_bl is not None and company_bl.joint_punishment
        if gate.refuse_blacklisted and bl is None and not joint:
            errors.append(
                (
                    _at(*where, "refuse_blacklisted"),
                    "the scenario has no lists.blacklist (nor companies' joint punishment)",
                )
            )
        if gate.require_redlist and s.lists.redlist is None:
            errors.append((_at(*where, "require_redlist"), "the scenario has no lists.redlist"))

    p = s.run.panel
    if p.sample > p.full_up_to and p.full_up_to > 0:
        errors.append(("run.panel.sample", f"must not exceed full_up_to ({p.full_up_to})"))
    errors += check_responses(
        s.responses.contagion, s.responses.incentives, companies=s.companies is not None,
        gates=bool(s.gates),
        company_contagion=s.companies.responses.contagion if s.companies is not None else None,
    )  # fmt: skip
    return errors + _check_companies(s)


def _check_platforms(s: Scenario) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    names = [p.name for p in s.platforms]
    for i, p in enumerate(s.platforms):
        if p.successor is not None:
            if p.successor not in names:
                unknown = f"unknown platform {p.successor!r}; known: {sorted(names)}"
                errors.append((_at("platforms", i, "successor"), unknown))
            elif p.successor == p.name:
                errors.append(
                    (_at("platforms", i, "successor"), "a platform cannot succeed itself")
                )
    by_name = {p.name: p for p in s.platforms}
    for i, p in enumerate(s.platforms):  # successors must not lead back to where they start
        if p.successor == p.name:
            continue  # said above
        chain, at = [p.name], p.successor
        while at in by_name and at not in chain:
            chain.append(at)
            at = by_name[at].successor
        if at in chain:
            circle = " -> ".join([*chain, at])
            errors.append((_at("platforms", i, "successor"), f"successors go round: {circle}"))
    for j, src in enumerate(s.sources):
        if src.platform is not None and src.platform not in names:
            unknown = f"unknown platform {src.platform!r}; known: {sorted(names)}"
            errors.append((_at("sources", j, "platform"), unknown))
    return errors


def company_view(s: Scenario) -> Scenario:
    """The companies of ``s`` seen as a population of their own, for the same phases to score.

    Sectors play the groups, and the companies' behaviours, rules, grades and responses replace
    the citizens'; regions, sources and the run are shared. The population size is left to the
    caller (see :func:`carnet.sim.employers.company_count`).
    """
    c = s.companies
    if c is None:
        raise ValueError("the scenario has no companies")
    population = s.population.model_copy(
        update={"start_points": c.start_points, "groups": c.sectors,
                "households": Households(adults_mean=1.0, children_mean=0.0)}
    )  # fmt: skip
    return s.model_copy(
        update={
            "population": population, "behaviours": c.behaviours, "rules": c.rules,
            "grades": c.grades or s.grades, "lists": Lists(), "appeals": None,
            "denunciations": None, "lending": None, "gates": [], "responses": c.responses,
            "companies": None,
        }
    )  # fmt: skip


#: Where an error found in :func:`company_view` lies in the scenario itself.
_COMPANY_PATHS = (
    ("population.groups", "companies.sectors"),
    ("population.start_points", "companies.start_points"),
    ("population", "companies.sectors"),
    ("behaviours", "companies.behaviours"),
    ("rules", "companies.rules"),
    ("grades", "companies.grades"),
    ("responses", "companies.responses"),
)


def _check_companies(s: Scenario) -> list[tuple[str, str]]:
    c = s.companies
    errors: list[tuple[str, str]] = []
    if c is None:
        if s.responses.coworkers != 1.0:
            errors.append(("responses.coworkers", "co-workers need a `companies` section"))
        if s.denunciations is not None and s.denunciations.target == "coworker":
            errors.append(("denunciations.target", "co-workers need a `companies` section"))
        return errors
    for path, message in cross_check(company_view(s)):
        for inner, outer in _COMPANY_PATHS:
            if path == inner or path.startswith(inner + "."):
                if inner != "grades" or c.grades is not None:  # else reported for the citizens
                    errors.append((outer + path[len(inner) :], message))
                break
    if c.per_1000_citizens / 1000.0 > c.employed_share:
        errors.append(
            (
                "companies.per_1000_citizens",
                f"every company needs an employee: at most employed_share x 1000 "
                f"({c.employed_share * 1000:g}), got {c.per_1000_citizens:g}",
            )
        )
    if round(s.run.block_size * c.per_1000_citizens / 1000.0) < 1:
        errors.append(
            (
                "companies.per_1000_citizens",
                f"fewer than one company per block of run.block_size ({s.run.block_size}) "
                f"citizens; raise it or the block size",
            )
        )
    bl = c.blacklist
    if bl is not None:
        kinds = {b.name: b.kind for b in c.behaviours}
        for i, name in enumerate(bl.triggers):
            where = _at("companies", "blacklist", "triggers", i)
            if name not in kinds:
                errors.append(
                    (where, f"unknown company behaviour {name!r}; known: {sorted(kinds)}")
                )
            elif kinds[name] != "negative":
                errors.append((where, f"must be a negative behaviour, {name!r} is {kinds[name]}"))
    return errors
