"""Gate policies: thresholds, lotteries, once, Liu et al.'s chosen thresholds, learned lenders."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers import lending, policed

import carnet
from carnet.errors import ScenarioError
from carnet.lab.knobs import edit, knobs
from carnet.sim.compiled import Compiled
from carnet.sim.policies import (
    applicant_weights,
    chosen_thresholds,
    repay_curve,
    start_law,
)
from carnet.sim.simulation import started

Z = 4.0


def decided(result: carnet.Result) -> dict[str, np.ndarray]:
    """The panel's decisions with each applicant's group and start points (points never move)."""
    d = result.decisions
    pop = result.population
    by_id = {c: i for i, c in enumerate(pop["citizen"].to_pylist())}
    rows = np.array([by_id[c] for c in d["citizen"].to_pylist()], np.int64)
    return {
        "day": d["day"].to_numpy(),
        "citizen": d["citizen"].to_numpy(),
        "approved": np.asarray(pc.equal(d["outcome"].cast(pa.string()), "approved")),
        "group": np.asarray(pop["group"].cast(pa.string()).to_pylist())[rows],
        "points": pop["start_points"].to_numpy()[rows].astype(np.int64),
    }


def rates(kind: str, s: carnet.Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compile ``s``; the approval rate and true-positive rate of each group on its start law."""
    c = Compiled.build(s)
    p = c.gates.policy
    rho = repay_curve(s, c.parameters)
    law = start_law(s)
    x = np.arange(s.rules.floor, s.rules.ceiling + 1)
    approve = (x[None, :] > p.threshold[0][:, None]) + (
        x[None, :] == p.threshold[0][:, None]
    ) * p.tie[0][:, None]
    beta = (law * approve).sum(axis=1)
    tpr = (law * rho * approve).sum(axis=1) / (law * rho).sum(axis=1)
    return beta, tpr, p.threshold[0]


# --- exact small cases ------------------------------------------------------------------------


def test_a_threshold_per_group_approves_exactly_those_at_or_above_it() -> None:
    policy = {"kind": "threshold", "threshold": 1000, "threshold_by_group": {"green": 960}}
    result = carnet.simulate(policed(policy))
    d = decided(result)
    want = d["points"] >= np.where(d["group"] == "green", 960, 1000)
    assert len(want) > 5000 and want.any() and (~want).any()
    np.testing.assert_array_equal(d["approved"], want)
    # The metrics carry the thresholds in force, by group.
    m = result.metrics
    blue = m.filter(pc.equal(m["group"], "blue"))["threshold_loan"].to_numpy()
    green = m.filter(pc.equal(m["group"], "green"))["threshold_loan"].to_numpy()
    assert (blue == 1000).all() and (green == 960).all()


def test_a_lottery_approves_at_its_rate_per_group() -> None:
    policy = {"kind": "lottery", "probability": 0.3, "probability_by_group": {"green": 0.7}}
    d = decided(carnet.simulate(policed(policy)))
    for group, p in (("blue", 0.3), ("green", 0.7)):
        mine = d["approved"][d["group"] == group]
        assert abs(mine.mean() - p) < Z * math.sqrt(p * (1 - p) / len(mine)), group
    assert "threshold_loan" not in carnet.simulate(policed(policy)).metrics.column_names


def test_once_lets_each_citizen_apply_a_single_time() -> None:
    many = decided(carnet.simulate(policed({"kind": "threshold", "threshold": 1000})))
    once = decided(carnet.simulate(policed({"kind": "threshold", "threshold": 1000, "once": True})))
    assert len(np.unique(once["citizen"])) == len(once["citizen"])
    # The first application of each citizen is the one that is made, decided as before.
    first = {}
    for day, c, ok in zip(many["day"], many["citizen"], many["approved"], strict=True):
        first.setdefault(int(c), (int(day), bool(ok)))
    got = {int(c): (int(day), bool(ok)) for day, c, ok in
           zip(once["day"], once["citizen"], once["approved"], strict=True)}  # fmt: skip
    assert got == first


def test_the_blacklist_is_refused_first_whatever_the_policy() -> None:
    doc = policed({"kind": "lottery", "probability": 1.0})
    doc["gates"][0]["refuse_blacklisted"] = True
    doc["lists"] = {"blacklist": {"distress_per_year": 2.0, "lawsuits_per_year": 20.0,
                                  "listing_probability": 1.0}}  # fmt: skip
    result = carnet.simulate(doc)
    outcomes = pc.value_counts(result.gates["outcome"].cast(pa.string())).to_pylist()
    names = {o["values"] for o in outcomes}
    assert names == {"approved", "refused_blacklisted"}


def test_policies_draw_the_same_applications() -> None:
    """Common random numbers: the policy changes decisions, never who applies when."""
    seen = []
    for policy in (None, {"kind": "threshold", "threshold": 1010},
                   {"kind": "lottery", "probability": 0.4},
                   {"kind": "learned", "threshold": 1000, "refit_days": 20},
                   {"kind": "demographic_parity"}):  # fmt: skip
        d = carnet.simulate(policed(policy)).decisions
        seen.append((d["day"].to_pylist(), d["citizen"].to_pylist(), d["outcome"].to_pylist()))
    assert all(s[:2] == seen[0][:2] for s in seen)
    assert len({str(s[2]) for s in seen}) == len(seen)  # and every policy decides its own way


# --- Liu et al.'s thresholds --------------------------------------------------------------------


def test_max_utility_is_where_expected_gain_meets_expected_loss() -> None:
    """rho(x) gain = (1 - rho(x)) loss: logit rho = ln(loss / gain), x* = 1000 + (that - a) / b."""
    for a, b, gain, loss in ((0.0, 0.02, 0.5, 1.0), (1.0, 0.05, 0.1, 1.0), (-2.0, 0.01, 2.0, 0.3)):
        doc = policed({"kind": "max_utility", "gain_if_repaid": gain, "loss_if_default": loss},
                      repay_intercept=a, repay_per_point=b)  # fmt: skip
        s = carnet.load_scenario(doc)
        x_star = 1000 + (math.log(loss / gain) - a) / b
        _, _, threshold = rates("max_utility", s)
        assert (threshold == math.floor(x_star) + 1).all(), (a, b, threshold, x_star)


def test_max_utility_defaults_to_interest_and_principal() -> None:
    s = carnet.load_scenario(policed({"kind": "max_utility"}))  # interest 0.1, loss 1
    x_star = 1000 + math.log(1 / 0.1) / 0.02
    assert (rates("max_utility", s)[2] == math.floor(x_star) + 1).all()


def test_demographic_parity_equalises_approval_rates_exactly_on_the_start_law() -> None:
    s = carnet.load_scenario(policed({"kind": "demographic_parity", "gain_if_repaid": 0.5}))
    beta, _, threshold = rates("demographic_parity", s)
    assert abs(beta[0] - beta[1]) < 1e-12 and 0.05 < beta[0] < 0.95
    assert threshold[0] > threshold[1]  # the group that starts lower gets the lower threshold
    unrandomised = policed({"kind": "demographic_parity", "gain_if_repaid": 0.5,
                            "randomise_tie": False})  # fmt: skip
    off = rates("demographic_parity", carnet.load_scenario(unrandomised))[0]
    assert abs(off[0] - off[1]) > 1e-6  # integer thresholds alone miss by part of one point


def test_equal_opportunity_equalises_true_positive_rates_exactly() -> None:
    s = carnet.load_scenario(policed({"kind": "equal_opportunity", "gain_if_repaid": 0.5}))
    _, tpr, _ = rates("equal_opportunity", s)
    assert abs(tpr[0] - tpr[1]) < 1e-12 and 0.05 < tpr[0] < 0.95


def _top(law: np.ndarray, by: np.ndarray, u: np.ndarray, target: float) -> tuple[float, float]:
    """Brute force: admit the top of a law, point by point, until ``by`` reaches ``target``."""
    admitted = utility = 0.0
    for x in range(len(law) - 1, -1, -1):
        if law[x] <= 0 or admitted >= target - 1e-15:
            continue
        part = min(1.0, (target - admitted) / by[x]) if by[x] > 0 else 1.0
        admitted += part * by[x]
        utility += part * law[x] * u[x]
    return utility, admitted


@pytest.mark.parametrize("kind", ["demographic_parity", "equal_opportunity"])
def test_chosen_thresholds_beat_a_brute_force_search(kind: str) -> None:
    """Small tables: the chosen policy's utility is the best over a fine grid of common rates."""
    rng = np.random.default_rng(3)
    for _ in range(5):
        P, gain, loss = 12, float(rng.uniform(0.2, 2.0)), 1.0
        rho = np.sort(rng.uniform(0, 1, (2, P)), axis=1)
        law = rng.uniform(0, 1, (2, P)) * (rng.uniform(0, 1, (2, P)) < 0.7)
        law /= law.sum(axis=1, keepdims=True)
        w = np.array([0.3, 0.7])
        u = rho * gain - (1 - rho) * loss
        chosen = chosen_thresholds(kind, rho, law, w, gain, loss, 0)
        x = np.arange(P)
        approve = (x > chosen.threshold[:, None]) + (x == chosen.threshold[:, None]) * chosen.tie[
            :, None
        ]
        by = (
            law
            if kind == "demographic_parity"
            else law * rho / (law * rho).sum(axis=1, keepdims=True)
        )
        met = (by * approve).sum(axis=1)
        assert abs(met[0] - met[1]) < 1e-12
        value = float(w @ (law * u * approve).sum(axis=1))
        grid = [sum(w[g] * _top(law[g], by[g], u[g], t)[0] for g in range(2))
                for t in np.linspace(0, 1, 2001)]  # fmt: skip
        assert value >= max(grid) - 1e-12
        assert value <= max(grid) + 2e-3 * (gain + loss)  # the grid comes within its step


def test_demographic_parity_in_a_run_approves_each_group_at_the_same_rate() -> None:
    doc = policed({"kind": "demographic_parity", "gain_if_repaid": 0.5, "once": True})
    doc["population"]["size"] = 32768
    s = carnet.load_scenario(doc)
    beta = rates("demographic_parity", s)[0][0]
    d = decided(carnet.simulate(s))
    for group in ("blue", "green"):
        mine = d["approved"][d["group"] == group]
        assert abs(mine.mean() - beta) < Z * math.sqrt(beta * (1 - beta) / len(mine)), group


def test_equal_opportunity_in_a_run_approves_the_would_be_repayers_at_the_same_rate() -> None:
    """Loans repaid over repayments expected of every applicant (sum of rho) estimate the TPR.

    Each citizen applies once; a ratio estimator, its standard error by the delta method.
    """
    doc = policed({"kind": "equal_opportunity", "gain_if_repaid": 0.5, "once": True})
    doc["population"]["size"] = 32768
    doc["lending"]["term_days"] = 20
    s = carnet.load_scenario(doc)
    tpr = rates("equal_opportunity", s)[1][0]
    result = carnet.simulate(s)
    d = decided(result)
    rho = repay_curve(s, Compiled.build(s).parameters)
    ledger = result.ledger
    repaid_by = set(ledger.filter(pc.equal(ledger["kind"].cast(pa.string()), "loan_repaid"))[
        "citizen"].to_pylist())  # fmt: skip
    for g, group in enumerate(("blue", "green")):
        mine = (d["group"] == group) & (d["day"] < 130)  # settled by the end of the run
        a = np.array([c in repaid_by for c in d["citizen"][mine]], float)
        b = rho[g, d["points"][mine] - s.rules.floor]
        ratio = a.sum() / b.sum()
        se = math.sqrt(((a - ratio * b) ** 2).sum()) / b.sum()
        assert abs(ratio - tpr) < Z * se, (group, ratio, tpr, se)


def test_weights_are_the_groups_shares_of_applicants() -> None:
    doc = policed()
    doc["gates"][0]["by_group"] = {"green": 3.0}
    w = applicant_weights(carnet.load_scenario(doc), 0)
    np.testing.assert_allclose(w, [0.6 / (0.6 + 1.2), 1.2 / (0.6 + 1.2)])


# --- repayment tables --------------------------------------------------------------------------


def test_a_repayment_table_per_group_interpolates_linearly() -> None:
    doc = policed(
        repay_table={"points": [900, 1100], "repay": [0.2, 0.8]},
        repay_by_group={"green": {"table": {"points": [1000, 1001], "repay": [0.0, 1.0]}},
                        "blue": {"intercept": 1.0}},
    )  # fmt: skip
    doc["population"]["groups"].append({"name": "red", "share": 0.0})
    doc["population"]["groups"][0]["share"] = 0.6
    s = carnet.load_scenario(doc)
    rho = repay_curve(s, Compiled.build(s).parameters)
    x = np.arange(800, 1201)
    np.testing.assert_allclose(rho[2], np.interp(x, [900, 1100], [0.2, 0.8]))
    assert rho[2][0] == 0.2 and rho[2][-1] == 0.8  # constant beyond the ends
    np.testing.assert_array_equal(rho[1], (x >= 1001).astype(float))
    np.testing.assert_allclose(rho[0], 1 / (1 + np.exp(-(1.0 + 0.02 * (x - 1000)))))


def test_loans_repay_by_the_groups_table() -> None:
    flat = {g: {"table": {"points": [0, 2000], "repay": [p, p]}}
            for g, p in (("green", 0.9), ("blue", 0.2))}  # fmt: skip
    doc = policed({"kind": "lottery", "probability": 1.0}, term_days=10, repay_by_group=flat)
    m = carnet.simulate(doc).metrics
    for group, p in (("blue", 0.2), ("green", 0.9)):
        mine = m.filter(pc.equal(m["group"], group))
        due, repaid = pc.sum(mine["loans_due"]).as_py(), pc.sum(mine["loans_repaid"]).as_py()
        assert abs(repaid / due - p) < Z * math.sqrt(p * (1 - p) / due), group


# --- learned lenders ---------------------------------------------------------------------------


def learned(**changes: Any) -> dict[str, Any]:
    policy = {"kind": "learned", "threshold": 960, "refit_days": 15, "bin_points": 10,
              "gain_if_repaid": 0.3, "loss_if_default": 1.0}  # fmt: skip
    doc = policed(policy, term_days=10, **changes)
    doc["run"]["days"] = 120
    return doc


def test_the_learners_counts_are_the_loans_settled() -> None:
    """Per block, group and points bin, the counts are the ledger's settled loans, exactly.

    Points move only by loans here, and loans move none: a borrower's points when granted are
    the start points. The metrics' thresholds are the sum of the blocks' thresholds.
    """
    from carnet.result import result_of

    s = carnet.load_scenario(learned())
    with started(s, shards=3, threads=1) as sim:
        while not sim.done:
            sim.advance(30)
        counts = np.concatenate([sh.learner.counts for sh in sim.shards])
        last = sum(sh.learner.threshold.sum(axis=0) for sh in sim.shards)
        result = result_of(sim)
    pop, ledger = result.population, result.ledger
    start = dict(zip(pop["citizen"].to_pylist(), pop["start_points"].to_pylist(), strict=True))
    group = dict(zip(pop["citizen"].to_pylist(), pop["group"].cast(pa.string()).to_pylist(),
                     strict=True))  # fmt: skip
    expected = np.zeros_like(counts)
    for c, kind in zip(ledger["citizen"].to_pylist(), ledger["kind"].cast(pa.string()).to_pylist(),
                       strict=True):  # fmt: skip
        if kind in ("loan_repaid", "loan_default"):
            g = ("blue", "green").index(group[c])
            expected[c // 1024, g, (start[c] - 800) // 10, int(kind == "loan_default")] += 1
    assert counts.sum() > 1000 and (counts[..., 1] > 0).any()
    np.testing.assert_array_equal(counts, expected)
    m = result.metrics.filter(pc.equal(result.metrics["day"], s.run.days - 1))
    # The metrics of the last day hold the thresholds it decided by: refits come before it.
    assert m["threshold_loan"].to_pylist() == last.tolist()


def test_a_learner_never_reads_an_outcome_it_did_not_observe() -> None:
    """Repayment below every threshold ever used differs: thresholds and decisions do not."""
    low = {"points": [800, 959, 960, 1200], "repay": [0.0, 0.0, 0.3, 0.999]}
    high = {"points": [800, 959, 960, 1200], "repay": [0.95, 0.95, 0.3, 0.999]}
    a = carnet.simulate(learned(repay_table=low))
    b = carnet.simulate(learned(repay_table=high))
    thresholds = a.metrics["threshold_loan"].to_numpy()
    assert len(np.unique(thresholds)) > 2  # the lenders did move their thresholds
    assert thresholds.min() >= 960 * 16  # 16 blocks of 1024, never below the start
    assert a.metrics.equals(b.metrics) and a.decisions.equals(b.decisions)
    # Above the threshold, repayment is seen, and the lenders follow it.
    seen = {"points": [800, 959, 960, 1200], "repay": [0.0, 0.0, 0.9, 0.999]}
    c = carnet.simulate(learned(repay_table=seen))
    assert not c.metrics["threshold_loan"].equals(a.metrics["threshold_loan"])


def test_a_learner_raises_its_threshold_to_where_lending_pays() -> None:
    """With repayment 0 below 1000 and 1 from it, each block ends at 1000 for every group."""
    doc = learned(repay_table={"points": [999, 1000], "repay": [0.0, 1.0]})
    doc["run"]["days"] = 200
    m = carnet.simulate(doc).metrics
    last = m.filter(pc.equal(m["day"], 199))["threshold_loan"].to_pylist()
    assert last == [1000 * 16, 1000 * 16]


# --- errors by path ----------------------------------------------------------------------------


def _gate_policy(d: dict[str, Any], **policy: Any) -> None:
    d["gates"][0]["policy"] = policy


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (lambda d: _gate_policy(d, kind="threshold", threshold=1000,
                                threshold_by_group={"x": 900}),
         "gates.0.policy.threshold_by_group.x", "unknown group 'x'; known: ['blue', 'green']"),
        (lambda d: _gate_policy(d, kind="threshold", threshold=1300),
         "gates.0.policy.threshold", "must lie within rules floor 800 and ceiling + 1 (1201)"),
        (lambda d: _gate_policy(d, kind="threshold", threshold_by_group={"blue": 700}),
         "gates.0.policy.threshold_by_group.blue", "must lie within rules floor 800"),
        (lambda d: _gate_policy(d, kind="threshold"), "gates.0.policy.threshold",
         "required unless threshold_by_group names every group"),
        (lambda d: _gate_policy(d, kind="lottery"), "gates.0.policy.probability",
         "required unless probability_by_group"),
        (lambda d: _gate_policy(d, kind="lottery", probability=1.5), "gates.0.policy.probability",
         "must be <= 1.0, got"),
        (lambda d: _gate_policy(d, kind="lottery", probability_by_group={"y": 0.5}),
         "gates.0.policy.probability_by_group.y", "unknown group 'y'"),
        (lambda d: _gate_policy(d, kind="learned"), "gates.0.policy.threshold",
         "required: the threshold before the first refit"),
        (lambda d: _gate_policy(d, kind="astrology"), "gates.0.policy.kind", "must be one of"),
        (lambda d: (d["gates"].append({"name": "job", "applications_per_year": 1.0,
                                       "policy": {"kind": "learned", "threshold": 1000}})),
         "gates.1.policy.kind", "needs the repayment model of the lending gate"),
        (lambda d: (d["gates"].append({"name": "job", "applications_per_year": 1.0,
                                       "policy": {"kind": "equal_opportunity"}})),
         "gates.1.policy.kind", "this gate is not lending.gate ('loan')"),
        (lambda d: d["lending"].update(repay_table={"points": [1000, 900], "repay": [0.1, 0.2]}),
         "lending.repay_table.points.1", "points must increase: 900 after 1000"),
        (lambda d: d["lending"].update(repay_table={"points": [900, 1000], "repay": [0.1, 1.2]}),
         "lending.repay_table.repay.1", "must be <= 1.0, got"),
        (lambda d: d["lending"].update(repay_table={"points": [900, 1000, 1100],
                                                    "repay": [0.1, 0.2]}),
         "lending.repay_table.repay", "needs one value per point (3)"),
        (lambda d: d["lending"].update(repay_table={"points": [9, 10], "repay": [0.1, 0.2]},
                                       repay_by_grade={"A": 0.5}),
         "lending.repay_table", "not both"),
        (lambda d: d["lending"].update(repay_by_group={"z": {"intercept": 1.0}}),
         "lending.repay_by_group.z", "unknown group 'z'"),
        (lambda d: d["lending"].update(repay_by_group={"blue": {
            "table": {"points": [1, 2], "repay": [0.1, 0.2]}, "per_point": 0.1}}),
         "lending.repay_by_group.blue.table", "not both"),
    ],
)  # fmt: skip
def test_errors_in_policies_name_their_path(change: Any, path: str, message: str) -> None:
    doc = policed()
    change(doc)
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert any(p == path and message in m for p, m in caught.value.problems), caught.value.render()


def test_policies_on_seat_gates_and_too_many_once_gates_are_refused() -> None:
    doc = lending()
    lottery = {"kind": "lottery", "probability": 1.0}
    doc["gates"].append({"name": "school", "applicant": "child", "applications_per_year": 1.0,
                         "seats_per_region": 5, "policy": lottery})  # fmt: skip
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert (
        "gates.1.policy",
        "a gate with seats_per_region allocates by grade: it takes no policy",
    ) in caught.value.problems
    doc = lending()
    doc["gates"] = [{"name": f"g{i}", "applications_per_year": 1.0,
                     "policy": {"kind": "lottery", "probability": 0.5, "once": True}}
                    for i in range(9)]  # fmt: skip
    doc.pop("lending")
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert ("gates", "at most 8 gates may take policy.once, got 9") in caught.value.problems


# --- the example and the lab ---------------------------------------------------------------------

EXAMPLE = Path(__file__).parent.parent / "examples" / "liu2018.yaml"


def test_the_liu2018_example_orders_the_policies_as_the_paper_does() -> None:
    """For the disadvantaged group DP lends deepest, then EqOpt, then MaxUtil (Liu et al. Fig. 2);
    DP's loans lower the group's mean score, where MaxUtil's raise it (active harm)."""
    threshold, end = {}, {}
    for kind in ("max_utility", "equal_opportunity", "demographic_parity"):
        s = carnet.set(carnet.load_scenario(EXAMPLE),
                       {"gates.0.policy.kind": kind, "population.size": 20000})  # fmt: skip
        threshold[kind] = int(Compiled.build(s).gates.policy.threshold[0, 1])
        m = carnet.simulate(s).metrics
        mine = m.filter(pc.equal(m["group"], "disadvantaged"))["points_mean"].to_numpy()
        end[kind] = mine[-1] - mine[0]
    assert (
        threshold["max_utility"] > threshold["equal_opportunity"] > threshold["demographic_parity"]
    )
    assert end["demographic_parity"] < 0 < end["max_utility"]


def test_the_lab_turns_a_policys_numbers() -> None:
    s = carnet.load_scenario(policed({"kind": "learned", "threshold": 990, "refit_days": 9}))
    found = {k.key: k for k in knobs(s)}
    assert found["gates.0.policy.threshold"].integer
    assert found["gates.0.policy.refit_days"].value == 9
    edited = edit(s, {("gates", 0, "policy", "threshold"): 1010})
    assert edited.gates[0].policy.threshold == 1010
    with pytest.raises(ScenarioError) as caught:
        edit(s, {("gates", 0, "policy", "threshold"): 1500})
    assert caught.value.problems[0][0] == "gates.0.policy.threshold"


def test_the_grade_policy_is_todays_rule_byte_for_byte() -> None:
    doc = lending()
    plain = carnet.simulate(doc)
    doc["gates"][0]["policy"] = {"kind": "grade"}
    graded = carnet.simulate(doc)
    assert plain.metrics.equals(graded.metrics) and plain.decisions.equals(graded.decisions)
    assert plain.gates.equals(graded.gates) and plain.ledger.equals(graded.ledger)


def test_the_threshold_columns_are_named_before_the_run() -> None:
    from carnet.sim.output_names import metric_columns

    doc = policed({"kind": "learned", "threshold": 990})
    doc["gates"].append({"name": "job", "applications_per_year": 1.0,
                         "policy": {"kind": "lottery", "probability": 0.5}})  # fmt: skip
    doc["gates"].append({"name": "perk", "applications_per_year": 1.0,
                         "policy": {"kind": "threshold", "threshold": 1000}})  # fmt: skip
    doc["run"]["days"] = 5
    s = carnet.load_scenario(doc)
    names = [name for name, _ in metric_columns(s)]
    assert names == carnet.simulate(s).metrics.column_names
    assert {"threshold_loan", "threshold_perk"} <= set(names) and "threshold_job" not in names


def test_a_policy_field_its_kind_does_not_read_is_refused() -> None:
    doc = policed({"kind": "lottery", "probability": 0.5, "threshold": 1000, "refit_days": 3})
    with pytest.raises(ScenarioError) as caught:
        carnet.load_scenario(doc)
    assert caught.value.problems == [
        ("gates.0.policy.refit_days", "not read by kind 'lottery' (only by learned)"),
        ("gates.0.policy.threshold", "not read by kind 'lottery' (only by threshold, learned)"),
    ]
