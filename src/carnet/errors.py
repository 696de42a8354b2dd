"""Errors that carnet reports to people: each one names what is wrong and where."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class CarnetError(Exception):
    """Base of carnet's own errors; the CLI prints them without a traceback."""

    exit_code = 1


class ScenarioError(CarnetError):
    """A scenario that cannot be used, with one ``(path, message)`` per problem."""

    exit_code = 2

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        """All problems, one per line, each starting with the path it concerns."""
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in self]
        return "\n".join(lines)

    def __iter__(self) -> Any:
        return iter(self.problems)


class RunError(CarnetError):
    """A run that cannot start or cannot write its outputs."""


def format_path(loc: tuple[int | str, ...]) -> str:
    """``('behaviours', 2, 'rate_per_year')`` → ``behaviours[2].rate_per_year``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return text


_TYPES = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _message(err: Any) -> str:
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    got = f", got {_show(value)}"
    if kind == "missing":
        return "required section missing" if len(err["loc"]) == 1 else "required, but missing"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind in _TYPES:
        return f"must be {_TYPES[kind]}, got {_show(value)} ({type(value).__name__})"
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        op, key = bounds[kind]
        return f"must be {op} {ctx.get(key)}{got}"
    if kind == "finite_number":
        return f"must be a finite number{got}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}{got}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        if pattern.startswith("^[a-z]"):
            return f"must be a lowercase name (a-z, 0-9, _; at most 40 characters){got}"
        return f"must be a grade name (starting with a capital letter){got}"
    if kind in ("too_short", "too_long"):
        if kind == "too_short":
            limit = f"at least {ctx.get('min_length')}"
        else:
            limit = f"at most {ctx.get('max_length')}"
        return f"must have {limit} item(s), got {ctx.get('actual_length')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg'][0].lower()}{err['msg'][1:]}{got}"


def from_validation_error(source: str, exc: ValidationError) -> ScenarioError:
    """Turn pydantic's errors into carnet's ``path: message`` form."""
    problems = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key
            problems.append((format_path(loc[:-1]), f"bad key: {_message(e)}"))
        else:
            problems.append((format_path(loc), _message(e)))
    return ScenarioError(source, problems)
