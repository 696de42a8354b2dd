"""Hostile scenarios: every one is refused quickly, with a clear message, exit 2 and no traceback.

Each class of hostile input (oversized files, alias bombs, deep nesting, gigantic numbers, NaN and
infinities, unicode tricks, odd keys and tags, binary junk) goes through the loader with both YAML
parsers (libyaml's and PyYAML's own) and through ``carnet validate`` (CliRunner; a few also
through the installed console script). Every test runs in an empty working directory and checks
that nothing was written there.
"""

from __future__ import annotations

import copy
import os
import random
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import Outcome, run_script
from typer.testing import CliRunner

import carnet.scenario.loading as loading
from carnet.cli.app import app
from carnet.errors import ScenarioError
from carnet.scenario.loading import (
    MAX_DEPTH,
    MAX_SCENARIO_BYTES,
    MAX_VALUES,
    load_scenario,
    preset_text,
)
from carnet.scenario.paths import parse_path

#: Every hostile input must be refused within this many seconds (they take well under one).
TIME_BOUND = 5.0

LOADERS = {"python": loading._PyLoader}
if hasattr(loading, "_CLoader"):
    LOADERS["libyaml"] = loading._CLoader


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty working directory; fail if anything appears in it or next to the input."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    before = _listing(tmp_path)
    yield work
    assert _listing(work) == set(), "a file was written in the working directory"
    created = _listing(tmp_path) - before - {"in", *(f"in/{n}" for n in _names(tmp_path / "in"))}
    assert created == set(), f"files were written: {sorted(created)}"


def _names(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir()] if folder.is_dir() else []


@pytest.fixture(params=sorted(LOADERS))
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both YAML parsers: libyaml's (the default where PyYAML has it) and the pure-Python one."""
    monkeypatch.setattr(loading, "_Loader", LOADERS[request.param])
    return str(request.param)


def write(tmp_path: Path, content: str | bytes, name: str = "scenario.yaml") -> Path:
    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    file = folder / name
    if isinstance(content, bytes):
        file.write_bytes(content)
    else:
        file.write_text(content, encoding="utf-8")
    return file


def line_of(text: str, fragment: str) -> int:
    """The line number (from 1) of the first line of ``text`` that holds ``fragment``."""
    return next(i + 1 for i, line in enumerate(text.splitlines()) if fragment in line)


def minimal() -> dict[str, Any]:
    doc = yaml.safe_load(preset_text("minimal"))
    assert isinstance(doc, dict)
    return doc


def printable(text: str) -> bool:
    """No control, format (bidi, zero-width) or other unprintable character but line breaks."""
    return all(c.isprintable() for c in text.replace("\n", ""))


def refused(src: Any, *fragments: str) -> ScenarioError:
    """Load ``src``; it must be refused within TIME_BOUND with every fragment in the message."""
    start = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(src)
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_BOUND, f"took {elapsed:.1f} s"
    text = info.value.render()
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert printable(text), ascii(text)
    assert len(text) < 20_000
    return info.value


def cli(*args: str) -> Outcome:
    start = time.perf_counter()
    result = CliRunner().invoke(app, list(args))
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_BOUND, f"took {elapsed:.1f} s"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return Outcome(result.exit_code, result.stdout, result.stderr)


def script(*args: str) -> Outcome:
    return run_script(*args, timeout=60)


def cli_refuses(file: Path | str, *fragments: str, via_script: bool = False) -> Outcome:
    """``carnet validate FILE`` exits 2, printable, no traceback, every fragment in stderr."""
    out = (script if via_script else cli)("validate", str(file))
    assert out.code == 2, out
    assert "Traceback" not in out.text
    assert "valid (" not in out.stdout
    for fragment in fragments:
        assert fragment in out.stderr, f"{fragment!r} not in:\n{out.stderr}"
    assert printable(out.stderr), ascii(out.stderr)
    return out


def check_file(tmp_path: Path, content: str | bytes, *fragments: str) -> ScenarioError:
    """A hostile file refused by the loader and by ``carnet validate``, with the same fragments."""
    file = write(tmp_path, content)
    error = refused(file, *fragments)
    cli_refuses(file, *fragments)
    return error


# --- files too large, and things that are not files ----------------------------------------------


def test_huge_sparse_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    file = write(tmp_path, b"")
    with file.open("r+b") as f:
        f.truncate(300 * 1024 * 1024)  # sparse: no disk used, and reading it would take a while
    fragments = ("the file is too large: 314,572,800 bytes", "scenarios over 1,024 kB are refused")
    refused(file, *fragments)
    cli_refuses(file, *fragments)
    cli_refuses(file, *fragments, via_script=True)


def test_file_just_over_the_limit_is_refused_and_at_the_limit_is_read(tmp_path: Path) -> None:
    padding = MAX_SCENARIO_BYTES - len(preset_text("minimal").encode()) - 1
    at_limit = preset_text("minimal") + "#" + " " * padding
    assert len(at_limit.encode()) == MAX_SCENARIO_BYTES
    start = time.perf_counter()
    assert load_scenario(write(tmp_path, at_limit)).name == "minimal"
    assert time.perf_counter() - start < TIME_BOUND
    check_file(tmp_path, at_limit + "\n", f"{MAX_SCENARIO_BYTES + 1:,} bytes")


def test_a_file_longer_than_its_size_says_is_read_only_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # /proc files report a size of 0 and hold more: the read itself must stop at the limit.
    maps = Path("/proc/self/maps")
    if not maps.is_file() or maps.stat().st_size != 0:
        pytest.skip("needs Linux /proc")
    monkeypatch.setattr(loading, "MAX_SCENARIO_BYTES", 16)
    refused(maps, "too large: 17 bytes or more")


def test_huge_text_is_refused_by_parse_yaml() -> None:
    with pytest.raises(ScenarioError, match="too large"):
        loading.parse_yaml("#" * (MAX_SCENARIO_BYTES + 1), "text")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_device_is_refused_without_reading_it(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    refused(device, "not a regular file")
    cli_refuses(device, "not a regular file")


def test_device_is_refused_by_the_console_script() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    cli_refuses("/dev/zero", "not a regular file", via_script=True)


def test_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    (tmp_path / "in").mkdir()
    fifo = tmp_path / "in" / "pipe.yaml"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    refused(fifo, "not a regular file")
    cli_refuses(fifo, "not a regular file")


def test_impossible_file_names_are_refused() -> None:
    refused("nul\x00byte.yaml", "not a possible file name")
    refused("x" * 5000, "cannot read: File name too long")


# --- YAML alias bombs ----------------------------------------------------------------------------


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused(loader: str, tmp_path: Path) -> None:
    check_file(
        tmp_path,
        billion_laughs(),
        f"the document expands to more than {MAX_VALUES:,} values (YAML aliases?)",
        "a5.",  # the path where the limit was crossed
        "line 6, column",
    )


def test_alias_bomb_inside_a_valid_scenario_is_refused(loader: str, tmp_path: Path) -> None:
    bomb = billion_laughs(levels=7, width=10).replace("\n", "\n  ")
    text = preset_text("minimal").replace("name: minimal", "name: minimal\nx_bomb:\n  " + bomb)
    check_file(tmp_path, text, "expands to more than", "x_bomb.a")


def test_merge_key_bomb_is_refused(loader: str, tmp_path: Path) -> None:
    lines = ["m0: &m0 {" + ", ".join(f"k{j}: 1" for j in range(10)) + "}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}], k{i}x: 1}}" for i in range(1, 3000)]
    check_file(tmp_path, "\n".join(lines) + "\n", "expands to more than")


def test_recursive_alias_is_refused(loader: str, tmp_path: Path) -> None:
    check_file(
        tmp_path,
        "name: minimal\nloop: &x {again: [1, *x]}\n",
        "loop.again.1: malformed YAML at line 2, column",
        "alias *x refers to a collection that contains it",
    )


def test_shared_parts_in_a_mapping_are_counted_each_time() -> None:
    row = list(range(1000))
    doc = minimal()
    doc["population"]["groups"][0]["income"] = [row] * 1000  # a million values, shared
    refused(doc, f"holds more than {MAX_VALUES} values", "population.groups.0.income.")


def test_mapping_that_contains_itself_is_refused() -> None:
    doc = minimal()
    doc["rules"]["points"]["red_light"] = doc["rules"]
    refused(doc, "rules.points.red_light: contains itself (a cycle)")


# --- deep nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "name: " + "[" * 100_000,
        "name: " + "[" * 100_000 + "]" * 100_000,
        "name: " + "{a: " * 100_000 + "1" + "}" * 100_000,
        "name:\n" + "".join("  " * i + "- \n" for i in range(1, 800)),
    ],
    ids=["open-brackets", "closed-brackets", "flow-mappings", "block-lists"],
)
def test_very_deep_yaml_is_refused_quickly(loader: str, tmp_path: Path, text: str) -> None:
    error = check_file(tmp_path, text, "malformed YAML at line")
    assert any("nest" in message for _, message in error), error.render()


def test_nesting_just_over_the_limit_names_the_path(loader: str, tmp_path: Path) -> None:
    deep = "name: " + "[" * (MAX_DEPTH + 3) + "]" * (MAX_DEPTH + 3) + "\n"
    check_file(
        tmp_path,
        deep,
        "name" + ".0" * MAX_DEPTH + ": malformed YAML at line 1, column",
        f"nested more than {MAX_DEPTH} levels deep",
    )


def test_deep_mapping_is_refused_with_its_path() -> None:
    doc = minimal()
    node: dict[str, Any] = {}
    doc["responses"]["deterrence"] = node
    for _ in range(100_000):  # deeper than Python's recursion limit
        node["x"] = {}
        node = node["x"]
    error = refused(doc, f"nested more than {MAX_DEPTH} levels deep")
    assert error.problems[0][0].startswith("responses.deterrence.x.x.x")


# --- numbers -------------------------------------------------------------------------------------


def test_integer_with_100000_digits_is_refused_with_its_line(loader: str, tmp_path: Path) -> None:
    text = preset_text("minimal").replace("size: 1000000", "size: " + "9" * 100_000)
    line = line_of(text, "size: 999")
    check_file(
        tmp_path,
        text,
        f"population.size: malformed YAML at line {line}, column 9",
        "a number written with 100,000 characters",
    )


@pytest.mark.parametrize(
    "literal", ["!!int " + "1" * 100_000, "0b" + "1" * 300_000, "-0x" + "f" * 100_000]
)
def test_other_gigantic_integers_are_refused(loader: str, tmp_path: Path, literal: str) -> None:
    text = preset_text("minimal").replace("seed: 1", "seed: " + literal)
    check_file(tmp_path, text, "run.seed: malformed YAML at line", "a number written with")


def test_gigantic_integer_in_a_mapping_is_shown_briefly() -> None:
    doc = minimal()
    doc["run"]["seed"] = 10**100_000
    error = refused(doc, "run.seed: must be <= ", "an integer of about 100,001 digits")
    assert len(error.render()) < 300


def test_gigantic_integer_for_a_float_is_refused() -> None:
    doc = minimal()
    doc["behaviours"][0]["rate_per_year"] = 10**400
    refused(doc, "behaviours.0.rate_per_year: must be a number within float range")


NON_FINITE = [
    ("behaviours.0.rate_per_year", "behaviours.0.rate_per_year"),
    ("behaviours.1.observed_by.0.detect", "behaviours.1.observed_by.0.detect"),
    ("population.groups.0.share", "population.groups.0.share"),
    ("population.groups.0.income.2", "population.groups.0.income.2"),
    ("responses.deterrence.C", "responses.deterrence.C"),
]


def _put(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, last = dotted.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(("where", "path"), NON_FINITE, ids=[w for w, _ in NON_FINITE])
@pytest.mark.parametrize(
    "literal", [".nan", ".NaN", ".inf", "-.inf", "+.Inf", "1e999", "-1.0e+999"]
)
def test_nan_and_infinities_are_refused_at_their_path(
    tmp_path: Path, where: str, path: str, literal: str
) -> None:
    doc = minimal()
    if where.startswith("population.groups.0.income"):
        doc["population"]["groups"][0]["income"] = [1.0] * 5
    marker = 12345.678
    text = yaml.safe_dump(_put(doc, where, marker), sort_keys=False)
    text = text.replace(str(marker), literal)
    check_file(tmp_path, text, f"{path}: must be a finite number")


def test_exponent_without_a_dot_is_a_number(tmp_path: Path) -> None:
    # YAML 1.1 reads 1e-3 as text; carnet reads it as the number everyone means.
    text = preset_text("minimal").replace("rate_per_year: 0.01,", "rate_per_year: 1e-2,")
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.behaviours[3].rate_per_year == pytest.approx(0.01)


# --- unicode tricks ------------------------------------------------------------------------------

BAD_NAMES = {
    "cyrillic-a": "l\u0430te",
    "full-width": "\uff52\uff45\uff44",
    "zero-width-joiner": "red\u200dlight",
    "zero-width-space": "red\u200blight",
    "right-to-left-override": "red\u202elight",
    "combining-accent": "rede\u0301",
    "trailing-newline": "red_light\n",
    "nul": "red\x00light",
    "escape-sequence": "red\x1b[31m",
    "leading-space": " red",
    "capital": "Red",
    "empty": "",
    "too-long": "r" * 41,
    "path-traversal": "../../etc/passwd",
    "slash": "a/b",
    "dot-dot": "..",
    "bom": "\ufeffred",
}


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_tricky_names_are_refused(loader: str, tmp_path: Path, name: str) -> None:
    doc = minimal()
    doc["name"] = name
    doc["behaviours"][1]["name"] = name
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    error = check_file(
        tmp_path,
        text,
        "name: must be a lowercase name",
        "behaviours.1.name: must be a lowercase name",
    )
    if not name.isascii():
        assert "contains non-ASCII character U+" in error.render()
    refused(doc, "name: must be a lowercase name")


@pytest.mark.parametrize(
    "key",
    ["x\u202eabc", "na\u200dme", "\x1b[2J", "a\nb", "\u0430", "c\u0301", "\x7f", "a\tb"],
    ids=["rlo", "zwj", "ansi-clear", "newline", "cyrillic", "combining", "del", "tab"],
)
def test_unknown_keys_are_escaped_in_messages(loader: str, tmp_path: Path, key: str) -> None:
    doc = minimal()
    doc["run"][key] = 1
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    error = check_file(tmp_path, text, 'run."', '": unknown key')
    path = error.problems[0][0]
    assert path.startswith('run."') and path.isascii() and path.isprintable()
    assert parse_path(path) == ("run", key)  # quoted, escaped, and read back as the same key
    for char in key:
        if not char.isprintable():
            assert char not in error.render().replace("\n", "") or char == "\n"
            assert char not in path


def test_bad_grade_name_in_a_mapping_key_is_escaped() -> None:
    doc = minimal()
    doc["responses"]["deterrence"]["C\u202e"] = 0.5
    error = refused(doc, 'responses.deterrence."C\\u202e": bad key: must be a grade name')
    assert "\u202e" not in error.render()


def test_huge_key_and_value_give_short_messages(loader: str, tmp_path: Path) -> None:
    key = "k" * 400_000
    text = preset_text("minimal") + f'? "{key}"\n: "{key}"\n'
    error = check_file(tmp_path, text, "...", "unknown key")
    assert len(error.render()) < 1000
    doc = minimal()
    doc["description"] = "d" * 1_000_000
    doc["name"] = "\u202e" * 1_000_000
    error = refused(doc, "description: string should have at most 5000 characters", "name: must")
    assert len(error.render()) < 2000


def test_source_name_is_escaped() -> None:
    error = refused("no\u202esuch\nfile.yaml", "no such file")
    assert error.source == "no\\u202esuch\\nfile.yaml"


def test_preset_names_never_become_paths() -> None:
    for name in ("../pyproject", "../../etc/passwd", "/etc/passwd", "minimal/../minimal", ""):
        with pytest.raises(ScenarioError, match="unknown preset"):
            preset_text(name)


# --- keys that are not text, tags, duplicates ----------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        ("? [1, 2]\n: x\n", ["malformed YAML at line", "column 3: found unhashable key"]),
        ("? {a: 1}\n: x\n", ["found unhashable key"]),
        ("1: x\n", ["top level: key 1 (int) is not text"]),
        ("null: x\n", ["top level: key None (NoneType) is not text", "null"]),
        ("~: x\n", ["key None (NoneType) is not text"]),
        ("true: x\n", ["top level: key True (bool) is not text", "quote it"]),
        ("2020-01-01: x\n", ["key datetime.date(2020, 1, 1) (date) is not text"]),
        ("1.5: x\n", ["key 1.5 (float) is not text"]),
        ("? !!binary aGk=\n: x\n", ["key b'hi' (bytes) is not text"]),
    ],
    ids=["list", "mapping", "int", "null", "tilde", "true", "date", "float", "binary"],
)
def test_keys_that_are_not_text_are_refused(
    loader: str, tmp_path: Path, extra: str, fragments: list[str]
) -> None:
    check_file(tmp_path, preset_text("minimal") + extra, *fragments)


def test_boolean_word_as_a_nested_key_names_the_mapping(loader: str, tmp_path: Path) -> None:
    text = preset_text("minimal").replace("    bribery: -50\n", "    bribery: -50\n    no: 3\n")
    check_file(tmp_path, text, "rules.points: key False (bool) is not text", "quote it")


@pytest.mark.parametrize(
    "value",
    [
        "!!python/object/apply:os.system ['touch pwned']",
        "!!python/object/new:os.system ['touch pwned']",
        "!!python/name:os.system",
        "!!python/tuple [1, 2]",
        "!custom thing",
        "!<tag:example.com,2000:x> 1",
    ],
)
def test_tags_are_refused_and_nothing_runs(loader: str, tmp_path: Path, value: str) -> None:
    check_file(
        tmp_path,
        f"name: {value}\n",
        "name: malformed YAML at line 1, column 7",
        "could not determine a constructor for the tag",
    )
    assert not Path("pwned").exists()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("!!int ''", "cannot read '' as int"),
        ("!!int abc", "cannot read 'abc' as int"),
        ("!!float x", "cannot read 'x' as float"),
        ("!!bool maybe", "cannot read 'maybe' as bool"),
        ("!!timestamp 2020-99-01", "cannot read '2020-99-01' as timestamp"),
        ("2026-13-45", "(month must be in 1..12)"),
        ("!!map [1]", "expected a mapping node, but found sequence"),
        ("!!omap [1]", "expected a mapping of length 1"),
        ("!!binary '\u00e9'", "base64"),
    ],
)
def test_values_yaml_cannot_build_name_their_path(
    loader: str, tmp_path: Path, value: str, fragment: str
) -> None:
    text = preset_text("minimal").replace("  seed: 1\n", f"  seed: {value}\n")
    line = line_of(text, "  seed: ")
    check_file(tmp_path, text, f"run.seed: malformed YAML at line {line}, column ", fragment)


def test_duplicate_nested_key_names_its_path(loader: str, tmp_path: Path) -> None:
    text = preset_text("minimal").replace("  seed: 1\n", "  seed: 1\n  seed: 2\n")
    line = line_of(text, "  seed: 2")
    check_file(tmp_path, text, f"run.seed: malformed YAML at line {line}, column 3: duplicate key")


def test_more_than_one_document_is_refused(loader: str, tmp_path: Path) -> None:
    check_file(tmp_path, preset_text("minimal") + "---\nname: two\n", "a single document")


# --- not text, or not YAML -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (random.Random(7).randbytes(4096), "not UTF-8 text (byte"),
        (b"name: caf\xe9\n", "not UTF-8 text (byte 9, line 1, column 10)"),
        (b"\xff\xfe" + "name: x\n".encode("utf-16-le"), "UTF-16 text"),
        (b"\xfe\xff" + "name: x\n".encode("utf-16-be"), "UTF-16 text"),
        (b"\x00\x00\x00\x00", "line 1, column 1: character U+0000 is not allowed"),
        (b"name: minimal\npopulation: \x1b[31m\n", "line 2, column 13: character U+001B"),
        (b"name: ok\n\x7fx: 1\n", "line 2, column 1: character U+007F"),
        (b"\xef\xbb\xbf\xef\xbb\xbf", "a scenario must be a mapping of sections"),
    ],
    ids=["random", "latin-1", "utf-16-le", "utf-16-be", "nul", "escape", "del", "two-boms"],
)
def test_binary_junk_is_refused(loader: str, tmp_path: Path, content: bytes, fragment: str) -> None:
    check_file(tmp_path, content, fragment)


def test_lone_surrogate_in_text_is_refused(loader: str) -> None:
    with pytest.raises(ScenarioError, match="not valid text at line 2, column 7"):
        loading.parse_yaml("name: x\nruns: \udc80\n", "text")


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    text = "\ufeff" + preset_text("minimal")
    assert load_scenario(write(tmp_path, text.encode("utf-8"))).name == "minimal"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("# only a comment\n", "got nothing (only comments?)"),
        ("--- \n...\n", "got nothing"),
        ("- a\n- b\n", "got list"),
        ("42\n", "got int"),
        ("name: minimal\n\tpopulation: 1\n", "(a tab: YAML indents with spaces)"),
    ],
)
def test_not_a_scenario_document(loader: str, tmp_path: Path, content: str, fragment: str) -> None:
    check_file(tmp_path, content, fragment)


# --- many values, many problems ------------------------------------------------------------------


def test_many_problems_are_counted_not_all_printed(tmp_path: Path) -> None:
    doc = minimal()
    doc["behaviours"][0]["by_group"] = {f"G{i}": 1.0 for i in range(20_000)}
    error = refused(doc, "20000 problem(s)", "... and 19900 more problem(s)")
    assert len(error.problems) == 20_000
    assert len(error.render().splitlines()) == 102
    text = yaml.safe_dump(doc, sort_keys=False)
    cli_refuses(write(tmp_path, text), "... and 19900 more problem(s)")


def test_wide_document_is_refused_within_the_time_bound(tmp_path: Path) -> None:
    wide = "behaviours: [" + "1, " * (MAX_VALUES - 100) + "]\n"
    check_file(tmp_path, wide, f"behaviours: must have at most 64 item(s), got {MAX_VALUES - 100}")
    wider = "behaviours: [" + "1, " * (MAX_VALUES + 10) + "]\n"
    check_file(tmp_path, wider, f"more than {MAX_VALUES:,} values")


# --- the console script, end to end --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (billion_laughs(), "expands to more than"),
        ("name: " + "[" * 100_000, "malformed YAML at line 1"),
        (preset_text("minimal") + "x\u202e\u200d: 1\n", '"x\\u202e\\u200d": unknown key'),
        (preset_text("minimal").replace("seed: 1", "seed: " + "7" * 100_000), "run.seed"),
        (b"\xff\xfe" + "name: x\n".encode("utf-16-le"), "UTF-16 text"),
    ],
    ids=["bomb", "deep", "bidi-key", "huge-number", "utf-16"],
)
def test_console_script_refuses_hostile_files(
    tmp_path: Path, content: str | bytes, fragment: str
) -> None:
    file = write(tmp_path, content)
    start = time.perf_counter()
    out = cli_refuses(file, fragment, via_script=True)
    assert time.perf_counter() - start < 60
    assert str(file) in out.stderr


def test_a_valid_copy_still_validates(tmp_path: Path) -> None:
    doc = copy.deepcopy(minimal())
    file = write(tmp_path, yaml.safe_dump(doc, sort_keys=False))
    out = cli("validate", str(file))
    assert out.code == 0, out
    assert "valid (scenario minimal" in out.stdout
