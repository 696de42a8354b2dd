r"""Paths to a scenario's values: one syntax to read, change and report any value by.

A path names one value of a scenario: its keys joined by dots, and a list's item by its
position or by its name::

    run.days
    rules.points.traffic_violation.points      # rules.points maps behaviours to rules
    sources.traffic_cameras.misattribution     # the source named traffic_cameras
    population.groups.0.share                  # the first group, by position
    behaviours.red_light.observed_by.observer.detect

The syntax, part by part:

- a **name**, ``[A-Za-z_][A-Za-z0-9_]*``, is a section's field, a mapping's key (``rules.points``,
  ``by_group``, ``deterrence``) or, in a list, the item of that name: ``population.groups``,
  ``population.regions``, ``behaviours``, ``sources``, ``grades``, ``gates``, and the
  companies' ``sectors`` and ``behaviours`` name their items by ``name``; ``observed_by`` names
  its items by ``source``;
- a **position**, ``0`` or ``[1-9][0-9]*`` (no sign, no leading zero), is a list's item, from 0.
  A position is never a mapping's key;
- any other key is **quoted** as a JSON string, with JSON's escapes: ``"0"`` is the key or the
  item *named* 0 (``groups.0`` is the first group, ``groups."0"`` the group called 0),
  ``"a.b"`` is one key with a dot in it, ``"my key"`` one with a space, ``"say \"hi\""`` one
  with quotes. A quoted plain name means the name (``"run".days`` is ``run.days``).

The empty path ``""`` is the whole scenario. Scenarios' own names never need quotes (they are
lowercase words, grades capitalised words); quotes exist so that every key, even one that a
scenario must not have, prints and reads back unchanged, as errors print them.

Every error carnet reports prints its path with :func:`format_path`, items by position
(``behaviours.2.rate_per_year: must be >= 0``), so a path from a message can be pasted into
:func:`set`, a sweep's grid or ``carnet run --set``. The lab's knobs are paths too.

:func:`get` reads a value, :func:`set` (``carnet.set``) returns a new validated scenario with
values changed, :func:`parse_assignments` reads ``PATH=VALUE`` texts for the command line, and
:func:`leaf_paths` lists every value a scenario has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from carnet.errors import ScenarioError, show
from carnet.scenario.loading import parse_value, validate
from carnet.scenario.pathsyntax import Path, format_path, parse_path, scan_path
from carnet.scenario.schema import Scenario
from carnet.scenario.walk import ITEM_NAMES, NotThereError, overlap, put, walk

__all__ = [
    "ITEM_NAMES",
    "Path",
    "Values",
    "format_path",
    "get",
    "leaf_paths",
    "parse_assignments",
    "parse_path",
    "resolve",
    "set",
]

#: What :func:`set` takes: values by path, each path text or parts.
Values = Mapping[str, Any] | Mapping[Path, Any] | Mapping[str | Path, Any]


def _parts(path: str | Path, source: str) -> Path:
    """A path given as text or as parts, as parts."""
    if isinstance(path, str):
        return parse_path(path, source=source)
    if not isinstance(path, tuple) or not all(
        isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in path
    ):
        raise ScenarioError(
            source, [(show(path), "a path is text or a tuple of str (keys) and int (positions)")]
        )
    return path


def _text(path: str | Path) -> str:
    return path if isinstance(path, str) else format_path(path)


def get(scenario: Scenario, path: str | Path) -> Any:
    """The value at ``path`` of ``scenario``: a number, a text, a list, a section (a model).

    ``get(s, "rules.points.red_light.points")``, ``get(s, ("population", "groups", 0))``.

    Raises:
        ScenarioError: naming the path when it leads nowhere, with the keys or items there.
    """
    source = f"scenario {scenario.name}"
    parts = _parts(path, source)
    try:
        return walk(scenario, parts, new_key=False)[1]
    except NotThereError as exc:
        raise ScenarioError(source, [(_text(path), str(exc))]) from None


def resolve(scenario: Scenario, path: str | Path) -> Path:
    """``path`` with every item named by its position, as errors print it.

    ``resolve(s, "sources.camera.misattribution") == ("sources", 0, "misattribution")``.

    Raises:
        ScenarioError: naming the path when it leads nowhere, with the keys or items there.
    """
    source = f"scenario {scenario.name}"
    parts = _parts(path, source)
    try:
        return walk(scenario, parts, new_key=True)[0]
    except NotThereError as exc:
        raise ScenarioError(source, [(_text(path), str(exc))]) from None


def set(scenario: Scenario, values: Values, *, source: str = "") -> Scenario:
    """``scenario`` with each value of ``values`` at its path, validated as a file is.

    ``carnet.set(s, {"rules.points.red_light.points": -10, "run.days": 30})``. A path is text
    in the syntax of this module, or a tuple of parts (``("grades", 1, "min_points")``). A
    value is what a scenario file would hold there: a number, a text, a list or a mapping (a
    whole section: ``{"lists.blacklist": {...}}``), or None for an optional one. A mapping
    such as ``rules.points`` or ``responses.deterrence`` takes a key it lacks; a section takes
    only its fields. Nothing else of the scenario changes: ``set(s, {})`` equals ``s``.

    Args:
        scenario: the scenario to start from; it is not changed (scenarios are frozen).
        values: ``{path: value}``; two paths to the same value, or one inside the other, are
            refused.
        source: what errors name as the source; default ``scenario NAME``.

    Raises:
        ScenarioError: listing every path that leads nowhere (with the keys or items there),
            every overlap, then every problem of the new scenario as :func:`carnet.load_scenario`
            would report it, at the path as it was given when it is one of ``values``.
    """
    source = source or f"scenario {scenario.name}"
    doc = scenario.model_dump(mode="python")
    problems: list[tuple[str, str]] = []
    placed: list[tuple[Path, str]] = []  # each path with positions, and as it was given
    for path, value in values.items():
        text = _text(path)
        try:
            located, _ = walk(scenario, _parts(path, source), new_key=True)
        except ScenarioError as exc:
            problems += exc.problems
            continue
        except NotThereError as exc:
            problems.append((text, str(exc)))
            continue
        if not located:
            problems.append((text, "the empty path is the whole scenario; load that instead"))
            continue
        clash = next(((p, t) for p, t in placed if overlap(p, located)), None)
        if clash is not None:
            how = "the same value as" if clash[0] == located else "overlaps"
            problems.append((text, f"{how} {clash[1]}: give one path per value"))
            continue
        placed.append((located, text))
        put(
            doc, located, value.model_dump(mode="python") if isinstance(value, BaseModel) else value
        )
    if problems:
        raise ScenarioError(source, problems)
    try:
        return validate(doc, source)
    except ScenarioError as exc:
        spelled = [(format_path(p), t) for p, t in placed]
        raise ScenarioError(source, [(_respell(p, spelled), m) for p, m in exc.problems]) from None


def _respell(path: str, spelled: list[tuple[str, str]]) -> str:
    """A problem's path with the prefix that one of :func:`set`'s paths resolved to as given."""
    for positional, given in sorted(spelled, key=lambda x: -len(x[0])):
        if path == positional or path.startswith(positional + "."):
            return given + path[len(positional) :]
    return path


def parse_assignments(texts: Iterable[str], *, source: str = "--set") -> dict[str, Any]:
    """Read ``PATH=VALUE`` texts, as ``carnet run --set`` takes them, into ``{path: value}``.

    The path ends at the first ``=`` outside quotes; the value after it is read as YAML, as in
    a scenario file: ``run.days=30`` gives the integer 30, ``sources.camera.misattribution=0.01``
    a float, ``grades.0.name=AAA`` a text, ``run.days="30"`` the text 30,
    ``population.groups.0.income=[1, 1, 2, 2, 3]`` a list, ``lists.blacklist=null`` None. The
    result's keys are the paths as :func:`format_path` writes them; a path given twice keeps its
    last value. Hand the result to :func:`set`.

    Raises:
        ScenarioError: listing every text that is not ``PATH=VALUE``, with the character where
            its path goes wrong, or whose value is not YAML.
    """
    out: dict[str, Any] = {}
    problems: list[tuple[str, str]] = []
    for text in texts:
        try:
            path, end = scan_path(text, 0, source=source)
        except ScenarioError as exc:
            problems += exc.problems
            continue
        if end == len(text):
            problems.append((text, "no '=': write PATH=VALUE, e.g. run.days=30"))
            continue
        key, written = format_path(path), text[end + 1 :]
        if not written.strip():
            problems.append((key, "no value after '=' (write null for none)"))
            continue
        try:
            out[key] = parse_value(written, source)
        except ScenarioError as exc:
            problems += [(key, f"the value: {message}") for _, message in exc.problems]
    if problems:
        raise ScenarioError(source, problems)
    return out


def leaf_paths(scenario: Scenario) -> list[Path]:
    """The path, items by position, of every value of ``scenario`` that holds no other.

    A number, a text, a flag, an unset (null) section, an empty list or mapping are leaves;
    sections, mappings and lists are walked, in the order of the scenario's own dump.
    """
    found: list[Path] = []

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, BaseModel):
            for name in type(node).model_fields:
                walk(getattr(node, name), (*path, name))
        elif isinstance(node, dict) and node:
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list) and node:
            for i, value in enumerate(node):
                walk(value, (*path, i))
        else:
            found.append(path)

    walk(scenario, ())
    return found
