"""Incentives: rewards raise positive acts, and what a fall of grade costs at the gates deters."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
from helpers import base_scenario

import carnet
from carnet.errors import ScenarioError
from carnet.sim.incentives import lost_applications, reward_multipliers, stake_factors
from carnet.sim.parameters import compile_parameters

Z = 4.0
SIZE, DAYS = 30_000, 200


def acts(m: Any, behaviour: str, group: str | None = None) -> int:
    if group is not None:
        m = m.filter(pc.equal(m["group"], group))
    return sum(pc.sum(m[f"acts_{behaviour}_{o}"]).as_py() for o in ("detected", "missed"))


def near(count: int, per_year: float, citizens: float) -> bool:
    expected = citizens * per_year * DAYS / 365
    return abs(count - expected) < Z * math.sqrt(expected)


def rewarded(**incentives: Any) -> dict[str, Any]:
    """Three positive behaviours: a small reward, a large one (clipped), and a penalty."""
    doc = base_scenario(days=DAYS)
    doc["population"]["size"] = SIZE
    doc["behaviours"] += [
        {"name": "blood_donation", "kind": "positive", "rate_per_year": 1.0,
         "observed_by": [{"source": "camera", "detect": 1.0}]},
        {"name": "street_music", "kind": "positive", "rate_per_year": 2.0},
    ]  # fmt: skip
    doc["rules"]["points"].update(blood_donation=100, street_music=-10)
    doc["responses"] = {
        "incentives": {"reward_elasticity": 0.5, "reward_reference": 10.0, **incentives}
    }
    return doc


def test_a_reward_multiplies_its_acts_by_the_formula() -> None:
    """1 + e points / R: volunteering (+7) x 1.35, blood (+100) clipped at 3, music (-10) x 0.5."""
    s = carnet.load_scenario(rewarded())
    assert np.allclose(reward_multipliers(s), [1.0, 1.0, 1.35, 3.0, 0.5])
    m = carnet.simulate(s).metrics
    assert near(acts(m, "volunteering"), 2.0 * 1.35, SIZE)
    assert near(acts(m, "blood_donation"), 1.0 * 3.0, SIZE)
    assert near(acts(m, "street_music"), 2.0 * 0.5, SIZE)
    assert near(acts(m, "red_light"), 3.0, SIZE)  # negative acts do not answer rewards


def test_only_the_aware_answer_rewards() -> None:
    doc = rewarded()
    doc["population"]["groups"] = [
        {"name": "aware", "share": 0.5},
        {"name": "unaware", "share": 0.5, "awareness": 0.0},
    ]
    m = carnet.simulate(doc).metrics
    people = {g: pc.mean(m.filter(pc.equal(m["group"], g))["citizens"]).as_py()
              for g in ("aware", "unaware")}  # fmt: skip
    assert near(acts(m, "volunteering", "aware"), 2.0 * 1.35, people["aware"])
    assert near(acts(m, "volunteering", "unaware"), 2.0, people["unaware"])
    assert near(acts(m, "blood_donation", "unaware"), 1.0, people["unaware"])


def test_the_points_of_a_reward_change_acceptance_only() -> None:
    """Common random numbers: same candidates; a larger reward accepts a superset of the acts."""
    doc = rewarded()
    doc["population"]["size"] = 5000
    for b in doc["behaviours"]:
        b["observed_by"] = [{"source": "camera", "detect": 1.0}]  # every act in the ledger
    small = carnet.load_scenario(doc)
    doc["rules"]["points"]["volunteering"] = 14
    large = carnet.load_scenario(doc)
    assert np.array_equal(compile_parameters(small).rate_max, compile_parameters(large).rate_max)

    def done(s: Any, behaviour: str) -> set[tuple[int, int]]:
        led = carnet.simulate(s).ledger
        led = led.filter(pc.and_(pc.equal(led["kind"], "act"),
                                 pc.equal(led["behaviour"], behaviour)))  # fmt: skip
        return set(zip(led["day"].to_pylist(), led["citizen"].to_pylist(), strict=True))

    few, many = done(small, "volunteering"), done(large, "volunteering")
    assert few < many and len(many) > 1.2 * len(few)
    assert done(small, "red_light") == done(large, "red_light")


# --- what a fall of grade costs at the gates ------------------------------------------------------


def staked(stakes: float = 0.05) -> dict[str, Any]:
    """Unseen offences (points never move): one that would drop A to B, one that costs nothing."""
    doc = base_scenario(days=DAYS)
    doc["population"]["size"] = SIZE
    doc["behaviours"] = [
        {"name": "spitting", "kind": "negative", "rate_per_year": 10.0},
        {"name": "loitering", "kind": "negative", "rate_per_year": 10.0},
    ]
    doc["rules"]["points"] = {"spitting": -5, "loitering": 0}
    doc["lists"] = {"redlist": {"grades": ["A"]}}
    doc["gates"] = [
        {"name": "loan", "applications_per_year": 12.0, "min_grade": "A"},
        {"name": "perk", "applications_per_year": 4.0, "require_redlist": True},
        {"name": "school", "applicant": "child", "applications_per_year": 1.0, "min_grade": "A"},
        {"name": "flight", "applications_per_year": 20.0},
        {"name": "job", "applications_per_year": 2.0, "min_grade": "B"},
    ]
    doc["responses"] = {"incentives": {"gate_stakes": stakes}}
    return doc


def test_lost_applications_count_the_gates_a_fall_closes() -> None:
    """Exact: adults' gates only, admitted now and refused after, worse grades only."""
    s = carnet.load_scenario(staked())
    lost = lost_applications(s)
    assert np.array_equal(lost, [[0, 16, 18], [0, 0, 2], [0, 0, 0]])
    assert np.allclose(stake_factors(s), 1.0 / (1.0 + 0.05 * lost))


def test_stakes_deter_the_acts_that_would_drop_a_grade() -> None:
    doc = staked()
    doc["population"]["groups"] = [
        {"name": "aware", "share": 0.5},
        {"name": "unaware", "share": 0.5, "awareness": 0.0},
    ]
    m = carnet.simulate(doc).metrics
    people = {g: pc.mean(m.filter(pc.equal(m["group"], g))["citizens"]).as_py()
              for g in ("aware", "unaware")}  # fmt: skip
    assert near(acts(m, "spitting", "aware"), 10.0 / (1.0 + 0.05 * 16), people["aware"])
    assert near(acts(m, "spitting", "unaware"), 10.0, people["unaware"])
    assert near(acts(m, "loitering", "aware"), 10.0, people["aware"])  # its grade stays A


def test_stakes_multiply_deterrence_by_grade() -> None:
    """Start in B: the fall to C closes the job (2 a year), and B's own deterrence applies."""
    doc = staked(stakes=0.5)
    doc["population"]["start_points"] = 903
    doc["responses"]["deterrence"] = {"B": 0.6}
    m = carnet.simulate(doc).metrics
    assert near(acts(m, "spitting"), 10.0 * 0.6 / (1.0 + 0.5 * 2), SIZE)
    assert near(acts(m, "loitering"), 10.0 * 0.6, SIZE)


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: d.update(responses={"incentives": {"gate_stakes": 1.0}}),
         "responses.incentives.gate_stakes", "no gates to weigh: `gates` is empty"),
        (lambda d: d.update(responses={"incentives": {"reward_elasticity": -1.0}}),
         "responses.incentives.reward_elasticity", "must be >= 0.0, got -1.0"),
        (lambda d: d.update(responses={"incentives": {"reward_reference": 0.0}}),
         "responses.incentives.reward_reference", "must be >= 1.0, got 0.0"),
        (lambda d: d.update(responses={"incentives": {"reward_max": 0.5}}),
         "responses.incentives.reward_max", "must be >= 1.0, got 0.5"),
    ],
)  # fmt: skip
def test_errors_name_their_path(change: Callable[[Any], None], path: str, message: str) -> None:
    doc = base_scenario()
    change(doc)
    with pytest.raises(ScenarioError) as error:
        carnet.load_scenario(doc)
    assert (path, message) in error.value.problems, error.value.problems


def test_companies_apply_at_no_gate() -> None:
    from helpers import with_companies

    doc = with_companies()
    doc["companies"]["responses"] = {"incentives": {"gate_stakes": 1.0}}
    with pytest.raises(ScenarioError) as error:
        carnet.load_scenario(doc)
    assert (
        "companies.responses.incentives.gate_stakes",
        "no gates to weigh: `gates` is empty",
    ) in error.value.problems
