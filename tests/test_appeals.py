"""Appeals: a won appeal gives back exactly what was taken; rates follow the parameters."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

import pyarrow.compute as pc
import pytest
from helpers import base_scenario

import carnet
from carnet.errors import ScenarioError

Z = 4.0


def appealing(**appeals: Any) -> dict[str, Any]:
    doc = base_scenario(days=200)
    doc["population"]["size"] = 6000
    doc["sources"][0]["misattribution"] = 0.3  # the camera blames the wrong person often
    doc["appeals"] = {
        "probability": 1.0, "success_if_wrongful": 1.0, "success_if_deserved": 0.0,
        "decision_days": 10, **appeals,
    }  # fmt: skip
    return doc


def test_a_won_appeal_restores_exactly_the_points_taken() -> None:
    result = carnet.simulate(appealing())
    rows = result.ledger.to_pylist()
    # Every sanction of the first 190 days has exactly one decision ten days later: won (and
    # all its points back) if it was wrongful, lost (nothing back) if deserved.
    expected = Counter(
        (r["citizen"], r["day"] + 10, r["behaviour"], r["truly_done"],
         "appeal_lost" if r["truly_done"] else "appeal_won", 0 if r["truly_done"] else -r["points"])
        for r in rows
        if r["kind"] == "act" and r["points"] < 0 and r["day"] < 190
    )  # fmt: skip
    decided = Counter(
        (r["citizen"], r["day"], r["behaviour"], r["truly_done"], r["kind"], r["points"])
        for r in rows
        if r["kind"] in ("appeal_won", "appeal_lost")
    )
    assert decided == expected
    assert sum(1 for key in decided if key[4] == "appeal_won") > 50
    # With every wrongful sanction overturned, a citizen ends where their deserved sanctions and
    # their rewards (never appealed, wrongful or not) put them.
    truth = defaultdict(int)
    for r in rows:
        if r["kind"] == "act" and (r["truly_done"] or r["points"] > 0):
            truth[r["citizen"]] += r["points"]
    late = {r["citizen"] for r in rows if r["day"] >= 190}
    for c, p in zip(
        *result.population.select(["citizen", "points"]).to_pydict().values(), strict=True
    ):
        if c not in late:
            assert p == 1000 + truth.get(c, 0)


def test_appeal_rates_follow_group_income_and_truth() -> None:
    doc = appealing(
        probability=0.2, by_group={"migrants": 2.0}, success_if_wrongful=0.7,
        success_if_deserved=0.1,
    )  # fmt: skip
    doc["population"]["size"] = 40_000
    doc["population"]["groups"] = [
        {"name": "locals", "share": 0.5},
        {"name": "migrants", "share": 0.5},
    ]
    result = carnet.simulate(doc)
    m = result.metrics
    negative = ("red_light", "late_payment")
    for group, p in (("locals", 0.2), ("migrants", 0.4)):
        rows = m.filter(pc.equal(m["group"], group))
        sanctions = sum(pc.sum(rows[f"scored_{b}"]).as_py() for b in negative)
        filed = pc.sum(rows["appeals_filed"]).as_py()
        assert abs(filed / sanctions - p) < Z * math.sqrt(p * (1 - p) / sanctions), group
    filed_wrong = pc.sum(m["appeals_filed_wrongful"]).as_py()
    won_wrong = pc.sum(m["appeals_won_wrongful"]).as_py()
    assert abs(won_wrong / filed_wrong - 0.7) < Z * math.sqrt(0.21 / filed_wrong)
    filed_right = pc.sum(m["appeals_filed"]).as_py() - filed_wrong
    won_right = pc.sum(m["appeals_won"]).as_py() - won_wrong
    assert abs(won_right / filed_right - 0.1) < Z * math.sqrt(0.09 / filed_right)
    # The ledger holds one decision for every appeal decided within the run.
    decided = result.ledger.filter(
        pc.is_in(
            result.ledger["kind"].cast("string"), value_set=pa_strings("appeal_won", "appeal_lost")
        )
    )
    early = m.filter(pc.less(m["day"], 190))
    assert decided.num_rows == pc.sum(early["appeals_filed"]).as_py()


def pa_strings(*values: str) -> Any:
    import pyarrow as pa

    return pa.array(values, pa.string())


def test_rewards_are_never_appealed_and_no_appeals_without_the_section() -> None:
    result = carnet.simulate(appealing())
    kinds = set(result.ledger["kind"].to_pylist())
    assert {"appeal_won", "appeal_lost"} <= kinds
    rewards = result.ledger.filter(pc.equal(result.ledger["behaviour"], "volunteering"))
    assert set(rewards["kind"].to_pylist()) == {"act"}
    doc = appealing()
    del doc["appeals"]
    plain = carnet.simulate(doc)
    assert "appeals_filed" not in plain.metrics.column_names
    assert not {"appeal_won", "appeal_lost"} & set(plain.ledger["kind"].to_pylist())
    # Appeals change only what happens after a sanction: the acts themselves are the same.
    acts = [c for c in plain.metrics.column_names if c.startswith("acts_")]
    assert plain.metrics.select(acts).equals(result.metrics.select(acts))


def test_appeal_errors_name_their_path() -> None:
    doc = appealing(by_group={"nobody": 2.0}, success_if_wrongful=1.5)
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert ("appeals.success_if_wrongful", "must be <= 1.0, got 1.5") in caught.value.problems
