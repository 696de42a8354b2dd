"""The committed scenario reference is the one the code generates."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from carnet.scenario import schema as scenario
from carnet.scenario.reference import REGENERATE, scenario_reference, sections
from carnet.scenario.schema import Section

DOC = Path(__file__).resolve().parents[1] / "docs" / "scenario-reference.md"


def test_committed_reference_is_up_to_date() -> None:
    committed = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert committed == scenario_reference(), (
        f"docs/scenario-reference.md is out of date with carnet/scenario.py; regenerate it with:"
        f"\n    {REGENERATE}"
    )


def test_reference_covers_every_field_of_every_section() -> None:
    text = scenario_reference()
    paths = {model.__name__: path for path, model in sections()}
    assert paths["Scenario"] == ""
    assert paths["Exposure"] == "population.groups[].exposure"
    assert paths["Rule"] == "rules.points.<name>"
    for _, model in sections():
        assert f"## {model.__name__}\n" in text
        for name in model.model_fields:
            assert f"| `{name}` |" in text, f"{model.__name__}.{name}"
    declared = {
        obj
        for obj in vars(scenario).values()
        if isinstance(obj, type) and issubclass(obj, Section) and obj is not Section
    }
    # Sections declared in modules of their own (attention) share Section's configuration.
    declared |= {
        obj
        for obj in vars(scenario).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj is not Section
        and obj.model_config == Section.model_config
    }
    assert declared == {model for _, model in sections()}, "a section is not reachable"


def test_reference_shows_bounds_and_defaults() -> None:
    text = scenario_reference()
    assert "| `size` | `int` | required | ≥ 1, ≤ 2000000000 | number of adult citizens |" in text
    assert "| `awareness` | `float` | `1.0` | ≥ 0.0, ≤ 1.0 |" in text
    assert (
        "| `income` | `list[float]` | `[1.0, 1.0, 1.0, 1.0, 1.0]` | min length 5, max length 5"
        in text
    )
    assert "`int \\| None`" in text  # pipes are escaped inside tables
