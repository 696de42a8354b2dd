"""Loading scenarios from presets, files or mappings, with command-line overrides.

A scenario file comes from whoever wrote it, so reading one is bounded in time and memory: files
over :data:`MAX_SCENARIO_BYTES` are refused before they are read, YAML that nests deeper than
:data:`MAX_DEPTH` or expands (through aliases) to more than :data:`MAX_VALUES` values is refused
while it is parsed, and numbers written with more than :data:`MAX_NUMBER_DIGITS` digits are refused
before Python converts them. Every refusal is a :class:`~carnet.errors.ScenarioError` that names the
place: the path of the value when it is known, and the line and column in the file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Hashable
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import ValidationError
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from carnet.errors import ScenarioError, show, validation_problems
from carnet.scenario.pathsyntax import SHOWN_KEY_CHARS, format_path, parse_path
from carnet.scenario.policy_checks import check_policies
from carnet.scenario.schema import Scenario, cross_check
from carnet.scenario.timeline import problems as timeline_problems

#: Larger files are refused before they are read; the largest preset is under 20 kB.
MAX_SCENARIO_BYTES = 1024 * 1024
#: Deepest nesting of lists and mappings; a scenario needs 6 levels.
MAX_DEPTH = 32
#: Most values (mapping keys, items and scalars) in a document once its YAML aliases are
#: expanded; the largest valid scenario holds about 50,000.
MAX_VALUES = 100_000
#: Most characters in a number written in a scenario (the largest needs 19 digits).
MAX_NUMBER_DIGITS = 100
DEFAULT_PRESET = "rongcheng"

#: The path component used for something inside a mapping key (YAML's ``? [a, b] : c``).
_IN_KEY = "(key)"


def preset_names() -> list[str]:
    """Names of the scenarios that ship with carnet."""
    folder = resources.files("carnet.scenario") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    """The YAML text of a preset, comments and provenance included.

    Raises:
        ScenarioError: if ``name`` is not one of :func:`preset_names` (it never becomes a path).
    """
    names = preset_names()
    if name not in names:
        raise ScenarioError(
            f"preset {show(name)}", [("", f"unknown preset; presets: {', '.join(names)}")]
        )
    return (resources.files("carnet.scenario") / "presets" / f"{name}.yaml").read_text(
        encoding="utf-8"
    )


# --- bounded YAML ---------------------------------------------------------------------------------


class _Refused(yaml.MarkedYAMLError):
    """A problem found while reading YAML, with the path of the value when it is known."""

    def __init__(self, problem: str, mark: Any, path: tuple[int | str, ...]) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.path = tuple(part for part in path if part != _IN_KEY)


class _Bounded(Composer, SafeConstructor, Resolver):
    """Composes and constructs scenario YAML within bounds.

    The composer tracks the path of the node it composes, refuses nesting deeper than MAX_DEPTH
    and counts values as they would be once aliases are expanded, so an alias bomb is refused
    after at most MAX_VALUES values instead of being handed, as a cheap graph, to code that walks
    it in full.
    The constructor refuses duplicate keys and over-long numbers, and reports every value it
    cannot build with its path, line and column instead of a bare Python exception.
    """

    def _start_bounds(self) -> None:
        self._path: list[int | str] = []
        self._count = 0
        self._sizes: dict[int, int] = {}
        self._root: Node | None = None

    # composing

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = cast(Any, self).peek_event()  # the parser's
        path = self._path
        if parent is not None:
            if isinstance(index, int):
                path.append(index)
            else:
                path.append(index.value if isinstance(index, ScalarNode) else _IN_KEY)
            if len(path) > MAX_DEPTH:
                where = tuple(p for p in path if p != _IN_KEY)
                path.pop()
                raise _Refused(f"nested more than {MAX_DEPTH} levels deep", event.start_mark, where)
        try:
            if isinstance(event, AliasEvent):
                node = super().compose_node(parent, index)
                size = self._sizes.get(id(node))
                if size is None:
                    raise _Refused(
                        f"alias *{event.anchor} refers to a collection that contains it",
                        event.start_mark,
                        tuple(path),
                    )
                self._count += size
                self._check_count(event)
            else:
                before = self._count
                self._count = before + 1
                self._check_count(event)
                node = super().compose_node(parent, index)
                if event.anchor is not None:
                    self._sizes[id(node)] = self._count - before
            if parent is None:
                self._root = node
            return node
        finally:
            if parent is not None:
                path.pop()

    def _check_count(self, event: Any) -> None:
        if self._count > MAX_VALUES:
            raise _Refused(
                f"the document expands to more than {MAX_VALUES:,} values (YAML aliases?)",
                event.start_mark,
                tuple(self._path),
            )

    # constructing

    def path_of(self, target: Node) -> tuple[int | str, ...]:
        """The path of a composed node: a search from the root, done only to report a problem."""
        stack: list[tuple[Node, tuple[int | str, ...]]] = []
        if self._root is not None:
            stack.append((self._root, ()))
        seen: set[int] = set()
        while stack:
            node, loc = stack.pop()
            if node is target:
                return loc
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, SequenceNode):
                stack.extend((child, (*loc, i)) for i, child in enumerate(node.value))
            elif isinstance(node, MappingNode):
                for key, value in node.value:
                    part = key.value if isinstance(key, ScalarNode) else _IN_KEY
                    stack.append((key, loc))
                    stack.append((value, (*loc, part)))
        return ()

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (_Refused, RecursionError, MemoryError):
            raise
        except ConstructorError as exc:
            problem = exc.problem or "cannot be read"
            raise _Refused(
                problem, exc.problem_mark or node.start_mark, self.path_of(node)
            ) from None
        except Exception as exc:  # a constructor's own failure: !!int '', 2026-13-45, !!bool maybe
            kind = str(node.tag).rsplit(":", 1)[-1]
            value = show(node.value) if isinstance(node, ScalarNode) else type(node).__name__
            problem = f"cannot read {value} as {kind}"
            lines = str(exc).splitlines()
            if type(exc) is ValueError and lines:  # e.g. "month must be in 1..12"
                problem += f" ({lines[0]})"
            raise _Refused(problem, node.start_mark, self.path_of(node)) from None

    def construct_document(self, node: Node) -> Any:
        # Deep construction builds every value inside construct_object, so that a failure is
        # caught there, where the node (and so its path) is known; it is no deeper than the
        # composer allowed.
        data = self.construct_object(node, deep=True)
        self.constructed_objects, self.recursive_objects, self.deep_construct = {}, {}, False
        return data

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        if isinstance(node, MappingNode):  # else (!!map on a list) the base class reports it
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if duplicate:
                    path = self.path_of(node)
                    raise _Refused(
                        f"duplicate key {show(key)}",
                        key_node.start_mark,
                        (*path, key) if isinstance(key, str) else path,
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_number(self, node: ScalarNode) -> Any:
        """Refuse numbers too long to be a scenario's before Python converts them."""
        if isinstance(node, ScalarNode) and len(node.value) > MAX_NUMBER_DIGITS:
            raise _Refused(
                f"a number written with {len(node.value):,} characters; "
                f"a scenario's numbers have at most {MAX_NUMBER_DIGITS}",
                node.start_mark,
                self.path_of(node),
            )
        if node.tag.endswith(":int"):
            return self.construct_yaml_int(node)
        return self.construct_yaml_float(node)


_Bounded.add_constructor("tag:yaml.org,2002:int", _Bounded.construct_number)  # type: ignore[type-var]
_Bounded.add_constructor("tag:yaml.org,2002:float", _Bounded.construct_number)  # type: ignore[type-var]
# YAML 1.2 floats without a dot (1e-3, 2E6): YAML 1.1 reads them as strings, which surprises.
_Bounded.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class _PyLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _Bounded):
    """The bounded loader on PyYAML's pure-Python parser."""

    #: Whether the parser reports reader errors at UTF-8 byte positions (libyaml) or characters.
    byte_positions = False

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._start_bounds()


#: The loader parse_yaml uses: libyaml's parser where PyYAML has it, else the pure-Python one.
_Loader: Any = _PyLoader
try:
    from yaml._yaml import CParser

    class _CLoader(_Bounded, CParser):
        """The bounded loader on libyaml's parser (about 5 times faster); the rest is Python."""

        byte_positions = True

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start_bounds()

    _Loader = _CLoader
except ImportError:  # PyYAML built without libyaml
    pass


def _where(mark: Any) -> str:
    return (
        f"line {mark.line + 1}, column {mark.column + 1}"
        if mark is not None
        else "an unknown place"
    )


def _line_of(text: str, position: int, in_bytes: bool) -> str:
    """``line L, column C`` of a character position (or a UTF-8 byte position) in ``text``."""
    if in_bytes:
        position = len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "replace"))
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


def _hint(text: str, mark: Any) -> str:
    """A hint for the commonest YAML mistake: a tab where YAML wants spaces."""
    if mark is None:
        return ""
    lines = text.split("\n")
    if mark.line < len(lines) and lines[mark.line][mark.column : mark.column + 1] == "\t":
        return " (a tab: YAML indents with spaces)"
    return ""


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """Parse scenario YAML safely into a mapping, or raise a ScenarioError naming the place.

    Only plain data is built (no Python objects); nesting, alias expansion and numbers are
    bounded (see the module's documentation).
    """
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(source, [("", _too_large(len(text), "characters"))])
    if not text.strip():
        raise ScenarioError(source, [("", "the file is empty; a scenario needs its sections")])
    doc = _load(text, source)
    if not isinstance(doc, dict):
        got = "nothing (only comments?)" if doc is None else type(doc).__name__
        raise ScenarioError(source, [("", f"a scenario must be a mapping of sections, got {got}")])
    return doc


def parse_value(text: str, source: str) -> Any:
    """Parse one value written in YAML (``30``, ``0.01``, ``[1, 2]``, ``{points: -5}``, ``AAA``).

    Read as a scenario file is, within the same bounds; what ``carnet run --set PATH=VALUE``
    reads its values with (:func:`carnet.scenario.paths.parse_assignments`).

    Raises:
        ScenarioError: for text over :data:`MAX_SCENARIO_BYTES` or malformed YAML.
    """
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(source, [("", _too_large(len(text), "characters"))])
    return _load(text, source)


def _load(text: str, source: str) -> Any:
    """The document of ``text`` through the bounded loader, or a ScenarioError naming the place."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = _line_of(text, exc.start, False)
        raise ScenarioError(
            source, [("", f"not valid text at {where} (a lone surrogate)")]
        ) from None
    loader = None
    try:
        loader = _Loader(text)  # the pure-Python reader checks the characters here
        doc = loader.get_single_data()
    except _Refused as exc:
        message = f"malformed YAML at {_where(exc.problem_mark)}: {exc.problem}"
        raise ScenarioError(source, [(_shown(exc.path), message)]) from None
    except yaml.MarkedYAMLError as exc:
        where, hint = _where(exc.problem_mark), _hint(text, exc.problem_mark)
        problem = exc.problem or exc.context or "cannot be read"
        if exc.context and problem.startswith("but "):  # "expected a single document ..."
            problem = f"{exc.context}, {problem}"
        message = f"malformed YAML at {where}: {problem}{hint}"
        raise ScenarioError(source, [("", message)]) from None
    except yaml.reader.ReaderError as exc:
        where = _line_of(text, exc.position, _Loader.byte_positions)
        character = exc.character if isinstance(exc.character, int) else ord(str(exc.character))
        message = f"malformed YAML at {where}: character U+{character:04X} is not allowed in YAML"
        raise ScenarioError(source, [("", message)]) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()
        raise ScenarioError(
            source, [("", f"malformed YAML: {first[0] if first else exc}")]
        ) from None
    except RecursionError:
        raise ScenarioError(source, [("", "malformed YAML: nested too deeply")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return doc


def _shown(loc: tuple[str | int, ...]) -> str:
    """The path of a problem as errors print it: :func:`format_path`, long keys cut short."""
    return format_path(loc, limit=SHOWN_KEY_CHARS)


def _too_large(size: int, unit: str) -> str:
    limit = MAX_SCENARIO_BYTES // 1024
    return f"the file is too large: {size:,} {unit}; scenarios over {limit:,} kB are refused"


def _read(src: str | Path) -> tuple[dict[str, Any], str]:
    text_src = str(src)
    path = Path(src)
    try:
        info: os.stat_result | None = path.stat()
    except (OSError, ValueError):  # missing, or a name the system cannot hold (NUL, too long)
        info = None
    regular = info is not None and stat.S_ISREG(info.st_mode)
    # A file of that name wins over a preset: the user pointed at something of their own.
    if isinstance(src, str) and not regular and src in preset_names():
        return parse_yaml(preset_text(src), f"preset {src}"), f"preset {src}"
    try:
        # Opened without blocking (a pipe would wait for a writer), then checked on the open file.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except IsADirectoryError:
        raise ScenarioError(text_src, [("", "is a directory, not a scenario file")]) from None
    except FileNotFoundError:
        hint = f"no such file, and not a preset (presets: {', '.join(preset_names())})"
        raise ScenarioError(text_src, [("", hint)]) from None
    except ValueError:
        raise ScenarioError(text_src, [("", "not a possible file name")]) from None
    except OSError as exc:
        raise ScenarioError(text_src, [("", f"cannot read: {exc.strerror}")]) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError(text_src, [("", "is a directory, not a scenario file")])
        if not stat.S_ISREG(info.st_mode):
            what = "not a regular file (a device, pipe or socket?)"
            raise ScenarioError(text_src, [("", what)])
        if info.st_size > MAX_SCENARIO_BYTES:
            raise ScenarioError(text_src, [("", _too_large(info.st_size, "bytes"))])
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(MAX_SCENARIO_BYTES + 1)  # the file may have grown since fstat
    except OSError as exc:
        raise ScenarioError(text_src, [("", f"cannot read: {exc.strerror}")]) from None
    finally:
        os.close(fd)
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(text_src, [("", _too_large(len(data), "bytes or more"))])
    return parse_yaml(_decode(data, text_src), text_src), text_src


def parse_bytes(data: bytes, source: str) -> dict[str, Any]:
    """Parse scenario YAML held in memory (an upload) within the same bounds as a file.

    Bytes over :data:`MAX_SCENARIO_BYTES` are refused before they are decoded; the text must be
    UTF-8. Nothing is written anywhere.
    """
    if len(data) > MAX_SCENARIO_BYTES:
        raise ScenarioError(source, [("", _too_large(len(data), "bytes"))])
    return parse_yaml(_decode(data, source), source)


def _decode(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        message = "UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8"
        raise ScenarioError(source, [("", message)])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text (byte {exc.start}, line {line}, column {column})"
        raise ScenarioError(source, [("", message)]) from None


# --- bounded walk of a mapping --------------------------------------------------------------------


class _WalkStoppedError(Exception):
    def __init__(self, path: tuple[int | str, ...], message: str) -> None:
        self.path, self.message = path, message


def check_structure(doc: Any) -> list[tuple[str, str]]:
    """Problems a document's shape has before its content is validated, as ``(path, message)``.

    Counts values with repeats (a mapping handed over directly may share parts, or even contain
    itself) and stops at MAX_VALUES; refuses nesting deeper than MAX_DEPTH and reports every
    mapping key that is not text (YAML reads ``1:``, ``true:``, ``no:`` and ``null:`` as numbers,
    booleans and null). Never walks more than MAX_VALUES values.
    """
    problems: list[tuple[str, str]] = []
    count = 0
    open_ids: set[int] = set()

    def where(loc: tuple[int | str, ...]) -> str:
        return _shown(loc) or "top level"

    def visit(value: Any, loc: tuple[int | str, ...]) -> None:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise _WalkStoppedError(loc, f"the scenario holds more than {MAX_VALUES} values")
        if len(loc) > MAX_DEPTH:
            raise _WalkStoppedError(loc, f"nested more than {MAX_DEPTH} levels deep")
        if not isinstance(value, dict | list | tuple | set | frozenset):
            return
        if id(value) in open_ids:
            raise _WalkStoppedError(loc, "contains itself (a cycle)")
        open_ids.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                count += 1
                if isinstance(key, str):
                    visit(item, (*loc, key))
                    continue
                if count > MAX_VALUES:
                    raise _WalkStoppedError(
                        loc, f"the scenario holds more than {MAX_VALUES} values"
                    )
                problems.append((where(loc), _not_text(key)))
        else:
            for i, item in enumerate(value):
                visit(item, (*loc, i))
        open_ids.discard(id(value))

    try:
        visit(doc, ())
    except _WalkStoppedError as stop:
        problems.append((where(stop.path), stop.message))
    return problems


def _not_text(key: Any) -> str:
    message = f"key {show(key)} ({type(key).__name__}) is not text; keys are names"
    if isinstance(key, bool):
        return f"{message} (YAML reads yes, no, on, off, true and false as booleans: quote it)"
    if key is None:
        return f"{message} (YAML reads null, ~ and an empty key as null)"
    if isinstance(key, int | float):
        return f"{message} (quote it if you meant it as a name)"
    return message


def validate(doc: dict[str, Any], source: str = "scenario") -> Scenario:
    """Validate a scenario mapping; raise a ScenarioError listing every problem with its path."""
    problems = check_structure(doc)
    if problems:
        raise ScenarioError(source, problems)
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        problems = [(_shown(loc), message) for loc, message in validation_problems(exc)]
        raise ScenarioError(source, problems) from None
    problems = (cross_check(scenario) + check_policies(scenario)) or timeline_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def load_scenario(
    src: str | Path | dict[str, Any] | Scenario = DEFAULT_PRESET,
    *,
    days: int | None = None,
    seed: int | None = None,
    population: int | None = None,
) -> Scenario:
    """Load a scenario from a preset name, a YAML file, a mapping or a Scenario.

    Args:
        src: preset name (see :func:`preset_names`), path to a YAML file, mapping, or Scenario
            (returned as it is when nothing overrides it: it was validated when made).
        days: override ``run.days``.
        seed: override ``run.seed``.
        population: override ``population.size``.

    Raises:
        ScenarioError: listing every problem, each with the path of the offending value (or, for
            a file that cannot be read as YAML, the line and column).
    """
    if isinstance(src, Scenario) and days is None and seed is None and population is None:
        return src  # validated when it was made (here, or by carnet.set): not again
    if isinstance(src, Scenario):
        doc, source = src.model_dump(mode="python"), f"scenario {src.name}"
    elif isinstance(src, dict):
        doc, source = src, "scenario"
    else:
        doc, source = _read(src)
    overrides = {"run.days": days, "run.seed": seed, "population.size": population}
    for path, value in overrides.items():
        if value is not None:
            doc = _override(doc, parse_path(path), value)
    return validate(doc, source)


def _override(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """``doc`` with ``value`` at ``path`` (keys only), copied on the way: ``doc`` is the caller's.

    A section that is missing or not a mapping becomes one, so that validation reports what the
    document itself gets wrong, and the override stands.
    """
    key, *rest = path
    assert isinstance(key, str)  # the overrides name sections and fields
    if not rest:
        return {**doc, key: value}
    part = doc.get(key)
    return {**doc, key: _override(part if isinstance(part, dict) else {}, tuple(rest), value)}


def to_yaml(scenario: Scenario) -> str:
    """The resolved scenario as YAML, every default spelled out."""
    return yaml.safe_dump(
        scenario.model_dump(mode="python"), sort_keys=False, allow_unicode=True, width=100
    )
