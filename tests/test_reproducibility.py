"""Reproducibility contract: same scenario and seed, same bytes; another seed, other draws.

However the run is split (shards, threads, resumed, Dask): tests/test_identity.py.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
from helpers import mixed_society

import carnet


def files(run: Path) -> dict[str, bytes]:
    return {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = carnet.save_run(carnet.simulate(mixed_society()), tmp_path / "a")
    b = carnet.save_run(carnet.simulate(mixed_society()), tmp_path / "b")
    fa, fb = files(a), files(b)
    assert sorted(fa) == sorted(fb)
    assert any(name.startswith("ledger/part-") for name in fa)
    for name in fa:
        assert fa[name] == fb[name], name


def test_other_seed_gives_other_acts() -> None:
    a = carnet.simulate(mixed_society())
    b = carnet.simulate(mixed_society(), seed=8)
    assert not a.metrics.equals(b.metrics)


def act_columns(result: carnet.Result) -> dict:
    m = result.metrics
    return {name: m[name].to_pylist() for name in m.column_names if name.startswith("acts_")}


def test_common_random_numbers_when_only_points_differ() -> None:
    base = mixed_society(responses={})  # no deterrence: points cannot feed back into behaviour
    other = mixed_society(responses={})
    other["rules"]["points"]["red_light"] = -20
    a, b = carnet.simulate(base), carnet.simulate(other)
    assert act_columns(a) == act_columns(b)
    keys = ["day", "citizen", "kind", "behaviour", "source", "truly_done", "true_actor"]
    acts_a = a.ledger.filter(pc.equal(a.ledger["kind"], "act")).select(keys)
    acts_b = b.ledger.filter(pc.equal(b.ledger["kind"], "act")).select(keys)
    assert acts_a.equals(acts_b)
    assert not a.metrics["points_sum"].equals(b.metrics["points_sum"])


def test_common_random_numbers_when_bands_differ() -> None:
    base = mixed_society(responses={})
    other = mixed_society(responses={})
    other["grades"][1]["min_points"] = 950
    assert act_columns(carnet.simulate(base)) == act_columns(carnet.simulate(other))


def test_adding_a_behaviour_leaves_the_others_draws_alone() -> None:
    base = mixed_society(responses={})
    more = mixed_society(responses={})
    more["behaviours"].append(
        {"name": "jaywalking", "kind": "negative", "rate_per_year": 5.0,
         "observed_by": [{"source": "camera", "detect": 0.3}]}
    )  # fmt: skip
    more["rules"]["points"]["jaywalking"] = -1
    a, b = act_columns(carnet.simulate(base)), act_columns(carnet.simulate(more))
    assert all(a[name] == b[name] for name in a)


def test_advance_stops_at_the_end_of_a_ledger_part() -> None:
    from carnet.sim.simulation import started

    s = carnet.load_scenario(mixed_society())
    with started(s, threads=2, shards=2) as sim:
        assert sim.advance(1000) and sim.day == 45  # the first part is cut
        assert sim.advance(10) == [] and sim.day == 55
        assert sim.advance(1000) and sim.day == 90
        while not sim.done:
            sim.advance(1000)
        assert sim.day == 200 and len(sim.parts) == 5
