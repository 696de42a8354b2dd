"""The daily step: the whole day of one shard, phase by phase, in the order :func:`step` says."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from carnet.sim.employers import Staff
from carnet.sim.parameters import Parameters
from carnet.sim.phases.attention import AttentionRules, AttentionState
from carnet.sim.phases.behave import NO_PRESSURE, Acts, behave
from carnet.sim.phases.company_lists import CompanyListings, CompanyListRules, company_list_phase
from carnet.sim.phases.contagion import spread
from carnet.sim.phases.events import DueQueue
from carnet.sim.phases.expiry import ExpiryQueue
from carnet.sim.phases.gates import GateDay, GateRules, gate_phase, update_wrongful_balance
from carnet.sim.phases.lending import LOAN_REPAID, LendingRules, settle_loans
from carnet.sim.phases.lists import ListRules, ListState, distress_from, list_phase
from carnet.sim.phases.observe import Observations, observe
from carnet.sim.phases.platforms import withhold
from carnet.sim.phases.record import Recorder
from carnet.sim.phases.respond import respond
from carnet.sim.phases.score import score
from carnet.sim.policies import Learner
from carnet.sim.population import State
from carnet.sim.records import Records
from carnet.sim.streams import DISTRESS_AFTER_DEFAULT, DISTRESS_AFTER_REFUSAL


@dataclass
class Shard:
    """A contiguous range of citizen blocks with everything needed to step it through a day."""

    parameters: Parameters
    state: State
    recorder: Recorder
    seed: int
    block_size: int
    list_rules: ListRules | None = None
    gate_rules: GateRules | None = None
    lending: LendingRules | None = None
    loans: DueQueue = field(default_factory=DueQueue)  # granted loans, due at term: points then
    acts: Acts = field(default_factory=lambda: Acts(1 << 12))
    observations: Observations = field(default_factory=lambda: Observations(1 << 12))
    queue: ExpiryQueue = field(default_factory=ExpiryQueue)
    listings: ListState = field(default_factory=lambda: ListState(DueQueue(), DueQueue()))
    today: GateDay = field(default_factory=GateDay)
    staff: Staff = field(default_factory=Staff.none)  # who works where
    companies: Shard | None = None  # the shard's companies, scored like citizens
    company_lists: CompanyListRules | None = None
    company_listings: CompanyListings = field(default_factory=CompanyListings)
    attention_rules: AttentionRules | None = None  # adaptive sources, if any
    attention: AttentionState | None = None
    learner: Learner | None = None  # the blocks' lenders, with a learned policy
    panel_start: npt.NDArray[np.int16] | None = None  # the panel's start points, if drawn
    pressure: npt.NDArray[np.int64] = field(default_factory=lambda: NO_PRESSURE)  # contagion's


def step(shard: Shard, day: int) -> None:
    """One day: behave → observe → score → list → gate → respond → record.

    Right after observe, what platforms keep from the state is dropped (phases.platforms).
    Adaptive sources' attention (phases.attention) is set again at the end of each period, after
    respond and before record.

    Companies go first through the same phases, and their listings may punish their
    representatives jointly. Seat allocations, which span shards, follow once every shard has
    stepped (:meth:`carnet.sim.simulation.Simulation.advance`).
    """
    state, t, rec, staff = shard.state, shard.parameters, shard.recorder, shard.staff
    acts = behave(state, t, shard.seed, shard.block_size, day, shard.acts, staff, shard.pressure)
    watching = shard.attention
    watch = watching.watch() if watching is not None else None
    observations = observe(
        state, t, shard.seed, shard.block_size, day, acts, shard.observations, watch
    )
    withhold(state, t, acts, observations, rec.withheld[day])
    shard.observations = observations
    changes = score(
        state, t, day, acts, observations, shard.queue, shard.block_size, rec.denunciations[day],
        staff,
    )  # fmt: skip
    if shard.companies is not None:
        changes = Records.concat([changes, company_day(shard, day)])
    if shard.list_rules is not None:
        listed = list_phase(
            state, t, shard.list_rules, shard.listings, shard.seed, shard.block_size, day,
            rec.lists[day],
        )  # fmt: skip
        changes = Records.concat([changes, listed])
    lists = shard.list_rules
    if shard.lending is not None:
        due = shard.loans.pop(day)
        settled, troubled = settle_loans(
            state, t, shard.lending, due, shard.seed, day, rec.lending[day]
        )
        if shard.learner is not None and shard.gate_rules is not None:
            # The lenders see the loans they granted settle, and nothing else.
            citizen, points_then = due
            shard.learner.observe(
                (citizen + state.first_citizen) // shard.block_size,
                t.group_of_profile[state.profile[citizen]].astype(np.int64),
                points_then, settled.kind == LOAN_REPAID, t.floor,
                shard.gate_rules.policy.bin_points,
            )  # fmt: skip
        changes = Records.concat([changes, settled])
        if lists is not None:
            distress_from(
                state,
                t,
                lists,
                shard.listings,
                troubled,
                shard.seed,
                day,
                rec.lists[day],
                DISTRESS_AFTER_DEFAULT,
            )
    if shard.gate_rules is not None:
        # The gates' view of what a truthful record would say.
        update_wrongful_balance(state, changes)
        loan_gate = shard.lending.gate if shard.lending is not None else -1
        policy = shard.gate_rules.policy
        if shard.learner is not None and day and day % policy.refit_days == 0:
            shard.learner.refit(policy, t.floor, t.ceiling)
        thresholds = rec.thresholds[day] if rec.thresholds is not None else None
        today = gate_phase(
            state, t, shard.gate_rules, shard.seed, shard.block_size, day, rec.gates[day],
            rec.gates_wrongful[day], loan_gate, shard.learner, thresholds,
        )  # fmt: skip
        shard.today = today
        if lists is not None:
            refused = np.concatenate([np.empty(0, np.int64), *today.distressed])
            distress_from(
                state,
                t,
                lists,
                shard.listings,
                refused,
                shard.seed,
                day,
                rec.lists[day],
                DISTRESS_AFTER_REFUSAL,
            )
        if shard.lending is not None:
            for citizen, points in today.loans:
                shard.loans.push(
                    np.full(len(citizen), day + shard.lending.term_days), citizen, points
                )
    respond(state, t, day, changes, shard.block_size, staff)
    spread(shard.pressure, t, changes, shard.block_size)
    if watching is not None and shard.attention_rules is not None:
        # Today's allocation is recorded before the period's end sets the next one.
        rec.record_attention(shard.attention_rules, watching, day)
        watching.end_of_day(shard.attention_rules, day)
    rec.record(state, t, day, observations, changes)
    if shard.gate_rules is not None:
        rec.record_gates(state, day, shard.today)


def company_day(shard: Shard, day: int) -> Records:
    """The companies' day: behave → observe → score → list → respond → record.

    Returns the point changes that joint punishment brought on citizens today.
    """
    co = shard.companies
    assert co is not None
    ct, rec = co.parameters, co.recorder
    acts = behave(co.state, ct, co.seed, co.block_size, day, co.acts)
    co.observations = observe(co.state, ct, co.seed, co.block_size, day, acts, co.observations)
    withhold(co.state, ct, acts, co.observations, rec.withheld[day])
    changes = score(
        co.state, ct, day, acts, co.observations, co.queue, co.block_size, rec.denunciations[day]
    )
    joint = Records(0)
    if shard.company_lists is not None:
        listed, joint = company_list_phase(
            co.state, ct, shard.state, shard.parameters, shard.staff.representative,
            shard.company_lists, shard.company_listings, changes, shard.seed, day,
            rec.lists[day], shard.recorder.joint[day],
        )  # fmt: skip
        changes = Records.concat([changes, listed])
    respond(co.state, ct, day, changes)
    rec.record(co.state, ct, day, co.observations, changes)
    return joint
