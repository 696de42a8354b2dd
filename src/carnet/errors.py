"""Errors that carnet reports to people: each one names what is wrong and where."""

from __future__ import annotations

import reprlib
import unicodedata
from typing import Any

from pydantic import ValidationError

#: Longest path and message kept in a problem; what a scenario says can be any size.
MAX_PATH_CHARS = 600
MAX_MESSAGE_CHARS = 4000
#: Most problems that :meth:`ScenarioError.render` prints; the rest are counted.
MAX_SHOWN = 100


def clean(text: str, limit: int) -> str:
    r"""``text`` safe to print: control, format and other unprintable characters escaped.

    Right-to-left overrides, zero-width characters, escape sequences and line breaks from a
    scenario would otherwise reach the terminal as they are; each becomes ``\u202e`` etc.
    Text longer than ``limit`` characters is cut, with ``...`` at the end.
    """
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if text.isprintable():
        return text
    out = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


class CarnetError(Exception):
    """Base of carnet's own errors; the CLI prints them without a traceback."""

    exit_code = 1


class ScenarioError(CarnetError):
    """A scenario that cannot be used, with one ``(path, message)`` per problem."""

    exit_code = 2

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        # Paths and messages quote what the scenario says: keep them printable and bounded.
        self.source = clean(source, MAX_PATH_CHARS)
        self.problems = [
            (clean(path, MAX_PATH_CHARS), clean(message, MAX_MESSAGE_CHARS))
            for path, message in problems
        ]
        super().__init__(self.render())

    def render(self) -> str:
        """The problems, one per line, each starting with the path it concerns.

        At most :data:`MAX_SHOWN` are printed; a last line counts the others.
        """
        lines = [f"{self.source}: {len(self.problems)} problem(s)"]
        shown = self.problems[:MAX_SHOWN]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in shown]
        if len(self.problems) > MAX_SHOWN:
            lines.append(f"  ... and {len(self.problems) - MAX_SHOWN} more problem(s)")
        return "\n".join(lines)

    def __iter__(self) -> Any:
        return iter(self.problems)


class RunError(CarnetError):
    """A run that cannot start or cannot write its outputs."""


class OutError(RunError):
    """An output folder that cannot be used: not empty, not a run, or being written."""

    exit_code = 2  # input that cannot be used


class InputError(CarnetError):
    """Input other than a scenario that cannot be used: a query, a path to write to."""

    exit_code = 2


class _Repr(reprlib.Repr):
    """A repr whose cost and length do not grow with the value (a 1 MB string, a huge integer)."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 2, 60, 60, 40
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 4

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:  # repr itself refuses integers over 4300 digits
            return f"<an integer of about {int(x.bit_length() * 0.30103) + 1:,} digits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        text = repr(x[: self.maxstring])
        return text if len(x) <= self.maxstring else text + "..."

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        # reprlib sorts the keys first: unbounded work for a large mapping, and not its order.
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = [
            f"{self.repr1(k, level - 1)}: {self.repr1(v, level - 1)}"
            for k, v in list(x.items())[: self.maxdict]
        ]
        more = ", ..." if len(x) > self.maxdict else ""
        return "{" + ", ".join(items) + more + "}"


_REPR = _Repr()


def show(value: Any) -> str:
    """A short, printable repr of a value from a scenario: at most about 60 characters."""
    try:
        text = _REPR.repr(value)
    except Exception:  # a value with a broken repr; nothing a scenario file can build
        text = f"<{type(value).__name__}>"
    return clean(text, 64)


def _unusual(text: Any) -> str:
    """``; contains U+0430 CYRILLIC SMALL LETTER A`` for text with a non-ASCII character."""
    if not isinstance(text, str) or text.isascii():
        return ""
    char = next(c for c in text if not c.isascii())
    name = unicodedata.name(char, "unnamed character")
    return f" (contains non-ASCII character U+{ord(char):04X} {name})"


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
    got = f", got {show(value)}"
    loc = tuple(err.get("loc") or ())
    if kind == "missing":
        return "required section missing" if len(loc) == 1 else "required, but missing"
    if kind == "extra_forbidden":
        return f"unknown key{_unusual(loc[-1] if loc else None)}"
    if kind == "float_type" and isinstance(value, int) and not isinstance(value, bool):
        return f"must be a number within float range, got {show(value)}"
    if kind in _TYPES:
        return f"must be {_TYPES[kind]}, got {show(value)} ({type(value).__name__})"
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
        if pattern.startswith("^[a-z][a-z0-9_-]"):
            what = "a lowercase name (a-z, 0-9, _, -; at most 40 characters)"
        elif pattern.startswith("^[a-z]"):
            what = "a lowercase name (a-z, 0-9, _; at most 40 characters)"
        else:
            what = "a grade name (starting with a capital letter)"
        return f"must be {what}{got}{_unusual(value)}"
    if kind in ("too_short", "too_long"):
        if kind == "too_short":
            limit = f"at least {ctx.get('min_length')}"
        else:
            limit = f"at most {ctx.get('max_length')}"
        return f"must have {limit} item(s), got {ctx.get('actual_length')}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return f"{err['msg'][0].lower()}{err['msg'][1:]}{got}"


def validation_problems(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """Pydantic's errors as ``(location, message)`` pairs, the location a tuple of parts.

    :func:`carnet.scenario.pathsyntax.format_path` prints the location, as every path of an
    error is printed. A bad mapping key (pydantic's ``[key]`` marker) is located at its mapping.
    """
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for e in exc.errors():
        loc = tuple(e["loc"])
        if loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key
            problems.append((loc[:-1], f"bad key: {_message(e)}"))
        else:
            problems.append((loc, _message(e)))
    return problems
