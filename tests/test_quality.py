"""The code passes the linters, the formatter check and the strict type checker it configures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = [p for p in ("src", "tests", "bench") if (ROOT / p).is_dir()]


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.is_file():
        pytest.skip(f"{name} is not installed next to {sys.executable} (pip install '.[dev]')")
    return str(path)


def _run(*args: str) -> None:
    done = subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def test_ruff_check() -> None:
    _run(_tool("ruff"), "check", "--no-cache", *CHECKED)


def test_ruff_format() -> None:
    _run(_tool("ruff"), "format", "--check", "--no-cache", *CHECKED)


def test_mypy_strict() -> None:
    _run(_tool("mypy"))  # files and strictness come from pyproject.toml
