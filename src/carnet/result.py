"""A run's result: metrics, the panel's ledger and population, dossiers and a summary.

:func:`simulate` runs a scenario in memory and returns its :class:`Result`; :func:`assemble`
builds one from the outputs of shards however they ran (threads, processes, a Dask cluster).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from carnet.errors import CarnetError
from carnet.scenario.loading import load_scenario
from carnet.scenario.schema import Scenario
from carnet.sim.company_outputs import company_outputs, empty_company_ledger
from carnet.sim.metrics import decisions_table, gates_table, metrics_table
from carnet.sim.panel import empty_ledger, population_table
from carnet.sim.phases.gates import SeatPool
from carnet.sim.simulation import (
    Progress,
    ShardOutput,
    Simulation,
    allocate_pending,
    started,
)
from carnet.sim.timeline import Timeline


@dataclass
class Dossier:
    """Everything the system recorded about one citizen, in time order, with the truth.

    ``blamed_on_others`` lists acts this citizen did that were pinned on someone else; it can
    only show the victims who are themselves in the panel.
    """

    citizen: int
    attributes: dict[str, object]
    rows: list[dict[str, Any]]
    blamed_on_others: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)  # at the gates, in day order
    entity: str = "citizen"  # or "company": ``citizen`` then holds the company's id

    def truth(self, row: dict[str, Any]) -> tuple[str, str]:
        """What really happened behind one of :attr:`rows`, in words, and its tone.

        The tone is ``"wrongful"`` (recorded against someone who did not do it, or an appeal lost
        by someone innocent), ``"serious"`` (a deserved listing), ``"redress"`` (an appeal won),
        ``"minor"`` (an expiry, a delisting, an appeal rightly lost) or ``""`` (an act done).
        """
        kind, source, done = row.get("kind"), row.get("source"), row.get("truly_done")
        listed = "serious" if done else "wrongful"
        if kind == "expiry":
            return "record expired, points restored", "minor"
        if source == "joint_punishment":
            if kind == "delisting":
                return "the company they represent left its blacklist, points restored", "minor"
            if done:
                return "listed with the company they represent, for the company's violation", listed
            return "listed with their company, for a violation the company did NOT commit", listed
        if source == "agencies":
            if kind == "delisting":
                return "left the company blacklist, points restored", "minor"
            if done:
                return "blacklisted for a serious violation; each acting agency took points", listed
            return "blacklisted for a violation it did NOT commit", listed
        if kind == "listing":
            return "blacklisted after a court judgment it owed", "serious"
        if kind == "delisting":
            return "left the blacklist, points restored", "minor"
        if kind == "appeal_won":
            innocent = "" if done else " (it had not done it)"
            return f"appeal won, points restored{innocent}", "redress"
        if kind == "appeal_lost":
            if done:
                return "appeal lost", "minor"
            return "appeal lost — it had NOT done it", "wrongful"
        if done:
            return "did it", ""
        actor = row.get("true_actor")
        if isinstance(actor, int) and actor >= 0 and actor != self.citizen:
            return f"did NOT do it — done by {self.entity} {actor}", "wrongful"
        return "did NOT do it — it never happened", "wrongful"


def _dossier(entity: str, who: int, panel: pa.Table, ledger: pa.Table, where: str) -> Dossier:
    row = panel.filter(pc.equal(panel[entity], who))
    if row.num_rows == 0:
        raise CarnetError(
            f"{entity} {who} is not in the panel of this run "
            f"({panel.num_rows} {entity}s are; see {where})".replace("companys", "companies")
        )
    attributes = {k: v[0] for k, v in row.to_pydict().items()}
    mine = ledger.filter(pc.equal(ledger[entity], who))
    others = ledger.filter(
        pc.and_(pc.equal(ledger["true_actor"], who), pc.not_equal(ledger[entity], who))
    )
    # An entity's rows all sit in one block, which the ledger keeps in day order.
    blamed = others.filter(pc.equal(others["kind"], "act"))
    return Dossier(who, attributes, mine.to_pylist(), blamed.to_pylist(), entity=entity)


@dataclass
class Summary:
    """Headline figures of a run."""

    citizens: int
    days: int
    grades: list[str]
    grade_shares: dict[str, dict[str, float]]
    mean_points: dict[str, float]
    sanctions: int
    wrongful_sanctions: int
    wrongful_by_cause: dict[str, int]
    rewards: int
    wrongful_rewards: int
    expired: int
    data_points_by_source: dict[str, int]
    data_points_by_sensitivity: dict[str, int]
    lists: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # entries, exits, end
    decisions: dict[str, dict[str, int]] = field(default_factory=dict)  # gate → outcome → n


@dataclass
class Result:
    """What :func:`carnet.simulate` returns, and what :meth:`Result.load` reads back."""

    scenario: Scenario
    metrics: pa.Table
    ledger_parts: list[pa.Table]
    population: pa.Table
    gates: pa.Table | None = None  # decisions counted by day, gate, outcome, group and grade
    decision_parts: list[pa.Table] = field(default_factory=list)
    companies: pa.Table | None = None  # the companies in the panel, one row each
    company_metrics: pa.Table | None = None  # by day and sector
    company_ledger_parts: list[pa.Table] = field(default_factory=list)

    @property
    def company_ledger(self) -> pa.Table | None:
        """The companies' ledger (None without companies): every point change with its truth."""
        if self.companies is None:
            return None
        if not self.company_ledger_parts:
            return empty_company_ledger(self.scenario)
        return pa.concat_tables(self.company_ledger_parts)

    @property
    def decisions(self) -> pa.Table:
        """The panel's decisions at the gates, one row each, by day, gate and citizen."""
        if not self.decision_parts:
            from carnet.sim.metrics import empty_decisions

            return empty_decisions(self.scenario)
        return pa.concat_tables(self.decision_parts)

    @property
    def ledger(self) -> pa.Table:
        """The panel's ledger: every point change with its reason and its ground truth."""
        if not self.ledger_parts:
            return empty_ledger(self.scenario)
        return pa.concat_tables(self.ledger_parts)

    def dossier(self, citizen: int) -> Dossier:
        """One citizen's file: attributes, every recorded change, and acts blamed on others."""
        found = _dossier("citizen", citizen, self.population, self.ledger, "population.parquet")
        table = self.decisions
        found.decisions = table.filter(pc.equal(table["citizen"], citizen)).to_pylist()
        return found

    def company_dossier(self, company: int) -> Dossier:
        """One company's file, like a citizen's (no decisions: companies apply at no gate)."""
        if self.companies is None or self.company_ledger is None:
            raise CarnetError("this run has no companies (the scenario has no `companies` section)")
        return _dossier(
            "company", company, self.companies, self.company_ledger, "companies.parquet"
        )

    def summary(self) -> Summary:
        """Grade shares by group, sanctions and how many were wrongful, data collected."""
        s, m = self.scenario, self.metrics
        last = m.filter(pc.equal(m["day"], s.run.days - 1)).to_pydict()
        groups = list(last["group"])
        grades = [g.name for g in s.grades]
        counts = {g: [last[f"grade_{gr}"][i] for gr in grades] for i, g in enumerate(groups)}
        counts["all"] = [sum(last[f"grade_{gr}"]) for gr in grades]
        shares = {
            g: {gr: c / max(1, sum(v)) for gr, c in zip(grades, v, strict=True)}
            for g, v in counts.items()
        }
        citizens = {g: last["citizens"][i] for i, g in enumerate(groups)}
        mean = {g: last["points_sum"][i] / max(1, citizens[g]) for i, g in enumerate(groups)}
        mean["all"] = sum(last["points_sum"]) / max(1, sum(citizens.values()))

        def column_total(name: str) -> int:
            return int(pc.sum(m[name]).as_py() or 0)

        sanctions = wrongful_s = rewards = wrongful_r = expired = 0
        for b in s.behaviours:
            pts = s.rules.points[b.name].points
            scored, wrongful = column_total(f"scored_{b.name}"), column_total(f"wrongful_{b.name}")
            expired += column_total(f"expired_{b.name}")
            if pts < 0:
                sanctions, wrongful_s = sanctions + scored, wrongful_s + wrongful
            elif pts > 0:
                rewards, wrongful_r = rewards + scored, wrongful_r + wrongful
        by_source = {src.name: column_total(f"data_{src.name}") for src in s.sources}
        by_sensitivity: dict[str, int] = {}
        for src in s.sources:
            by_sensitivity[src.sensitivity] = (
                by_sensitivity.get(src.sensitivity, 0) + by_source[src.name]
            )
        lists: dict[str, tuple[int, int, int]] = {}
        for name, prefix, stock in (("blacklist", "blacklist_", "blacklisted"),
                                    ("redlist", "redlist_", "redlisted")):  # fmt: skip
            if stock in m.column_names:
                lists[name] = (
                    column_total(f"{prefix}entries"),
                    column_total(f"{prefix}exits"),
                    sum(last[stock]),
                )
        cm = self.company_metrics
        if cm is not None and "blacklisted" in cm.column_names:
            end = cm.filter(pc.equal(cm["day"], s.run.days - 1))
            lists["company blacklist"] = (
                int(pc.sum(cm["blacklist_entries"]).as_py() or 0),
                int(pc.sum(cm["blacklist_exits"]).as_py() or 0),
                int(pc.sum(end["blacklisted"]).as_py() or 0),
            )
        if "jointly_listed" in m.column_names:  # representatives listed with their company
            lists["joint punishment (representatives)"] = (
                column_total("joint_punishments"),
                column_total("joint_releases"),
                sum(last["jointly_listed"]),
            )
        decisions: dict[str, dict[str, int]] = {g.name: {} for g in s.gates}
        if self.gates is not None:
            for row in (
                self.gates.group_by(["gate", "outcome"]).aggregate([("count", "sum")]).to_pylist()
            ):
                decisions[row["gate"]][row["outcome"]] = row["count_sum"]
        # A wrongful sanction either hit a citizen for someone else's act (misattribution) or
        # for an accusation that was false (a false denunciation: nobody did it).
        d = s.denunciations
        sanctions_accused = d is not None and s.rules.points[d.sanction].points < 0
        false_reports = column_total("denounced_wrongfully") if sanctions_accused else 0
        causes = {"misattribution": wrongful_s - false_reports}
        if s.denunciations is not None:
            causes["false denunciation"] = false_reports
        return Summary(
            lists=lists,
            decisions={k: v for k, v in decisions.items() if v},
            citizens=s.population.size,
            days=s.run.days,
            grades=grades,
            grade_shares=shares,
            mean_points=mean,
            sanctions=sanctions,
            wrongful_sanctions=wrongful_s,
            wrongful_by_cause=causes,
            rewards=rewards,
            wrongful_rewards=wrongful_r,
            expired=expired,
            data_points_by_source=by_source,
            data_points_by_sensitivity=by_sensitivity,
        )


def assemble(
    s: Scenario,
    timeline: Timeline,
    outputs: list[ShardOutput],
    pending_seats: list[list[tuple[int, SeatPool]]],
    parts: list[pa.Table],
    decision_parts: list[pa.Table],
    company_parts: list[pa.Table],
) -> Result:
    """The result of a run from its shards' outputs, in shard order, and its parts so far.

    Seat applications that were left pending (shards run apart) are allocated here, across all
    shards at once, exactly as a run in one process allocates them day by day.
    """
    from types import SimpleNamespace

    recorders = [SimpleNamespace(**{k: v.copy() for k, v in o.recorder.items()}) for o in outputs]
    seat_rows = allocate_pending(timeline, outputs, pending_seats, recorders)
    rules = timeline.first
    panels = [o.panel for o in outputs]
    population = population_table(s, rules.parameters, panels)
    if panels and all("employer" in p for p in panels):
        employer = np.concatenate([p["employer"] for p in panels])
        population = population.append_column("employer", pa.array(employer, pa.int64()))
    decisions = list(decision_parts)
    if seat_rows:
        merged = {k: np.concatenate([r[k] for r in seat_rows]) for k in seat_rows[0]}
        decisions.append(decisions_table(s, merged))
    result = Result(
        scenario=s,
        metrics=metrics_table(
            s,
            recorders,
            np.sum([o.data_per_day for o in outputs], axis=0),
            np.sum([o.state_data_per_day for o in outputs], axis=0),
        ),
        ledger_parts=list(parts),
        population=population,
        gates=gates_table(s, recorders),
        decision_parts=decisions,
    )
    if rules.companies is not None:
        company_recorders = [SimpleNamespace(**o.company_recorder) for o in outputs
                             if o.company_recorder is not None]  # fmt: skip
        company_panels = [o.company_panel for o in outputs if o.company_panel is not None]
        result.companies, result.company_metrics = company_outputs(
            s, rules, company_recorders, company_panels
        )
        result.company_ledger_parts = list(company_parts)
    return result


def result_of(sim: Simulation) -> Result:
    """The result of the days ``sim`` has simulated so far (all of them, once ``done``)."""
    return assemble(
        sim.scenario, sim.timeline, sim.outputs(), sim.pending_seats_by_shard(),
        sim.parts, sim.decision_parts, sim.company_parts,
    )  # fmt: skip


def simulate(
    scenario: Scenario | str,
    *,
    seed: int | None = None,
    days: int | None = None,
    population: int | None = None,
    threads: int | None = None,
    shards: int | None = None,
    progress: Progress | None = None,
) -> Result:
    """Run a scenario in memory and return its result.

    Args:
        scenario: a Scenario, or anything :func:`carnet.load_scenario` accepts.
        seed: override ``run.seed``.
        days: override ``run.days``.
        population: override ``population.size``.
        threads: threads stepping shards in parallel (default: the machine's cores).
        shards: ranges of citizen blocks (default: one per thread). The result does not depend
            on ``threads`` or ``shards``: random streams are keyed by block, not by shard.
        progress: called as ``progress(days_done, days_total)`` after every day.

    To write a run directory as the run goes, with checkpoints it can resume from, use
    :func:`carnet.run`.
    """
    s = load_scenario(scenario, seed=seed, days=days, population=population)
    with started(s, threads=threads, shards=shards) as sim:
        while not sim.done:
            # A day at a time only for whoever follows the progress day by day.
            sim.advance(1 if progress is not None else s.run.days)
            if progress is not None:
                progress(sim.day, s.run.days)
        return result_of(sim)
