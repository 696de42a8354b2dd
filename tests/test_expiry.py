"""The expiry queue: compact storage that pops what the plain queue popped, run for run the same.

The reference is the plain queue that kept every pending record whole (carnet before the packed
store, kept here verbatim but for the ``flags`` it ignores). The end-to-end tests run a scenario
once with the packed queue and once with this reference injected in its place, and compare every
file of the two run directories.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from helpers import APPEAL_DAYS, LIFETIME, N_BEHAVIOURS, day_changes, flags_for

import carnet
from carnet.sim.phases.expiry import ExpiryQueue
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


class Reference:
    """The plain queue: full Records per due day (26-27 bytes a pending record)."""

    def __init__(self) -> None:
        self._due: defaultdict[int, list[Records]] = defaultdict(list)

    def pop(self, day: int) -> Records:
        parts = self._due.pop(day, [])
        return Records.concat(parts) if parts else Records(0)

    def push(
        self,
        changes: Records,
        lifetime: npt.NDArray[np.int32],
        day: int,
        appeal_days: int,
        flags: Any = None,
    ) -> None:
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
                undo_by = pending.after.astype(np.int32) - pending.before
                pending.after = (undo_by if undo else 0 * undo_by).astype(np.int16)
                pending.kind[:] = kind
                self._due[day + int(days)].append(pending)

    def snapshot(self) -> dict[str, npt.NDArray[Any]]:
        days = sorted(self._due)
        pending = Records.concat([p for d in days for p in self._due[d]])
        due = np.repeat(
            np.array(days, dtype=np.int64), [sum(p.n for p in self._due[d]) for d in days]
        )
        return {"due": due, **{name: getattr(pending, name) for name in Records.FIELDS}}

    @classmethod
    def restore(cls, arrays: dict[str, npt.NDArray[Any]]) -> Reference:
        queue = cls()
        due = arrays["due"]
        whole = Records(0)
        for name in Records.FIELDS:
            setattr(whole, name, arrays[name])
        whole.n = len(due)
        for d in np.unique(due):
            queue._due[int(d)].append(whole.take(np.flatnonzero(due == d)))
        return queue


def split(rows: Records, flags: npt.NDArray[np.uint8]) -> tuple[Records, Records]:
    """The panel's rows and the others', each in order."""
    panel = (flags[rows.citizen[: rows.n]] & PANEL) != 0
    return rows.take(np.flatnonzero(panel)), rows.take(np.flatnonzero(~panel))


def assert_same(a: Records, b: Records, fields: tuple[str, ...] = Records.FIELDS) -> None:
    assert a.n == b.n
    for name in fields:
        x, y = getattr(a, name)[: a.n], getattr(b, name)[: b.n]
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)


#: What score reads of a popped entry outside the panel (source and actor are not kept).
READ = ("citizen", "after", "behaviour", "kind", "truly_done")


def check_pop(got: Records, want: Records, flags: npt.NDArray[np.uint8]) -> None:
    """``got`` holds ``want``'s entries: the panel's whole and first, the others' as documented."""
    got_panel, got_others = split(got, flags)
    want_panel, want_others = split(want, flags)
    assert_same(got_panel, want_panel)
    assert_same(got_others, want_others, READ)
    assert (got_others.source == -1).all() and (got_others.actor == -1).all()
    assert (got_others.before == 0).all() and (got_others.appeal == NO_APPEAL).all()
    assert_same(got.head(got_panel.n), got_panel)  # the panel's entries come first


@pytest.mark.parametrize("panel_share", [0.0, 0.05, 0.5, 1.0])
def test_pops_what_the_plain_queue_popped(panel_share: float) -> None:
    rng = np.random.default_rng(11)
    flags = flags_for(rng, panel_share)
    queue, reference = ExpiryQueue(), Reference()
    popped = 0
    for day in range(80):
        got, want = queue.pop(day), reference.pop(day)
        check_pop(got, want, flags)
        popped += want.n
        if day < 60:
            changes = day_changes(rng, int(rng.integers(0, 400)))
            queue.push(changes, LIFETIME, day, APPEAL_DAYS, flags)
            reference.push(changes, LIFETIME, day, APPEAL_DAYS)
    assert popped > 5000
    assert queue.pending() == sum(p.n for parts in reference._due.values() for p in parts)


def test_each_citizen_keeps_the_order_of_scheduling() -> None:
    # Clamping makes order matter for one citizen: few citizens, many records each, every kind.
    rng = np.random.default_rng(3)
    flags = flags_for(rng, 0.3)
    queue, reference = ExpiryQueue(), Reference()
    lifetime = np.full(N_BEHAVIOURS, 20, np.int32)  # later than the appeal's decision
    kinds = set()
    for day in range(40):
        got, want = queue.pop(day), reference.pop(day)
        kinds |= set(want.kind.tolist())
        for c in np.unique(want.citizen):
            mine, theirs = (
                got.take(np.flatnonzero(got.citizen == c)),
                want.take(np.flatnonzero(want.citizen == c)),
            )
            assert_same(mine, theirs, READ)
        changes = day_changes(rng, 300)
        changes.citizen[:] = rng.integers(0, 40, 300)
        queue.push(changes, lifetime, day, 7, flags)
        reference.push(changes, lifetime, day, 7)
    assert kinds == {APPEAL_WON, APPEAL_LOST, EXPIRY}


def test_snapshot_and_restore_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    flags = flags_for(rng, 0.2)
    queue = ExpiryQueue()
    for day in range(30):
        queue.pop(day)
        queue.push(day_changes(rng, 500), LIFETIME, day, APPEAL_DAYS, flags)
    saved = queue.snapshot()
    # Through a checkpoint file, as the engine saves it (np.savez).
    np.savez(tmp_path / "queue.npz", **saved)
    with np.load(tmp_path / "queue.npz") as loaded:
        again = ExpiryQueue.restore(dict(loaded))
    assert sorted(again.snapshot()) == sorted(saved)
    for name, array in again.snapshot().items():
        assert array.dtype == saved[name].dtype, name
        np.testing.assert_array_equal(array, saved[name], err_msg=name)
    assert again.pending() == queue.pending()
    assert again.nbytes() == queue.nbytes()
    for day in range(30, 80):
        assert_same(again.pop(day), queue.pop(day))
    assert again.pending() == queue.pending() == 0
    empty = ExpiryQueue.restore(ExpiryQueue().snapshot())
    assert empty.pending() == 0 and empty.pop(0).n == 0


def test_bytes_per_pending_record() -> None:
    """6 bytes outside the panel (5 for a lost appeal's note), 27 in it: measured on the arrays."""
    rng = np.random.default_rng(8)
    flags = flags_for(rng, 0.0)
    queue = ExpiryQueue()
    changes = day_changes(rng, 200_000, wide=False)
    changes.appeal[:] = NO_APPEAL
    queue.push(changes, LIFETIME, 0, APPEAL_DAYS, flags)
    whole, packed = queue.nbytes()
    assert whole == 0 and packed == 6 * queue.pending()
    # A lost appeal's note undoes nothing and keeps no amount.
    notes = ExpiryQueue()
    changes.appeal[:] = APPEALED_LOST
    notes.push(changes, np.full(N_BEHAVIOURS, -1, np.int32), 0, APPEAL_DAYS, flags)
    assert notes.nbytes()[1] == 5 * notes.pending()
    # An amount beyond int8 costs 2 bytes more; the panel's entries stay whole.
    changes = day_changes(rng, 200_000, wide=True)
    changes.appeal[:] = NO_APPEAL
    mixed = ExpiryQueue()
    mixed.push(changes, LIFETIME, 0, APPEAL_DAYS, flags_for(rng, 0.05))
    saved = mixed.snapshot()
    n_panel, n_packed, n_wide = len(saved["panel_due"]), len(saved["citizen"]), len(saved["wide"])
    assert 0 < n_wide < 0.15 * n_packed and n_panel > 0
    assert mixed.nbytes() == (27 * n_panel, 6 * n_packed + 2 * n_wide)


def test_rejects_what_cannot_be_packed() -> None:
    rng = np.random.default_rng(1)
    changes = day_changes(rng, 100)
    changes.behaviour[:] = 64
    lifetime = np.full(65, 10, np.int32)
    with pytest.raises(ValueError, match="behaviour"):
        ExpiryQueue().push(changes, lifetime, 0, APPEAL_DAYS, flags_for(rng, 0.0))
    ExpiryQueue().push(changes, lifetime, 0, APPEAL_DAYS, flags_for(rng, 1.0))  # kept whole


def scenario(name: str, population: int, panel: int) -> Any:
    """``name`` with short record lifetimes, appeals decided first, a sampled panel."""
    doc = carnet.load_scenario(name, population=population, days=120).model_dump(mode="python")
    doc["rules"]["lifetime_days"] = 30
    doc["rules"]["points"]["misconduct"] = -150  # amounts beyond int8 on record, and back
    doc["appeals"]["decision_days"] = 20
    doc["appeals"]["probability"] = 0.3
    doc["run"]["panel"] = {"full_up_to": 0, "sample": panel}  # companies' too
    if doc.get("companies"):
        doc["companies"]["rules"]["lifetime_days"] = 30
    return carnet.load_scenario(doc)


def files(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    ("name", "population", "panel"),
    [
        ("rongcheng-gated", 50_000, 5000),  # lists, gates, lending, denunciations
        ("china", 60_000, 600),  # and companies on a queue of their own, a third in the panel
    ],
)
def test_a_run_is_the_same_as_with_the_plain_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, population: int, panel: int
) -> None:
    s = scenario(name, population, panel)
    popped: list[Records] = []
    pop = ExpiryQueue.pop

    def spy(self: ExpiryQueue, day: int) -> Records:
        popped.append(pop(self, day))
        return popped[-1]

    monkeypatch.setattr(ExpiryQueue, "pop", spy)
    packed = carnet.save_run(carnet.simulate(s, threads=1), tmp_path / "packed")
    # What the run put through the packed store (source -1) and the panel's (a real source).
    rows = Records.concat(popped)
    others = rows.take(np.flatnonzero(rows.source == -1))
    assert set(others.kind.tolist()) == {EXPIRY, APPEAL_WON, APPEAL_LOST}
    assert (np.abs(others.after.astype(np.int32)) > 127).any()  # the int16 exceptions
    assert (rows.source >= 0).any()
    # The same run with the plain queue: Shard's default_factory is the class itself, so its
    # methods are replaced rather than the name.
    for method in ("__init__", "pop", "push", "snapshot"):
        monkeypatch.setattr(ExpiryQueue, method, getattr(Reference, method))
    monkeypatch.setattr(ExpiryQueue, "restore", classmethod(Reference.restore.__func__))
    assert "due" in ExpiryQueue().snapshot()  # the reference is in
    plain = carnet.save_run(carnet.simulate(s, threads=1), tmp_path / "plain")
    mine, theirs = files(packed), files(plain)
    assert sorted(mine) == sorted(theirs)
    assert {"metrics.parquet", "population.parquet"} <= set(mine)
    assert any(key.startswith("ledger/part-") for key in mine)
    for key in mine:
        assert mine[key] == theirs[key], key


def test_a_checkpoint_keeps_the_packed_parts_as_pieces(tmp_path: Path) -> None:
    """Written piece by piece and read back as the same pieces: never a whole second copy.

    The restored queue holds the very arrays read from the file, one per part, and pops what the
    queue it was saved from pops; an empty queue's columns survive the trip too.
    """
    from carnet.runs.directory import RunDirectory
    from carnet.sim.chunks import Chunks

    rng = np.random.default_rng(9)
    flags = flags_for(rng, 0.2)
    queue = ExpiryQueue()
    for day in range(20):
        queue.pop(day)
        queue.push(day_changes(rng, 400, wide=True), LIFETIME, day, APPEAL_DAYS, flags)
    saved = queue.snapshot()
    assert isinstance(saved["citizen"], Chunks) and len(saved["citizen"].parts) > 20
    run = RunDirectory.create(tmp_path / "run", carnet.load_scenario("minimal", population=1000))
    empty = {f"empty/{k}": v for k, v in ExpiryQueue().snapshot().items()}
    run.save_checkpoint({**saved, **empty}, [])
    loaded = run.load_checkpoint()
    assert loaded is not None
    arrays, parts = loaded
    assert parts == []
    for name in ("citizen", "code", "amount", "wide"):
        column, original = arrays[name], saved[name]
        assert isinstance(column, Chunks) and isinstance(original, Chunks)
        assert column.dtype == original.dtype
        assert [len(p) for p in column.parts] == [len(p) for p in original.parts]
        np.testing.assert_array_equal(np.asarray(column), np.asarray(original), err_msg=name)
    with np.load(run.path / "checkpoint.npz") as plain:  # still an ordinary .npz file
        np.testing.assert_array_equal(plain["citizen"], np.asarray(saved["citizen"]))
    again = ExpiryQueue.restore({k: v for k, v in arrays.items() if "/" not in k})
    pieces = arrays["citizen"]
    assert isinstance(pieces, Chunks)
    kept = [p.citizen for day in sorted(again._packed) for p in again._packed[day]]
    assert all(a is b for a, b in zip(kept, pieces.parts, strict=True))  # no copy on restoring
    assert again.pending() == queue.pending()
    for day in range(20, 60):
        assert_same(again.pop(day), queue.pop(day))
    nothing = ExpiryQueue.restore({k[len("empty/") :]: v for k, v in arrays.items() if "/" in k})
    assert nothing.pending() == 0


def test_pieces_must_match_their_recorded_sizes() -> None:
    from carnet.sim.chunks import Chunks, pieces

    column = Chunks([np.arange(3, dtype=np.uint32), np.arange(2, dtype=np.uint32)], np.uint32)
    assert [len(p) for p in pieces(column, np.array([3, 2]))] == [3, 2]
    with pytest.raises(ValueError, match="sizes"):
        pieces(column, np.array([2, 3]))
    with pytest.raises(ValueError, match="1-D uint32"):
        Chunks([np.arange(3, dtype=np.int64)], np.uint32)
    flat = pieces(np.arange(5), np.array([3, 2]))
    assert [p.tolist() for p in flat] == [[0, 1, 2], [3, 4]]
