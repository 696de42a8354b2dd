"""Property-based fuzzing of scenario loading and ``carnet validate`` (hypothesis).

Thousands of generated documents, valid and invalid, go through the loader and the command. Every
one must either validate or raise a :class:`~carnet.errors.ScenarioError` in which:

* every problem has a path (``population.size``, ``behaviours[2].name``, ``top level`` for a key
  of the document itself), except the problems of the file as a whole, which must be one of
  :data:`WHOLE_FILE`: a YAML problem with its line and column, an empty file, a document that is
  not a mapping, a file that is not UTF-8 (with its byte, line and column), a UTF-16 file, text
  with a lone surrogate (with its line and column), or a file too large;
* paths and messages are printable (no control, bidi or zero-width character) and short;

and nothing else escapes (no other exception, no traceback), each call returns within
:data:`TIME_BOUND` seconds, and nothing is written in the working directory. Runs are
derandomised, so every run (and CI) tries the same examples.
"""

from __future__ import annotations

import copy
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from typer.testing import CliRunner

import carnet.scenario.loading as loading
from carnet.cli.app import app
from carnet.errors import ScenarioError
from carnet.scenario.loading import load_scenario, parse_yaml, preset_text, validate
from carnet.scenario.schema import Scenario

TIME_BOUND = 5.0

#: The only problems without a path: they concern the file as a whole, or a place in its text.
WHOLE_FILE = re.compile(
    r"malformed YAML at line \d+, column \d+: "
    r"|the file is empty; "
    r"|the file is too large: "
    r"|a scenario must be a mapping of sections, got "
    r"|not UTF-8 text \(byte \d+, line \d+, column \d+\)$"
    r"|UTF-16 text "
    r"|not valid text at line \d+, column \d+ "
)

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=False,
)

MINIMAL: dict[str, Any] = yaml.safe_load(preset_text("minimal"))
NAMES = sorted(
    {
        "minimal",
        "everyone",
        "observer",
        *(b["name"] for b in MINIMAL["behaviours"]),
        *(g["name"] for g in MINIMAL["grades"]),
        "name",
        "share",
        "points",
        "detect",
        "source",
        "min_points",
        "by_group",
        "yearly_cap",
        "lifetime_days",
        "block_size",
        "panel",
    }
)

# --- values ---------------------------------------------------------------------------------------

HUGE_INTS = [2**15, -(2**15) - 1, 2**31, 2**63, -(2**63) - 1, 2**64, 10**40, 10**300, 10**4000]
TRICKY_TEXT = [
    "",
    " ",
    "red_light\n",
    "r\u0435d",  # Cyrillic е
    "\uff52\uff45\uff44",
    "red\u200dlight",
    "red\u202elight",
    "red\x00",
    "\x1b[31m",
    "a" * 41,
    "x" * 6000,
    "../../etc/passwd",
    "yes",
    "null",
    ".nan",
    "1e999",
    "&a",
    "*a",
    "!!python/object:os.system",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-40000, max_value=40000),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0.0, max_value=1.0),
    st.text(max_size=30),
    st.sampled_from(NAMES),
    st.sampled_from(TRICKY_TEXT),
    st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True),
)
keys = st.one_of(st.sampled_from(NAMES), st.text(max_size=12), st.sampled_from(TRICKY_TEXT))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(keys, inner, max_size=5),
    ),
    max_leaves=25,
)
odd_keys = st.one_of(
    st.integers(min_value=-5, max_value=5), st.booleans(), st.none(), st.floats(0, 2)
)

# --- documents ------------------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a document (to a mapping value or a list item)."""
    out: list[tuple[Any, ...]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        out.append((*prefix, key))
        out += _paths(child, (*prefix, key))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """The minimal preset with one to four things replaced, deleted or added."""
    doc = copy.deepcopy(MINIMAL)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(doc, path)
        actions = ["nudge", "nudge", "replace", "replace", "delete", "add", "odd-key"]
        action = draw(st.sampled_from(actions))
        old = parent[path[-1]]
        if action == "nudge":  # a plausible value of the same kind: often still valid
            parent[path[-1]] = draw(_like(old))
        elif action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict) and action == "add":
            parent[draw(keys)] = draw(values)
        elif isinstance(parent, dict):
            parent[draw(odd_keys)] = draw(values)
        else:
            parent.insert(draw(st.integers(0, len(parent))), draw(values))
    return doc


def _like(old: Any) -> st.SearchStrategy[Any]:
    if isinstance(old, bool):
        return st.booleans()
    if isinstance(old, int):
        return st.integers(min_value=0, max_value=max(2 * old, 10))
    if isinstance(old, float):
        return st.floats(min_value=0.0, max_value=max(1.0, old))
    if isinstance(old, str):
        return st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True) | st.sampled_from(NAMES)
    return values


def _dump(doc: Any, unicode: bool) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=unicode, width=100)


YAML_BITS = [*"{}[]:,-&*!|>'\"#%@`?~<=.\\ \t\n\r", "a", "b", "1", "0x", "e5", "- ", ": "]
YAML_BITS += [
    "&a ",
    "*a",
    "<<: ",
    "!!int ",
    "!!map ",
    "!!python/tuple ",
    "---\n",
    "...\n",
    "\ufeff",
]
YAML_BITS += [".nan", ".inf", "null", "yes", "2026-13-45", "\u202e", "\x00", "\x85", "\u2028"]

yaml_like_text = st.lists(st.sampled_from(YAML_BITS), max_size=60).map("".join)


@st.composite
def edited_preset(draw: st.DrawFn) -> str:
    """The minimal preset's text with lines dropped, repeated, swapped or spliced with junk."""
    lines = preset_text("minimal").splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "swap", "junk", "indent", "cut"]))
        if action == "drop":
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "junk":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(yaml_like_text | st.text(max_size=8)) + lines[i][at:]
        elif action == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "\t", "    "])) + lines[i]
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))] + "\n"
        if not lines:
            break
    return "".join(lines)


# --- the property ---------------------------------------------------------------------------------


@contextmanager
def empty_cwd() -> Iterator[Path]:
    """Run in a fresh empty directory; fail if anything is written there."""
    old = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="carnet-fuzz-") as work:
        os.chdir(work)
        try:
            yield Path(work)
            assert os.listdir(work) == [], f"files written: {os.listdir(work)}"
        finally:
            os.chdir(old)


def check_error(error: ScenarioError) -> None:
    """Every problem names a path, or is one of WHOLE_FILE; all of it printable and short."""
    assert error.problems, "a ScenarioError without problems"
    for path, message in error.problems:
        assert message, f"empty message at {path!r}"
        assert path or WHOLE_FILE.match(message), f"no path for {message!r}"
        assert path.isprintable() and message.isprintable(), ascii((path, message))
        assert len(path) <= 600 and len(message) <= 4000
    text = error.render()
    assert all(line.isprintable() for line in text.split("\n")), ascii(text)
    assert "Traceback" not in text


def check_load(src: Any) -> Scenario | ScenarioError:
    """Load ``src``: a Scenario or a well-formed ScenarioError, in time, writing nothing."""
    with empty_cwd():
        start = time.perf_counter()
        try:
            outcome: Scenario | ScenarioError = load_scenario(src)
        except ScenarioError as error:
            outcome = error
        elapsed = time.perf_counter() - start
    assert elapsed < TIME_BOUND, f"took {elapsed:.2f} s"
    if isinstance(outcome, ScenarioError):
        check_error(outcome)
        whole = any(not path for path, _ in outcome.problems)
        _note("refused: the file as a whole" if whole else "refused: problems at their paths")
    else:
        _note("valid")
    return outcome


def _note(label: str) -> None:
    """Count outcomes for ``--hypothesis-show-statistics``."""
    if currently_in_test_context():
        event(label)


@contextmanager
def scenario_file(content: str | bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="carnet-fuzz-in-") as folder:
        file = Path(folder) / "scenario.yaml"
        if isinstance(content, bytes):
            file.write_bytes(content)
        else:
            file.write_text(content, encoding="utf-8", errors="surrogatepass")
        yield file


def check_file(content: str | bytes) -> Scenario | ScenarioError:
    with scenario_file(content) as file:
        return check_load(file)


# --- strategy A: mutations of a valid scenario ----------------------------------------------------


def test_the_unmutated_preset_is_valid() -> None:
    assert isinstance(check_load(copy.deepcopy(MINIMAL)), Scenario)
    assert isinstance(check_file(_dump(MINIMAL, True)), Scenario)


@settings(FUZZ, max_examples=1200)
@given(doc=mutated(), unicode=st.booleans())
def test_mutated_scenarios_as_yaml_files(doc: dict[str, Any], unicode: bool) -> None:
    outcome = check_file(_dump(doc, unicode))
    if isinstance(outcome, Scenario):
        assert outcome.name == doc["name"]


@settings(FUZZ, max_examples=800)
@given(doc=mutated())
def test_mutated_scenarios_as_mappings(doc: dict[str, Any]) -> None:
    before = copy.deepcopy(doc) if not _has_nan(doc) else None
    check_load(doc)
    if before is not None:
        assert doc == before, "loading changed the mapping it was given"


def _has_nan(node: Any) -> bool:
    if isinstance(node, float):
        return math.isnan(node)
    if isinstance(node, dict):
        return any(_has_nan(k) or _has_nan(v) for k, v in node.items())
    if isinstance(node, list):
        return any(_has_nan(v) for v in node)
    return False


@settings(FUZZ, max_examples=60)
@given(doc=mutated(), factor=st.integers(2, 5))
def test_mutated_scenarios_with_shared_parts(doc: dict[str, Any], factor: int) -> None:
    # A mapping may hold the same list many times over: it must be counted, not trusted.
    shared = doc.get("behaviours")
    doc["behaviours"] = [shared] * 10**factor
    outcome = check_load(doc)
    assert isinstance(outcome, ScenarioError)


# --- strategy B: arbitrary text -------------------------------------------------------------------


@settings(FUZZ, max_examples=400)
@given(text=st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    check_file(text)


@settings(FUZZ, max_examples=200)
@given(text=st.text(st.characters(exclude_categories=()), max_size=200))
def test_any_text_through_parse_yaml(text: str) -> None:
    # Lone surrogates cannot come from a file, but can from a caller of parse_yaml.
    with empty_cwd():
        start = time.perf_counter()
        try:
            validate(parse_yaml(text, "text"))
        except ScenarioError as error:
            check_error(error)
        assert time.perf_counter() - start < TIME_BOUND


@settings(FUZZ, max_examples=300)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes(data: bytes) -> None:
    check_file(data)
    check_file(data.decode("utf-8", errors="replace"))


@settings(FUZZ, max_examples=400)
@given(text=yaml_like_text)
def test_yaml_like_text(text: str) -> None:
    check_file(text)


@settings(FUZZ, max_examples=600)
@given(text=edited_preset())
def test_edited_preset_text(text: str) -> None:
    check_file(text)


@settings(FUZZ, max_examples=250)
@given(text=st.one_of(edited_preset(), yaml_like_text))
def test_pure_python_parser(text: str) -> None:
    # Where PyYAML has libyaml, the loader parses with it; the pure-Python parser is the fallback.
    saved = loading._Loader
    loading._Loader = loading._PyLoader
    try:
        check_file(text)
    finally:
        loading._Loader = saved


# --- through the command --------------------------------------------------------------------------


def check_cli(content: str | bytes) -> None:
    with scenario_file(content) as file, empty_cwd():
        start = time.perf_counter()
        result = CliRunner().invoke(app, ["validate", str(file)])
        elapsed = time.perf_counter() - start
    assert elapsed < TIME_BOUND, f"took {elapsed:.2f} s"
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 2), (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 0:
        assert "valid (scenario " in result.stdout and result.stderr == ""
    else:
        assert result.stderr.startswith(f"{file}: ") and "problem(s)" in result.stderr
        assert all(line.isprintable() for line in result.stderr.split("\n")), ascii(result.stderr)


@settings(FUZZ, max_examples=200)
@given(doc=mutated(), unicode=st.booleans())
def test_validate_command_on_mutated_scenarios(doc: dict[str, Any], unicode: bool) -> None:
    check_cli(_dump(doc, unicode))


@settings(FUZZ, max_examples=150)
@given(content=st.one_of(edited_preset(), yaml_like_text, st.binary(max_size=200)))
def test_validate_command_on_junk(content: str | bytes) -> None:
    check_cli(content)
