"""The syntax of a path to a scenario value: parsed and printed here, and nowhere else.

:mod:`carnet.scenario.paths` is the public face (it documents the syntax and gets and sets
values by path); this module holds only the grammar, below everything that reports a path, so
that the schema's cross-checks, the loader's errors and pydantic's errors print paths with the
very code that :func:`carnet.set` reads them with. A path is a tuple of parts: a ``str`` for a
field, a mapping's key or a list item's name, an ``int`` for a list item's position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from carnet.errors import ScenarioError

#: A path into a scenario: ``("population", "groups", 0, "share")``.
Path = tuple[str | int, ...]

#: A key written as it is: ASCII letters, digits and ``_``, not starting with a digit.
PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_POSITION = re.compile(r"0|[1-9][0-9]*")
_DIGITS = re.compile(r"[0-9]+")
#: Longest key shown whole in an error message; what a scenario says can be any size.
SHOWN_KEY_CHARS = 60


def format_key(key: str | int, *, limit: int | None = None) -> str:
    r"""One part of a path as it is written: ``points``, ``0``, or quoted: ``"a.b"``, ``"0"``.

    A key that is not :data:`PLAIN` (a name that is a number, holds a dot, a space, a non-ASCII
    character) is written as a JSON string, every character outside printable ASCII escaped
    (``"n\u0430me"``), so the text is printable and reads back as the same key. With ``limit``,
    a longer key is cut and ends in ``..."``: for messages, no longer parseable.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    if not isinstance(key, str):  # not a path part; errors may still name one
        return format_key(repr(key), limit=limit)
    if limit is not None and len(key) > limit:
        return json.dumps(key[:limit]).replace("\x7f", "\\u007f")[:-1] + '..."'
    if PLAIN.fullmatch(key):
        return key
    return json.dumps(key).replace("\x7f", "\\u007f")


def format_path(path: Sequence[str | int], *, limit: int | None = None) -> str:
    """``("population", "groups", 0, "share")`` → ``population.groups.0.share``.

    The inverse of :func:`parse_path` (``parse_path(format_path(p)) == p``); ``()`` is ``""``.
    ``limit`` cuts long keys for messages (see :func:`format_key`).
    """
    return ".".join(format_key(part, limit=limit) for part in path)


def parse_path(text: str, *, source: str = "path") -> Path:
    """``population.groups.0.share`` → ``("population", "groups", 0, "share")``.

    Raises:
        ScenarioError: naming ``text`` and the character where it stops being a path.
    """
    path, end = scan_path(text, 0, source=source)
    if end != len(text):
        raise _bad(text, end, f"unexpected {text[end]!r}", source)
    return path


def scan_path(text: str, start: int, *, source: str = "path") -> tuple[Path, int]:
    """The path that starts at ``text[start]``, and where it ends (at ``=`` or the end).

    Raises:
        ScenarioError: naming ``text`` and the character where it stops being a path.
    """
    if start == len(text) == 0:
        return (), 0
    parts: list[str | int] = []
    i = start
    while True:
        part, i = _scan_part(text, i, source)
        parts.append(part)
        if i == len(text) or text[i] == "=":
            return tuple(parts), i
        if text[i] == "[":
            raise _bad(text, i, "positions are written with dots: groups.0, not groups[0]", source)
        if text[i] != ".":
            message = (
                f"unexpected {text[i]!r} after a key; keys are joined by dots, and a key "
                'holding other characters than letters, digits and _ is quoted: "a-b"'
            )
            raise _bad(text, i, message, source)
        i += 1


def _scan_part(text: str, i: int, source: str) -> tuple[str | int, int]:
    """The key or position at ``text[i]``, and the index after it."""
    if i < len(text) and text[i] == '"':
        try:
            key, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            message = f"a quoted key that does not end well ({exc.msg})"
            raise _bad(text, exc.pos, message, source) from None
        return str(key), end
    if (match := PLAIN.match(text, i)) is not None:
        return match.group(), match.end()
    if (match := _DIGITS.match(text, i)) is not None:
        digits, end = match.group(), match.end()
        if not _POSITION.fullmatch(digits):
            message = f"a position has no leading zero: {int(digits)}, not {digits}"
            raise _bad(text, i, message, source)
        if end < len(text) and PLAIN.match(text[end]):
            word = re.compile(r"[A-Za-z0-9_]*").match(text, i)
            token = word.group() if word is not None else digits
            message = f'a name that starts with a digit is quoted: "{token}"'
            raise _bad(text, i, message, source)
        return int(digits), end
    if i < len(text) and text[i] == "[":
        message = "positions are written with dots: groups.0, not groups[0]"
    elif i == len(text) or text[i] in ".=":
        message = "a key is missing (an empty path, two dots, or a dot at an end?)"
    else:
        message = f'unexpected {text[i]!r}; a key is a name (letters, digits, _) or quoted: "a b"'
    raise _bad(text, i, message, source)


_DECODER = json.JSONDecoder()


def _bad(text: str, at: int, message: str, source: str) -> ScenarioError:
    return ScenarioError(source, [(text, f"not a path: {message} (character {at + 1})")])
