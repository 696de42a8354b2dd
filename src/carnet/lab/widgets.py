"""Streamlit widgets for the knobs of :mod:`carnet.lab.knobs`: one function draws them all.

The kind of each widget, its range, step, starting value and help text come from the knob,
hence from the scenario's schema; nothing here knows what a behaviour or a grade is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

import streamlit as st

from carnet.lab.knobs import Knob, Path

#: Sections of the panel open when the lab starts.
OPEN_SECTIONS = ("Points per behaviour",)


def text(value: str) -> str:
    """Free text (a description, an error message) safe to show as Streamlit Markdown."""
    return "".join(f"\\{c}" if c in "\\`*_{}[]<>()#+-.!|~$:" else c for c in value)


def label(value: str) -> str:
    """A knob's label as a widget label: only the marks that names cannot hold are escaped.

    The label is Markdown, and its text also names the widget for assistive technology (and
    for tests), where an escaped underscore would show its backslash.
    """
    return "".join(f"\\{c}" if c in "\\`*[]<>|~$" else c for c in value)


def _option(value: Any) -> str:
    return "none" if value is None else str(value)


def widget(knob: Knob, key: str) -> Any:
    """Draw one knob; return its value."""
    shown = label(knob.label)
    if knob.kind == "toggle":
        return st.toggle(shown, value=bool(knob.value), key=key, help=knob.help)
    if knob.kind == "select":
        options = list(knob.options)
        index = options.index(knob.value) if knob.value in options else 0
        return st.selectbox(
            shown, options, index=index, key=key, help=knob.help, format_func=_option
        )
    cast: Callable[[Any], Any] = int if knob.integer else float
    low = None if knob.low is None else cast(knob.low)
    high = None if knob.high is None else cast(knob.high)
    step = cast(knob.step or 1)
    common: dict[str, Any] = {
        "min_value": low, "max_value": high, "value": cast(knob.value), "step": step,
        "key": key, "help": knob.help,
    }  # fmt: skip
    if knob.kind == "slider" and low is not None and high is not None:
        return st.slider(shown, format=None if knob.integer else "%.3f", **common)
    return st.number_input(shown, **common)


def draw(knobs: Sequence[Knob], prefix: str) -> tuple[dict[Path, Any], dict[str, Any]]:
    """Draw the knobs, one expander per section.

    Returns their values by path, and the empty slot under each widget (by the knob's key)
    where a problem with its value can be shown.

    ``prefix`` starts every widget's key: a new scenario gets a new prefix, hence new widgets
    that start from its values.
    """
    values: dict[Path, Any] = {}
    slots: dict[str, Any] = {}
    for section, group in groupby(knobs, key=lambda k: k.section):
        with st.expander(section, expanded=section in OPEN_SECTIONS):
            for knob in group:
                values[knob.path] = widget(knob, f"{prefix}{knob.key}")
                slots[knob.key] = st.empty()
    return values, slots
