"""Cross-version baseline: three small seeded runs give the figures pinned in tests/baseline/.

A change of carnet that changes the draws must update them on purpose, with a line in
CHANGELOG.md: ``python tests/baseline/regenerate.py`` (its docstring says when and how).
"""

from __future__ import annotations

import pytest
from baseline.regenerate import RUNS, differences, figures, load, path


@pytest.mark.parametrize("name", list(RUNS))
def test_figures_are_the_pinned_ones(name: str) -> None:
    assert path(name).is_file(), f"no {path(name)}: python tests/baseline/regenerate.py {name}"
    moved = differences(load(name), figures(name))
    shown = "\n  ".join(moved[:40]) + (
        f"\n  ... and {len(moved) - 40} more" if len(moved) > 40 else ""
    )
    assert not moved, (
        f"{name}: {len(moved)} figure(s) differ from {path(name).name} (pinned, then now):\n  "
        f"{shown}\n"
        f"If the draws were meant to change: python tests/baseline/regenerate.py {name}, "
        "and a line in CHANGELOG.md saying so."
    )


def test_the_comparison_is_exact_for_integers_and_12_digits_for_floats() -> None:
    pinned = {"n": 10, "x": 0.1 + 0.2, "g": {"A": [1, 2.5]}}
    assert differences(pinned, {"n": 10, "x": 0.3, "g": {"A": [1, 2.5]}}) == []
    assert differences(pinned, {"n": 11, "x": 0.3 * (1 + 1e-11), "g": {"A": [1, 2.5], "B": 0}}) == [
        "g.B: not pinned, 0 now",
        "n: 10 pinned, 11 now",
        f"x: {0.1 + 0.2!r} pinned, {0.3 * (1 + 1e-11)!r} now",
    ]
    assert differences({"a": 1}, {}) == ["a: 1 pinned, gone now"]
