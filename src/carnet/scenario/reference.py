"""The scenario reference: Markdown tables generated from the scenario's models.

The reference is written from the pydantic models themselves (each field's type, default, bounds and
help text), so it cannot drift from the code; ``tests/test_reference.py`` checks that the committed
``docs/scenario-reference.md`` is up to date. Regenerate it with::

    python -m carnet.scenario.reference > docs/scenario-reference.md
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from typing import Annotated, Any, Literal, Union

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, StringConstraints
from pydantic.fields import FieldInfo

from carnet.scenario.schema import Scenario, Section, cross_check

REGENERATE = "python -m carnet.scenario.reference > docs/scenario-reference.md"
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")

_BOUND_KINDS: tuple[tuple[type, str, str], ...] = (
    (Ge, "ge", "≥"),
    (Gt, "gt", ">"),
    (Le, "le", "≤"),
    (Lt, "lt", "<"),
    (MinLen, "min_length", "min length"),
    (MaxLen, "max_length", "max length"),
)


def _number(value: Any) -> str:
    """A bound or a default as YAML would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e5:
        return f"{value:.0e}".replace("e+0", "e").replace("e+", "e")
    return str(value)


def _constraints(metadata: list[Any]) -> list[str]:
    """Bounds found in a field's (or an inner type's) metadata, e.g. ``["≥ 0.0", "≤ 1.0"]``."""
    out: list[str] = []
    for item in metadata:
        for kind, attr, symbol in _BOUND_KINDS:
            if isinstance(item, kind):
                out.append(f"{symbol} {_number(getattr(item, attr))}")
        if isinstance(item, StringConstraints):
            if item.pattern is not None:
                out.append(f"pattern `{item.pattern}`")
            if item.min_length is not None:
                out.append(f"min length {item.min_length}")
            if item.max_length is not None:
                out.append(f"max length {item.max_length}")
        if isinstance(item, FieldInfo):
            out += _constraints(list(item.metadata))
    return out


def _type_name(annotation: Any) -> str:
    """A readable type: ``float``, ``list[Group]``, ``int | None``, ``'a' | 'b'``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _inner_bounds(annotation: Any) -> list[str]:
    """Bounds on the items of a list or the keys and values of a dict."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return [b for a in args for b in _inner_bounds(a)]
    labels: tuple[str, ...] = ()
    if origin is list:
        labels = ("items",)
    elif origin is dict:
        labels = ("keys", "values")
    out: list[str] = []
    for label, arg in zip(labels, args, strict=False):
        if typing.get_origin(arg) is Annotated:
            found = _constraints(list(arg.__metadata__))
            if found:
                out.append(f"{label}: {', '.join(found)}")
    return out


def _models(annotation: Any) -> list[type[BaseModel]]:
    """Scenario sections named anywhere inside an annotation, in order."""
    # Sections in modules of their own (carnet.scenario.attention) are BaseModels with Section's
    # configuration, since they cannot import the schema that imports them.
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def _default(field: FieldInfo) -> str:
    """The default of a field, in YAML terms; ``required`` if it has none."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, BaseModel):
        return "section defaults"
    if value is None:
        return "`null`"

    def plain(v: Any) -> Any:
        return v.model_dump(mode="json") if isinstance(v, BaseModel) else v

    if isinstance(value, list):
        value = [plain(v) for v in value]
    if isinstance(value, bool | int | float):
        return f"`{_number(value)}`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _see(annotation: Any) -> str:
    """A pointer to the sections a field holds, for fields without a description."""
    return ", ".join(f"see [{m.__name__}](#{m.__name__.lower()})" for m in _models(annotation))


def _qualname(func: Any) -> str:
    """``module.name`` of a function."""
    return f"{func.__module__}.{func.__name__}"


def _cell(text: str) -> str:
    """Text made safe for a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _summary(model: type[BaseModel]) -> str:
    """The first paragraph of a model's docstring, on one line, Sphinx roles made plain code."""
    doc = inspect.getdoc(model) or ""
    return _ROLE.sub(r"`\1`", " ".join(doc.split("\n\n")[0].split()))


def _strictness() -> str:
    """What every section refuses, read from the configuration shared by all sections."""
    config = Section.model_config
    refused = []
    if config.get("extra") == "forbid":
        refused.append("unknown keys")
    if config.get("strict"):
        refused.append(
            'values of the wrong type (no conversion: `"5"` is not `5`, `1` is not `true`)'
        )
    if config.get("allow_inf_nan") is False:
        refused.append("NaN and infinities")
    if not refused:
        return ""
    return "Every section refuses " + ", ".join(refused) + "."


def _validator_notes(model: type[BaseModel]) -> list[str]:
    """One Markdown bullet per documented field validator of a model (e.g. a short form)."""
    notes: list[str] = []
    for decorator in model.__pydantic_decorators__.field_validators.values():
        doc = inspect.getdoc(decorator.func)
        if doc:
            fields = ", ".join(f"`{f}`" for f in decorator.info.fields)
            text = _ROLE.sub(r"`\1`", " ".join(doc.split("\n\n")[0].split()).replace("``", "`"))
            notes.append(f"- {fields}: {text}")
    return notes


def sections() -> list[tuple[str, type[BaseModel]]]:
    """Every section of a scenario with the path where it appears, depth first from Scenario.

    Returns:
        ``(path, model)`` pairs; the path is empty for :class:`~carnet.scenario.schema.Scenario`
        itself,
        ``[]`` marks the items of a list and ``<name>`` the values of a mapping.
    """
    found: list[tuple[str, type[BaseModel]]] = []
    seen: set[type[BaseModel]] = set()

    def walk(path: str, model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        found.append((path, model))
        for name, field in model.model_fields.items():
            origin = typing.get_origin(field.annotation)
            suffix = "[]" if origin is list else ".<name>" if origin is dict else ""
            for sub in _models(field.annotation):
                walk(f"{path}.{name}{suffix}" if path else f"{name}{suffix}", sub)

    walk("", Scenario)
    return found


def section_table(model: type[BaseModel]) -> str:
    """One Markdown table: a row per field with its type, default, bounds and description."""
    rows = [
        "| field | type | default | bounds | description |",
        "|---|---|---|---|---|",
    ]
    for name, field in model.model_fields.items():
        bounds = _constraints(list(field.metadata)) + _inner_bounds(field.annotation)
        cells = [
            f"`{name}`",
            f"`{_cell(_type_name(field.annotation))}`",
            _cell(_default(field)),
            _cell(", ".join(bounds)),
            _cell(field.description or _see(field.annotation)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def scenario_reference() -> str:
    """The whole scenario reference as Markdown, one section per model.

    Returns:
        The text of ``docs/scenario-reference.md``, ending with a newline.
    """
    parts = [
        "# Scenario reference",
        "",
        "<!-- Generated from carnet/scenario.py; do not edit by hand. Regenerate with:",
        f"     {REGENERATE} -->",
        "",
        "A scenario is one YAML document with the sections below. " + _strictness(),
        "",
        f"Checks that relate one section to another (`{_qualname(cross_check)}`: a rule for every"
        " behaviour, groups and sources that exist, shares that add up to 1, grades from best to"
        " worst) run after these; every error names the path of the offending value.",
        "",
        "Paths use `[]` for the items of a list and `<name>` for the values of a mapping.",
    ]
    for path, model in sections():
        parts += [
            "",
            f"## {model.__name__}",
            "",
            f"Path: `{path}`" if path else "The document itself.",
            "",
            _summary(model),
            "",
            section_table(model),
        ]
        notes = _validator_notes(model)
        if notes:
            parts += ["", *notes]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(scenario_reference(), end="")
