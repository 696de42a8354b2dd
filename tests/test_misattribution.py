"""Misattribution by the actor's group, and whom a misattributed act lands on.

``misattribution_by_group`` multiplies a source's misattribution by the actor's group (clipped at
1); ``misattributed_to`` says whom the act lands on: a random other citizen of the block (as
before), of the block and the actor's group, or of the block and the actor's region.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
from helpers import base_scenario

import carnet
from carnet.errors import ScenarioError

MISTAKEN = 0.1


def town(whom: str = "block", **source: Any) -> dict[str, Any]:
    """The issue's toy town: a camera that watches a minority 3 times more, three regions."""
    doc = base_scenario(days=200, block_size=1024)
    doc["population"]["size"] = 100_000
    doc["population"]["groups"] = [
        {"name": "majority", "share": 0.8},
        {"name": "minority", "share": 0.2},
    ]
    # Uneven regions, so that blocks straddle their borders.
    doc["population"]["regions"] = [
        {"name": "east", "share": 0.333},
        {"name": "centre", "share": 0.271},
        {"name": "west", "share": 0.396},
    ]
    # Detection 3 times the base stays below 1 (no clipping): the ratio is exactly 3.
    doc["behaviours"][0]["observed_by"][0]["detect"] = 0.3
    doc["behaviours"][2]["observed_by"][0]["detect"] = 0.2
    doc["sources"][0].update(
        misattribution=MISTAKEN, misattributed_to=whom, by_group={"minority": 3.0}, **source
    )
    return doc


def accused(result: carnet.Result) -> tuple[Any, Any, Any]:
    """The population's groups and regions, and the (accused, actor) of each wrongful record."""
    pop = result.population.sort_by("citizen")
    assert pop["citizen"].to_numpy().tolist() == list(range(pop.num_rows))
    ledger = result.ledger.filter(
        pc.and_(pc.equal(result.ledger["kind"], "act"), pc.invert(result.ledger["truly_done"]))
    )
    pairs = np.stack([ledger["citizen"].to_numpy(), ledger["true_actor"].to_numpy()])
    return pop["group"].to_pylist(), pop["region"].to_pylist(), pairs


@pytest.mark.parametrize("whom", ["group", "region"])
def test_the_wrongly_accused_share_the_actors_group_or_region(whom: str) -> None:
    result = carnet.simulate(carnet.load_scenario(town(whom)), shards=1, threads=1)
    groups, regions, (wronged, actor) = accused(result)
    assert len(wronged) > 2000
    assert (wronged != actor).all()
    assert (wronged // 1024 == actor // 1024).all()  # the same block, always
    attribute = groups if whom == "group" else regions
    same = np.array([attribute[a] == attribute[w] for a, w in zip(actor, wronged, strict=True)])
    assert same.all()
    other = regions if whom == "group" else groups
    # The other attribute is not forced: some accused differ from their actor in it.
    assert not all(other[a] == other[w] for a, w in zip(actor, wronged, strict=True))
    if whom == "region":
        # And blocks do straddle the regions' borders, so the region was a real constraint.
        straddles = [w for w in range(0, 100_000, 1024) if regions[w] != regions[min(w + 1023,
                     99_999)]]  # fmt: skip
        assert straddles


@pytest.mark.parametrize("whom", ["block", "group"])
def test_misattribution_rates_follow_the_multipliers_by_group(whom: str) -> None:
    """misattributed / detected, by the actor's group, within 4 SE of min(1, p x multiplier)."""
    doc = town(whom, misattribution_by_group={"minority": 2.5})
    m = carnet.simulate(carnet.load_scenario(doc), shards=1, threads=1).metrics.to_pandas()
    for group, want in (("majority", MISTAKEN), ("minority", MISTAKEN * 2.5)):
        rows = m[m.group == group]
        wrong = (
            rows["acts_red_light_misattributed"].sum()
            + rows["acts_volunteering_misattributed"].sum()
        )
        seen = (
            wrong + rows["acts_red_light_detected"].sum() + rows["acts_volunteering_detected"].sum()
        )
        se = math.sqrt(want * (1 - want) / seen)
        assert abs(wrong / seen - want) < 4 * se, (group, wrong / seen, want)


def wrongful_ratio(whom: str) -> tuple[float, float]:
    """Wrongful records per minority citizen over those per majority citizen, and its log's SE."""
    result = carnet.simulate(carnet.load_scenario(town(whom)), shards=1, threads=1)
    m = result.metrics.to_pandas()
    per = {}
    counts = {}
    for group, rows in m.groupby("group"):
        counts[group] = rows["wrongful_red_light"].sum() + rows["wrongful_volunteering"].sum()
        per[group] = counts[group] / rows["citizens"].iloc[0]
    se = math.sqrt(1 / counts["minority"] + 1 / counts["majority"])
    return per["minority"] / per["majority"], se


def test_the_toy_town_wrongly_accuses_the_minority_more_within_its_group() -> None:
    """Watched 3 times more, the minority's acts are misattributed 3 times more often per
    citizen: kept within the group they land 3 times more on it; spread over the block, evenly.
    """
    ratio, se = wrongful_ratio("group")
    assert abs(math.log(ratio) - math.log(3.0)) < 4 * se, ratio
    even, se_even = wrongful_ratio("block")
    assert abs(math.log(even)) < 4 * se_even, even
    assert ratio > 2 * even


def problems_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as refused:
        carnet.load_scenario(doc)
    return refused.value.problems


def test_misattribution_errors_name_their_path() -> None:
    doc = town(misattribution_by_group={"minorty": 2.0})
    assert (
        "sources.0.misattribution_by_group.minorty",
        "unknown group 'minorty'; known: ['majority', 'minority']",
    ) in problems_of(doc)
    doc = town(misattribution_by_group={"minority": -1.0})
    assert problems_of(doc) == [
        ("sources.0.misattribution_by_group.minority", "must be >= 0.0, got -1.0")
    ]
    assert problems_of(town("household")) == [
        ("sources.0.misattributed_to", "must be one of 'block', 'group' or 'region', got "
         "'household'")
    ]  # fmt: skip


def test_a_multiplier_above_one_is_clipped() -> None:
    """misattribution x multiplier is clipped at 1: every act of the group seen is misattributed."""
    doc = town("group", misattribution_by_group={"minority": 50.0})
    doc["run"]["days"] = 20
    m = carnet.simulate(carnet.load_scenario(doc), shards=1, threads=1).metrics.to_pandas()
    rows = m[m.group == "minority"]
    assert rows["acts_red_light_detected"].sum() == 0
    assert rows["acts_red_light_misattributed"].sum() > 100
