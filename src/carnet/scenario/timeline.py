"""A scenario's timeline: the scenario in force on each day, and the checks its changes pass.

A timeline is a list of :class:`~carnet.scenario.schema.Change`: on its day, each path takes its
new value, before the day's first phase. :func:`epochs` applies the changes in order of day (those
of one day in the order listed) and returns the scenario in force from each change day on;
:func:`problems` checks them as ``(path, message)`` pairs, each at the change's own path
(``timeline.1.set."rules.points.spitting.points"``), so that ``carnet validate`` names the change
that is wrong and why:

- the day lies within the run;
- the path is a path of :mod:`carnet.scenario.paths` that leads to a value of the scenario;
- it changes neither what the society was drawn from, nor the run's settings, nor a name (random
  streams and outputs are keyed by names), nor whether a section is there at all (an optional
  value, such as a gate's lowest grade or a source's platform, may be set or unset);
- a list keeps its length (its items are what the run's arrays are shaped by);
- the scenario in force after the day's changes is valid, as a file would be (bounds, shares,
  names that exist): its problems are reported at the change that caused them.

Whether a change also keeps the shape of what the run keeps per citizen (a deterrence that
needs a memory where there was none, say) is known only to the simulation, which checks it when
it compiles the epochs (:mod:`carnet.sim.timeline`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from carnet.errors import ScenarioError, validation_problems
from carnet.scenario.pathsyntax import Path, format_path, parse_path
from carnet.scenario.schema import Scenario, cross_check
from carnet.scenario.walk import ABSENT, NotThereError, put, walk

#: Paths a timeline must not change, with the reason given.
FIXED: tuple[tuple[Path, str], ...] = (
    (("population",), "the society is drawn once, before the first day"),
    (("companies", "per_1000_citizens"), "companies are drawn once, before the first day"),
    (("companies", "employed_share"), "companies are drawn once, before the first day"),
    (("companies", "size_spread"), "companies are drawn once, before the first day"),
    (("companies", "start_points"), "companies are drawn once, before the first day"),
    (("companies", "sectors"), "companies are drawn once, before the first day"),
    (("run",), "the run's settings hold for the whole run"),
    (("lists", "blacklist", "warm_up_days"), "the warm-up runs before the first day"),
    (("name",), "the scenario's name holds for the whole run"),
    (("description",), "descriptions do not change a run"),
    (("timeline",), "a timeline does not change itself"),
)
#: The fields that name an item: streams and outputs are keyed by them.
NAMES = ("name", "source")


def change_days(s: Scenario) -> list[int]:
    """The days, after the first, on which some value changes: where a new epoch begins."""
    return sorted({c.day for c in s.timeline if c.day > 0})


def epochs(s: Scenario) -> list[tuple[int, Scenario]]:
    """The scenario in force from each change day on, as ``(day, scenario)``, from day 0.

    The first is day 0 (with the changes of day 0 applied). Each scenario has an empty
    timeline. Assumes :func:`problems` found none.
    """
    found, bad = _epochs(s)
    assert not bad, bad
    return found


def problems(s: Scenario) -> list[tuple[str, str]]:
    """Every problem of ``s``'s timeline, as ``(path, message)`` pairs (none without one)."""
    return _epochs(s)[1] if s.timeline else []


def _epochs(s: Scenario) -> tuple[list[tuple[int, Scenario]], list[tuple[str, str]]]:
    base = s.model_copy(update={"timeline": []})
    doc = base.model_dump(mode="python")
    current = base
    found: list[tuple[int, Scenario]] = []
    errors: list[tuple[str, str]] = []
    order = sorted(range(len(s.timeline)), key=lambda i: s.timeline[i].day)
    days = sorted({c.day for c in s.timeline} | {0})
    names = _names(base)  # what every epoch must still call its items
    for day in days:
        placed: list[tuple[Path, str]] = []  # what changed today, with positions, as reported
        for i in (i for i in order if s.timeline[i].day == day):
            change = s.timeline[i]
            if change.day >= s.run.days:
                errors.append(
                    (f"timeline.{i}.day", f"must be within the run (0 to {s.run.days - 1}), "
                     f"got {change.day}")
                )  # fmt: skip
                continue
            for key, value in change.set.items():
                where = format_path(("timeline", i, "set", key))
                located = _locate(current, key, value, where, errors)
                if located is not None:
                    put(doc, located, value.model_dump(mode="python")
                        if isinstance(value, BaseModel) else value)  # fmt: skip
                    placed.append((located, where))
        try:
            current = Scenario.model_validate(doc)
        except ValidationError as exc:
            errors += [_blame(loc, message, placed, day) for loc, message in
                       validation_problems(exc)]  # fmt: skip
            return found, errors
        wrong = cross_check(current)
        if wrong:
            errors += [_blame(tuple(_split(p)), m, placed, day) for p, m in wrong]
            return found, errors
        renamed = [p for p, name in _names(current).items() if names.get(p) != name]
        if renamed:
            errors += [_blame(p, "names cannot change during a run: streams and outputs are "
                              "keyed by them", placed, day) for p in renamed]  # fmt: skip
            return found, errors
        doc = current.model_dump(mode="python")
        found.append((day, current))
    return found, errors


def _names(node: Any, path: Path = ()) -> dict[Path, str]:
    """Every name of a list's item in a scenario, by its path."""
    found: dict[Path, str] = {}
    if isinstance(node, BaseModel):
        for field in type(node).model_fields:
            value = getattr(node, field)
            if field in NAMES and isinstance(value, str):
                found[(*path, field)] = value
            else:
                found.update(_names(value, (*path, field)))
    elif isinstance(node, list | dict):
        items = enumerate(node) if isinstance(node, list) else node.items()
        for key, value in items:
            found.update(_names(value, (*path, key)))
    return found


def _split(path: str) -> Path:
    try:
        return parse_path(path)
    except ScenarioError:  # a cross-check path that is a label rather than a path
        return (path,)


def _blame(
    loc: tuple[str | int, ...], message: str, placed: list[tuple[Path, str]], day: int
) -> tuple[str, str]:
    """A problem of the scenario in force on ``day``, at the change that caused it if one did."""
    for located, where in sorted(placed, key=lambda p: -len(p[0])):
        if tuple(loc[: len(located)]) == located:
            rest = format_path(loc[len(located) :])
            return (where + ("." + rest if rest else ""), message)
    return (f"timeline (from day {day}): {format_path(loc)}", message)


def _locate(
    current: Scenario, key: str, value: Any, where: str, errors: list[tuple[str, str]]
) -> Path | None:
    """The path ``key`` names in ``current``, with positions; None (and an error) if refused."""
    try:
        parts = parse_path(key, source=where)
    except ScenarioError as exc:  # the text is not a path
        errors.append((where, f"not a path: {exc}"))
        return None
    if not parts:
        errors.append((where, "the empty path is the whole scenario: change values, not it"))
        return None
    for fixed, why in FIXED:
        if parts[: len(fixed)] == fixed:
            errors.append((where, f"cannot change during a run: {why}"))
            return None
    if parts[-1] in NAMES:
        errors.append((where, "names cannot change during a run: streams and outputs are keyed "
                              "by them"))  # fmt: skip
        return None
    try:
        located, old = walk(current, parts, new_key=True)
    except NotThereError as exc:
        errors.append((where, str(exc)))
        return None
    if old is ABSENT:
        return located  # a new key of a mapping (a multiplier by group, say)
    # A section comes or goes (a mapping where there was none, or none where there was one);
    # an optional value (a lowest grade, a platform) may be set or unset.
    if (old is None and isinstance(value, dict)) or (isinstance(old, BaseModel) and value is None):
        what = "add" if old is None else "remove"
        errors.append(
            (
                where,
                f"cannot {what} a section during a run: a timeline changes "
                "values (give the section from day 0, with values that do nothing)",
            )
        )
        return None
    if isinstance(old, list) and (not isinstance(value, list) or len(value) != len(old)):
        errors.append((where, f"a list keeps its length during a run ({len(old)} items)"))
        return None
    return located
