"""expiry: the restorations and appeal decisions waiting for their day, stored compactly.

``score`` schedules, for every act that moved points, its expiry (the points come back after the
rule's lifetime) and, if the sanction was appealed, the appeal's decision (a won appeal brings the
restoration forward; a lost one leaves a note). At national scale about a billion of these wait at
once, so how many bytes each takes decides whether a run fits in memory.

Only the panel's entries are kept whole (:class:`~carnet.sim.records.Records`, 27 bytes), because
only the panel's changes become ledger rows (``Recorder.record`` writes a row only where
``flags[c] & PANEL``). Everyone else's are packed into 6 bytes: the citizen's local index (uint32),
the behaviour with the truth in its top bit (uint8), and the amount to undo as int8, with the rare
amount outside -127..127 kept in an int16 list of exceptions (:data:`WIDE` marks its place; such an
entry takes 2 bytes more). The kind (EXPIRY, APPEAL_WON, APPEAL_LOST) is the part's, and a lost
appeal, which undoes nothing, keeps no amount at all (5 bytes).

What a popped entry is used for, and so what the packed form may drop (read from the code):

- ``score``'s kernel reads citizen, amount (``after``), behaviour, source, truly_done, actor and
  kind, and copies them into the day's changes with the points before and after, and
  ``appeal = NO_APPEAL``; it never reads a pending entry's ``before`` or ``appeal``.
- Of those changes, ``record`` reads citizen, before, after, behaviour, kind, truly_done and appeal
  for the aggregates, and source and actor only for the panel's ledger rows; ``respond`` reads
  citizen, before, after and kind (acts only); ``gates.update_wrongful_balance`` citizen, before,
  after and truly_done; ``company_list_phase`` citizen, behaviour, kind and truly_done (acts only).

So the source and the true actor of anyone else's expiry or appeal decision are written nowhere:
their popped entries carry source ``NO_SOURCE`` (-1), actor ``NO_ACTOR`` (-1), before 0 and appeal
NO_APPEAL. Nothing depends on the order of the popped entries across citizens either (the
aggregates are sums, the ledger holds only the panel's rows, in their own order):
``ExpiryQueue.pop`` returns the panel's entries first, then the others', each in the order they
were scheduled, so each citizen's entries keep their order, which matters where points are clamped
(a citizen is in the panel or not for the whole run: PANEL is set only when citizens are drawn).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from carnet.sim.chunks import Chunks, Column, pieces
from carnet.sim.population import PANEL
from carnet.sim.records import (
    ACT,
    APPEAL_LOST,
    APPEAL_WON,
    APPEALED_LOST,
    APPEALED_WON,
    EXPIRY,
    NO_APPEAL,
    Records,
)

MAX_BEHAVIOURS = 64  # carnet.scenario.schema allows at most 64 behaviours, citizens' or companies'
BEHAVIOUR_BITS = np.uint8(MAX_BEHAVIOURS - 1)  # the behaviour, in the low bits of ``code``
TRULY = np.uint8(128)  # the truth of the record, in the top bit of ``code``
WIDE = -128  # an int8 amount that stands for the next entry of the part's int16 exceptions
NO_SOURCE = -1  # the source of a packed entry: not kept (never written, see above)
NO_ACTOR = -1  # the true actor of a packed entry: not kept (never written, see above)

Arrays = dict[str, npt.NDArray[Any]]
PACKED_COLUMNS = ("citizen", "code", "amount", "wide")  # a packed part's columns, in order
PACKED_TYPES = (np.uint32, np.uint8, np.int8, np.int16)


class _Packed(NamedTuple):
    """Entries of one kind outside the panel, due on the same day, in order of scheduling."""

    kind: int
    citizen: npt.NDArray[np.uint32]  # local index in the shard
    code: npt.NDArray[np.uint8]  # behaviour | TRULY
    amount: npt.NDArray[np.int8]  # the amount to undo, or WIDE; empty for a note (APPEAL_LOST)
    wide: npt.NDArray[np.int16]  # the amounts that WIDE stands for, in order


def _pack(
    changes: Records, at: npt.NDArray[np.intp], kind: int, amount: npt.NDArray[np.int16] | None
) -> _Packed:
    """The entries ``at`` of ``changes``, packed; ``amount`` is None for a note."""
    behaviour = changes.behaviour[at]
    if len(at) and (behaviour.min() < 0 or behaviour.max() >= MAX_BEHAVIOURS):
        raise ValueError(f"a pending record's behaviour must lie in 0..{MAX_BEHAVIOURS - 1}")
    code = behaviour.astype(np.uint8) | np.where(changes.truly_done[at], TRULY, np.uint8(0))
    if amount is None:
        small, wide = np.empty(0, np.int8), np.empty(0, np.int16)
    else:
        undo = amount[at]
        fits = (undo > WIDE) & (undo <= 127)
        small = np.where(fits, undo, WIDE).astype(np.int8)
        wide = undo[~fits]
    return _Packed(kind, changes.citizen[at].astype(np.uint32), code, small, wide)


class ExpiryQueue:
    """Restorations waiting for their day: records whose points come back when they expire.

    The panel's entries are kept whole; everyone else's packed (see the module's docstring).
    """

    def __init__(self) -> None:
        self._panel: defaultdict[int, list[Records]] = defaultdict(list)
        self._packed: defaultdict[int, list[_Packed]] = defaultdict(list)

    def pop(self, day: int) -> Records:
        """The restorations due on ``day``: the panel's, then the others', each in order.

        Every field that ``score`` reads is filled in; entries outside the panel carry source
        ``NO_SOURCE``, actor ``NO_ACTOR``, before 0 and appeal NO_APPEAL.
        """
        panel = self._panel.pop(day, [])
        packed = self._packed.pop(day, [])
        out = Records(sum(p.n for p in panel) + sum(len(p.citizen) for p in packed))
        at = 0
        for whole in panel:
            for name in Records.FIELDS:
                getattr(out, name)[at : at + whole.n] = getattr(whole, name)[: whole.n]
            at += whole.n
        for p in packed:
            part = slice(at, at + len(p.citizen))
            out.citizen[part] = p.citizen
            out.before[part] = 0
            after = out.after[part]
            after[...] = p.amount if len(p.amount) else 0
            if len(p.wide):
                after[p.amount == WIDE] = p.wide
            out.behaviour[part] = p.code & BEHAVIOUR_BITS
            out.truly_done[part] = (p.code & TRULY) != 0
            out.source[part] = NO_SOURCE
            out.kind[part] = p.kind
            out.actor[part] = NO_ACTOR
            out.appeal[part] = NO_APPEAL
            at += len(p.citizen)
        return out

    def push(
        self,
        changes: Records,
        lifetime: npt.NDArray[np.int32],
        day: int,
        appeal_days: int,
        flags: npt.NDArray[np.uint8],
        group: npt.NDArray[np.uint8] | None = None,
    ) -> None:
        """Schedule what today's act changes lead to: appeal decisions, then expiries.

        ``lifetime`` is by behaviour, or with ``group`` (each change's citizen's group) by
        [group, behaviour].

        A won appeal brings the record's restoration forward to the decision day; a lost one
        leaves a note in the ledger on that day and the record expires as it would have.
        ``flags`` are the shard's (citizens' or companies'): they say whose entries are the
        panel's, to be kept whole.
        """
        # Packed entries hold the local index as uint32.
        assert len(flags) <= 1 << 32, "a shard must hold fewer than 2**32 citizens"
        n = changes.n
        if (lifetime < 0).all() and not changes.appeal[:n].any():
            return  # no record ever expires, and nobody appealed: nothing to schedule
        amount = changes.after[:n].astype(np.int32) - changes.before[:n]
        behaviour = changes.behaviour[:n]
        life = (lifetime[behaviour] if group is None else lifetime[group, behaviour]).astype(
            np.int64
        )
        act = (changes.kind[:n] == ACT) & (amount != 0)
        appeal = changes.appeal[:n]
        decided_first = (life < 0) | (life > appeal_days)
        won = act & (appeal == APPEALED_WON) & decided_first
        lost = act & (appeal == APPEALED_LOST) & decided_first
        expires = act & (life >= 0) & ~won
        if not (won.any() or lost.any() or expires.any()):
            return
        # A pending entry keeps the amount to undo (int16, as the points are; 0: a note only).
        undo = amount.astype(np.int16)
        panel = (flags[changes.citizen[:n]] & PANEL) != 0
        for mask, kind, undoes in (
            (won, APPEAL_WON, True),
            (lost, APPEAL_LOST, False),
            (expires, EXPIRY, True),
        ):
            if not mask.any():
                continue
            due = np.where(kind == EXPIRY, life, appeal_days)
            for days in np.unique(due[mask]):
                now = mask & (due == days)
                key = day + int(days)
                mine = np.flatnonzero(now & panel)
                if len(mine):
                    whole = changes.take(mine)
                    whole.after = undo[mine] if undoes else np.zeros(len(mine), np.int16)
                    whole.kind[:] = kind
                    self._panel[key].append(whole)
                others = np.flatnonzero(now & ~panel)
                if len(others):
                    self._packed[key].append(_pack(changes, others, kind, undo if undoes else None))

    def pending(self) -> int:
        """How many entries wait, the panel's and the others'."""
        whole = sum(p.n for parts in self._panel.values() for p in parts)
        return whole + sum(len(p.citizen) for parts in self._packed.values() for p in parts)

    def nbytes(self) -> tuple[int, int]:
        """Bytes of the arrays that hold the entries: the panel's, and the packed others'."""
        whole = sum(
            getattr(p, name).nbytes
            for parts in self._panel.values()
            for p in parts
            for name in p.FIELDS
        )
        packed = sum(
            p.citizen.nbytes + p.code.nbytes + p.amount.nbytes + p.wide.nbytes
            for parts in self._packed.values()
            for p in parts
        )
        return whole, packed

    def snapshot(self) -> dict[str, Column]:
        """Every pending entry as flat arrays, by due day then order of scheduling.

        ``panel_*`` hold the panel's entries whole, with their due day; ``part_*`` describe the
        packed parts (due day, kind, size, number of wide amounts), whose entries follow one
        another in ``citizen``, ``code``, ``amount`` (none for a note) and ``wide``.
        """
        days = sorted(self._panel)
        whole = Records.concat([p for d in days for p in self._panel[d]])
        sizes = [sum(p.n for p in self._panel[d]) for d in days]
        out: dict[str, Column] = {"panel_due": np.repeat(np.array(days, dtype=np.int64), sizes)}
        out.update({f"panel_{name}": getattr(whole, name) for name in Records.FIELDS})
        parts = [(d, p) for d in sorted(self._packed) for p in self._packed[d]]
        out["part_due"] = np.array([d for d, _ in parts], dtype=np.int64)
        out["part_kind"] = np.array([p.kind for _, p in parts], dtype=np.uint8)
        out["part_size"] = np.array([len(p.citizen) for _, p in parts], dtype=np.int64)
        out["part_wide"] = np.array([len(p.wide) for _, p in parts], dtype=np.int64)
        for name, dtype in zip(PACKED_COLUMNS, PACKED_TYPES, strict=True):
            # Kept in pieces: a checkpoint stores them so, never as a second, whole copy.
            out[name] = Chunks([getattr(p, name) for _, p in parts], dtype)
        return out

    @classmethod
    def restore(cls, arrays: dict[str, Column]) -> ExpiryQueue:
        """The queue that :meth:`snapshot` saved (as it was, or read back from a checkpoint)."""
        queue = cls()
        due = np.asarray(arrays["panel_due"])
        whole = Records(0)
        for name in Records.FIELDS:
            setattr(whole, name, np.asarray(arrays[f"panel_{name}"]))
        whole.n = len(due)
        order = np.argsort(due, kind="stable")  # a snapshot's are sorted already
        days, first = np.unique(due[order], return_index=True)
        bounds = [*first.tolist(), len(due)]
        for d, lo, hi in zip(days, bounds[:-1], bounds[1:], strict=True):
            queue._panel[int(d)].append(whole.take(order[lo:hi]))
        kinds = np.asarray(arrays["part_kind"])
        size = np.asarray(arrays["part_size"])
        sizes = {
            "citizen": size,
            "code": size,
            "amount": np.where(kinds == APPEAL_LOST, 0, size),  # a note keeps no amount
            "wide": np.asarray(arrays["part_wide"]),
        }
        columns = [pieces(arrays[name], sizes[name]) for name in PACKED_COLUMNS]
        for i, (d, kind) in enumerate(zip(np.asarray(arrays["part_due"]), kinds, strict=True)):
            queue._packed[int(d)].append(_Packed(int(kind), *(c[i] for c in columns)))
        return queue
