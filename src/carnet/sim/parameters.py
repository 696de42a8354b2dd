"""A scenario compiled into the flat numeric tables that the compiled kernels read.

Citizens carry a *profile*, one uint16 that encodes (group, region, urban, income quintile); every
per-citizen parameter is a row of a table indexed by profile, so the state stays a few bytes per
citizen however rich the scenario is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import POINTS_MAX, POINTS_MIN, Scenario, Source
from carnet.sim.beta import quantised_beta_cdf
from carnet.sim.incentives import (
    contagion_fields,
    lifetimes_by_group,
    reward_multipliers,
    stake_factors,
)
from carnet.sim.streams import BEHAVE, COMPANY_BEHAVE, COMPANY_OBSERVE, OBSERVE

POINTS_OFFSET = -POINTS_MIN  # grade_of_points is indexed by points + POINTS_OFFSET
NO_LIMIT = -1  # no cap, no lifetime
#: Whom a misattributed act lands on (Source.misattributed_to), indexed by Parameters' codes.
MISATTRIBUTED_TO = ("block", "group", "region")

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]
U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
B = npt.NDArray[np.bool_]


class Lookups(NamedTuple):
    """What most kernels read of the scenario: who a profile is, a balance's grade, its bounds."""

    group_of_profile: U8
    income_of_profile: U8
    region_of_profile: U8
    grade_of_points: U8  # [points + POINTS_OFFSET]
    floor: int
    ceiling: int


@dataclass(frozen=True)
class Parameters:
    """Everything the daily step needs from a scenario, as arrays."""

    n_groups: int
    n_regions: int
    n_behaviours: int
    n_sources: int
    n_grades: int
    # profiles: profile = ((group * n_regions + region) * 2 + urban) * 5 + income
    group_of_profile: U8
    region_of_profile: U8
    urban_of_profile: U8
    income_of_profile: U8
    # population synthesis
    group_cum: F64  # cumulative group shares
    income_cum: F64  # [group, 5] cumulative quintile weights
    exposure_ab: F64  # [group, 2] Beta parameters
    exposure_cdf: F64  # [group, 256] P(exposure level <= l), levels rint(255 x) of those Betas
    awareness: F64  # [group]
    region_bounds: npt.NDArray[np.int64]  # first citizen of each region, plus the size
    urban_share: F64  # [region]
    # behave
    behave_keys: U64
    rate_max: F64  # [behaviour] acts per citizen-day at the largest multiplier
    accept: F64  # [profile, behaviour] own rate / maximal rate
    accept_varies: B  # [behaviour] whether acceptance depends on the profile (else: row 0)
    negative: B
    lawful: B
    punished: float  # acceptance factor for negative acts of the recently sanctioned
    household_deterred: float  # the same for their household
    coworkers_deterred: float  # the same for their co-workers
    memory_days: int  # NO_LIMIT when punishment has no lasting effect
    chilling: float
    chance_seen: F64  # [behaviour, group, exposure 0..255] chance that some source sees an act
    deter_aware: F64  # [grade] acceptance factor for negative acts, aware citizens
    deter_unaware: float  # same for citizens who do not respond to the system
    aware_only: bool  # only aware citizens respond (else everyone does; also when all are aware)
    grade_of_points: U8  # [points + POINTS_OFFSET]
    # observe
    observe_keys: U64
    obs_source: npt.NDArray[np.int16]  # [behaviour, slot], -1 where unused
    obs_detect: F64  # [behaviour, slot]
    misattribution: F64  # [source] the largest over groups: 0 where a source never errs
    misattribution_by_group: F64  # [source, actor's group] clipped at 1
    misattributed_to: U8  # [source] whom it lands on: MISATTRIBUTED_TO's index
    exposure_weight: F64  # [source]
    detect_by_group: F64  # [source, group]
    data_rate: F64  # [source] data points per fully exposed citizen-day
    shared: F64  # [source] chance that a detection or data point reaches the state (platforms)
    # score
    rule_points: I32
    rule_cap: I32  # NO_LIMIT or most points per year
    rule_cap_slot: I32  # row in the yearly-earnings array, or NO_LIMIT
    rule_lifetime: I32  # NO_LIMIT or days
    floor: int
    ceiling: int
    # appeals (appeal_days is NO_LIMIT when the scenario has none)
    appeal_p: F64  # [profile] chance that a sanctioned citizen appeals
    win_wrongful: float
    win_deserved: float
    appeal_days: int
    # denunciations (den_behaviour is NO_LIMIT when the scenario has none)
    den_behaviour: int
    den_sanction: int
    den_true: float
    den_verify: float
    den_household: bool
    den_coworker: bool
    den_width: int
    # contagion (carnet.scenario.contagion.Contagion; contagion False: off, the rest unread)
    contagion: bool
    spread_neighbours: float  # rise per unit of block pressure per citizen of the block
    spread_household: float  # multiplier while a housemate's sanction is remembered
    spread_coworkers: float  # the same for a co-worker's
    spread_max: float  # the clip; rate_max of negative behaviours includes it
    spread_listings: bool  # new listings raise the pressure too
    coworker_ties: bool  # whether respond keeps, and behave reads, the co-workers' memory
    # incentives
    reward_varies: B  # [behaviour] acceptance depends on awareness through the reward
    reward_aware: F64  # [behaviour] acceptance factor from the reward, aware citizens
    reward_unaware: F64  # [behaviour] the same, citizens who do not respond
    stakes: bool  # negative acts weigh what a fall of grade costs at the gates
    stake_factor: F64  # [grade now, grade after]
    # record lifetimes by group ([group, behaviour]; read only where lifetime_varies)
    lifetime_varies: bool
    rule_lifetime_by_group: I32

    @property
    def n_profiles(self) -> int:
        """Number of distinct profiles."""
        return len(self.group_of_profile)

    @property
    def n_capped(self) -> int:
        """Number of rules with a yearly cap."""
        return int((self.rule_cap_slot >= 0).sum())

    def lookups(self) -> Lookups:
        """The tables and bounds that most kernels read, as one argument."""
        return Lookups(
            self.group_of_profile, self.income_of_profile, self.region_of_profile,
            self.grade_of_points, self.floor, self.ceiling,
        )  # fmt: skip


def _cumulative(weights: list[float]) -> F64:
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    cum /= cum[-1]
    cum[-1] = 1.0
    return cum


def region_bounds(shares: list[float], size: int) -> npt.NDArray[np.int64]:
    """First citizen of each region: contiguous ranges, so that a block is a neighbourhood."""
    cum = np.cumsum(np.asarray(shares, dtype=np.float64))
    bounds = np.rint(cum / cum[-1] * size).astype(np.int64)
    return np.concatenate(([0], bounds))


def compile_parameters(s: Scenario, *, companies: bool = False) -> Parameters:
    """Compile a validated scenario into arrays.

    With ``companies``, ``s`` is the companies' scenario
    (:func:`~carnet.sim.employers.sized_company_view`), whose behaviours draw from streams of their
    own (``streams.COMPANY_BEHAVE``, ``COMPANY_OBSERVE``).
    """
    pop = s.population
    G, R, K, S = len(pop.groups), len(pop.regions), len(s.behaviours), len(s.sources)
    groups = [g.name for g in pop.groups]
    regions = [r.name for r in pop.regions]
    sources = [src.name for src in s.sources]

    g_p, r_p, u_p, i_p = np.meshgrid(
        np.arange(G), np.arange(R), np.arange(2), np.arange(5), indexing="ij"
    )

    mult = np.ones((g_p.size, K))
    for k, b in enumerate(s.behaviours):
        by_group = np.array([b.by_group.get(name, 1.0) for name in groups])
        by_region = np.array([b.by_region.get(name, 1.0) for name in regions])
        by_income = np.asarray(b.by_income if b.by_income is not None else [1.0] * 5)
        by_area = np.array([b.by_area.rural, b.by_area.urban])
        mult[:, k] = (
            by_group[g_p.ravel()]
            * by_region[r_p.ravel()]
            * by_area[u_p.ravel()]
            * by_income[i_p.ravel()]
        )
    max_mult = mult.max(axis=0)
    accept = np.divide(mult, max_mult, out=np.zeros_like(mult), where=max_mult > 0)

    grades = [g.name for g in s.grades]
    deter = np.array([s.responses.deterrence.get(name, 1.0) for name in grades])
    resp_max = max(1.0, float(deter.max()))
    negative = np.array([b.kind == "negative" for b in s.behaviours])
    rate = np.array([b.rate_per_year for b in s.behaviours]) / 365.0
    rate_max = rate * max_mult * np.where(negative, resp_max, 1.0)
    aware_only = s.responses.aware_only and any(g.awareness < 1.0 for g in pop.groups)
    spread = contagion_fields(s)
    if spread["contagion"]:
        # Candidates at the clip, whatever the pressure: the draws stay those of a scenario
        # with other rules (common random numbers), and acceptance carries the multiplier.
        rate_max = rate_max * np.where(negative, spread["spread_max"], 1.0)
    # Rewards: candidates at the largest multiplier, so that the points of a rule change only
    # acceptance, never the draws. Where everyone responds, the factor folds into acceptance.
    incentives = s.responses.incentives
    reward = reward_multipliers(s)
    rewarded = np.array([b.kind == "positive" for b in s.behaviours])
    reward_varies = np.zeros(K, dtype=np.bool_)
    reward_aware, reward_unaware = np.ones(K), np.ones(K)
    if incentives is not None and incentives.reward_elasticity > 0.0:
        top = incentives.reward_max
        rate_max = rate_max * np.where(rewarded, top, 1.0)
        if aware_only:
            reward_varies = rewarded.copy()
            reward_aware = np.where(rewarded, reward / top, 1.0)
            reward_unaware = np.where(rewarded, 1.0 / top, 1.0)
        else:
            accept = accept * np.where(rewarded, reward / top, 1.0)[None, :]
    stakes = incentives is not None and incentives.gate_stakes > 0.0

    points = np.arange(POINTS_MIN, POINTS_MAX + 1)
    grade_of_points = np.full(points.size, len(grades) - 1, dtype=np.uint8)
    for gi in reversed(range(len(grades) - 1)):
        minimum = s.grades[gi].min_points
        assert minimum is not None  # cross_check guarantees it
        grade_of_points[points >= minimum] = gi

    running, shared = operating(s)
    width = max(1, max(len(b.observed_by) for b in s.behaviours))
    obs_source = np.full((K, width), -1, dtype=np.int16)
    obs_detect = np.zeros((K, width))
    for k, b in enumerate(s.behaviours):
        for j, o in enumerate(b.observed_by):
            obs_source[k, j] = sources.index(o.source)
            obs_detect[k, j] = o.detect if running[obs_source[k, j]] else 0.0

    rule = [s.rules.points[b.name] for b in s.behaviours]
    cap = np.array([NO_LIMIT if r.yearly_cap is None else r.yearly_cap for r in rule], np.int32)
    cap_slot = np.full(K, NO_LIMIT, dtype=np.int32)
    cap_slot[cap >= 0] = np.arange(int((cap >= 0).sum()), dtype=np.int32)
    default_life = s.rules.lifetime_days

    def life(r: object) -> int:
        days = getattr(r, "lifetime_days", None) or default_life
        return NO_LIMIT if days is None else int(days)

    lifetime = np.array([life(r) for r in rule], dtype=np.int32)
    lifetime_varies = bool(s.rules.lifetime_by_group)

    names = [b.name for b in s.behaviours]
    exposure_ab = np.array(
        [
            [
                g.exposure.mean * g.exposure.concentration,
                (1 - g.exposure.mean) * g.exposure.concentration,
            ]
            for g in pop.groups
        ]
    )
    mistaken = np.array(
        [
            [min(1.0, src.misattribution * src.misattribution_by_group.get(g, 1.0)) for g in groups]
            for src in s.sources
        ]
    )

    def adaptive(src: Source) -> bool:
        return src.attention is not None and not companies  # companies: never (see attention)

    return Parameters(
        n_groups=G,
        n_regions=R,
        n_behaviours=K,
        n_sources=S,
        n_grades=len(grades),
        group_of_profile=g_p.ravel().astype(np.uint8),
        region_of_profile=r_p.ravel().astype(np.uint8),
        urban_of_profile=u_p.ravel().astype(np.uint8),
        income_of_profile=i_p.ravel().astype(np.uint8),
        group_cum=_cumulative([g.share for g in pop.groups]),
        income_cum=np.array([_cumulative(g.income) for g in pop.groups]),
        exposure_ab=exposure_ab,
        exposure_cdf=np.array([quantised_beta_cdf(a, b) for a, b in exposure_ab]),
        awareness=np.array([g.awareness for g in pop.groups]),
        region_bounds=region_bounds([r.share for r in pop.regions], pop.size),
        urban_share=np.array([r.urban_share for r in pop.regions]),
        behave_keys=(COMPANY_BEHAVE if companies else BEHAVE).ids(names),
        rate_max=rate_max,
        accept=accept,
        accept_varies=(accept != accept[:1]).any(axis=0),
        negative=negative,
        lawful=np.array([b.kind == "lawful" for b in s.behaviours]),
        punished=s.responses.punished,
        household_deterred=s.responses.household,
        coworkers_deterred=s.responses.coworkers,
        memory_days=(
            NO_LIMIT
            if s.responses.punished == s.responses.household == s.responses.coworkers == 1.0
            and spread["spread_household"] == spread["spread_coworkers"] == 1.0
            else s.responses.memory_days
        ),
        chilling=s.responses.chilling,
        chance_seen=_chance_seen(obs_source, obs_detect, s),
        deter_aware=deter / resp_max,
        deter_unaware=1.0 / resp_max,
        # Where everyone is aware, "only the aware respond" is "everyone responds", and behave
        # need not read who is: fewer of the citizens' arrays visited per act.
        aware_only=aware_only,
        grade_of_points=grade_of_points,
        observe_keys=(COMPANY_OBSERVE if companies else OBSERVE).ids(names),
        obs_source=obs_source,
        obs_detect=obs_detect,
        misattribution=mistaken.max(axis=1, initial=0.0),
        misattribution_by_group=mistaken,
        misattributed_to=np.array(
            [MISATTRIBUTED_TO.index(src.misattributed_to) for src in s.sources], np.uint8
        ),
        exposure_weight=np.array([src.exposure_weight for src in s.sources]),
        detect_by_group=np.array(
            [
                # An adaptive source's by_group sets its initial allocation instead (attention).
                [1.0 if adaptive(src) else src.by_group.get(g, 1.0) for g in groups]
                for src in s.sources
            ]
        ),
        data_rate=np.array([src.data_points_per_day for src in s.sources]) * running,
        shared=shared,
        rule_points=np.array([r.points for r in rule], dtype=np.int32),
        rule_cap=cap,
        rule_cap_slot=cap_slot,
        rule_lifetime=lifetime,
        floor=s.rules.floor,
        ceiling=s.rules.ceiling,
        **_appeals(s, g_p.ravel(), i_p.ravel()),
        **_denunciations(s),
        **spread,
        coworker_ties=s.responses.coworkers != 1.0 or spread["spread_coworkers"] != 1.0,
        reward_varies=reward_varies,
        reward_aware=reward_aware,
        reward_unaware=reward_unaware,
        stakes=stakes,
        stake_factor=stake_factors(s),
        lifetime_varies=lifetime_varies,
        rule_lifetime_by_group=(
            lifetimes_by_group(s, lifetime) if lifetime_varies else np.empty((0, K), np.int32)
        ),
    )


def operating(s: Scenario) -> tuple[F64, F64]:
    """Whether each source runs (1 or 0), and the chance that what it finds reaches the state.

    The chance is 1 for the state's own sources; for a platform's, its compliance, or once it is
    banned its successor's (along successors while they are banned too); a banned platform with
    no successor left runs nothing.
    """
    platforms = {p.name: p for p in s.platforms}
    running = np.ones(len(s.sources))
    shared = np.ones(len(s.sources))
    for j, src in enumerate(s.sources):
        at = platforms.get(src.platform) if src.platform is not None else None
        while at is not None and at.banned:
            at = platforms.get(at.successor) if at.successor is not None else None
            if at is None:
                running[j] = shared[j] = 0.0
        if at is not None:
            shared[j] = at.compliance
    return running, shared


def _chance_seen(obs_source: npt.NDArray[np.int16], obs_detect: F64, s: Scenario) -> F64:
    """Chance that some source sees an act, by behaviour, group and digital exposure."""
    groups = [g.name for g in s.population.groups]
    exposure = np.arange(256) / 255.0
    unseen = np.ones((len(s.behaviours), len(groups), 256))
    for k in range(len(s.behaviours)):
        for slot in range(obs_source.shape[1]):
            src = int(obs_source[k, slot])
            if src < 0:
                break
            source = s.sources[src]
            w = source.exposure_weight
            for gi, g in enumerate(groups):
                p = obs_detect[k, slot] * source.by_group.get(g, 1.0) * (1 - w + w * exposure)
                unseen[k, gi] *= 1.0 - np.minimum(p, 1.0)
    return 1.0 - unseen


def _denunciations(s: Scenario) -> dict[str, Any]:
    d = s.denunciations
    if d is None:
        return {"den_behaviour": NO_LIMIT, "den_sanction": NO_LIMIT, "den_true": 0.0,
                "den_verify": 0.0, "den_household": False, "den_coworker": False,
                "den_width": 1}  # fmt: skip
    index = {b.name: k for k, b in enumerate(s.behaviours)}
    return {
        "den_behaviour": index[d.behaviour],
        "den_sanction": index[d.sanction],
        "den_true": d.true_probability,
        "den_verify": d.verify_probability,
        "den_household": d.target == "household",
        "den_coworker": d.target == "coworker",
        "den_width": d.neighbourhood,
    }


def _appeals(
    s: Scenario, group: npt.NDArray[np.intp], income: npt.NDArray[np.intp]
) -> dict[str, Any]:
    a = s.appeals
    if a is None:
        return {"appeal_p": np.zeros(group.size), "win_wrongful": 0.0, "win_deserved": 0.0,
                "appeal_days": NO_LIMIT}  # fmt: skip
    by_group = np.array([a.by_group.get(g.name, 1.0) for g in s.population.groups])
    by_income = np.asarray(a.by_income or [1.0] * 5)
    p = np.minimum(1.0, a.probability * by_group[group] * by_income[income])
    return {"appeal_p": p, "win_wrongful": a.success_if_wrongful,
            "win_deserved": a.success_if_deserved, "appeal_days": a.decision_days}  # fmt: skip
