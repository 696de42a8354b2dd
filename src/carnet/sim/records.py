"""Records: point changes, or pending restorations, as parallel arrays; their kinds and codes.

The score phase makes them, the expiry queue keeps them until they expire, the record phase turns
the panel's into ledger rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

ACT, EXPIRY = 0, 1
APPEAL_WON, APPEAL_LOST = 4, 5  # the decision on an appeal (list has LISTING 2, DELISTING 3,
# lending LOAN_REPAID 6 and LOAN_DEFAULT 7)
KINDS = (
    "act", "expiry", "listing", "delisting", "appeal_won", "appeal_lost", "loan_repaid",
    "loan_default",
)  # fmt: skip
NO_APPEAL, APPEALED_LOST, APPEALED_WON = 0, 1, 2  # what became of a sanction's appeal
#: Reports of misconduct, by the accused's group: the columns of score's denunciation counts.
DENUNCIATION_COUNTS = ("denounced", "denounced_sanctioned", "denounced_wrongfully",
                       "denounced_rejected")  # fmt: skip
DENOUNCED, DENOUNCED_SANCTIONED, DENOUNCED_WRONGFULLY, DENOUNCED_REJECTED = range(4)


class RecordColumns(NamedTuple):
    """The arrays of :class:`Records`, for kernels (they write into them in place)."""

    citizen: npt.NDArray[np.int64]
    before: npt.NDArray[np.int16]
    after: npt.NDArray[np.int16]
    behaviour: npt.NDArray[np.int16]
    source: npt.NDArray[np.int16]
    kind: npt.NDArray[np.uint8]
    truly_done: npt.NDArray[np.bool_]
    actor: npt.NDArray[np.int64]
    appeal: npt.NDArray[np.uint8]


class Records:
    """Point changes or pending restorations: parallel arrays, one entry per record."""

    FIELDS = RecordColumns._fields

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

    def columns(self) -> RecordColumns:
        """The arrays, whole (their first ``n`` entries hold the records), for kernels."""
        return RecordColumns(
            self.citizen, self.before, self.after, self.behaviour, self.source, self.kind,
            self.truly_done, self.actor, self.appeal,
        )  # fmt: skip

    def take(self, index: npt.NDArray[np.int64]) -> Records:
        """A new Records holding the entries at ``index``."""
        out = Records(0)
        for name in self.FIELDS:
            setattr(out, name, getattr(self, name)[index])
        out.n = len(index)
        return out

    def head(self, n: int) -> Records:
        """The first ``n`` entries, as views (no copy)."""
        out = Records(0)
        for name in self.FIELDS:
            setattr(out, name, getattr(self, name)[:n])
        out.n = n
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
