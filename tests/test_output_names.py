"""Names that would collide in a run's outputs are refused, with their path, before a run.

On 0.2.0 a group named ``all`` took the audit's total (a group with no sanction was given
27,994 of them), and a company behaviour named ``entries`` made two ``wrongful_entries``
columns: the run finished and verified, then audit, report, dossier and every query failed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import carnet
from carnet.cli.app import app
from carnet.errors import ScenarioError
from carnet.scenario.loading import preset_names, preset_text
from carnet.sim.metrics import ledger_names
from carnet.sim.output_names import company_metric_columns, metric_columns, problems

PRESETS = preset_names()


def doc_of(preset: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(preset_text(preset))
    doc["population"]["size"] = 3000
    doc["run"]["days"] = 5
    return doc


@pytest.mark.parametrize("preset", PRESETS)
def test_the_names_are_those_of_the_tables(preset: str) -> None:
    s = carnet.load_scenario(doc_of(preset))
    result = carnet.simulate(s, threads=1)
    assert [name for name, _ in metric_columns(s)] == result.metrics.column_names
    if result.company_metrics is not None:
        names = [name for name, _ in company_metric_columns(s)]
        assert names == result.company_metrics.column_names
    assert problems(s) == []


def add_copy(doc: dict[str, Any], where: str, name: str, of: int = -1) -> int:
    """Append a copy of item ``of`` of the list at ``where`` under ``name``; its position.

    A behaviour's copy gets a copy of its point rule too: what refers to the others holds.
    """
    node: Any = doc
    for key in where.split("."):
        node = node[key]
    original = node[of]["name"]
    node.append({**copy.deepcopy(node[of]), "name": name})
    if where.endswith("behaviours"):
        rules = (doc["companies"] if where.startswith("companies") else doc)["rules"]["points"]
        rules[name] = copy.deepcopy(rules[original])
    return len(node) - 1


def renamings(preset: str) -> list[tuple[str, str, str]]:
    """(where, name, column) for every name that would remake a column of carnet's own."""
    s = carnet.load_scenario(doc_of(preset))
    out = []
    for section, columns in (("", metric_columns(s)), ("companies.", company_metric_columns(s))):
        own = [name for name, path in columns if not path.endswith(".name")]
        for column in own:
            for kind in ("scored", "wrongful", "expired"):
                if column.startswith(f"{kind}_"):
                    out.append((f"{section}behaviours", column.removeprefix(f"{kind}_"), column))
            if column.startswith("grade_") and not section:
                out.append(("grades", column.removeprefix("grade_"), column))
    behaviours, sources = ledger_names(s)
    out += [("behaviours", name, "ledger code") for name in behaviours[-3:]]
    out += [("sources", name, "ledger code") for name in sources[-3:]]
    out.append(("population.groups", "all", "the audit's total"))
    if s.companies is not None:
        out += [("companies.behaviours", "blacklist", "ledger code")]
        out += [("sources", "agencies", "ledger code")]
    return out


# validation-liu2018 keeps its first group's repayment on the shared table: renaming that group
# 'all' collides nowhere the test expects (its repay_by_group has only the second group).
CASES = [(preset, *case) for preset in PRESETS if preset != "validation-liu2018"
         for case in renamings(preset)]  # fmt: skip


@pytest.mark.parametrize(("preset", "where", "name", "column"), CASES)
def test_every_name_that_would_collide_is_refused_at_its_path(
    preset: str, where: str, name: str, column: str
) -> None:
    doc = doc_of(preset)
    if where == "population.groups":  # shares add up to 1: the first group takes the name
        doc["population"]["groups"][0]["name"] = name
        path = f"{where}.0.name"
    else:
        path = f"{where}.{add_copy(doc, where, name)}.name"
    try:
        s = carnet.load_scenario(doc)
    except ScenarioError as exc:  # refused already by the cross-checks: fine, if at the path
        assert any(p.startswith(where) for p, _ in exc.problems), exc.problems
        return
    found = problems(s)
    assert any(p == path for p, _ in found), f"{name!r} at {path} ({column}) not refused: {found}"
    with pytest.raises(ScenarioError):
        carnet.simulate(s, threads=1)


def test_names_that_only_look_alike_are_not_refused() -> None:
    doc = doc_of("minimal")
    first = doc["behaviours"][0]["name"]
    add_copy(doc, "behaviours", f"{first}_x", of=0)  # acts_<first>_x_missed is its own
    add_copy(doc, "sources", "x", of=0)
    add_copy(doc, "behaviours", "data_x", of=0)  # scored_data_x is not data_x
    add_copy(doc, "behaviours", "points_sum", of=0)  # scored_points_sum is not points_sum
    assert problems(carnet.load_scenario(doc)) == []


def test_two_names_that_make_one_column_are_refused() -> None:
    doc = doc_of("minimal")
    add_copy(doc, "behaviours", "a_missed", of=0)  # acts_a_missed_detected ...
    add_copy(doc, "behaviours", "a", of=0)  # ... and wrongful_a, scored_a: no clash yet
    assert problems(carnet.load_scenario(doc)) == []
    where = add_copy(doc, "behaviours", "b", of=0)
    doc["behaviours"][where]["name"] = "a"
    with pytest.raises(ScenarioError, match="name"):  # the schema: names are unique
        carnet.load_scenario(doc)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_carnet_validate_refuses_a_group_named_all(tmp_path: Path) -> None:
    doc = doc_of("rongcheng")
    doc["population"]["groups"][0]["name"] = "all"
    file = tmp_path / "all.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    shown = invoke("validate", str(file))
    assert shown.exit_code == 2, shown.output
    assert "population.groups.0.name: 'all' names the total over groups" in shown.stderr


def test_carnet_validate_refuses_a_company_behaviour_named_entries(tmp_path: Path) -> None:
    doc = doc_of("china")
    where = add_copy(doc, "companies.behaviours", "entries", of=0)
    file = tmp_path / "entries.yaml"
    file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    shown = invoke("validate", str(file))
    assert shown.exit_code == 2, shown.output
    said = f"companies.behaviours.{where}.name: makes the column 'wrongful_entries'"
    assert said in shown.stderr
    run = invoke("run", str(file), "--out", str(tmp_path / "run"))
    assert run.exit_code == 2 and "wrongful_entries" in run.stderr
    assert not (tmp_path / "run").exists()
