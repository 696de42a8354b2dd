"""`carnet validate` and `carnet presets`, through the installed script and through CliRunner.

Every class of invalid input gets its own case: a file derived from the minimal preset with one
thing broken. The command must exit 2, name the exact path of the problem, and never show a
traceback.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import Outcome, run_script
from typer.testing import CliRunner

from carnet.cli.app import app
from carnet.scenario.loading import load_scenario, preset_names, preset_text


def _via_runner(*args: str) -> Outcome:
    result = CliRunner().invoke(app, list(args))
    # An exception that escaped the command (anything but SystemExit) is a failure of its own.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return Outcome(result.exit_code, result.stdout, result.stderr)


def _via_script(*args: str) -> Outcome:
    return run_script(*args, timeout=120)


Invoke = Callable[..., Outcome]


@pytest.fixture(params=["runner", "script"])
def invoke(request: pytest.FixtureRequest) -> Invoke:
    return _via_runner if request.param == "runner" else _via_script


def minimal() -> dict[str, Any]:
    doc = yaml.safe_load(preset_text("minimal"))
    assert isinstance(doc, dict)
    return doc


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def mutate(change: Callable[[dict[str, Any]], None]) -> str:
    doc = copy.deepcopy(minimal())
    change(doc)
    return _dump(doc)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """``_set("behaviours.2.rate_per_year", -1)``: set one value in the document."""

    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return change


def _both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        for one in changes:
            one(doc)

    return change


# (id, file text, expected fragments: every one must appear in the output)
INVALID: list[tuple[str, str | bytes, list[str]]] = [
    (
        "wrong-type",
        mutate(_set("population.size", "many")),
        ["population.size: must be an integer, got 'many' (str)"],
    ),
    (
        "wrong-type-bool-for-int",
        mutate(_set("run.days", True)),
        ["run.days: must be an integer, got True (bool)"],
    ),
    (
        "wrong-type-list-for-mapping",
        mutate(_set("rules", [1, 2])),
        ["rules: must be a mapping"],
    ),
    (
        "out-of-range",
        mutate(_set("behaviours.2.rate_per_year", -1)),
        ["behaviours.2.rate_per_year: must be >= 0"],
    ),
    (
        "out-of-range-probability",
        mutate(_set("behaviours.0.observed_by.0.detect", 1.5)),
        ["behaviours.0.observed_by.0.detect: must be <= 1"],
    ),
    (
        "out-of-range-population",
        mutate(_set("population.size", 0)),
        ["population.size: must be >= 1, got 0"],
    ),
    (
        "bad-name",
        mutate(_set("behaviours.1.name", "Late Payment")),
        ["behaviours.1.name: must be a lowercase name"],
    ),
    (
        "bad-choice",
        mutate(_set("behaviours.0.kind", "bad")),
        ["behaviours.0.kind: must be one of"],
    ),
    (
        "block-size-not-power-of-two",
        mutate(_set("run.block_size", 1000)),
        ["run.block_size: must be a power of two, got 1000"],
    ),
    (
        "unknown-key",
        mutate(_set("behaviours.0.colour", "red")),
        ["behaviours.0.colour: unknown key"],
    ),
    (
        "unknown-top-level-key",
        mutate(_set("extras", {"a": 1})),
        ["extras: unknown key"],
    ),
    (
        "missing-section",
        mutate(_delete("rules")),
        ["rules: required section missing"],
    ),
    (
        "missing-field",
        mutate(_delete("population.size")),
        ["population.size: required, but missing"],
    ),
    (
        "malformed-yaml",
        "name: minimal\nbehaviours: [unclosed\n",
        ["malformed YAML at line"],
    ),
    (
        "malformed-yaml-tab",
        "name: minimal\npopulation:\n\tsize: 3\n",
        ["malformed YAML at line 3, column 1"],
    ),
    (
        "duplicate-key",
        preset_text("minimal") + "name: again\n",
        ["duplicate key 'name'"],
    ),
    (
        "impossible-date",
        "name: 2026-13-45\n",
        ["malformed YAML"],
    ),
    (
        "nested-too-deeply",
        "name: " + "[" * 3000 + "]" * 3000 + "\n",
        ["malformed YAML"],
    ),
    (
        "python-tag-refused",
        "name: !!python/object/apply:os.system ['true']\n",
        ["malformed YAML at line 1"],
    ),
    ("empty-file", "", ["the file is empty"]),
    ("blank-file", "\n   \n", ["the file is empty"]),
    ("not-utf8", b"name: caf\xe9\n", ["not UTF-8 text"]),
    (
        "nan",
        mutate(_set("behaviours.1.rate_per_year", float("nan"))),
        ["behaviours.1.rate_per_year: must be a finite number"],
    ),
    (
        "infinity",
        mutate(_set("population.groups.0.exposure", {"mean": 0.5, "concentration": float("inf")})),
        ["population.groups.0.exposure.concentration: must be a finite number, got inf"],
    ),
    (
        "not-a-mapping-list",
        _dump([1, 2, 3]),
        ["a scenario must be a mapping of sections, got list"],
    ),
    ("not-a-mapping-scalar", "just words\n", ["a scenario must be a mapping of sections, got str"]),
    (
        "unknown-source",
        mutate(_set("behaviours.3.observed_by.0.source", "satellite")),
        ["behaviours.3.observed_by.0.source: unknown source 'satellite'"],
    ),
    (
        "unknown-group",
        mutate(_set("behaviours.0.by_group", {"nobody": 2.0})),
        ["behaviours.0.by_group.nobody: unknown group 'nobody'"],
    ),
    (
        "unknown-grade-in-deterrence",
        mutate(_set("responses.deterrence", {"Z": 0.5})),
        ["responses.deterrence.Z: unknown grade 'Z'"],
    ),
    (
        "rule-for-unknown-behaviour",
        mutate(_set("rules.points.jaywalking", -3)),
        ["rules.points.jaywalking: unknown behaviour 'jaywalking'"],
    ),
    (
        "shares-not-summing-to-1",
        mutate(_set("population.groups.0.share", 0.9)),
        ["population.groups: shares must add up to 1, got 0.9"],
    ),
    (
        "missing-rule",
        mutate(_delete("rules.points.bribery")),
        ["rules.points.bribery: no rule for behaviour 'bribery'"],
    ),
    (
        "duplicate-behaviour",
        mutate(_set("behaviours.1.name", "red_light")),
        ["behaviours.1.name: duplicate name 'red_light'"],
    ),
    (
        "grades-out-of-order",
        mutate(_set("grades.2.min_points", 1100)),
        ["grades.2.min_points: grades go from best to worst"],
    ),
    (
        "start-outside-floor-and-ceiling",
        mutate(_set("population.start_points", 5000)),
        ["population.start_points: must lie within rules floor 0 and ceiling 1200"],
    ),
    (
        "every-problem-listed",
        mutate(
            _both(
                _set("behaviours.2.rate_per_year", -1),
                _set("population.size", "many"),
                _set("behaviours.0.colour", "red"),
            )
        ),
        [
            "3 problem(s)",
            "behaviours.2.rate_per_year: must be >= 0",
            "population.size: must be an integer",
            "behaviours.0.colour: unknown key",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_invalid_file_exits_2_naming_the_path(
    invoke: Invoke, tmp_path: Path, text: str | bytes, expected: list[str]
) -> None:
    file = tmp_path / "scenario.yaml"
    if isinstance(text, bytes):
        file.write_bytes(text)
    else:
        file.write_text(text, encoding="utf-8")
    out = invoke("validate", str(file))
    assert out.code == 2, out
    assert "Traceback" not in out.text
    assert str(file) in out.stderr
    for fragment in expected:
        assert fragment in out.stderr, f"{fragment!r} not in:\n{out.stderr}"
    assert "valid (" not in out.stdout


def test_valid_file_exits_0(invoke: Invoke, tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text(_dump(minimal()), encoding="utf-8")
    out = invoke("validate", str(file))
    assert out.code == 0, out
    assert f"{file}: valid (scenario minimal, 1,000,000 citizens, 365 days)" in out.stdout
    assert out.stderr == ""


def test_preset_text_file_validates_as_is(invoke: Invoke, tmp_path: Path) -> None:
    file = tmp_path / "copy.yaml"
    file.write_text(preset_text("minimal"), encoding="utf-8")
    assert invoke("validate", str(file)).code == 0


def test_missing_file_exits_2_with_a_message(invoke: Invoke, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    out = invoke("validate", str(missing))
    assert out.code == 2
    assert f"{missing}: 1 problem(s)" in out.stderr
    assert "no such file" in out.stderr
    assert "Traceback" not in out.text


def test_directory_exits_2(invoke: Invoke, tmp_path: Path) -> None:
    out = invoke("validate", str(tmp_path))
    assert out.code == 2
    assert "Traceback" not in out.text


def test_validate_needs_a_file(invoke: Invoke) -> None:
    out = invoke("validate")
    assert out.code == 2
    assert "Traceback" not in out.text


def test_presets_lists_every_preset(invoke: Invoke) -> None:
    out = invoke("presets")
    assert out.code == 0, out
    names = preset_names()
    assert "minimal" in names
    for name in names:
        assert name in out.stdout
    assert "benchmark model" in out.stdout  # minimal's description


@pytest.mark.parametrize("name", preset_names())
def test_presets_name_prints_yaml_that_loads(invoke: Invoke, tmp_path: Path, name: str) -> None:
    out = invoke("presets", name)
    assert out.code == 0, out
    assert out.stdout == preset_text(name)
    file = tmp_path / f"{name}.yaml"
    file.write_text(out.stdout, encoding="utf-8")
    assert load_scenario(file).name == load_scenario(name).name
    assert invoke("validate", str(file)).code == 0


def test_presets_unknown_name_exits_2(invoke: Invoke) -> None:
    out = invoke("presets", "../pyproject")
    assert out.code == 2
    assert "unknown preset" in out.stderr
    assert "minimal" in out.stderr


def test_version(invoke: Invoke) -> None:
    out = invoke("--version")
    assert out.code == 0
    assert out.stdout.startswith("carnet ")


def test_unexpected_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("something inside broke\nsecond line")

    monkeypatch.setattr("carnet.scenario.loading.load_scenario", broken)
    monkeypatch.delenv("CARNET_DEBUG", raising=False)
    out = _via_runner("validate", str(tmp_path / "x.yaml"))
    assert out.code == 1
    assert "Traceback" not in out.text
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "RuntimeError" in lines[0] and "something inside broke" in lines[0]


def test_python_dash_m(tmp_path: Path) -> None:
    file = tmp_path / "mine.yaml"
    file.write_text(_dump(minimal()), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "carnet", "validate", str(file)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "valid (scenario minimal" in done.stdout


@pytest.mark.parametrize("command", ["presets", "validate", "run", "dossier"])
def test_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert f"Usage: carnet {command}" in result.stdout
