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
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.scenario.schema import Scenario
from carnet.sim.jit import kernel
from carnet.sim.parameters import Lookups, Parameters
from carnet.sim.phases.events import DueQueue
from carnet.sim.phases.lists import DELISTING, LISTING
from carnet.sim.population import JOINT, LISTED, WRONGFUL, State
from carnet.sim.records import ACT, RecordColumns, Records
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


class CompanyListRules(NamedTuple):
    """The company blacklist as numbers, and the ledger codes of its rows: kernels take it whole."""

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
    entities: State,
    bit: np.uint8,
    look: Lookups,
    counts: I64,
    column: int,
    wrong_column: int,
    out: RecordColumns,
) -> None:  # pragma: no cover - compiled
    """End listings (``bit``) of companies or representatives, counted in ``counts[:, column]``."""
    flags, points = entities.flags, entities.points
    for j in range(len(leave)):
        c = leave[j]
        wrongful = flags[c] & WRONGFUL
        out.truly_done[j] = not wrongful  # the end of a listing keeps the truth of its start
        flags[c] &= ~(bit | WRONGFUL)
        g = look.group_of_profile[entities.profile[c]]
        counts[g, column] += 1
        if wrongful:
            counts[g, wrong_column] += 1
        before = int(points[c])
        after = min(max(before - int(amount[j]), look.floor), look.ceiling)
        points[c] = after
        out.citizen[j], out.before[j], out.after[j] = c, before, after


@kernel()
def _begin(
    today: RecordColumns,
    n_changes: int,
    seed: np.uint64,
    key: np.uint64,
    day: int,
    rules: CompanyListRules,
    companies: State,
    company_look: Lookups,
    representative: I64,
    citizens: State,
    look: Lookups,
    counts: I64,
    joint_counts: I64,
    listed: RecordColumns,
    due: I64,
    rep: RecordColumns,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """List companies for today's violations (``today``: their point changes of the day)."""
    flags, points, profile = companies.flags, companies.points, companies.profile
    c_flags, c_points, c_profile = citizens.flags, citizens.points, citizens.profile
    n = n_rep = 0
    for j in range(n_changes):
        k, e = today.behaviour[j], today.citizen[j]
        if today.kind[j] != ACT or not rules.triggers[k] or flags[e] & LISTED:
            continue
        truly = today.truly_done[j]
        # One decision per company and day, from a stream of its own (common random numbers).
        stream = stream_key(seed, key, day, companies.first_citizen + e)
        if side_uniform(stream, 0) >= rules.p_list:
            continue
        flags[e] |= LISTED
        g = company_look.group_of_profile[profile[e]]  # the company's sector
        counts[g, ENTRIES] += 1
        if not truly:
            flags[e] |= WRONGFUL
            counts[g, WRONG_IN] += 1
        days = rules.term_days
        if rules.exit_rate > 0.0:
            days = min(days, 1 + int(-np.log1p(-side_uniform(stream, 1)) / rules.exit_rate))
        acting = 0
        for _ in range(rules.agencies):  # each agency is an independent sanction channel
            stream, u = uniform(stream)
            if u < rules.act_p:
                acting += 1
        counts[g, AGENCY_SANCTIONS] += acting
        before = int(points[e])
        change = acting * rules.points_per_agency
        after = min(max(before + change, company_look.floor), company_look.ceiling)
        points[e] = after
        listed.citizen[n], listed.before[n], listed.after[n] = e, before, after
        listed.truly_done[n], due[n] = truly, day + days
        n += 1
        if rules.joint:
            r = representative[e]
            c_flags[r] |= JOINT
            rg = look.group_of_profile[c_profile[r]]
            joint_counts[rg, JOINT_PUNISHED] += 1
            if not truly:
                c_flags[r] |= WRONGFUL
                joint_counts[rg, JOINT_WRONGFUL] += 1
            counts[g, JOINT_IN] += 1
            before = int(c_points[r])
            after = min(max(before + rules.representative_points, look.floor), look.ceiling)
            c_points[r] = after
            rep.citizen[n_rep], rep.before[n_rep], rep.after[n_rep] = r, before, after
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
    company_look, look = ct.lookups(), t.lookups()
    _end(leave, amount, companies, LISTED, company_look, counts, EXITS, WRONG_OUT, ended.columns())
    _end(
        released, released_amount, citizens, JOINT, look, joint_counts, JOINT_RELEASED,
        JOINT_WRONGFUL_RELEASED, freed.columns(),
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
        today.columns(), m, seed_key(seed), COMPANY_BLACKLIST.id, day, rules, companies,
        company_look, representative, citizens, look, counts, joint_counts, listed.columns(), due,
        rep.columns(),
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
