"""Adaptive attention: the allocation as its formula says, its budget, and the Pólya urn's law.

The urn's law (docs/attention.md): with two identical groups, no window and no exploration, a
block's allocation share X_T after T periods is a martingale (mean = the initial share u), and
Var(X_T) = u (1 - u) v_T, with v_T computed exactly by :func:`urn_v` (a dynamic programme over
the urn's total weight). Exploration e and an audit share s shrink it: the same programme with
e' = 1 - (1 - s)(1 - e) in the findings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow.compute as pc
import pytest
from helpers import base_scenario

import carnet
from carnet.analysis.validation.ensign2018 import poisson_law as poisson
from carnet.analysis.validation.ensign2018 import urn_variance as urn_v
from carnet.errors import ScenarioError
from carnet.sim.phases.attention import PPM
from carnet.sim.simulation import Simulation, started

BLOCK = 256


def two_groups(**attention: Any) -> dict[str, Any]:
    """Two identical halves; one behaviour seen by an adaptive camera, one by a fixed bank."""
    doc = base_scenario(days=120, block_size=BLOCK, ledger_part_days=10)
    doc["population"]["size"] = 1000 * BLOCK
    doc["population"]["groups"] = [
        {"name": "north", "share": 0.5},
        {"name": "south", "share": 0.5},
    ]
    # lambda = rate x detect x block x period = 20 findings per block and period.
    doc["behaviours"] = [
        {"name": "red_light", "kind": "negative", "rate_per_year": 20 * 365 / (0.3 * BLOCK * 10),
         "observed_by": [{"source": "camera", "detect": 0.3}]},
        {"name": "late_payment", "kind": "negative", "rate_per_year": 0.5,
         "observed_by": [{"source": "bank", "detect": 0.9}]},
    ]  # fmt: skip
    doc["rules"]["points"] = {"red_light": -5, "late_payment": -10}
    doc["sources"][0]["attention"] = {"period_days": 10, "prior": 4.0, **attention}
    return doc


def run_to(s: carnet.Scenario, day: int) -> Simulation:
    with started(s, threads=1, shards=1) as sim:
        while sim.day < day:
            sim.advance(day - sim.day)
        return sim


def test_the_programme_gives_the_urns_known_laws() -> None:
    """Closed forms the programme must reproduce: Pólya's urn, a batched one, pure sampling."""
    prior = 4.0
    # One finding a period is Pólya's sequential urn: X_T is (prior u + K) / (prior + T) with K
    # beta-binomial, so Var(X_T) = u (1 - u) T / ((prior + 1)(prior + T)).
    one = np.array([0.0, 1.0])
    for draws in (1, 2, 7, 50):
        assert urn_v(one, prior, draws, 0.0) == pytest.approx(
            draws / ((prior + 1) * (prior + draws)), rel=1e-12
        )
    # n findings every period: 1 - prod_t (1 - n / (prior + t n)^2).
    n = 9
    batch = np.zeros(n + 1)
    batch[n] = 1.0
    expected = 1 - math.prod(1 - n / (prior + t * n) ** 2 for t in range(1, 6))
    assert urn_v(batch, prior, 5, 0.0) == pytest.approx(expected, rel=1e-12)
    # Everything explored: X_T is the share of S ~ Poisson(lam T) findings drawn with
    # probability u, around the prior's u: v_T = E[S / (prior + S)^2].
    law = poisson(20.0 * 6)
    s = np.arange(len(law))
    assert urn_v(poisson(20.0), prior, 6, 1.0) == pytest.approx(
        float((law * s / (prior + s) ** 2).sum()), rel=1e-9
    )


def z_scores(sim: Simulation, explore: float) -> npt.NDArray[np.float64]:
    """(a - u) / ((1 - e) sqrt(u (1 - u))) of the first group in every block."""
    watching = sim.shards[0].attention
    assert watching is not None
    u = watching.spread[:, 0]
    a = watching.allocation[0, :, 0]
    z: npt.NDArray[np.float64] = (a - u) / ((1.0 - explore) * np.sqrt(u * (1.0 - u)))
    return z


@pytest.mark.parametrize(
    ("attention", "explore", "found"),
    [({}, 0.0, 0.0), ({"exploration": 0.3}, 0.3, 0.3), ({"audit_share": 0.3}, 0.0, 0.3)],
    ids=["urn", "exploration", "audit"],
)
def test_a_blocks_allocation_follows_the_urns_law(
    attention: dict[str, Any], explore: float, found: float
) -> None:
    """Mean and variance of the share across 1,000 blocks (independent urns), within 4 SE."""
    s = carnet.load_scenario(two_groups(**attention))
    sim = run_to(s, 120)  # 12 periods
    z = z_scores(sim, explore)
    b = len(z)
    assert b == 1000
    # found: the exploration the findings see, 1 - (1 - audit)(1 - exploration).
    v = urn_v(poisson(20.0), 4.0, 12, found)
    assert abs(z.mean()) < 4 * z.std() / math.sqrt(b)
    se = (z**2).std() / math.sqrt(b)
    assert abs((z**2).mean() - v) < 4 * se, ((z**2).mean(), v, se)


def test_exploration_and_audits_damp_the_runaway() -> None:
    """Theory first: the urn's variance is several times that of the explored or audited ones."""
    urn = urn_v(poisson(20.0), 4.0, 12, 0.0)
    explored = urn_v(poisson(20.0), 4.0, 12, 0.3)
    assert urn > 1.5 * explored
    # And in the runs: the urn's blocks spread more than the explored ones, beyond 4 SE.
    runs = {}
    for name, attention in (("urn", {}), ("explored", {"exploration": 0.3})):
        sim = run_to(carnet.load_scenario(two_groups(**attention)), 120)
        watching = sim.shards[0].attention
        assert watching is not None
        d = watching.allocation[0, :, 0] - watching.spread[:, 0]
        runs[name] = d**2
    gap = runs["urn"].mean() - runs["explored"].mean()
    se = math.sqrt(runs["urn"].var() / 1000 + runs["explored"].var() / 1000)
    assert gap > 4 * se


def small(**attention: Any) -> carnet.Scenario:
    """4 blocks of two uneven groups, a misattributing adaptive camera, a 20-day window."""
    doc = base_scenario(days=40, block_size=BLOCK, ledger_part_days=10)
    doc["population"]["size"] = 4 * BLOCK - 56  # the last block is short
    doc["population"]["groups"] = [
        {"name": "north", "share": 0.7},
        {"name": "south", "share": 0.3},
    ]
    doc["behaviours"][0]["rate_per_year"] = 40.0
    doc["sources"][0].update(misattribution=0.2, by_group={"south": 2.0})
    doc["sources"][0]["attention"] = {
        "period_days": 10, "window_days": 20, "prior": 3.0, "exploration": 0.1,
        "audit_share": 0.25, **attention,
    }  # fmt: skip
    return carnet.load_scenario(doc)


def test_the_allocation_is_the_formula_of_the_recorded_findings() -> None:
    """a = (1-e)(prior a0 + F)/(prior + F) + e n_bg/n_b, F from the ledger's last 20 days."""
    s = small()
    sim = run_to(s, 30)  # three periods: the window holds days 10..29
    sh = sim.shards[0]
    watching = sh.attention
    assert watching is not None
    group = sim.parameters.group_of_profile[sh.state.profile].astype(np.int64)
    ledger = pa_concat(sim)
    mine = ledger.filter(pc.and_(pc.equal(ledger["source"], "camera"),
                                 pc.greater_equal(ledger["day"], 10)))  # fmt: skip
    assert pc.all(pc.equal(mine["kind"], "act")).as_py()
    citizen = mine["citizen"].to_numpy()
    found = np.zeros((4, 2))
    np.add.at(found, (citizen // BLOCK, group[citizen]), 1)
    # Records that landed on another citizen than the actor count for the one accused.
    assert (mine["true_actor"].to_numpy() != citizen).sum() > 10
    counts = np.zeros((4, 2))
    np.add.at(counts, (np.arange(len(group)) // BLOCK, group), 1)
    n_b = counts.sum(axis=1, keepdims=True)
    a0 = counts * [1.0, 2.0] / (counts * [1.0, 2.0]).sum(axis=1, keepdims=True)
    expected = 0.9 * (3.0 * a0 + found) / (3.0 + found.sum(axis=1, keepdims=True))
    expected += 0.1 * counts / n_b
    np.testing.assert_allclose(watching.allocation[0], expected, rtol=1e-13)
    assert watching.found.sum() == 0  # nothing yet in the fourth period


def pa_concat(sim: Simulation) -> Any:
    import pyarrow as pa

    return pa.concat_tables(sim.parts)


def test_the_budget_holds_and_exploration_is_a_floor() -> None:
    """Sum of the multipliers over a block's citizens = n_b; a_bg >= e n_bg / n_b."""
    sim = run_to(small(), 40)
    watching = sim.shards[0].attention
    assert watching is not None
    n_b = watching.counts.sum(axis=1)
    budget = (watching.counts * watching.multiplier[0]).sum(axis=1)
    np.testing.assert_allclose(budget, n_b, rtol=1e-12)
    np.testing.assert_allclose(watching.allocation[0].sum(axis=1), 1.0, rtol=1e-12)
    assert (watching.allocation[0] >= 0.1 * watching.spread - 1e-15).all()
    # The allocation moved away from the initial one (or the test would not test).
    assert np.abs(watching.allocation[0] - watching.initial[0]).max() > 0.01


def test_the_metrics_count_the_allocation_and_the_audits() -> None:
    """attention_camera = sum over blocks of round(1e6 a); audit exposure round(1e6 s) n_g."""
    s = small()
    result = carnet.simulate(s, shards=1, threads=1)
    m = result.metrics.to_pandas()
    sim = run_to(s, 40)
    watching = sim.shards[0].attention
    assert watching is not None
    last = m[m.day == 39]
    # The allocation in force on day 39 is the one set at the end of day 29.
    before = run_to(s, 30).shards[0].attention
    assert before is not None
    want = np.rint(before.allocation[0] * PPM).astype(np.int64).sum(axis=0)
    assert list(last["attention_camera"]) == list(want)
    assert list(last["audit_exposure_camera"]) == list(250_000 * watching.counts.sum(axis=0))
    # Audit findings are a part of all the camera's findings, by the group accused.
    found = m.groupby("group")["audit_found_camera"].sum()
    assert (
        0 < found.sum() < result.ledger.filter(pc.equal(result.ledger["source"], "camera")).num_rows
    )


def test_the_audit_arm_estimates_the_rate_without_bias() -> None:
    """audit_found / audit_exposure x 1e6 estimates detect x rate per citizen-day, by group.

    The targeted arm watches by findings; the audit arm at random: its findings over its checks
    estimate what the source would see of every citizen, here 0.3 x 20 x 365 / (0.3 x 2560) /
    365 a day, the same in both groups, however the allocation ran away.
    """
    s = carnet.load_scenario(two_groups(audit_share=0.2))
    m = carnet.simulate(s, shards=1, threads=1).metrics.to_pandas()
    rate = 0.3 * (20 * 365 / (0.3 * BLOCK * 10)) / 365
    for _, rows in m.groupby("group"):
        found = rows["audit_found_camera"].sum()
        checks = rows["audit_exposure_camera"].sum() / PPM
        assert abs(found / checks - rate) < 4 * math.sqrt(found) / checks


def acts_and_records(s: carnet.Scenario) -> tuple[Any, Any]:
    r = carnet.simulate(s, shards=1, threads=1)
    acts = r.metrics.select([c for c in r.metrics.column_names if c.startswith("acts_")])
    records = r.ledger.filter(pc.equal(r.ledger["kind"], "act")).select(
        ["day", "citizen", "behaviour", "source", "true_actor"]
    )
    return r, (acts, records)


def test_common_random_numbers_with_attention() -> None:
    """Rules change neither the acts, nor what is detected, nor the allocation; attention's own
    parameters change only what the adaptive source detects, never the acts.

    Here CRN means: behave's draws do not depend on observe, and each act draws one uniform per
    source that may see it whatever the allocation, so an act is detected by a source iff its
    uniform falls below that source's probability; a change of allocation moves only the
    probability. Without deterrence, rules change no act, hence no finding and no allocation.
    """
    doc = small().model_dump(mode="python")
    base, (acts, records) = acts_and_records(carnet.load_scenario(doc))
    doc["rules"]["points"]["red_light"]["points"] = -50
    doc["rules"]["points"]["volunteering"]["points"] = 1
    other, (acts2, records2) = acts_and_records(carnet.load_scenario(doc))
    assert acts.equals(acts2) and records.equals(records2)
    assert base.metrics["attention_camera"].equals(other.metrics["attention_camera"])
    assert not base.ledger["balance"].equals(other.ledger["balance"])  # the rules did differ
    doc["sources"][0]["attention"]["exploration"] = 0.6
    moved, (acts3, records3) = acts_and_records(carnet.load_scenario(doc))
    assert not base.metrics["attention_camera"].equals(moved.metrics["attention_camera"])
    done = [c for c in acts.column_names if c.startswith("acts_red_light_")]
    total = sum(np.asarray(acts[c]) for c in done)
    assert (total == sum(np.asarray(acts3[c]) for c in done)).all()  # the same acts
    bank = pc.equal(records["source"], "bank")
    assert records.filter(bank).equals(records3.filter(pc.equal(records3["source"], "bank")))
    assert not records.equals(records3)


def problems_of(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as refused:
        carnet.load_scenario(doc)
    return refused.value.problems


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"window_days": 15}, "sources.0.attention.window_days", "multiple of period_days (10)"),
        ({"window_days": 5}, "sources.0.attention.window_days", "at least period_days (10)"),
        ({"window_days": 3670}, "sources.0.attention.window_days", "at most 366 periods"),
        ({"exploration": 1.5}, "sources.0.attention.exploration", "must be <= 1.0, got 1.5"),
        ({"audit_share": -0.1}, "sources.0.attention.audit_share", "must be >= 0.0"),
        ({"period_days": 0}, "sources.0.attention.period_days", "must be >= 1"),
        ({"prior": -1.0}, "sources.0.attention.prior", "must be >= 0.0"),
        ({"memory": 3}, "sources.0.attention.memory", "unknown key"),
    ],
)
def test_attention_errors_name_their_path(change: dict[str, Any], path: str, message: str) -> None:
    doc = small().model_dump(mode="python")
    doc["sources"][0]["attention"].update(change)
    found = problems_of(doc)
    assert any(p == path and message in m for p, m in found), found


def test_an_allocation_needs_a_group_to_start_on() -> None:
    doc = small().model_dump(mode="python")
    doc["sources"][0]["by_group"] = {"north": 0.0, "south": 0.0}
    assert ("sources.0.by_group", "with attention, by_group sets the initial allocation: not "
            "every group may be 0") in problems_of(doc)  # fmt: skip
    doc["sources"][0]["attention"] = None
    carnet.load_scenario(doc)  # a source that sees no one is allowed without attention


def test_the_named_columns_are_the_metrics_columns() -> None:
    """output_names.metric_columns names the attention columns where metrics_table makes them."""
    from carnet.sim.output_names import metric_columns

    s = small()
    made = carnet.simulate(s, shards=1, threads=1).metrics.column_names
    assert [name for name, _ in metric_columns(s)] == made
    assert {"attention_camera", "audit_found_camera", "audit_exposure_camera"} <= set(made)
    assert not any(c.endswith("_bank") and not c.startswith("data_") for c in made)


def test_the_memory_prediction_counts_the_attention_state() -> None:
    """Per block and group, never per citizen: predicted within 2 x of the arrays held."""
    from carnet.runs.memory import need

    s = small(window_days=40)
    predicted = need(s, shards=1).held["citizens attention"]
    watching = run_to(s, 1).shards[0].attention
    assert watching is not None
    held = sum(
        a.nbytes for a in (watching.allocation, watching.initial, watching.multiplier,
                           watching.audit, watching.found, watching.window, watching.counts,
                           watching.spread)
    )  # fmt: skip
    assert held <= predicted <= 2 * held
    doc = small().model_dump(mode="python")
    doc["sources"][0]["attention"] = None
    assert "citizens attention" not in need(carnet.load_scenario(doc), shards=1).held


def test_attention_is_a_section_like_the_others() -> None:
    """Strict, closed and frozen like every section of schema.py (it cannot import Section)."""
    from carnet.scenario.attention import Attention
    from carnet.scenario.schema import Section

    assert Attention.model_config == Section.model_config


def test_companies_beside_an_adaptive_source_are_watched_at_a_fixed_rate() -> None:
    """The companies' metrics have no attention columns; the citizens' have them, as named."""
    from helpers import with_companies

    from carnet.sim.output_names import company_metric_columns, metric_columns

    doc = with_companies()
    doc["sources"][0]["attention"] = {"period_days": 10, "prior": 5.0}
    doc["run"]["days"] = 40
    result = carnet.simulate(doc)
    assert "attention_camera" in result.metrics.column_names
    assert [n for n, _ in metric_columns(result.scenario)] == result.metrics.column_names
    assert result.company_metrics is not None
    assert [n for n, _ in company_metric_columns(result.scenario)] == (
        result.company_metrics.column_names
    )
    assert not any(c.startswith("attention_") for c in result.company_metrics.column_names)
