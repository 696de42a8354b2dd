"""list, for companies: the blacklist of serious violators, its agencies and joint punishment.

An observed act of a trigger behaviour (tax arrears, a serious environmental or product-quality
violation) lists the company with a probability, at most once a day. Every agency that receives the
list acts on the listing with a probability, as an independent sanction channel, and takes its own
points; with joint punishment the company's legal representative is listed too (the JOINT flag),
loses points, and is refused wherever blacklisted citizens are. Everything comes back when the
listing ends: at its term, or earlier at the exit hazard. The truth of the violation is kept on
every row, the representative's included (joint punishment sanctions someone for a company's act),
and in the WRONGFUL flag while a listing rests on a violation that never happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import kernel
from carnet.sim.parameters import Parameters
from carnet.sim.phases.events import DueQueue
from carnet.sim.phases.lists import DELISTING, LISTING
from carnet.sim.population import JOINT, LISTED, WRONGFUL, State
from carnet.sim.records import ACT, Records
from carnet.sim.rng import side_uniform, stream_key, uniform
from carnet.sim.streams import COMPANY_BLACKLIST, seed_key

#: Daily counts by sector: the company metrics that this phase feeds.
COUNTS = ("blacklist_entries", "blacklist_exits", "agency_sanctions", "joint_punishments",
          "joint_releases", "wrongful_entries", "wrongful_exits")  # fmt: skip
ENTRIES, EXITS, AGENCY_SANCTIONS, JOINT_IN, JOINT_OUT, WRONG_IN, WRONG_OUT = range(7)
#: Daily counts by citizen group: representatives punished for their company, and released; and
#: those of them punished for a violation their company did not commit.
JOINT_COUNTS = ("joint_punishments", "joint_releases", "joint_wrongful", "joint_wrongful_releases")
JOINT_PUNISHED, JOINT_RELEASED, JOINT_WRONGFUL, JOINT_WRONGFUL_RELEASED = range(4)

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CompanyListRules:
    """The company blacklist as numbers, and the ledger codes of its rows."""

    triggers: npt.NDArray[np.bool_]  # [company behaviour]
    p_list: float
    term_days: int
    exit_rate: float  # per day
    agencies: int
    act_p: float
    points_per_agency: int
    joint: bool
    representative_points: int
    company_behaviour: int  # company ledger code of "blacklist"
    company_source: int  # company ledger code of "agencies"
    citizen_behaviour: int  # citizen ledger code of "company_blacklist"
    citizen_source: int  # citizen ledger code of "joint_punishment"

    @classmethod
    def build(cls, s: Scenario) -> CompanyListRules | None:
        """The company blacklist of ``s``, or None if it has none."""
        c = s.companies
        if c is None or c.blacklist is None:
            return None
        bl = c.blacklist
        return cls(
            triggers=np.array([b.name in bl.triggers for b in c.behaviours]),
            p_list=bl.listing_probability,
            term_days=bl.term_days,
            exit_rate=bl.exit_per_year / 365.0,
            agencies=bl.agencies,
            act_p=bl.act_probability,
            points_per_agency=bl.points_per_agency,
            joint=bl.joint_punishment,
            representative_points=bl.representative_points,
            company_behaviour=len(c.behaviours),
            company_source=len(s.sources),
            citizen_behaviour=len(s.behaviours) + 2,  # after "judgment_default" and "loan"
            citizen_source=len(s.sources) + 2,  # after "blacklist" and "lender"
        )


@dataclass
class CompanyListings:
    """A shard's pending ends of company listings, and of their representatives' joint listings."""

    exits: DueQueue = field(default_factory=DueQueue)
    releases: DueQueue = field(default_factory=DueQueue)


@kernel()
def _end(
    leave: I64,
    amount: I64,
    flags: npt.NDArray[np.uint8],
    points: npt.NDArray[np.int16],
    bit: np.uint8,
    floor: int,
    ceiling: int,
    profile: npt.NDArray[np.uint16],
    group_of_profile: npt.NDArray[np.uint8],
    counts: I64,
    column: int,
    wrong_column: int,
    c_citizen: I64,
    c_before: npt.NDArray[np.int16],
    c_after: npt.NDArray[np.int16],
    c_truly: npt.NDArray[np.bool_],
) -> None:  # pragma: no cover - compiled
    for j in range(len(leave)):
        c = leave[j]
        wrongful = flags[c] & WRONGFUL
        c_truly[j] = not wrongful  # the end of a listing keeps the truth of its start
        flags[c] &= ~(bit | WRONGFUL)
        g = group_of_profile[profile[c]]
        counts[g, column] += 1
        if wrongful:
            counts[g, wrong_column] += 1
        before = int(points[c])
        after = min(max(before - int(amount[j]), floor), ceiling)
        points[c] = after
        c_citizen[j], c_before[j], c_after[j] = c, before, after


@kernel()
def _begin(
    company: I64,
    behaviour: npt.NDArray[np.int16],
    kind: npt.NDArray[np.uint8],
    truly: npt.NDArray[np.bool_],
    n_changes: int,
    seed: np.uint64,
    key: np.uint64,
    day: int,
    first_company: int,
    triggers: npt.NDArray[np.bool_],
    p_list: float,
    term_days: int,
    exit_rate: float,
    agencies: int,
    act_p: float,
    points_per_agency: int,
    joint: bool,
    representative_points: int,
    flags: npt.NDArray[np.uint8],
    points: npt.NDArray[np.int16],
    profile: npt.NDArray[np.uint16],
    sector_of_profile: npt.NDArray[np.uint8],
    floor: int,
    ceiling: int,
    representative: I64,
    c_flags: npt.NDArray[np.uint8],
    c_points: npt.NDArray[np.int16],
    c_profile: npt.NDArray[np.uint16],
    c_group_of_profile: npt.NDArray[np.uint8],
    c_floor: int,
    c_ceiling: int,
    counts: I64,
    joint_counts: I64,
    out_company: I64,
    out_before: npt.NDArray[np.int16],
    out_after: npt.NDArray[np.int16],
    out_truly: npt.NDArray[np.bool_],
    out_due: I64,
    out_rep: I64,
    out_rep_before: npt.NDArray[np.int16],
    out_rep_after: npt.NDArray[np.int16],
) -> tuple[int, int]:  # pragma: no cover - compiled
    n = n_rep = 0
    for j in range(n_changes):
        k, e = behaviour[j], company[j]
        if kind[j] != ACT or not triggers[k] or flags[e] & LISTED:
            continue
        # One decision per company and day, from a stream of its own (common random numbers).
        state = stream_key(seed, key, day, first_company + e)
        if side_uniform(state, 0) >= p_list:
            continue
        flags[e] |= LISTED
        g = sector_of_profile[profile[e]]
        counts[g, ENTRIES] += 1
        if not truly[j]:
            flags[e] |= WRONGFUL
            counts[g, WRONG_IN] += 1
        days = term_days
        if exit_rate > 0.0:
            days = min(days, 1 + int(-np.log1p(-side_uniform(state, 1)) / exit_rate))
        acting = 0
        for _ in range(agencies):  # each agency is an independent sanction channel
            state, u = uniform(state)
            if u < act_p:
                acting += 1
        counts[g, AGENCY_SANCTIONS] += acting
        before = int(points[e])
        after = min(max(before + acting * points_per_agency, floor), ceiling)
        points[e] = after
        out_company[n], out_before[n], out_after[n] = e, before, after
        out_truly[n], out_due[n] = truly[j], day + days
        n += 1
        if joint:
            r = representative[e]
            c_flags[r] |= JOINT
            rg = c_group_of_profile[c_profile[r]]
            joint_counts[rg, 0] += 1
            if not truly[j]:
                c_flags[r] |= WRONGFUL
                joint_counts[rg, 2] += 1
            counts[g, JOINT_IN] += 1
            before = int(c_points[r])
            after = min(max(before + representative_points, c_floor), c_ceiling)
            c_points[r] = after
            out_rep[n_rep], out_rep_before[n_rep], out_rep_after[n_rep] = r, before, after
            n_rep += 1
    return n, n_rep


def company_list_phase(
    companies: State,
    ct: Parameters,
    citizens: State,
    t: Parameters,
    representative: I64,
    rules: CompanyListRules,
    queues: CompanyListings,
    today: Records,
    seed: int,
    day: int,
    counts: I64,
    joint_counts: I64,
) -> tuple[Records, Records]:
    """End listings due today, then list companies for today's violations.

    ``today`` holds the companies' point changes of the day; returns the companies' and the
    citizens' (representatives') list point changes.
    """
    # Groups are looked up per entity inside the kernels: a gather over every citizen here would
    # be a dense pass each day (it was a third of `china`'s run time).
    leave, amount = queues.exits.pop(day)
    released, released_amount = queues.releases.pop(day)
    ended, freed = Records(len(leave)), Records(len(released))
    _end(
        leave, amount, companies.flags, companies.points, LISTED, ct.floor, ct.ceiling,
        companies.profile, ct.group_of_profile, counts, EXITS, WRONG_OUT, ended.citizen,
        ended.before, ended.after, ended.truly_done,
    )  # fmt: skip
    _end(
        released, released_amount, citizens.flags, citizens.points, JOINT, t.floor, t.ceiling,
        citizens.profile, t.group_of_profile, joint_counts, 1, 3, freed.citizen, freed.before,
        freed.after, freed.truly_done,
    )  # fmt: skip
    if rules.joint:
        # Representatives leave with their company: count them by the company's sector too.
        sector = ct.group_of_profile[companies.profile[leave]]
        np.add.at(counts[:, JOINT_OUT], sector.astype(np.int64), 1)
    first_company = companies.first_citizen
    m = today.n
    listed = Records(m)
    due = np.empty(m, np.int64)
    rep = Records(m)
    n, n_rep = _begin(
        today.citizen, today.behaviour, today.kind, today.truly_done, m, seed_key(seed),
        COMPANY_BLACKLIST.id, day, first_company, rules.triggers, rules.p_list,
        rules.term_days, rules.exit_rate, rules.agencies, rules.act_p, rules.points_per_agency,
        rules.joint, rules.representative_points, companies.flags, companies.points,
        companies.profile, ct.group_of_profile, ct.floor, ct.ceiling, representative,
        citizens.flags, citizens.points, citizens.profile, t.group_of_profile, t.floor,
        t.ceiling, counts, joint_counts, listed.citizen, listed.before, listed.after,
        listed.truly_done, due, rep.citizen, rep.before, rep.after,
    )  # fmt: skip
    undo = listed.after[:n].astype(np.int64) - listed.before[:n]
    queues.exits.push(due[:n], listed.citizen[:n].copy(), undo)
    if n_rep:
        rep_undo = rep.after[:n_rep].astype(np.int64) - rep.before[:n_rep]
        queues.releases.push(due[:n], rep.citizen[:n_rep].copy(), rep_undo)
    rep.truly_done[:n_rep] = listed.truly_done[:n_rep]
    company_rows = Records.concat(
        [
            _label(ended, len(leave), DELISTING, rules.company_behaviour, rules.company_source),
            _label(listed, n, LISTING, rules.company_behaviour, rules.company_source),
        ]
    )
    company_rows.actor[:] = company_rows.citizen + first_company
    citizen_rows = Records.concat(
        [
            _label(freed, len(released), DELISTING, rules.citizen_behaviour, rules.citizen_source),
            _label(rep, n_rep, LISTING, rules.citizen_behaviour, rules.citizen_source),
        ]
    )
    citizen_rows.actor[:] = -1  # not an act of any citizen: the company's
    return company_rows, citizen_rows


def _label(rows: Records, n: int, kind: int, behaviour: int, source: int) -> Records:
    """Fill in the reason of list rows."""
    rows.n = n
    rows.behaviour[:n] = behaviour
    rows.source[:n] = source
    rows.kind[:n] = kind
    rows.appeal[:n] = 0
    return rows.head(n)
