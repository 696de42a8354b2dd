"""Loading scenarios from presets, files or mappings, with command-line overrides."""

from __future__ import annotations

from collections.abc import Hashable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from carnet.errors import ScenarioError, from_validation_error
from carnet.scenario import Scenario, cross_check

#: Larger files are refused before they are parsed.
MAX_SCENARIO_BYTES = 4 * 1024 * 1024
DEFAULT_PRESET = "rongcheng"


def preset_names() -> list[str]:
    """Names of the scenarios that ship with carnet."""
    folder = resources.files("carnet") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    """The YAML text of a preset, comments and provenance included."""
    return (resources.files("carnet") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys, which plain YAML loading keeps the last of."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse scenario YAML safely into a mapping, or raise a ScenarioError naming the place."""
    if not text.strip():
        raise ScenarioError(source, [("", "the file is empty; a scenario needs its sections")])
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ScenarioError(source, [("", f"malformed YAML at {where}: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [("", f"malformed YAML: {exc}")]) from None
    except ValueError as exc:  # e.g. a date-like value that is no date: 2026-13-45
        raise ScenarioError(source, [("", f"malformed YAML: {exc}")]) from None
    except RecursionError:
        raise ScenarioError(source, [("", "malformed YAML: nested too deeply")]) from None
    if not isinstance(doc, dict):
        kind = type(doc).__name__
        raise ScenarioError(source, [("", f"a scenario must be a mapping of sections, got {kind}")])
    return doc


def _read(src: str | Path) -> tuple[dict[str, Any], str]:
    text_src = str(src)
    path = Path(src)
    # A file of that name wins over a preset: the user pointed at something of their own.
    if isinstance(src, str) and src in preset_names() and not path.is_file():
        return parse_yaml(preset_text(src), f"preset {src}"), f"preset {src}"
    if path.is_dir():
        raise ScenarioError(text_src, [("", "is a directory, not a scenario file")])
    if not path.is_file():
        hint = f"no such file, and not a preset (presets: {', '.join(preset_names())})"
        raise ScenarioError(text_src, [("", hint)])
    size = path.stat().st_size
    if size > MAX_SCENARIO_BYTES:
        limit = MAX_SCENARIO_BYTES // 1024 // 1024
        raise ScenarioError(
            text_src, [("", f"file is {size} bytes; scenarios over {limit} MB are refused")]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(text_src, [("", f"not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise ScenarioError(text_src, [("", f"cannot read: {exc.strerror}")]) from None
    return parse_yaml(text, text_src), text_src


def validate(doc: dict[str, Any], source: str = "scenario") -> Scenario:
    """Validate a scenario mapping; raise a ScenarioError listing every problem with its path."""
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        raise from_validation_error(source, exc) from None
    problems = cross_check(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def load_scenario(
    src: str | Path | dict[str, Any] | Scenario = DEFAULT_PRESET,
    *,
    days: int | None = None,
    seed: int | None = None,
    population: int | None = None,
) -> Scenario:
    """Load a scenario from a preset name, a YAML file, a mapping or a Scenario.

    Args:
        src: preset name (see :func:`preset_names`), path to a YAML file, mapping, or Scenario.
        days: override ``run.days``.
        seed: override ``run.seed``.
        population: override ``population.size``.

    Raises:
        ScenarioError: listing every problem, each with the path of the offending value.
    """
    if isinstance(src, Scenario):
        doc, source = src.model_dump(mode="python"), f"scenario {src.name}"
    elif isinstance(src, dict):
        doc, source = src, "scenario"
    else:
        doc, source = _read(src)
    overrides = {("run", "days"): days, ("run", "seed"): seed, ("population", "size"): population}
    for (section, key), value in overrides.items():
        if value is not None:
            part = doc.get(section)
            doc = {**doc, section: {**(part if isinstance(part, dict) else {}), key: value}}
    return validate(doc, source)


def to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML, every default spelled out."""
    return yaml.safe_dump(
        scenario.model_dump(mode="python"), sort_keys=False, allow_unicode=True, width=100
    )
