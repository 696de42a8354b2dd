"""The lab's knobs, generated from the scenario's schema: no widget is written by hand.

:data:`SECTIONS` only says *which* values of a scenario are knobs, as path patterns
(``behaviours.*.observed_by.*.detect``); everything else comes from the pydantic models of
:mod:`carnet.scenario.schema`: the type decides the kind of widget, the bounds (``ge``, ``le``,
``gt``,
``lt``) its range, the field's description and default its help text, and the scenario's own
names (behaviours, sources, grades, gates) its labels and choices. :func:`knobs` expands the
patterns over one scenario; a knob's path is a path of :mod:`carnet.scenario.paths`, and
:func:`edit` is :func:`carnet.set`, so that a bad value is refused with the same
``path: message`` as ``carnet validate``.

Nothing here imports Streamlit: :mod:`carnet.lab.widgets` draws these knobs.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from carnet.scenario import paths
from carnet.scenario.contagion import Contagion, Incentives
from carnet.scenario.paths import format_path
from carnet.scenario.schema import GradeName, Scenario

#: Where a knob's value lives: a path of :mod:`carnet.scenario.paths`, as parts.
Path = paths.Path
Kind = Literal["slider", "number", "toggle", "select"]

#: The knobs, by section of the lab's panel: path patterns into a scenario, and how to label
#: each value found (``{0}``, ``{1}``: the names of the items that the wildcards went through).
#: A pattern is a path of :mod:`carnet.scenario.paths` (plain keys only) where ``*`` goes
#: through every item of a list or every key of a mapping, and ``{grades}`` (``{groups}``) through
#: every grade (population group) of the scenario, whether the mapping has it or not.
SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Society and run",
        (
            ("population.size", "citizens"),
            ("run.days", "days"),
            ("run.seed", "seed"),
        ),
    ),
    ("Points per behaviour", (("rules.points.*.points", "{0}"),)),
    (
        "Detection and misattribution",
        (
            ("behaviours.*.observed_by.*.detect", "{0}: seen by {1}"),
            ("sources.*.misattribution", "{0}: misattribution"),
            ("platforms.*.compliance", "{0}: shares with the state"),
            ("platforms.*.banned", "{0}: banned"),
            ("sources.*.misattribution_by_group.*", "{0}: misattribution, {1}"),
            ("sources.*.misattributed_to", "{0}: misattributed to"),
        ),
    ),
    (
        "Adaptive attention",
        (
            ("sources.*.attention.period_days", "{0}: days between re-allocations"),
            ("sources.*.attention.window_days", "{0}: days of findings that count"),
            ("sources.*.attention.prior", "{0}: prior findings"),
            ("sources.*.attention.exploration", "{0}: exploration"),
            ("sources.*.attention.audit_share", "{0}: random audits"),
        ),
    ),
    ("Grade bands", (("grades.*.min_points", "{0} from"),)),
    (
        "What grades and lists control",
        (
            ("gates.*.min_grade", "{0}: lowest grade admitted"),
            ("gates.*.refuse_blacklisted", "{0}: refuse the blacklisted"),
            ("gates.*.require_redlist", "{0}: only the redlisted"),
            ("lists.blacklist.warm_up_days", "blacklist: days of warm-up before day 0"),
        ),
    ),
    (
        "Gate policies",
        (
            ("gates.*.policy.threshold", "{0}: threshold"),
            ("gates.*.policy.threshold_by_group.*", "{0}: threshold for {1}"),
            ("gates.*.policy.probability", "{0}: lottery chance"),
            ("gates.*.policy.probability_by_group.*", "{0}: lottery chance for {1}"),
            ("gates.*.policy.gain_if_repaid", "{0}: gain on a repaid loan"),
            ("gates.*.policy.loss_if_default", "{0}: loss on a default"),
            ("gates.*.policy.refit_days", "{0}: days between refits"),
        ),
    ),
    (
        "Awareness and deterrence",
        (
            ("population.groups.*.awareness", "{0}: aware of the system"),
            ("population.groups.*.start.mean", "{0}: mean start points"),
            ("population.groups.*.start.sd", "{0}: spread of start points"),
            ("responses.deterrence.{grades}", "deterrence in {0}"),
            ("responses.punished", "the punished"),
            ("responses.household", "their household"),
            ("responses.memory_days", "days a sanction deters"),
            ("responses.chilling", "chilling of lawful acts"),
        ),
    ),
    (
        "Contagion and sentence lengths",
        (
            ("responses.contagion.neighbours", "contagion from the neighbourhood"),
            ("responses.contagion.household", "contagion from housemates"),
            ("responses.contagion.coworkers", "contagion from co-workers"),
            ("responses.contagion.max_multiplier", "contagion's largest multiplier"),
            ("rules.lifetime_by_group.{groups}", "{0}: record lifetime x"),
            ("lists.blacklist.term_days_by_group.{groups}", "{0}: days listed"),
        ),
    ),
    (
        "Rewards and stakes",
        (
            ("responses.incentives.reward_elasticity", "rewards raise positive acts"),
            ("responses.incentives.reward_reference", "points of one unit of reward"),
            ("responses.incentives.gate_stakes", "weight of the gates a fall closes"),
        ),
    ),
)

#: What the engine reads for a key that a mapping lacks (the schema's default is an empty one).
MISSING: dict[str, object] = {"responses.deterrence": 1.0, "rules.lifetime_by_group": 1.0}
#: The same where the engine reads a field beside the mapping: (the mapping's path, the field's).
MISSING_FROM: dict[str, str] = {"lists.blacklist.term_days_by_group": "term_days"}
#: Optional sections whose knobs show their defaults while the section is off (None); setting one
#: of their knobs turns the section on, its other fields at their defaults (:func:`edit`).
ABSENT: dict[str, type[BaseModel]] = {
    "responses.contagion": Contagion,
    "responses.incentives": Incentives,
}

#: Widest numeric range drawn as a slider; wider ones get a number box.
SLIDER_SPAN = {"int": 400, "float": 100.0}
#: Browsers hold integers exactly up to here; wider bounds are narrowed to it.
JS_SAFE_INT = 2**53 - 1


@dataclass(frozen=True)
class Field:
    """What the schema says about one value: its type, bounds, default and description."""

    kind: type  # int, float, bool or str
    low: float | None  # inclusive bounds (``gt``/``lt`` are turned into ``ge``/``le``)
    high: float | None
    optional: bool  # None is allowed
    default: Any  # the schema's default, or None when the field is required
    description: str
    choices: tuple[Any, ...] = ()  # a Literal's values
    grade: bool = False  # the value names a grade of the scenario


@dataclass(frozen=True)
class Knob:
    """One widget of the lab: where its value lives in the scenario, and how to draw it."""

    path: Path
    section: str
    label: str
    kind: Kind
    value: Any  # the scenario's value
    low: float | None = None
    high: float | None = None
    step: float | None = None
    integer: bool = False
    options: tuple[Any, ...] = ()
    help: str = ""

    @property
    def key(self) -> str:
        """The value's path as carnet's errors print it, e.g. ``grades.1.min_points``."""
        return format_path(self.path)


# --- reading the schema ---------------------------------------------------------------------------


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _bounds(metadata: Sequence[Any], integer: bool) -> tuple[float | None, float | None]:
    """Inclusive bounds from annotated-types constraints (a strict bound moves one step in)."""
    low: Any = None
    high: Any = None
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            low = m.ge
        elif isinstance(m, annotated_types.Gt):
            gt: Any = m.gt
            low = gt + 1 if integer else math.nextafter(float(gt), math.inf)
        elif isinstance(m, annotated_types.Le):
            high = m.le
        elif isinstance(m, annotated_types.Lt):
            lt: Any = m.lt
            high = lt - 1 if integer else math.nextafter(float(lt), -math.inf)
    return low, high


def _describe(annotation: Any, info: FieldInfo, default: Any) -> Field:
    """A :class:`Field` from an annotation and the field that declares it."""
    inner, optional = _strip_optional(annotation)
    grade = inner == GradeName
    metadata = list(info.metadata)
    if typing.get_origin(inner) is typing.Annotated:
        nested = FieldInfo.from_annotation(inner)
        metadata += nested.metadata
        inner = nested.annotation
    choices: tuple[Any, ...] = ()
    if typing.get_origin(inner) is Literal:
        choices, inner = typing.get_args(inner), str
    if inner not in (int, float, bool, str):
        raise TypeError(f"not a value a knob can hold: {annotation!r}")
    low, high = _bounds(metadata, inner is int)
    return Field(
        kind=inner,
        low=low,
        high=high,
        optional=optional,
        default=None if default is PydanticUndefined else default,
        description=info.description or "",
        choices=choices,
        grade=grade,
    )


def _model(annotation: Any) -> type[BaseModel] | None:
    inner, _ = _strip_optional(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def field_at(path: Path) -> Field:
    """What the schema says about the value at ``path`` of a scenario.

    ``path`` goes through models by field name, lists by index and mappings by key, e.g.
    ``("rules", "points", "red_light", "points")`` or ``("responses", "deterrence", "B")``.
    """
    model: type[BaseModel] | None = Scenario
    annotation: Any = None
    info: FieldInfo | None = None
    owner = ""  # the path of the mapping a key was looked up in
    for i, part in enumerate(path):
        if model is not None and isinstance(part, str):
            if part not in model.model_fields:
                raise KeyError(f"{format_path(path[: i + 1])}: no such field")
            info = model.model_fields[part]
            annotation = info.annotation
            owner = ""
        else:
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
            if origin is list and isinstance(part, int):
                annotation = args[0]
            elif origin is dict and isinstance(part, str):
                annotation, owner = args[1], format_path(path[:i])
            else:
                raise KeyError(f"{format_path(path[: i + 1])}: no such value")
        model = _model(annotation)
    if info is None or model is not None:
        raise KeyError(f"{format_path(path)}: not a single value")
    default = MISSING.get(owner, PydanticUndefined) if owner else info.default
    if owner and typing.get_origin(annotation) is typing.Annotated:
        return _describe(annotation, FieldInfo(description=info.description), default)
    return _describe(annotation, info, default)


# --- expanding the patterns over a scenario -------------------------------------------------------


def _item_name(item: Any, key: str | int) -> str:
    if isinstance(item, Mapping):
        for field in paths.ITEM_NAMES:
            if isinstance(item.get(field), str):
                return str(item[field])
    return str(key)


def expand(pattern: str, doc: Mapping[str, Any]) -> list[tuple[Path, list[str], Any]]:
    """Every value of ``doc`` that ``pattern`` matches: its path, the names met, its value.

    A value that a mapping lacks is reported as :data:`MISSING` says the engine reads it.
    """
    grades = [g["name"] for g in doc.get("grades", [])]
    groups = [g["name"] for g in doc.get("population", {}).get("groups", [])]
    found: list[tuple[Path, list[str], Any]] = [((), [], doc)]
    for part in pattern.split("."):
        nxt: list[tuple[Path, list[str], Any]] = []
        for path, names, value in found:
            if value is None and format_path(path) in ABSENT:  # off: its defaults
                value = ABSENT[format_path(path)]().model_dump(mode="python")
            if part == "{groups}" and isinstance(value, Mapping):
                where = format_path(path)
                missing = MISSING.get(where)
                if where in MISSING_FROM:
                    owner: Any = doc
                    for p in path[:-1]:
                        owner = owner[p]
                    missing = owner[MISSING_FROM[where]]
                nxt += [((*path, g), [*names, g], value.get(g, missing)) for g in groups]
            elif part == "*" and isinstance(value, list):
                nxt += [((*path, i), [*names, _item_name(v, i)], v) for i, v in enumerate(value)]
            elif part == "*" and isinstance(value, Mapping):
                nxt += [((*path, k), [*names, str(k)], v) for k, v in value.items()]
            elif part == "{grades}" and isinstance(value, Mapping):
                missing = MISSING.get(format_path(path))
                nxt += [((*path, g), [*names, g], value.get(g, missing)) for g in grades]
            elif isinstance(value, Mapping) and part in value:
                nxt.append(((*path, part), names, value[part]))
        found = nxt
    return found


def _step(field: Field) -> float:
    if field.kind is int:
        return 1
    span = (field.high or 0.0) - (field.low or 0.0)
    if 0 < span <= SLIDER_SPAN["float"]:
        return float(10 ** math.floor(math.log10(span))) / 1000  # 1 → 0.001, 10 → 0.01
    return 0.01


def _number(x: float, integer: bool) -> str:
    return f"{int(x):,}" if integer else f"{x:g}"


def _help(field: Field, low: float | None, high: float | None) -> str:
    """The field's description, the knob's range and the schema's default, as sentences."""
    parts = [field.description[:1].upper() + field.description[1:]] if field.description else []
    integer = field.kind is int
    if low is not None and high is not None:
        parts.append(f"From {_number(low, integer)} to {_number(high, integer)}")
    elif low is not None:
        parts.append(f"At least {_number(low, integer)}")
    if field.default is not None:
        default = field.default
        if isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, int | float):
            shown = _number(default, integer)
        else:
            shown = str(default)
        parts.append(f"Default: {shown}")
    return " ".join(p if p.endswith(".") else p + "." for p in parts)


def knob(path: Path, section: str, label: str, value: Any, grades: Sequence[str]) -> Knob | None:
    """The knob for the value at ``path`` (None where the schema leaves nothing to turn)."""
    field = field_at(path)
    common: dict[str, Any] = {"path": path, "section": section, "label": label, "value": value}
    common["help"] = _help(field, None, None)
    if field.kind is bool:
        return Knob(kind="toggle", **common)
    if field.grade or field.choices:
        options = tuple(grades) if field.grade else field.choices
        if field.optional:
            options = (None, *options)
        return Knob(kind="select", options=options, **common)
    if field.kind is str or value is None:  # an unset number (the last grade's band): no knob
        return None
    integer = field.kind is int
    low, high = field.low, field.high
    if integer:
        low = None if low is None else max(low, -JS_SAFE_INT)
        high = None if high is None else min(high, JS_SAFE_INT)
    span = None if low is None or high is None else high - low
    limit = SLIDER_SPAN["int" if integer else "float"]
    kind: Kind = "slider" if span is not None and span <= limit else "number"
    common["help"] = _help(field, low, high)
    return Knob(kind=kind, low=low, high=high, step=_step(field), integer=integer, **common)


def knobs(scenario: Scenario) -> list[Knob]:
    """Every knob of :data:`SECTIONS` that ``scenario`` has, in the panel's order."""
    doc = scenario.model_dump(mode="python")
    grades = [g.name for g in scenario.grades]
    out: list[Knob] = []
    for section, patterns in SECTIONS:
        for pattern, label in patterns:
            for path, names, value in expand(pattern, doc):
                made = knob(path, section, label.format(*names), value, grades)
                if made is not None:
                    out.append(made)
    return out


# --- writing the values back ----------------------------------------------------------------------


def edit(scenario: Scenario, values: Mapping[Path, Any]) -> Scenario:
    """``scenario`` with ``values`` set at their paths (:func:`carnet.set`), validated.

    A key that a mapping lacks (``responses.deterrence.AAA``) is added.

    Raises:
        ScenarioError: listing every problem with its path, as ``carnet validate`` does, e.g. a
            grade band above the one before it (``grades.2.min_points``).
    """
    keys = [format_path(p) if isinstance(p, tuple) else str(p) for p in values]
    off: dict[str, Any] = {a: {} for a in ABSENT if paths.get(scenario, a) is None and
           any(k.startswith(a + ".") for k in keys)}  # fmt: skip
    if off:  # turned on first, at its defaults; then the values, at the paths they were given
        scenario = paths.set(scenario, off)
    return paths.set(scenario, values)


def changed(knobs_: Sequence[Knob], values: Mapping[Path, Any]) -> dict[Path, Any]:
    """The values that differ from the scenario's, by path."""
    return {
        k.path: values[k.path] for k in knobs_ if k.path in values and values[k.path] != k.value
    }
