"""A run is the same however it goes: in shards, on threads, on Dask, or stopped and resumed.

Each society below runs once in one process (one shard, one thread): its reference. Every split
of it (``CASES``) must write the same files, byte for byte (:func:`helpers.same_files`): run
directories from :func:`carnet.runs.local.run_to_directory`, or for the in-memory path
:func:`carnet.simulate` then :func:`carnet.save_run`. On Dask every shard cuts its own ledger
parts: there the tables are the same bytes and the ledger and decisions the same rows
(:func:`helpers.assert_same_run`).

A stopped run is stopped by raising from the progress callback on the days in ``stops`` and
resumed from its last checkpoint each time; it must resume from the day given, and finish with
the reference's bytes, a directory that verifies and no checkpoint left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    assert_same_run,
    contagious,
    crashy,
    deterred,
    everything,
    lending,
    mixed_society,
    need,
    policed,
    run_script,
    same_files,
    sharded_society,
    with_companies,
    with_lists,
)

import carnet
from carnet.runs.integrity import verify
from carnet.runs.local import resume, run_to_directory


def companies() -> dict[str, Any]:
    doc = with_companies(exit_per_year=3.0)
    doc["responses"] = {"punished": 0.5, "household": 0.7, "coworkers": 0.8, "memory_days": 20}
    doc["run"].update(checkpoint_days=7, ledger_part_days=20)
    return doc


def lists_and_gates(warm_up_days: int = 0) -> dict[str, Any]:
    doc = with_lists(warm_up_days=warm_up_days)
    doc["population"]["size"] = 9000  # 9 blocks of 1024
    doc["run"].update(checkpoint_days=7, ledger_part_days=20)
    return doc


def loans() -> dict[str, Any]:
    doc = lending(repay_by_grade={}, repay_intercept=0.0)
    doc["population"]["size"] = 9000
    doc["gates"][0]["distress_if_refused"] = 0.3
    doc["lists"] = {"blacklist": {"lawsuits_per_year": 5.0}}
    doc["run"].update(checkpoint_days=7, ledger_part_days=20)
    return doc


def policies() -> dict[str, Any]:
    doc = policed({"kind": "learned", "threshold": 990, "refit_days": 9, "gain_if_repaid": 0.3},
                  term_days=12)  # fmt: skip
    doc["population"]["size"] = 9000
    doc["behaviours"][0]["rate_per_year"] = 2.0  # points move by acts too
    lottery = {"kind": "lottery", "probability": 0.5, "once": True}
    doc["gates"].append({"name": "job", "applications_per_year": 4.0, "by_group": {"green": 2.0},
                         "policy": lottery})  # fmt: skip
    doc["gates"].append({"name": "perk", "applications_per_year": 3.0,
                         "policy": {"kind": "threshold", "threshold": 1000,
                                    "threshold_by_group": {"green": 980}}})  # fmt: skip
    doc["run"].update(days=80, checkpoint_days=7, ledger_part_days=20)
    return doc


def responses() -> dict[str, Any]:
    doc = deterred(household=0.5)
    doc["population"]["size"] = 5000
    doc["run"].update(checkpoint_days=6, ledger_part_days=25)
    return doc


def reforms() -> dict[str, Any]:
    """Lists, gates with seats, companies and platforms, with values changed on three days."""
    doc = sharded_society(days=90)
    doc["platforms"] = [{"name": "app", "compliance": 0.5, "successor": "bank_app"},
                        {"name": "bank_app", "compliance": 0.8}]  # fmt: skip
    doc["sources"][0]["platform"] = "app"
    doc["timeline"] = [
        {"day": 12, "set": {"rules.points.red_light.points": -30,
                            "lists.blacklist.listing_probability": 0.9}},
        {"day": 33, "set": {"gates.school.seats_per_region": 10, "responses.household": 0.2,
                            "sources.camera.data_points_per_day": 9.0}},
        {"day": 61, "set": {"behaviours.red_light.rate_per_year": 12.0,
                            "companies.blacklist.listing_probability": 0.05,
                            "platforms.app.banned": True}},
    ]  # fmt: skip
    return doc


def attention() -> dict[str, Any]:
    """Adaptive attention with a window, exploration and an audit arm; misattribution by group,
    kept within the actor's group (camera) or region (bank)."""
    doc = mixed_society()
    doc["population"]["regions"] = [
        {"name": "east", "share": 0.37},
        {"name": "west", "share": 0.63},
    ]
    doc["sources"][0].update(
        by_group={"migrants": 2.0}, misattribution_by_group={"migrants": 3.0},
        misattributed_to="group",
        attention={"period_days": 7, "window_days": 21, "prior": 5.0, "exploration": 0.05,
                   "audit_share": 0.2},
    )  # fmt: skip
    doc["sources"][1].update(misattribution=0.03, misattributed_to="region",
                             attention={"period_days": 10, "prior": 2.0})  # fmt: skip
    doc["run"].update(checkpoint_days=6, ledger_part_days=25)
    return doc


@dataclass(frozen=True)
class Society:
    build: Callable[[], dict[str, Any]]
    in_memory: bool = False  # simulate and save_run instead of a run directory written as it goes


SOCIETIES = {
    # groups, misattribution, clamping, a yearly cap, expiry, deterrence; 9 uneven blocks
    "mixed": Society(mixed_society, in_memory=True),
    # every piece of state a checkpoint carries, checkpointed every 3 days
    "crashy": Society(lambda: crashy(population=20_000, days=40)),
    "companies": Society(companies),  # employers, company lists, joint punishment, co-workers
    "lists-gates": Society(lists_and_gates),  # lists, gates, school seats allocated on day 100
    "warm-lists": Society(lambda: lists_and_gates(warm_up_days=150)),  # the list starts warm
    "lending": Society(loans),  # loans repaid or defaulted on, distress, lawsuits
    "responses": Society(responses),  # the punished's households hold back
    # learned thresholds per block, a lottery taken once, thresholds per group, start points
    "policies": Society(policies),
    # contagion through blocks, housemates and listings; terms, lifetimes, rewards, stakes
    "contagion": Society(contagious),
    "sharded": Society(sharded_society),  # all of it, school seats across shards, for Dask
    "timeline": Society(reforms),  # the same with values changed on three days
    "everything": Society(everything),  # every mechanism of issue 15 at once
    "attention": Society(attention),  # adaptive sources, misattribution by group and region
}


@dataclass(frozen=True)
class Shards:
    """The run in ``shards`` stepped by ``threads``; ``daily``: followed by a progress callback,
    so a day at a time instead of each shard to the end of a ledger part on its own."""

    shards: int
    threads: int
    daily: bool = False

    def __str__(self) -> str:
        return f"{self.shards}-shards-{self.threads}-threads" + ("-daily" if self.daily else "")


@dataclass(frozen=True)
class Stopped:
    """Stopped on each day of ``stops`` and resumed; the last resume must start at
    ``resumed_from``. ``shards``/``threads``: of the first run; ``then``: threads of the
    resumes that are stopped again; ``last``: threads of the final resume (None: defaults)."""

    stops: tuple[int, ...]
    resumed_from: int
    shards: int | None = None
    threads: int | None = None
    then: int | None = None
    last: int | None = None

    def __str__(self) -> str:
        return "stopped-" + "-".join(map(str, self.stops))


@dataclass(frozen=True)
class Dask:
    """On a local Dask cluster in ``shards``; ``stopped``: the coordinator stopped before sealing
    the run with a shard unfinished, then ``carnet run --resume``."""

    shards: int
    stopped: bool = False

    def __str__(self) -> str:
        return f"dask-{self.shards}-shards" + ("-stopped" if self.stopped else "")


CASES: list[tuple[str, Shards | Stopped | Dask]] = [
    ("mixed", Shards(4, 1)),
    ("mixed", Shards(4, 2)),
    ("mixed", Shards(9, 2)),
    ("mixed", Shards(3, 3)),
    ("mixed", Shards(3, 3, daily=True)),
    # from a checkpoint each time (every 3 days), on other threads than the first run's
    ("crashy", Stopped((1, 3, 4, 9, 20, 39), resumed_from=39, then=1, last=3)),
    ("crashy", Stopped((2,), resumed_from=0)),  # before the first checkpoint: from the start
    ("companies", Shards(4, 2)),
    ("companies", Stopped((66,), resumed_from=63, shards=3, threads=2)),
    ("lists-gates", Shards(4, 2)),
    ("lists-gates", Stopped((103,), resumed_from=98, shards=3, threads=2)),  # seats on day 100
    ("warm-lists", Shards(4, 2)),
    ("warm-lists", Stopped((20,), resumed_from=14, shards=3, threads=2)),
    ("lending", Shards(4, 2)),
    ("lending", Stopped((77,), resumed_from=77)),
    ("policies", Shards(4, 2)),
    ("policies", Shards(9, 3, daily=True)),
    ("policies", Stopped((3, 40), resumed_from=35, then=2)),
    ("responses", Shards(3, 2)),
    ("responses", Stopped((50,), resumed_from=48)),
    ("attention", Shards(4, 2)),
    ("attention", Shards(9, 3, daily=True)),
    ("attention", Stopped((50,), resumed_from=48, shards=3, threads=2)),  # mid-period, mid-window
    ("attention", Dask(3)),
    ("policies", Dask(3)),
    ("contagion", Shards(4, 2)),
    ("contagion", Shards(12, 2, daily=True)),
    ("contagion", Stopped((40, 41), resumed_from=36, shards=3, threads=2)),
    ("contagion", Dask(3)),
    ("sharded", Dask(3)),
    ("sharded", Dask(3, stopped=True)),
    ("timeline", Shards(4, 2, daily=True)),
    ("timeline", Stopped((40,), resumed_from=40, shards=3, threads=2)),  # after two changes
    ("timeline", Dask(3, stopped=True)),
    ("everything", Shards(5, 2)),
    ("everything", Shards(12, 3, daily=True)),
    ("everything", Stopped((23, 44), resumed_from=42, shards=3, threads=2)),
    ("everything", Dask(4, stopped=True)),
]


@dataclass
class Reference:
    name: str
    scenario: carnet.Scenario
    path: Path


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Reference]:
    """Each society's run in one process, one shard, one thread: made once per worker process.

    (The cases of a society share an xdist group, so they run in one worker.)
    """
    made: dict[str, Reference] = {}

    def reference(name: str) -> Reference:
        if name not in made:
            society = SOCIETIES[name]
            s = carnet.load_scenario(society.build())
            out = tmp_path_factory.mktemp(f"reference-{name}") / "run"
            if society.in_memory:
                carnet.save_run(carnet.simulate(s, shards=1, threads=1), out)
            else:
                run_to_directory(s, out, shards=1, threads=1)
            made[name] = Reference(name, s, out)
        return made[name]

    return reference


def _stop_on(day: int) -> Callable[[int, int], None]:
    def stop(done: int, total: int) -> None:
        if done == day:
            raise KeyboardInterrupt

    return stop


def split_run(ref: Reference, split: Shards, out: Path) -> None:
    s = ref.scenario
    days: list[int] = []
    progress = (lambda done, total: days.append(done)) if split.daily else None
    if SOCIETIES[ref.name].in_memory:
        run = carnet.simulate(s, shards=split.shards, threads=split.threads, progress=progress)
        carnet.save_run(run, out)
    else:
        run_to_directory(s, out, shards=split.shards, threads=split.threads, progress=progress)
    if split.daily:
        assert days == list(range(1, s.run.days + 1))
    assert same_files(ref.path, out) == []


def stopped_run(ref: Reference, split: Stopped, out: Path) -> None:
    first, *again = split.stops
    with pytest.raises(KeyboardInterrupt):
        run_to_directory(ref.scenario, out, shards=split.shards, threads=split.threads,
                         progress=_stop_on(first))  # fmt: skip
    for day in again:
        with pytest.raises(KeyboardInterrupt):
            resume(out, progress=_stop_on(day), threads=split.then)
    if split.resumed_from == 0:
        assert not (out / "checkpoint.npz").exists()
    assert resume(out, threads=split.last).resumed_from == split.resumed_from
    assert same_files(ref.path, out) == []
    assert verify(out) == []
    assert not (out / "checkpoint.npz").exists()


def dask_run(ref: Reference, split: Dask, out: Path) -> None:
    need("distributed")
    from carnet.runs.dask import run_sharded

    finished = run_sharded(ref.scenario, out, shards=split.shards).path
    if not split.stopped:
        assert len(list((finished / "shards").glob("0*/ledger/*.parquet"))) > split.shards
        assert_same_run(ref.path, finished, companies=ref.scenario.companies is not None)
        return
    # The coordinator stopped before sealing the run, and one shard had not finished.
    (out / "manifest.json").unlink()
    (out / "metrics.parquet").unlink()
    (out / "shards" / "0001" / "output.npz").unlink()
    kept = (out / "shards" / "0000" / "output.npz").stat().st_mtime_ns
    shown = run_script("run", "--resume", str(out), "--no-report", timeout=300)
    assert shown.code == 0, shown.text
    assert (out / "shards" / "0000" / "output.npz").stat().st_mtime_ns == kept  # not run again
    assert_same_run(ref.path, out, companies=ref.scenario.companies is not None)


@pytest.mark.parametrize(
    ("name", "split"),
    [pytest.param(name, split, id=f"{name}-{split}",
                  marks=pytest.mark.xdist_group(f"identity-{name}"))  # one reference per society
     for name, split in CASES],
)  # fmt: skip
def test_a_split_run_is_the_run_in_one_process(
    references: Callable[[str], Reference],
    name: str,
    split: Shards | Stopped | Dask,
    tmp_path: Path,
) -> None:
    reference = references(name)
    out = tmp_path / "run"
    if isinstance(split, Shards):
        split_run(reference, split, out)
    elif isinstance(split, Stopped):
        stopped_run(reference, split, out)
    else:
        dask_run(reference, split, out)


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.xdist_group(f"identity-{name}")) for name in SOCIETIES],
)
def test_the_reference_holds_what_the_splits_compare(
    references: Callable[[str], Reference], name: str
) -> None:
    """What each reference must hold for the comparisons to mean something."""
    reference = references(name)
    parts = sorted((reference.path / "ledger").glob("part-*"))
    assert len(parts) == -(-reference.scenario.run.days // reference.scenario.run.ledger_part_days)
    back = carnet.load_run(reference.path)
    assert back.ledger.num_rows > 1000
    if reference.scenario.companies is not None:
        assert (reference.path / "companies.parquet").is_file()
        assert back.company_ledger is not None and back.company_ledger.num_rows > 100
        assert back.company_metrics is not None and back.companies is not None
    if reference.scenario.gates:
        assert back.decisions.num_rows > 0
