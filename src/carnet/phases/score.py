"""score: turn observations into points, restore expired records, clamp, and cap rewards.

Today's expiries are applied first, then today's observations in the order they were drawn. Each
point change is returned with its reason and its ground truth, for the record phase and the ledger.
A record's restoration undoes exactly the points its act changed (after caps and clamping).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import numpy.typing as npt

from carnet.jit import kernel
from carnet.phases.behave import Acts
from carnet.phases.observe import DETECTED, MISSED, Observations
from carnet.population import State
from carnet.tables import Tables

ACT, EXPIRY = 0, 1
APPEAL_WON, APPEAL_LOST = 4, 5  # the decision on an appeal (list has LISTING 2, DELISTING 3)
KINDS = ("act", "expiry", "listing", "delisting", "appeal_won", "appeal_lost")
NO_APPEAL, APPEALED_LOST, APPEALED_WON = 0, 1, 2  # what became of a sanction's appeal


class Records:
    """Point changes or pending restorations: parallel arrays, one entry per record."""

    FIELDS = (
        "citizen", "before", "after", "behaviour", "source", "kind", "truly_done", "actor",
        "appeal",
    )  # fmt: skip

    def __init__(self, capacity: int) -> None:
        self.citizen = np.empty(capacity, dtype=np.int64)  # local index in the shard
        self.before = np.empty(capacity, dtype=np.int16)
        self.after = np.empty(capacity, dtype=np.int16)  # for restorations: the amount to undo
        self.behaviour = np.empty(capacity, dtype=np.int16)
        self.source = np.empty(capacity, dtype=np.int16)
        self.kind = np.empty(capacity, dtype=np.uint8)
        self.truly_done = np.empty(capacity, dtype=np.bool_)
        self.actor = np.empty(capacity, dtype=np.int64)  # global id of who truly did it
        self.appeal = np.zeros(capacity, dtype=np.uint8)  # NO_APPEAL, APPEALED_LOST or _WON
        self.n = capacity

    def take(self, index: npt.NDArray[np.int64]) -> Records:
        """A new Records holding the entries at ``index``."""
        out = Records(0)
        for name in self.FIELDS:
            setattr(out, name, getattr(self, name)[index])
        out.n = len(index)
        return out

    @staticmethod
    def concat(parts: list[Records]) -> Records:
        """All entries of ``parts``, in order."""
        if not parts:
            return Records(0)
        out = Records(0)
        for name in Records.FIELDS:
            setattr(out, name, np.concatenate([getattr(p, name)[: p.n] for p in parts]))
        out.n = sum(p.n for p in parts)
        return out


@kernel()
def _score(
    e_citizen: npt.NDArray[np.int64],
    e_amount: npt.NDArray[np.int16],
    e_behaviour: npt.NDArray[np.int16],
    e_source: npt.NDArray[np.int16],
    e_truly: npt.NDArray[np.bool_],
    e_actor: npt.NDArray[np.int64],
    e_kind: npt.NDArray[np.uint8],
    n_expiries: int,
    a_citizen: npt.NDArray[np.int64],
    a_behaviour: npt.NDArray[np.int16],
    o_target: npt.NDArray[np.int64],
    o_source: npt.NDArray[np.int16],
    o_outcome: npt.NDArray[np.uint8],
    o_appeal: npt.NDArray[np.float64],
    n_acts: int,
    first: int,
    points: npt.NDArray[np.int16],
    earned: npt.NDArray[np.int16],
    profile: npt.NDArray[np.uint16],
    rule_points: npt.NDArray[np.int32],
    rule_cap: npt.NDArray[np.int32],
    rule_cap_slot: npt.NDArray[np.int32],
    floor: int,
    ceiling: int,
    appeal_p: npt.NDArray[np.float64],
    win_wrongful: float,
    win_deserved: float,
    c_citizen: npt.NDArray[np.int64],
    c_before: npt.NDArray[np.int16],
    c_after: npt.NDArray[np.int16],
    c_behaviour: npt.NDArray[np.int16],
    c_source: npt.NDArray[np.int16],
    c_kind: npt.NDArray[np.uint8],
    c_truly: npt.NDArray[np.bool_],
    c_actor: npt.NDArray[np.int64],
    c_appeal: npt.NDArray[np.uint8],
) -> int:  # pragma: no cover - compiled
    n = 0
    for j in range(n_expiries):
        c = e_citizen[j]
        before = int(points[c])
        after = min(max(before - int(e_amount[j]), floor), ceiling)
        points[c] = after
        c_citizen[n], c_before[n], c_after[n] = c, before, after
        c_behaviour[n], c_source[n], c_kind[n] = e_behaviour[j], e_source[j], e_kind[j]
        c_truly[n], c_actor[n], c_appeal[n] = e_truly[j], e_actor[j], NO_APPEAL
        n += 1
    for j in range(n_acts):
        if o_outcome[j] == MISSED:
            continue
        c, k = o_target[j], a_behaviour[j]
        delta = int(rule_points[k])
        slot = rule_cap_slot[k]
        if slot >= 0:
            delta = max(0, min(delta, int(rule_cap[k]) - int(earned[slot, c])))
            earned[slot, c] += delta
        before = int(points[c])
        after = min(max(before + delta, floor), ceiling)
        points[c] = after
        c_citizen[n], c_before[n], c_after[n] = c, before, after
        c_behaviour[n], c_source[n], c_kind[n] = k, o_source[j], ACT
        truly = o_outcome[j] == DETECTED
        c_truly[n] = truly
        c_actor[n] = first + a_citizen[j]
        c_appeal[n] = NO_APPEAL
        if after < before and o_appeal[j, 0] < appeal_p[profile[c]]:
            win = win_deserved if truly else win_wrongful
            c_appeal[n] = APPEALED_WON if o_appeal[j, 1] < win else APPEALED_LOST
        n += 1
    return n


class ExpiryQueue:
    """Restorations waiting for their day: records whose points come back when they expire."""

    def __init__(self) -> None:
        self._due: defaultdict[int, list[Records]] = defaultdict(list)

    def pop(self, day: int) -> Records:
        """The restorations due on ``day``, in the order they were scheduled."""
        parts = self._due.pop(day, [])
        return Records.concat(parts) if parts else Records(0)

    def push(
        self, changes: Records, lifetime: npt.NDArray[np.int32], day: int, appeal_days: int
    ) -> None:
        """Schedule what today's act changes lead to: appeal decisions, then expiries.

        A won appeal brings the record's restoration forward to the decision day; a lost one
        leaves a note in the ledger on that day and the record expires as it would have.
        """
        n = changes.n
        amount = changes.after[:n].astype(np.int32) - changes.before[:n]
        life = lifetime[changes.behaviour[:n]].astype(np.int64)
        act = (changes.kind[:n] == ACT) & (amount != 0)
        appeal = changes.appeal[:n]
        decided_first = (life < 0) | (life > appeal_days)
        won = act & (appeal == APPEALED_WON) & decided_first
        lost = act & (appeal == APPEALED_LOST) & decided_first
        expires = act & (life >= 0) & ~won
        for mask, kind, undo in (
            (won, APPEAL_WON, True),
            (lost, APPEAL_LOST, False),
            (expires, EXPIRY, True),
        ):
            if not mask.any():
                continue
            due = np.where(kind == EXPIRY, life, appeal_days)
            for days in np.unique(due[mask]):
                pending = changes.take(np.flatnonzero(mask & (due == days)))
                # A pending entry keeps the amount to undo in ``after`` (0: a note only).
                undo_by = pending.after.astype(np.int32) - pending.before
                pending.after = (undo_by if undo else 0 * undo_by).astype(np.int16)
                pending.kind[:] = kind
                self._due[day + int(days)].append(pending)

    def __len__(self) -> int:
        return sum(p.n for parts in self._due.values() for p in parts)

    def snapshot(self) -> dict[str, npt.NDArray[np.generic]]:
        """Every pending restoration as flat arrays, by due day then order of scheduling."""
        days = sorted(self._due)
        pending = Records.concat([p for d in days for p in self._due[d]])
        due = np.repeat(
            np.array(days, dtype=np.int64), [sum(p.n for p in self._due[d]) for d in days]
        )
        return {"due": due, **{name: getattr(pending, name) for name in Records.FIELDS}}

    @classmethod
    def restore(cls, arrays: dict[str, npt.NDArray[np.generic]]) -> ExpiryQueue:
        """The queue that :meth:`snapshot` saved."""
        queue = cls()
        due = arrays["due"]
        whole = Records(0)
        for name in Records.FIELDS:
            setattr(whole, name, arrays[name])
        whole.n = len(due)
        for d in np.unique(due):
            queue._due[int(d)].append(whole.take(np.flatnonzero(due == d)))
        return queue


def score(
    state: State,
    t: Tables,
    day: int,
    acts: Acts,
    seen: Observations,
    queue: ExpiryQueue,
) -> Records:
    """Apply today's expiries and observations to the points; return every change."""
    if day and day % 365 == 0:
        state.earned[:] = 0  # a new year: yearly caps start again
    due = queue.pop(day)
    out = Records(due.n + acts.n)
    n = _score(
        due.citizen,
        due.after,
        due.behaviour,
        due.source,
        due.truly_done,
        due.actor,
        due.kind,
        due.n,
        acts.citizen,
        acts.behaviour,
        seen.target,
        seen.source,
        seen.outcome,
        seen.appeal,
        acts.n,
        state.first_citizen,
        state.points,
        state.earned,
        state.profile,
        t.rule_points,
        t.rule_cap,
        t.rule_cap_slot,
        t.floor,
        t.ceiling,
        t.appeal_p,
        t.win_wrongful,
        t.win_deserved,
        out.citizen,
        out.before,
        out.after,
        out.behaviour,
        out.source,
        out.kind,
        out.truly_done,
        out.actor,
        out.appeal,
    )
    changes = out.take(np.arange(n))
    queue.push(changes, t.rule_lifetime, day, t.appeal_days)
    return changes
