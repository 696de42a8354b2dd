"""respond: what today's sanctions change in tomorrow's behaviour.

A sanctioned citizen holds back from negative acts for ``memory_days``, and so, more weakly, do
their household and their co-workers (calibration: "punish one, teach a hundred"). Deterrence by
grade and the chilling of lawful acts need no state: behave reads them from today's points and
from how watched a citizen is. Only citizens aware of the system respond, unless the scenario
says otherwise.
"""

from __future__ import annotations

from carnet.sim.employers import Staff, employer_of
from carnet.sim.jit import AHEAD, kernel, prefetch
from carnet.sim.parameters import Parameters
from carnet.sim.population import State
from carnet.sim.records import ACT, RecordColumns, Records


@kernel()
def _remember(
    changes: RecordColumns, n: int, until: int, state: State, staff: Staff, block_size: int
) -> None:  # pragma: no cover - compiled
    citizen, kind, before, after = changes.citizen, changes.kind, changes.before, changes.after
    household = state.household
    until_self, until_household, until_staff = state.until_self, state.until_household, staff.until
    staff_blocks, staff_start = staff.blocks, staff.start
    size = len(household)
    for j in range(n):
        if j + AHEAD < n:
            prefetch(household, citizen[j + AHEAD])
            prefetch(until_self, citizen[j + AHEAD])
            prefetch(until_household, citizen[j + AHEAD])
        if kind[j] != ACT or after[j] >= before[j]:
            continue
        c = citizen[j]
        until_self[c] = until
        head = c - int(household[c])
        member = head
        while member < size and (member == head or household[member] != 0):
            if member != c and until_household[member] < until:
                until_household[member] = until
            member += 1
        if len(until_staff):
            e = employer_of(c, block_size, staff_blocks, staff_start, staff.per_block)
            if e >= 0:
                until_staff[e] = until  # the sanctioned one holds back as ``punished`` anyway


def respond(
    state: State,
    t: Parameters,
    day: int,
    changes: Records,
    block_size: int = 1,
    staff: Staff | None = None,
) -> None:
    """Remember today's sanctions: the punished, their households and co-workers hold back."""
    if t.memory_days < 0 or changes.n == 0:
        return
    deter = staff is not None and t.coworker_ties
    staff = staff if deter and staff is not None else Staff.none()
    _remember(changes.columns(), changes.n, day + 1 + t.memory_days, state, staff, block_size)
