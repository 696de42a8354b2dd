"""Following a path through a scenario: the one walk that reading, changing and checking share.

:mod:`carnet.scenario.paths` (``get``, ``set``) and :mod:`carnet.scenario.timeline` (changes
during a run) both walk a scenario with :func:`walk`; this module imports neither, so that
loading can check a timeline without importing ``paths``, which imports loading.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

from pydantic import BaseModel

from carnet.errors import show
from carnet.scenario.pathsyntax import Path, format_key, format_path
from carnet.scenario.schema import Scenario

#: The fields that name a list's items, in the order they are looked for: most items have a
#: ``name``; a behaviour's ``observed_by`` items are named by their ``source``.
ITEM_NAMES = ("name", "source")


class NotThereError(Exception):
    """A path that leads nowhere in a scenario; the message says why and what is there."""


def _shown(part: str | int) -> str:
    return str(part) if isinstance(part, int) else show(part)


def _listed(keys: Iterable[str]) -> str:
    shown = [format_key(k, limit=40) for k in keys]
    return ", ".join(shown) if shown else "none"


def _item_name(item: Any) -> str | None:
    if isinstance(item, BaseModel):
        for field in ITEM_NAMES:
            name = getattr(item, field, None)
            if isinstance(name, str):
                return name
    return None


def _index(items: list[Any], part: str | int, where: str) -> int:
    """The position in ``items`` of the item that ``part`` names (by position or name)."""
    if isinstance(part, int) and 0 <= part < len(items):
        return part
    names = [_item_name(item) for item in items]
    if isinstance(part, str) and part in names:
        return names.index(part)
    if not items:
        raise NotThereError(f"{where} has no item {_shown(part)}; it is empty")
    positions = "position 0" if len(items) == 1 else f"positions 0 to {len(items) - 1}"
    known = [n for n in names if n is not None]
    if known:
        listed = f"its items: {_listed(known)} (or {positions})"
    else:
        listed = f"it holds {len(items)} value(s), by position only ({positions})"
    _raise(f"{where} has no item {_shown(part)}; {listed}")


def _raise(message: str) -> NoReturn:
    raise NotThereError(message)


#: What :func:`walk` returns for a key that a mapping lacks (only as the path's last part).
ABSENT: Any = object()


def walk(scenario: Scenario, path: Path, *, new_key: bool) -> tuple[Path, Any]:
    """Follow ``path`` through ``scenario``: the path with positions for names, and the value.

    With ``new_key``, the last part may be a key that a mapping (not a section) lacks: the value
    is then :data:`ABSENT`.

    Raises:
        NotThereError: naming the part that leads nowhere, and what is there instead.
    """
    node: Any = scenario
    done: list[str | int] = []
    for i, part in enumerate(path):
        where = format_path(done) or "the scenario"
        last = i == len(path) - 1
        if isinstance(node, BaseModel | dict):
            keys = type(node).model_fields if isinstance(node, BaseModel) else node
            if isinstance(part, int):
                what = "a section" if isinstance(node, BaseModel) else "a mapping"
                _raise(f"{where} has no item {part}: it is {what}; its keys: {_listed(keys)}")
            if part in keys:
                node = getattr(node, part) if isinstance(node, BaseModel) else node[part]
            elif last and new_key and isinstance(node, dict):
                node = ABSENT
            else:
                _raise(f"{where} has no {_shown(part)}; its keys: {_listed(keys)}")
            done.append(part)
        elif isinstance(node, list):
            index = _index(node, part, where)
            node = node[index]
            done.append(index)
        elif node is None:
            _raise(f"{where} is null (not set): nothing is inside it; set {where} whole")
        else:
            _raise(f"{where} is a value ({show(node)}), with nothing inside it")
    return tuple(done), node


def overlap(a: Path, b: Path) -> bool:
    """Whether one path is the other or lies inside it."""
    return a[: len(b)] == b[: len(a)]


def put(doc: Any, path: Path, value: Any) -> None:
    """Place ``value`` at ``path`` (positions, as :func:`walk` returns it) of a scenario's dump."""
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value
