"""What sensitivity analysis and calibration specs share: the scenario, its varied parameters.

Both name a scenario (a preset, or a file beside the spec), optionally the population and days
of every run, and the parameters they vary, each by its scenario path with a range::

    scenario: rongcheng
    population: 100000
    days: 365
    parameters:
      sources.traffic_cameras.misattribution: [0.001, 0.05]
      rules.points.traffic_violation.points: {low: -20, high: -1}
      behaviours.traffic_violation.rate_per_year: {low: 0.1, high: 10, log: true}

A range must lie inside the bounds that the scenario's schema gives the field (a probability in
[0, 1], a penalty below 0): both ends are set on the scenario and validated as a file is, so a
range outside them is refused with the field's own message, at ``parameters.PATH``. A field that
holds a whole number takes whole numbers: a sampled value is rounded. Problems are reported all
at once, each at its path in the spec, as ``carnet validate`` reports a scenario's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from carnet.errors import CarnetError, ScenarioError
from carnet.scenario.loading import load_scenario
from carnet.scenario.paths import get
from carnet.scenario.paths import set as set_values
from carnet.scenario.schema import Scenario

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class Parameter:
    """A varied value: its scenario path (as the spec writes it) and its range."""

    path: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def value(self, unit: float) -> float | int:
        """The value at ``unit`` in [0, 1] of the range (on a log scale if ``log``)."""
        if self.log:
            x = math.exp(math.log(self.low) + unit * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + unit * (self.high - self.low)
        return self.cast(x)

    def cast(self, x: float) -> float | int:
        """``x`` as the field holds it: rounded for a field of whole numbers, in the range."""
        x = min(max(x, self.low), self.high)
        return round(x) if self.integer else float(x)


def require(module: str, what: str) -> None:
    """Refuse, with the install that fixes it, when the ``evidence`` extra's ``module`` is missing.

    Raises:
        CarnetError: ``WHAT needs MODULE: pip install 'carnet[evidence]'``.
    """
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise CarnetError(f"{what} needs {module}: pip install 'carnet[evidence]'")


def base_scenario(doc: dict[str, Any], spec: Path) -> Scenario:
    """The spec's scenario with its population and days (a file beside the spec, or a preset)."""
    source = str(doc.get("scenario", "rongcheng"))
    beside = spec.parent / source
    return load_scenario(
        beside if beside.is_file() else source,
        population=doc.get("population"),
        days=doc.get("days"),
    )


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _one(base: Scenario, path: str, given: Any, where: str) -> tuple[Parameter | None, Problems]:
    if isinstance(given, list):
        given = dict(zip(("low", "high"), given, strict=False)) if len(given) == 2 else None
    if not isinstance(given, dict) or set(given) - {"low", "high", "log"}:
        return None, [(where, "a range: [low, high], or {low: L, high: H, log: true}")]
    low_given, high_given, log = given.get("low"), given.get("high"), given.get("log", False)
    if not (_number(low_given) and _number(high_given)) or not isinstance(log, bool):
        return None, [(where, "low and high must be numbers, log true or false")]
    low, high = float(low_given), float(high_given)
    if not low < high:
        return None, [(where, f"low ({low}) must be below high ({high})")]
    if log and low <= 0:
        return None, [(where, f"a log range must be above 0; low is {low}")]
    try:
        current = get(base, path)
    except ScenarioError as exc:
        return None, [(where, message) for _, message in exc.problems]
    if not _number(current):
        what = {list: "a list", str: "a text", bool: "true or false", type(None): "null"}
        held = what.get(type(current), "a section")
        return None, [(where, f"holds {held}, not a number: name a number inside it")]
    integer = isinstance(current, int)
    if integer and (low != round(low) or high != round(high)):
        return None, [(where, f"holds a whole number: give whole ends, not {low} and {high}")]
    problems: Problems = []
    for end in (low, high):
        try:
            set_values(base, {path: round(end) if integer else end}, source=where)
        except ScenarioError as exc:
            problems += [(where, f"{end:g} is out of bounds: {m}") for _, m in exc.problems]
    if problems:
        return None, problems[:1]
    return Parameter(path, low, high, log, integer), []


def parse_parameters(
    base: Scenario, given: Any, source: str, key: str = "parameters"
) -> list[Parameter]:
    """The spec's ``parameters`` mapping, checked against ``base``; ``source`` names the spec.

    Raises:
        ScenarioError: naming ``parameters.PATH`` for each path that leads nowhere, holds no
            number, or has a range that is malformed or outside the field's bounds.
    """
    if not isinstance(given, dict) or not given:
        raise ScenarioError(source, [(key, "a mapping of scenario paths to [low, high] ranges")])
    out: list[Parameter] = []
    problems: Problems = []
    for path, value in given.items():
        found, wrong = _one(base, str(path), value, f"{key}.{path}")
        problems += wrong
        if found is not None:
            out.append(found)
    if problems:
        raise ScenarioError(source, problems)
    return out


def unknown_keys(doc: dict[str, Any], known: tuple[str, ...], what: str) -> Problems:
    """Problems for the keys of ``doc`` that a spec does not have."""
    return [
        (str(k), f"unknown key; {what} has {', '.join(known)}")
        for k in sorted(map(str, set(doc) - set(known)))
    ]
