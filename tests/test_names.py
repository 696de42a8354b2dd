"""Every ``carnet.x.y`` that the docstrings, comments, README and docs name exists.

The package moved into layers; a docstring that names ``carnet.engine`` or a README that shows
``Result.save`` sends a reader to nothing. Each dotted name must import as a module, or be an
attribute (a class, a function, a constant, a method) reached from one.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from helpers import missing_extra

ROOT = Path(__file__).resolve().parents[1]  # the checkout (carnet may be installed elsewhere)
NAME = re.compile(r"(?<![\w./-])carnet(?:\.[A-Za-z_]\w*)+")
#: Names that are not Python: the project's files and its console script's options.
NOT_PYTHON = ("carnet.yaml",)


def sources() -> list[Path]:
    files = sorted((ROOT / "src" / "carnet").rglob("*.py"))
    files += [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += [p for p in (ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md") if p.is_file()]
    return files


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError as exc:
            if missing_extra(exc):  # a module that needs an extra not installed here: it exists
                return True
            continue
        for attr in parts[cut:]:
            fields = getattr(obj, "model_fields", None) or getattr(obj, "__dataclass_fields__", {})
            annotations = getattr(obj, "__annotations__", {})
            if not hasattr(obj, attr):
                return attr in fields or attr in annotations  # a model's or a record's field
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_dotted_name_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if path.name == "CHANGELOG.md":  # history names what was, under its headings
        text = text.split("\n## [0.2.0]")[0]
    named = sorted({m.group(0).rstrip(".") for m in NAME.finditer(text)})
    missing = [n for n in named if n not in NOT_PYTHON and not resolves(n)]
    assert not missing, f"{path.relative_to(ROOT)} names what does not exist: {missing}"
