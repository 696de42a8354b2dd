"""Every mechanism at once keeps common random numbers: a difference in a policy, or a change of
the timeline, moves only what it decides, through the paths by which it acts.

The society is ``helpers.everything``'s: contagion, rewards and stakes, group terms, a warm
list, start points, a learned lender, a lottery taken once, adaptive attention, misattribution by
group and region, a platform banned on a date, a timeline; with companies and appeals.
"""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc
from helpers import everything

import carnet


def applications(result: carnet.Result, gate: str | None = None) -> list[tuple[Any, ...]]:
    d = result.decisions
    rows = zip(d["day"].to_pylist(), d["citizen"].to_pylist(), d["gate"].to_pylist(), strict=True)
    return sorted(r for r in rows if gate is None or r[2] == gate)


def test_a_lottery_changes_only_its_own_decisions() -> None:
    """The flight gate's lottery feeds nothing back (no distress, income or stakes): with every
    other mechanism on, another chance leaves every act, record and metric as they were, and
    the same citizens apply on the same days; only the flights' outcomes move."""
    doc = everything()
    other = everything()
    next(g for g in other["gates"] if g["name"] == "flight")["policy"]["probability"] = 0.2
    other["timeline"] = [c for c in other["timeline"] if "gates.flight.policy.probability"
                         not in c["set"]]  # fmt: skip
    doc["timeline"] = [c for c in doc["timeline"] if "gates.flight.policy.probability"
                       not in c["set"]]  # fmt: skip
    a, b = carnet.simulate(doc), carnet.simulate(other)
    assert a.ledger.equals(b.ledger) and a.metrics.equals(b.metrics)
    assert applications(a) == applications(b)
    flights = [(r["outcome"]) for r in a.decisions.to_pylist() if r["gate"] == "flight"]
    others = [(r["outcome"]) for r in b.decisions.to_pylist() if r["gate"] == "flight"]
    assert flights.count("approved") > others.count("approved") > 0


def test_the_days_before_a_change_are_the_run_without_it() -> None:
    """A change on day 63 of the timeline, every mechanism on: days 0 to 62 are the same bytes."""
    doc = everything()
    without = everything()
    without["timeline"] = without["timeline"][:2]
    a, b = carnet.simulate(doc), carnet.simulate(without)
    before = pc.field("day") < 63
    assert a.ledger.filter(before).equals(b.ledger.filter(before))
    assert a.metrics.filter(before).equals(b.metrics.filter(before))
    assert not a.decisions.filter(pc.field("day") >= 63).equals(
        b.decisions.filter(pc.field("day") >= 63)
    )


def test_the_audit_and_the_report_read_a_run_with_everything_on(tmp_path: Any) -> None:
    """The behaviour audit re-runs the scenario without responses: a timeline change of a
    response (contagion's strength here) is dropped with them, not left dangling."""
    from carnet.analysis.audit import audit_with_behaviour, responses_off
    from carnet.analysis.report import report_html

    result = carnet.simulate(everything())
    off = responses_off(result.scenario)
    assert off.responses.contagion is None
    assert all(not p.startswith("responses.") for c in off.timeline for p in c.set)
    assert len(off.timeline) == len(result.scenario.timeline)  # the others' changes stay
    found = audit_with_behaviour(result)
    assert found.sanctions.num_rows and found.privacy.num_rows
    assert "to_state" in found.privacy.column_names
    carnet.save_run(result, tmp_path / "run")
    assert len(report_html(carnet.load_run(tmp_path / "run"))) > 10_000
