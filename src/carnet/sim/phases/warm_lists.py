"""A warm start for the blacklist: its own flows over a stated number of days before day 0.

A list that starts empty fills over its first terms: a one-year run of a national list reports a
fraction of the stock that its parameters imply. ``lists.blacklist.warm_up_days`` (W) lets the
run begin where the list phase (:mod:`carnet.sim.phases.lists`) would be after W days on its own:
distress onsets and recoveries, lawsuits while distressed, listings and their ends, with the same
laws, day by day, as the list phase draws them. Then what is pending passes to the run: a
recovery or an exit due on day ``d`` of the warm-up is due on day ``d - W`` of the run; the
listed hold their listing's points and flags on day 0. Nothing of the warm-up is recorded.

The list phase on its own is a process of each citizen apart, so the warm-up draws it citizen by
citizen, event by event, from the citizen's own stream (``streams.WARM_UP``): the number of onset
candidates in the W days (Poisson, at the largest onset rate), each one's day, acceptance and
length; in each episode of distress the number of lawsuits (Poisson at the lawsuit rate over its
days before day 0) and each one's day, listing, publication, early exit and loss of income. Its
cost is one draw per citizen and a few per event, not W days of candidates. Nothing else runs in
the warm-up: no behaviour, no gate, no loan, so the distress that refusals and defaults bring is
not in the warm stock (a run adds it from day 0).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from carnet.sim.jit import kernel
from carnet.sim.parameters import Lookups, Parameters
from carnet.sim.phases.events import DueQueue
from carnet.sim.phases.lists import ListRules, ListState
from carnet.sim.population import DISTRESSED, LISTED, PUBLISHED, State
from carnet.sim.rng import poisson_inverse, stream_key, uniform
from carnet.sim.streams import WARM_UP, seed_key

I64 = npt.NDArray[np.int64]
MAX_ONSETS = 64  # onset candidates a citizen has room for at first (more: room is made)
INSERTION_SORT_UP_TO = 64  # onset candidates sorted by insertion; more by a merge sort
CHUNK = 1 << 20  # citizens warmed up at a time


@kernel()
def _warm_up(
    state: State,
    rules: ListRules,
    look: Lookups,
    seed: np.uint64,
    key: np.uint64,
    days: int,
    lo: int,
    recover: I64,
    leave: I64,
    amount: I64,
) -> None:  # pragma: no cover - compiled
    """For citizens ``lo .. lo + len(recover) - 1``, the list phase's events over warm-up days.

    Writes, per citizen, the warm-up day its distress ends (``recover``) and its listing ends
    (``leave``, with the points to give back, ``amount``), or -1 where nothing is pending.
    """
    onsets = rules.onset_rate * days
    p0 = np.exp(-onsets)
    onset_day = np.empty(MAX_ONSETS, np.int64)
    onset_u = np.empty((MAX_ONSETS, 2))
    flags, points, profile = state.flags, state.points, state.profile
    for at in range(len(recover)):  # at: the citizen's place in the chunk's answers
        c = lo + at
        recover[at] = leave[at] = -1
        amount[at] = 0
        stream = stream_key(seed, key, 0, state.first_citizen + c)
        stream, k = poisson_inverse(stream, onsets, p0)
        if k == 0:
            continue
        if k > len(onset_day):  # far beyond any calibrated rate: room for every candidate
            onset_day = np.empty(k, np.int64)
            onset_u = np.empty((k, 2))
        for i in range(k):
            stream, u = uniform(stream)
            onset_day[i] = int(u * days)
            stream, onset_u[i, 0] = uniform(stream)
            stream, onset_u[i, 1] = uniform(stream)
        # Into day order, stably (same days keep their order of drawing): by insertion where k
        # is tiny, as it nearly always is; by a merge sort beyond.
        if k <= INSERTION_SORT_UP_TO:
            for i in range(1, k):
                d, u0, u1 = onset_day[i], onset_u[i, 0], onset_u[i, 1]
                j = i - 1
                while j >= 0 and onset_day[j] > d:
                    onset_day[j + 1], onset_u[j + 1, 0], onset_u[j + 1, 1] = (
                        onset_day[j], onset_u[j, 0], onset_u[j, 1]
                    )  # fmt: skip
                    j -= 1
                onset_day[j + 1], onset_u[j + 1, 0], onset_u[j + 1, 1] = d, u0, u1
        else:
            order = np.argsort(onset_day[:k], kind="mergesort")
            onset_day[:k] = onset_day[:k][order]
            onset_u[:k] = onset_u[:k][order]
        distressed_until = listed_until = -1  # the day the distress, the listing, ends
        for i in range(k):
            d = onset_day[i]
            if d < distressed_until or onset_u[i, 0] >= rules.onset_accept[profile[c]]:
                continue
            distressed_until = d + 1 + int(-np.log1p(-onset_u[i, 1]) * rules.distress_days)
            # Lawsuits on the episode's days before day 0 (later ones are the run's to draw).
            last = min(distressed_until, days)
            span = last - d
            stream, n_suits = poisson_inverse(
                stream, rules.lawsuit_rate * span, np.exp(-rules.lawsuit_rate * span)
            )
            x = 0.0  # the lawsuits' times in the episode, drawn in order (sorted uniforms)
            for s in range(n_suits):
                stream, u = uniform(stream)
                x += (1.0 - x) * (1.0 - (1.0 - u) ** (1.0 / (n_suits - s)))
                suit_day = d + min(int(x * span), span - 1)
                stream, u_list = uniform(stream)
                stream, u_publish = uniform(stream)
                stream, u_exit = uniform(stream)
                stream, u_income = uniform(stream)
                if suit_day < listed_until or u_list >= rules.p_list:
                    continue
                if u_income < rules.income_down and look.income_of_profile[profile[c]] > 0:
                    profile[c] -= 1
                term = int(rules.term_by_group[look.group_of_profile[profile[c]]])
                if rules.exit_rate > 0.0:
                    term = min(term, 1 + int(-np.log1p(-u_exit) / rules.exit_rate))
                listed_until = suit_day + term
                if listed_until >= days:  # still listed on day 0: its flags, its points
                    flags[c] |= LISTED
                    if u_publish < rules.p_publish:
                        flags[c] |= PUBLISHED
                    before = int(points[c])
                    after = min(max(before + rules.points, look.floor), look.ceiling)
                    points[c] = after
                    leave[at], amount[at] = listed_until, after - before
        if distressed_until >= days:
            flags[c] |= DISTRESSED
            recover[at] = distressed_until


def warm_up(
    state: State,
    t: Parameters,
    rules: ListRules,
    seed: int,
    days: int,
) -> ListState:
    """Bring ``state`` to where ``days`` days of the list phase alone would; what is pending.

    Changes ``state`` in place (flags, points and income of the listed, flags of the distressed).
    """
    recoveries, exits = DueQueue(), DueQueue()
    # A chunk of citizens at a time: the per-citizen answers are few where they matter.
    for lo in range(0, state.size, CHUNK):
        n = min(CHUNK, state.size - lo)
        recover, leave, amount = (np.empty(n, np.int64) for _ in range(3))
        _warm_up(state, rules, t.lookups(), seed_key(seed), WARM_UP.id, days, lo, recover,
                 leave, amount)  # fmt: skip
        due = np.flatnonzero(recover >= 0)
        recoveries.push(recover[due] - days, due + lo, np.zeros(len(due), np.int64))
        out = np.flatnonzero(leave >= 0)
        exits.push(leave[out] - days, out + lo, amount[out])
    return ListState(recoveries, exits)
