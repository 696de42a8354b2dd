"""Platforms: sources that companies run, passing to the state what they comply with.

A platform sees what its sources see and collects their data; the state gets each detection and
data point with the platform's compliance. A banned platform's sources stop, or go on under its
successor. What is withheld is counted, and both the data collected and the data reaching the
state are in the metrics and the privacy audit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from helpers import base_scenario

import carnet
from carnet.analysis.audit import privacy
from carnet.errors import ScenarioError

Z = 4.0


def platformed(compliance: float = 0.6, **platform: Any) -> dict[str, Any]:
    """The camera is run by a social network that shares a share ``compliance`` of what it sees."""
    doc = base_scenario(days=120)
    doc["population"]["size"] = 20_000
    doc["platforms"] = [
        {"name": "weibo", "compliance": compliance, **platform},
        {"name": "wechat", "compliance": 1.0},
    ]
    doc["sources"][0]["platform"] = "weibo"
    return doc


def total(m: Any, column: str, rows: Any = None) -> int:
    values = np.asarray(m[column])
    return int(values.sum() if rows is None else values[rows].sum())


def test_a_platform_passes_on_its_compliance_of_what_it_sees() -> None:
    m = carnet.simulate(platformed(0.6)).metrics
    for b in ("red_light", "volunteering"):  # seen by the camera only
        kept = total(m, f"withheld_{b}")
        passed = total(m, f"acts_{b}_detected") + total(m, f"acts_{b}_misattributed")
        seen = kept + passed
        assert seen > 1000
        assert abs(passed / seen - 0.6) < Z * math.sqrt(0.24 / seen)
    # The bank is the state's: nothing of it is withheld.
    assert total(m, "withheld_late_payment") == 0
    # Withheld acts count as missed for the state: the acts' tally still adds up to all acts.
    done = sum(total(m, f"acts_red_light_{o}") for o in ("missed", "detected", "misattributed"))
    cold = carnet.simulate(base_scenario(days=120) | {"population": platformed()["population"]})
    assert done == sum(
        total(cold.metrics, f"acts_red_light_{o}") for o in ("missed", "detected", "misattributed")
    )


def test_data_reaching_the_state_is_the_compliance_share_of_what_is_collected() -> None:
    result = carnet.simulate(platformed(0.25))
    m = result.metrics
    collected, reached = total(m, "data_camera"), total(m, "state_data_camera")
    # Each block's count is rounded once: at most half a point per block, group and day apart.
    blocks = -(-20_000 // 1024)
    assert abs(reached - 0.25 * collected) <= 0.5 * blocks * 120 + 0.25 * 0.5 * blocks * 120
    assert total(m, "state_data_bank") == total(m, "data_bank")
    table = privacy(result).to_pylist()
    camera = next(r for r in table if r["source"] == "camera" and r["group"] == "all")
    assert camera["platform"] == "weibo" and camera["to_state"] == reached
    assert camera["data_points"] == collected


def test_a_platform_that_shares_everything_changes_nothing() -> None:
    plain = base_scenario(days=120)
    plain["population"]["size"] = 20_000
    a, b = carnet.simulate(plain), carnet.simulate(platformed(1.0))
    assert a.ledger.equals(b.ledger)
    assert b.metrics.select(a.metrics.column_names).equals(a.metrics)


def banned_on(day: int, **platform: Any) -> dict[str, Any]:
    doc = platformed(0.5, **platform)
    doc["timeline"] = [{"day": day, "set": {"platforms.weibo.banned": True}}]
    return doc


def test_a_banned_platform_stops_from_its_day() -> None:
    m = carnet.simulate(banned_on(50)).metrics
    day = np.asarray(m["day"])
    before, after = day < 50, day >= 50
    assert total(m, "acts_red_light_detected", before) > 0
    assert total(m, "acts_red_light_detected", after) == 0
    assert total(m, "withheld_red_light", after) == 0
    assert total(m, "data_camera", after) == 0 < total(m, "data_camera", before)


def test_a_banned_platforms_users_move_to_its_successor() -> None:
    m = carnet.simulate(banned_on(50, successor="wechat")).metrics
    day = np.asarray(m["day"])
    after = day >= 50
    assert total(m, "withheld_red_light", day < 50) > 0
    assert total(m, "withheld_red_light", after) == 0  # wechat shares everything
    assert total(m, "acts_red_light_detected", after) > 0
    assert total(m, "state_data_camera", after) == total(m, "data_camera", after) > 0


def test_compliance_changes_nothing_people_do() -> None:
    a, b = carnet.simulate(platformed(0.2)), carnet.simulate(platformed(0.9))
    seen_a = total(a.metrics, "withheld_red_light") + total(a.metrics, "acts_red_light_detected")
    seen_b = total(b.metrics, "withheld_red_light") + total(b.metrics, "acts_red_light_detected")
    assert seen_a == seen_b  # the same acts, seen by the platform alike; only sharing differs


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda d: d["sources"][1].update(platform="tiktok"), "sources.1.platform",
         "unknown platform 'tiktok'"),
        (lambda d: d["platforms"][0].update(successor="nobody"), "platforms.0.successor",
         "unknown platform 'nobody'"),
        (lambda d: d["platforms"][0].update(successor="weibo"), "platforms.0.successor",
         "cannot succeed itself"),
        (lambda d: (d["platforms"][0].update(successor="wechat"),
                    d["platforms"][1].update(successor="weibo")),
         "platforms.0.successor", "weibo -> wechat -> weibo"),
        (lambda d: d["platforms"][1].update(name="weibo"), "platforms.1.name", "duplicate"),
        (lambda d: d["platforms"][0].update(compliance=1.5), "platforms.0.compliance", "<= 1"),
    ],
)  # fmt: skip
def test_bad_platforms_are_named_at_their_path(change: Any, path: str, words: str) -> None:
    doc = platformed()
    change(doc)
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    found = dict(caught.value.problems)
    assert path in found and words in found[path], found


def test_the_columns_are_those_that_validation_checks_for_collisions() -> None:
    from carnet.sim.output_names import metric_columns

    doc = platformed()
    result = carnet.simulate(doc)
    assert [name for name, _ in metric_columns(result.scenario)] == result.metrics.column_names
