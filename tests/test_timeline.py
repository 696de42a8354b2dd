"""A timeline: values that change on a day of the run, with common random numbers kept.

A change applies at the start of its day: what happens before it is what the scenario without
the change does, byte for byte, and from its day on the new value is in force. Changes are
checked like the rest of a scenario, each problem at the change's own path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
import yaml
from helpers import base_scenario

import carnet
from carnet.errors import ScenarioError
from carnet.scenario.loading import to_yaml, validate

Z = 4.0
DAY = 40


def reform(**change: Any) -> dict[str, Any]:
    """The base society, 100 days, with one change on day DAY."""
    doc = base_scenario(days=100)
    doc["population"]["size"] = 4000
    doc["timeline"] = [{"day": DAY, "set": change, "description": "a reform"}]
    return doc


def ledger_rows(result: carnet.Result) -> list[dict[str, Any]]:
    return result.ledger.to_pylist()


def by_day(rows: list[dict[str, Any]], before: bool) -> list[dict[str, Any]]:
    return [r for r in rows if (r["day"] < DAY) == before]


def test_a_rule_changes_on_its_day_and_nothing_before() -> None:
    plain = carnet.simulate(reform(**{"rules.points.red_light.points": -5}))
    harsher = carnet.simulate(reform(**{"rules.points.red_light.points": -20}))
    a, b = ledger_rows(plain), ledger_rows(harsher)
    assert by_day(a, True) == by_day(b, True)
    sanctions = [r for r in by_day(b, False) if r["behaviour"] == "red_light"]
    assert len(sanctions) > 100
    assert {r["points"] for r in sanctions} == {-20}
    assert {r["points"] for r in by_day(b, True) if r["behaviour"] == "red_light"} == {-5}
    # Rules do not change what people do here (no deterrence): the same acts, every day.
    acts = [c for c in plain.metrics.column_names if c.startswith("acts_")]
    assert plain.metrics.select(acts).equals(harsher.metrics.select(acts))


def test_a_rollout_raises_detection_from_its_day() -> None:
    doc = reform(**{"behaviours.red_light.observed_by.camera.detect": 0.9})
    doc["population"]["size"] = 20_000
    doc["behaviours"][0]["observed_by"][0]["detect"] = 0.3
    m = carnet.simulate(doc).metrics
    day = np.asarray(m["day"])
    seen = np.asarray(m["acts_red_light_detected"])
    missed = np.asarray(m["acts_red_light_missed"])
    for p, rows in ((0.3, day < DAY), (0.9, day >= DAY)):
        n = int(seen[rows].sum() + missed[rows].sum())
        assert abs(seen[rows].sum() / n - p) < Z * math.sqrt(p * (1 - p) / n)


def test_data_collected_follows_the_epoch() -> None:
    m = carnet.simulate(reform(**{"sources.camera.data_points_per_day": 0.0})).metrics
    day = np.asarray(m["day"])
    data = np.asarray(m["data_camera"])
    assert (data[day < DAY] > 0).all() and (data[day >= DAY] == 0).all()
    # The bank is unchanged: the same points every day.
    assert len(set(np.asarray(m["data_bank"]).tolist())) == 1


def test_changes_of_one_day_apply_in_order_and_later_days_build_on_them() -> None:
    doc = reform(**{"rules.points.red_light.points": -7})
    doc["timeline"] += [
        {"day": 70, "set": {"rules.points.late_payment.points": -1}},
        {"day": DAY, "set": {"rules.points.red_light.points": -9}},  # the later of day DAY wins
    ]
    rows = ledger_rows(carnet.simulate(doc))
    change = {(r["behaviour"], r["day"] >= DAY, r["day"] >= 70): r["points"]
              for r in rows}  # fmt: skip
    assert change[("red_light", True, False)] == change[("red_light", True, True)] == -9
    assert change[("late_payment", True, False)] == -10
    assert change[("late_payment", True, True)] == -1


def test_day_zero_changes_are_the_scenario_from_the_start() -> None:
    doc = reform(**{"rules.points.red_light.points": -3})
    doc["timeline"][0]["day"] = 0
    plain = reform()
    plain.pop("timeline")
    plain["rules"]["points"]["red_light"] = -3
    a, b = carnet.simulate(doc), carnet.simulate(plain)
    assert a.metrics.equals(b.metrics) and a.ledger.equals(b.ledger)


def test_gates_seats_and_prices_follow_the_timeline() -> None:
    doc = reform(**{"gates.ticket.min_grade": "A"})
    doc["gates"] = [{"name": "ticket", "applications_per_year": 30.0, "min_grade": "C"}]
    d = carnet.simulate(doc).decisions
    early = d.filter(pc.less(d["day"], DAY))
    late = d.filter(pc.greater_equal(d["day"], DAY))
    assert set(early["outcome"].to_pylist()) == {"approved"}
    refused = late.filter(pc.equal(late["outcome"], "refused_grade"))
    assert refused.num_rows > 0 and set(refused["grade"].to_pylist()) <= {"B", "C"}


def problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    return dict(caught.value.problems)


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"population.size": 10}, 'timeline.0.set."population.size"', "drawn once"),
        ({"run.days": 10}, 'timeline.0.set."run.days"', "whole run"),
        ({"sources.camera.name": "cam"}, 'timeline.0.set."sources.camera.name"', "names"),
        ({"sources.lidar.detect": 1.0}, 'timeline.0.set."sources.lidar.detect"', "no item 'lidar'"),
        ({"rules.points.red_light.points": -20000},
         'timeline.0.set."rules.points.red_light.points"', "must be >= -10000, got -20000"),
        ({"sources.camera.misattribution": 2.0},
         'timeline.0.set."sources.camera.misattribution"', "must be <= 1.0, got 2.0"),
        ({"lists.blacklist": {}}, 'timeline.0.set."lists.blacklist"', "cannot add a section"),
        ({"behaviours.red_light.observed_by": []},
         'timeline.0.set."behaviours.red_light.observed_by"', "keeps its length"),
        ({"grades.1.min_points": 2000}, 'timeline.0.set."grades.1.min_points"', "best to worst"),
        ({"rules.points.red_light": {"points": -5, "lifetime": 3}},
         'timeline.0.set."rules.points.red_light".lifetime', "unknown key"),
        ({"not a path": 1}, 'timeline.0.set."not a path"', "not a path"),
    ],
)  # fmt: skip
def test_bad_changes_are_named_at_their_path(change: dict[str, Any], path: str, words: str) -> None:
    found = problems(reform(**change))
    assert path in found, found
    assert words in found[path]


def test_a_change_after_the_run_is_refused() -> None:
    doc = reform(**{"rules.points.red_light.points": -6})
    doc["timeline"][0]["day"] = 100
    assert "must be within the run (0 to 99), got 100" in problems(doc)["timeline.0.day"]


def test_a_change_that_needs_new_state_is_refused_at_the_change() -> None:
    doc = reform(**{"responses.punished": 0.5})  # a memory of sanctions, none before
    with pytest.raises(ScenarioError) as caught:
        carnet.simulate(doc)
    (path, message), *_ = caught.value.problems
    assert path == "timeline.0"
    assert f"day {DAY}" in message and "until_self" in message
    # Given from day 0 with a value that does nothing, the same change runs.
    doc["responses"] = {"punished": 1.0, "household": 0.99}
    assert carnet.simulate(doc).metrics.num_rows == 100


def test_a_validated_timeline_round_trips_through_yaml() -> None:
    s = carnet.load_scenario(reform(**{"rules.points.red_light.points": -8}))
    again = validate(yaml.safe_load(to_yaml(s)))
    assert again == s and again.timeline[0].set == {"rules.points.red_light.points": -8}


def test_carnet_validate_names_a_change_that_needs_new_state(tmp_path: Any) -> None:
    from helpers import run_script, write_yaml

    path = write_yaml(reform(**{"responses.punished": 0.5}), tmp_path / "reform.yaml")
    out = run_script("validate", str(path))
    assert out.code == 2, out
    assert "timeline.0" in out.stderr and "until_self" in out.stderr


def test_an_optional_value_may_be_set_on_a_day() -> None:
    doc = reform(**{"gates.ticket.min_grade": "A", "sources.camera.platform": "app"})
    doc["gates"] = [{"name": "ticket", "applications_per_year": 30.0}]  # no lowest grade at first
    doc["platforms"] = [{"name": "app", "compliance": 0.0}]
    result = carnet.simulate(doc)
    d = result.decisions
    assert set(d.filter(pc.less(d["day"], DAY))["outcome"].to_pylist()) == {"approved"}
    assert "refused_grade" in d.filter(pc.greater_equal(d["day"], DAY))["outcome"].to_pylist()
    m = result.metrics
    withheld = np.asarray(m["withheld_red_light"])
    day = np.asarray(m["day"])
    assert withheld[day < DAY].sum() == 0 < withheld[day >= DAY].sum()


def test_what_sizes_a_mechanisms_state_cannot_change_but_its_values_can() -> None:
    """An adaptive source's window and a learned lender's bins size what the run keeps: refused
    at the change. Its exploration is a value: it takes effect on its day."""
    from helpers import everything

    for change in ({"sources.camera.attention.window_days": 45},
                   {"gates.loan.policy.bin_points": 10}):  # fmt: skip
        doc = everything()
        doc["timeline"] = [{"day": 30, "set": change}]
        with pytest.raises(ScenarioError) as caught:
            carnet.simulate(doc)
        (path, message), *_ = caught.value.problems
        assert path == "timeline.0" and "day 30" in message
    plain, explored = everything(), everything()
    plain["timeline"] = []
    explored["timeline"] = [{"day": 30, "set": {"sources.camera.attention.exploration": 0.9}}]
    a, b = (carnet.simulate(d).metrics for d in (plain, explored))
    before, after = pc.field("day") < 30, pc.field("day") >= 36  # the next re-allocation on
    assert a.filter(before).equals(b.filter(before))
    column = "attention_camera"
    assert a.filter(after)[column] != b.filter(after)[column]
