"""Habits no other test checks: one version, a changelog, guides that name real code.

The version lives in ``src/carnet/_version.py`` only; pyproject reads it from there, and
CITATION.cff repeats it for people who cite carnet, so it is checked here. CHANGELOG.md must have
a section for the current version, with at most an "Unreleased" section above it. The guides
(CONTRIBUTING.md, docs/architecture.md) name modules as ``carnet.x.y`` and files as
``src/carnet/...``: each must exist, so that a move or a rename fails here, not in a reader's hands.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from pathlib import Path

import pytest
from helpers import missing_extra

import carnet

ROOT = Path(__file__).resolve().parents[1]
GUIDES = [ROOT / "CONTRIBUTING.md", ROOT / "docs" / "architecture.md"]
#: A dotted name under carnet: ``carnet.sim.day``, ``carnet.runs.directory.RunDirectory``.
DOTTED = re.compile(r"(?<![\w./-])carnet(?:\.[A-Za-z_]\w*)+")
#: A path to a file or folder of the package: ``src/carnet/sim/day.py``.
SOURCE_PATH = re.compile(r"(?<![\w/])src/carnet(?:/[\w.-]+)*/?")
#: A changelog section: ``## [0.2.0] - 2026-11-29`` or ``## [Unreleased]``.
SECTION = re.compile(r"^## \[([^\]]+)\]", re.MULTILINE)
VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def citation_version() -> str:
    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    found = re.findall(r"""^version:\s*["']?([^"'\s]+)["']?\s*$""", text, re.MULTILINE)
    assert len(found) == 1, "CITATION.cff needs exactly one top-level version: line"
    return found[0]


def test_citation_has_the_package_version() -> None:
    assert citation_version() == carnet.__version__, (
        f"CITATION.cff says {citation_version()}, src/carnet/_version.py {carnet.__version__}"
    )


def test_installed_metadata_has_the_package_version() -> None:
    installed = importlib.metadata.version("carnet")
    assert installed == carnet.__version__, (
        f"the installed metadata says {installed}, src/carnet/_version.py {carnet.__version__}: "
        "reinstall with  .venv/bin/pip install -e . --no-deps"
    )


def test_pyproject_reads_the_version_from_one_place() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, re.MULTILINE), "[project] repeats the version"
    assert re.search(r'^dynamic\s*=\s*\[[^\]]*"version"', project, re.MULTILINE)
    assert 'attr = "carnet._version.__version__"' in text


def changelog_sections() -> list[str]:
    return SECTION.findall((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))


def test_changelog_has_a_section_for_the_version() -> None:
    sections = changelog_sections()
    released = [s for s in sections if s != "Unreleased"]
    assert carnet.__version__ in released, (
        f"CHANGELOG.md has no section ## [{carnet.__version__}]: a new version needs one"
    )
    above = sections[: sections.index(carnet.__version__)]
    assert above in ([], ["Unreleased"]), (
        f"CHANGELOG.md: only an Unreleased section may come above {carnet.__version__}, "
        f"found {above}"
    )
    assert all(VERSION.match(s) for s in released), f"not a version: {released}"
    numbers = [tuple(int(n) for n in s.split(".")) for s in released]
    assert numbers == sorted(numbers, reverse=True), "versions are listed newest first"
    assert sections.count("Unreleased") <= 1


def resolves(name: str) -> bool:
    """Whether ``name`` is a module of carnet, or an attribute of one (``carnet.x.y.Name``)."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            obj: object = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if not f"{module}.".startswith(f"{missing}."):  # something the module imports
                if missing_extra(exc):  # an optional extra not installed here: the module exists
                    return True
                raise
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_module_a_guide_names_exists(guide: Path) -> None:
    text = guide.read_text(encoding="utf-8")
    names = sorted(set(DOTTED.findall(text)))
    assert names, f"{guide.name} names no module: is the pattern still right?"
    missing = [name for name in names if not resolves(name)]
    assert not missing, f"{guide.name} names what does not import: {missing}"


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_source_path_a_guide_names_exists(guide: Path) -> None:
    text = guide.read_text(encoding="utf-8")
    missing = sorted({p for p in SOURCE_PATH.findall(text) if not (ROOT / p).exists()})
    assert not missing, f"{guide.name} names files that do not exist: {missing}"


def test_the_check_catches_a_wrong_name() -> None:
    assert resolves("carnet.sim.day") and resolves("carnet.runs.directory.RunDirectory")
    assert resolves("carnet.load_scenario")  # a lazy public name
    assert not resolves("carnet.sim.nowhere") and not resolves("carnet.sim.day.no_such_step")
    assert DOTTED.findall("see carnet.sim.day, then carnet.runs.") == [
        "carnet.sim.day",
        "carnet.runs",
    ]
