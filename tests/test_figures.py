"""Headline figures by name, varied parameters and their ranges, and the ensemble's cells."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from helpers import need

import carnet
from carnet.analysis import ensemble, figures
from carnet.analysis.audit import audit_with_behaviour, without_responses
from carnet.analysis.experiment import Parameter, parse_parameters
from carnet.errors import ScenarioError


@pytest.fixture(scope="module")
def run() -> carnet.Result:
    return carnet.simulate("rongcheng", population=8000, days=90, threads=1)


def test_an_audit_in_part_gives_the_whole_audit_s_figures(run: carnet.Result) -> None:
    names = list(figures.FAMILIES)
    tables = audit_with_behaviour(run, threads=1).tables()
    everyone = tables["inequality"].filter(pc.equal(tables["inequality"]["by"], "all"))
    tables["gini_all"] = everyone.select(["by", "gini_end"])  # the whole audit's own Gini
    whole = figures.headlines(tables, names)
    counterfactual = without_responses(run.scenario, threads=1)
    part = figures.headlines(figures.tables_for(run, names, counterfactual), names)
    assert part.keys() == whole.keys()
    assert all(part[k] == whole[k] or (math.isnan(part[k]) and math.isnan(whole[k]))
               for k in part)  # fmt: skip
    groups = [g.name for g in run.scenario.population.groups]
    assert [k for k in part if k.startswith("wrongful_per_100k")] == [
        f"wrongful_per_100k[{g}]" for g in [*groups, "all"]
    ]
    sanctions = audit_with_behaviour(run, threads=1).sanctions.to_pylist()[-1]
    assert part["sanctions[all]"] == sanctions["sanctions"] > 0
    # The default leaves out what needs the run again without responses.
    assert not figures.needs_behaviour(figures.default_names())
    assert figures.needs_behaviour(["chilled_share[all]"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("wrongful", "unknown figure 'wrongful'; known: wrongful_per_100k"),
        ("impact_ratio[loan]", "impact_ratio takes [gate,group]"),
        ("gini[all]", "gini takes [no keys]"),
        ("sanctions[a]]", "unknown figure"),
    ],
)
def test_figure_names_that_are_not_say_what_is(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        figures.parse(name)


def test_a_row_the_run_lacks_is_nan(run: carnet.Result) -> None:
    found = figures.headlines(figures.tables_for(run, ["impact_ratio[loan,nobody]"]),
                              ["impact_ratio[loan,nobody]"])  # fmt: skip
    assert math.isnan(found["impact_ratio[loan,nobody]"])


def test_a_trajectory_is_the_daily_metric_summed_over_groups(run: carnet.Result) -> None:
    m = run.metrics
    total = figures.trajectory(run, "grade_A")
    assert len(total) == run.scenario.run.days
    day = m.filter(pc.equal(m["day"], 40))
    assert total[40] == sum(day["grade_A"].to_pylist())
    migrant = figures.trajectory(run, "grade_A", "migrant")
    assert migrant[40] == day.filter(pc.equal(day["group"], "migrant"))["grade_A"][0].as_py()
    assert figures.parse_daily("daily.grade_A[migrant]") == ("grade_A", "migrant")
    assert figures.parse_daily("grade_A") is None
    with pytest.raises(ValueError, match="no daily metric 'nope'; known: citizens"):
        figures.trajectory(run, "nope")
    with pytest.raises(ValueError, match="no group 'x'; known: local_hukou"):
        figures.trajectory(run, "grade_A", "x")


def test_a_parameter_maps_the_unit_interval_onto_its_range() -> None:
    linear = Parameter("a", -20.0, -1.0, integer=True)
    assert [linear.value(u) for u in (0.0, 0.5, 1.0)] == [-20, -10, -1]
    log = Parameter("b", 0.001, 0.1, log=True)
    assert log.value(0.0) == pytest.approx(0.001) and log.value(1.0) == pytest.approx(0.1)
    assert log.value(0.5) == pytest.approx(0.01)
    assert Parameter("c", 0.0, 1.0).value(1.5) == 1.0  # clipped to the range


def test_parameters_are_checked_against_the_schema() -> None:
    base = carnet.load_scenario("rongcheng")
    found = parse_parameters(
        base, {"sources.traffic_cameras.misattribution": {"low": 0.001, "high": 0.1, "log": True},
               "rules.points.traffic_violation.points": [-20, -1]}, "spec.yaml")  # fmt: skip
    assert [(p.log, p.integer) for p in found] == [(True, False), (False, True)]
    with pytest.raises(ScenarioError) as caught:
        parse_parameters(base, {"population.groups.migrant.awareness": [0.5, 2],
                                "run.seed": "x"}, "spec.yaml")  # fmt: skip
    problems = dict(caught.value.problems)
    assert "2 is out of bounds" in problems["parameters.population.groups.migrant.awareness"]
    assert "a range" in problems["parameters.run.seed"]
    assert caught.value.source == "spec.yaml"


def test_a_cell_s_figures_are_those_of_its_scenario_run_alone(tmp_path: Path) -> None:
    need("distributed")
    base = carnet.load_scenario("rongcheng", population=6000, days=60)
    values = {"sources.traffic_cameras.misattribution": 0.05}
    cells = [ensemble.Cell(values, 3), ensemble.Cell(values, 4), ensemble.Cell(values, 3)]
    assert cells[0].key == cells[2].key != cells[1].key
    request = ensemble.Request(figures=("wrongful_per_100k[all]", "gini"),
                               daily=("daily.grade_A",))  # fmt: skip
    table = ensemble.run_cells(base, cells, request, tmp_path, workers=2)
    assert len(list((tmp_path / "cells").glob("*.parquet"))) == 2  # the same cell runs once
    names = ["wrongful_per_100k[all]", "gini", "daily.grade_A@59"]
    got = ensemble.matrix(table, cells, names)
    assert np.array_equal(got[0], got[2])
    alone = carnet.simulate(carnet.set(base, {**values, "run.seed": 4}), threads=1)
    found, daily = ensemble.evaluate(carnet.set(base, {**values, "run.seed": 4}), request)
    assert list(got[1]) == [found["wrongful_per_100k[all]"], found["gini"],
                            daily["daily.grade_A"][59]]  # fmt: skip
    assert daily["daily.grade_A"][59] == figures.trajectory(alone, "grade_A")[59]


def test_a_missing_extra_is_named_with_its_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from carnet.analysis.experiment import require
    from carnet.errors import CarnetError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "SALib" else real(name, *a))  # fmt: skip
    with pytest.raises(CarnetError, match=r"sensitivity analysis needs SALib: pip install "
                       r"'carnet\[evidence\]'"):  # fmt: skip
        require("SALib", "sensitivity analysis")
    require("numpy", "anything")
