"""Run the validation checks and write their table: ``validation.parquet`` and ``validation.md``.

:func:`run_suite` runs each check of :data:`carnet.analysis.validation.checks.MODULES` (or those
named) and gathers their rows with what a reader needs to judge them: the command, the mode
(quick or full), carnet's version, the machine, the date, and each check's time. A check that
cannot be imported or that raises does not stop the suite: it becomes one failing row that
names the error. :meth:`Suite.table` is the table in Arrow; :func:`write_suite` writes it as
Parquet and Markdown, the only writers of either, and replaces a file only if carnet wrote it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from carnet._version import __version__
from carnet.analysis.validation import checks as registry
from carnet.analysis.validation.checks import Row
from carnet.errors import InputError

PARQUET, MARKDOWN = "validation.parquet", "validation.md"
#: The first line of every validation.md carnet writes: what proves that it wrote it.
MARK = "<!-- written by `carnet validation`; it may replace this file -->"
#: The Parquet schema's metadata key that proves carnet wrote a validation.parquet.
META = b"carnet_validation"

COLUMNS = pa.schema(
    [
        ("check", pa.string()),
        ("quantity", pa.string()),
        ("reference", pa.float64()),
        ("source", pa.string()),
        ("value", pa.float64()),
        ("se", pa.float64()),
        ("relation", pa.string()),
        ("tolerance", pa.float64()),
        ("basis", pa.string()),
        ("agrees", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class CheckTime:
    """How one check ran: its name, title, seconds, and the error that stopped it, if any."""

    name: str
    title: str
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Suite:
    """The rows of a run of the suite, and what a reader needs to judge them."""

    rows: list[Row]
    times: list[CheckTime]
    quick: bool
    command: str
    version: str = __version__
    machine: str = field(default_factory=lambda: machine())
    started: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def failing(self) -> list[Row]:
        """The rows that do not agree."""
        return [r for r in self.rows if not r.agrees]

    @property
    def mode(self) -> str:
        """``"quick"`` or ``"full"``."""
        return "quick" if self.quick else "full"

    def header(self) -> dict[str, object]:
        """What the suite ran, where and when: the table's metadata."""
        return {
            "command": self.command,
            "mode": self.mode,
            "carnet": self.version,
            "machine": self.machine,
            "started": self.started,
            "seconds": {t.name: round(t.seconds, 1) for t in self.times},
        }

    def table(self) -> pa.Table:
        """Every row, with its verdict, and :meth:`header` in the schema's metadata."""
        columns = {name: [getattr(r, name) for r in self.rows] for name in COLUMNS.names[:-1]}
        columns["agrees"] = [r.agrees for r in self.rows]
        meta = {META: json.dumps(self.header()).encode("utf-8")}
        return pa.table(columns, schema=COLUMNS.with_metadata(meta))

    def markdown(self) -> str:
        """The table as Markdown, under its header and each check's time."""
        agree = len(self.rows) - len(self.failing)
        lines = [
            MARK,
            "",
            "# carnet's validation suite",
            "",
            f"Written by `{self.command}` ({self.mode} suite), carnet {self.version}, "
            f"on {self.machine}, {self.started}. {agree} of {len(self.rows)} rows agree.",
            "",
            "A row agrees when carnet's figure (`value`, a mean over seeds where there are "
            "several, with its standard error `se`) and the reference stand in `relation` "
            "within `tolerance`: `=` is |value - reference| <= tolerance; `<` and `>` say the "
            "value lies beyond the reference by more than the tolerance. Tolerances come from "
            "the standard errors (`basis`), never tuned until green.",
            "",
            "| check | title | seconds | |",
            "|---|---|--:|---|",
        ]
        for t in self.times:
            state = _cell(t.error) if t.error else "ran"
            lines.append(f"| {t.name} | {_cell(t.title)} | {t.seconds:.1f} | {state} |")
        lines += [
            "",
            "| check | quantity | reference | source | value | se | relation | tolerance "
            "| basis | agrees |",
            "|---|---|--:|---|--:|--:|:-:|--:|---|:-:|",
        ]
        for r in self.rows:
            cells = [r.check, r.quantity, number(r.reference), r.source, number(r.value),
                     number(r.se), r.relation, number(r.tolerance), r.basis,
                     "yes" if r.agrees else "**no**"]  # fmt: skip
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return "\n".join(lines) + "\n"


def number(x: float, digits: int = 6) -> str:
    """A figure as the table shows it: six significant digits (or ``digits``)."""
    return "nan" if not math.isfinite(x) else f"{x:.{digits}g}"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def machine() -> str:
    """This machine in words: cores, processor, system."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def failed(name: str, error: BaseException) -> Row:
    """The row of a check that could not run: it names the error and never agrees."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return Row(name, "the check ran to its end", math.nan, f"raised {text}", math.nan, math.nan,
               "=", math.nan, "a check that raises fails")  # fmt: skip


def run_suite(
    quick: bool,
    *,
    names: Sequence[str] | None = None,
    modules: Sequence[str] | None = None,
    command: str = "",
    progress: Callable[[str], None] | None = None,
) -> Suite:
    """Run the checks of ``modules`` (those in ``names`` only, if given), in order.

    Args:
        quick: CI's size; else the full suite.
        names: module names among ``modules`` to run (default: all of them).
        modules: the check modules of this package (default: ``checks.MODULES``, all of them).
        command: the command line, for the header.
        progress: called with a check's name as it starts.

    Raises:
        InputError: ``names`` has one that is not among ``modules``, naming the known ones.
    """
    modules = registry.MODULES if modules is None else modules
    unknown = [n for n in names or () if n not in modules]
    if unknown:
        raise InputError(
            f"unknown check {', '.join(map(repr, unknown))}; checks: {', '.join(modules)}"
        )
    rows: list[Row] = []
    times: list[CheckTime] = []
    for module in [m for m in modules if names is None or m in names]:
        if progress is not None:
            progress(module)
        begun, title = time.perf_counter(), module
        try:
            check = import_module(f"{__package__}.{module}").CHECK
            title = check.title
            found = check.run(quick)
            if not found:
                raise ValueError("the check returned no rows")
            rows += found
            error = None
        except Exception as exc:  # a check that fails must not stop the others
            rows.append(failed(module, exc))
            error = rows[-1].source
        times.append(CheckTime(module, title, time.perf_counter() - begun, error))
    return Suite(rows, times, quick, command)


def _ours(path: Path) -> bool:
    """Whether carnet wrote ``path`` (a validation.md or validation.parquet)."""
    try:
        if path.suffix == ".md":
            with open(path, encoding="utf-8") as f:
                return f.readline().rstrip("\n") == MARK
        meta = pq.read_schema(path).metadata or {}
        return META in meta
    except (OSError, UnicodeDecodeError, pa.ArrowException):
        return False


def write_suite(suite: Suite, out: Path) -> list[Path]:
    """Write ``out/validation.parquet`` and ``out/validation.md`` atomically; return them.

    Raises:
        InputError: ``out`` lies in a run directory, is not a folder, or holds one of the two
            files without carnet having written it (nothing is written then).
    """
    from carnet.runs.directory import atomic_write, check_outside_runs, parquet_bytes

    check_outside_runs(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; choose another --out")
    paths = [out / PARQUET, out / MARKDOWN]
    for path in paths:
        if (path.exists() or path.is_symlink()) and (path.is_symlink() or not _ours(path)):
            raise InputError(
                f"{path} exists and carnet did not write it; nothing was written: move it, "
                "or choose another --out"
            )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(paths[0], parquet_bytes(suite.table()))
    atomic_write(paths[1], suite.markdown().encode("utf-8"))
    return paths
