"""Reproducibility contract: same scenario and seed, same bytes, however the run is split."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest
from conftest import base_scenario

import carnet


def small(**changes: object) -> dict:
    doc = base_scenario()
    doc["population"]["size"] = 9000  # 9 blocks of 1024: uneven shards
    doc["population"]["groups"] = [
        {"name": "locals", "share": 0.7, "exposure": {"mean": 0.4}},
        {"name": "migrants", "share": 0.3, "exposure": {"mean": 0.7}, "awareness": 0.5},
    ]
    doc["sources"][0].update(misattribution=0.05, exposure_weight=0.5)
    doc["rules"].update(floor=0, ceiling=1100, lifetime_days=90)
    doc["rules"]["points"]["volunteering"] = {"points": 7, "yearly_cap": 21}
    doc["responses"] = {"deterrence": {"B": 0.7, "C": 0.5}}
    doc["run"]["days"] = 200
    doc["run"]["ledger_part_days"] = 45
    doc.update(changes)
    return doc


def files(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = carnet.save_run(carnet.simulate(small()), tmp_path / "a")
    b = carnet.save_run(carnet.simulate(small()), tmp_path / "b")
    fa, fb = files(a), files(b)
    assert sorted(fa) == sorted(fb)
    assert any(name.startswith("ledger/part-") for name in fa)
    for name in fa:
        assert fa[name] == fb[name], name


@pytest.mark.parametrize(("shards", "threads"), [(4, 1), (4, 2), (9, 2), (3, 3)])
def test_shards_and_threads_do_not_change_results(
    tmp_path: Path, shards: int, threads: int
) -> None:
    one = carnet.save_run(carnet.simulate(small(), shards=1, threads=1), tmp_path / "one")
    many = carnet.save_run(
        carnet.simulate(small(), shards=shards, threads=threads), tmp_path / "many"
    )
    f1, fm = files(one), files(many)
    assert sorted(f1) == sorted(fm)
    for name in f1:
        assert f1[name] == fm[name], name


def test_other_seed_gives_other_acts() -> None:
    a = carnet.simulate(small())
    b = carnet.simulate(small(), seed=8)
    assert not a.metrics.equals(b.metrics)


def act_columns(result: carnet.Result) -> dict:
    m = result.metrics
    return {name: m[name].to_pylist() for name in m.column_names if name.startswith("acts_")}


def test_common_random_numbers_when_only_points_differ() -> None:
    base = small(responses={})  # no deterrence: points cannot feed back into behaviour
    other = small(responses={})
    other["rules"]["points"]["red_light"] = -20
    a, b = carnet.simulate(base), carnet.simulate(other)
    assert act_columns(a) == act_columns(b)
    keys = ["day", "citizen", "kind", "behaviour", "source", "truly_done", "true_actor"]
    acts_a = a.ledger.filter(pc.equal(a.ledger["kind"], "act")).select(keys)
    acts_b = b.ledger.filter(pc.equal(b.ledger["kind"], "act")).select(keys)
    assert acts_a.equals(acts_b)
    assert not a.metrics["points_sum"].equals(b.metrics["points_sum"])


def test_common_random_numbers_when_bands_differ() -> None:
    base = small(responses={})
    other = small(responses={})
    other["grades"][1]["min_points"] = 950
    assert act_columns(carnet.simulate(base)) == act_columns(carnet.simulate(other))


def test_adding_a_behaviour_leaves_the_others_draws_alone() -> None:
    base = small(responses={})
    more = small(responses={})
    more["behaviours"].append(
        {"name": "jaywalking", "kind": "negative", "rate_per_year": 5.0,
         "observed_by": [{"source": "camera", "detect": 0.3}]}
    )  # fmt: skip
    more["rules"]["points"]["jaywalking"] = -1
    a, b = act_columns(carnet.simulate(base)), act_columns(carnet.simulate(more))
    assert all(a[name] == b[name] for name in a)


def test_shards_stepping_days_on_their_own_change_nothing(tmp_path: Path) -> None:
    """Without gates, shards step to the end of each ledger part without waiting for each other
    day by day; a run followed by a progress callback goes a day at a time. Same bytes."""
    days: list[int] = []
    free = carnet.save_run(carnet.simulate(small(), shards=3, threads=3), tmp_path / "free")
    daily = carnet.save_run(
        carnet.simulate(
            small(), shards=3, threads=3, progress=lambda done, total: days.append(done)
        ),
        tmp_path / "daily",
    )
    assert days == list(range(1, 201))
    ff, fd = files(free), files(daily)
    assert sorted(ff) == sorted(fd) and sum(n.startswith("ledger/part-") for n in ff) == 5
    for name in ff:
        assert ff[name] == fd[name], name


def test_advance_stops_at_the_end_of_a_ledger_part() -> None:
    from carnet.sim.simulation import started

    s = carnet.load_scenario(small())
    with started(s, threads=2, shards=2) as sim:
        assert sim.advance(1000) and sim.day == 45  # the first part is cut
        assert sim.advance(10) == [] and sim.day == 55
        assert sim.advance(1000) and sim.day == 90
        while not sim.done:
            sim.advance(1000)
        assert sim.day == 200 and len(sim.parts) == 5
