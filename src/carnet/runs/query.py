"""SQL over a run directory: DuckDB, read-only and offline, over the run's Parquet files.

:func:`query` runs one query over the tables of :data:`TABLES`. The tables are Arrow datasets that
Python reads from the run's files and hands to an in-memory DuckDB whose external access is off
and whose configuration is locked before any SQL runs: a query cannot read or write any file (the
run's own included), attach a database, install or load an extension, or reach the network. Only
queries are run (``SELECT``, ``WITH``, ``FROM``, ``DESCRIBE``, ``SUMMARIZE``, ``PIVOT … IN (…)``);
``COPY``, ``ATTACH``, ``INSTALL`` and every other statement are refused before they run.

A query is bounded (:class:`Bounds`): DuckDB's memory and threads are set before the
configuration is locked (beyond its memory, an operator spills to a temporary folder of its own),
and a timer interrupts the connection when the query runs past its time. :func:`stream` hands the
result over batch by batch as DuckDB produces it, so that the first rows of a result of any size
come at once; :func:`export` writes a whole result to a file the same way, never holding it all.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from carnet.errors import CarnetError, InputError, RunError, clean
from carnet.runs.directory import atomic_write, describe_os_error, read_manifest
from carnet.runs.layout import (
    COMPANIES,
    COMPANY_LEDGER,
    COMPANY_METRICS,
    DECISIONS,
    GATES,
    LEDGER,
    METRICS,
    POPULATION,
    SCENARIO,
    part_kind,
)

T = TypeVar("T")

#: The tables a query sees, and the file (or the folder of parts) each one reads.
TABLES = {
    "metrics": METRICS,
    "ledger": LEDGER,
    "population": POPULATION,
    "decisions": DECISIONS,
    "gates": GATES,
    "companies": COMPANIES,
    "company_metrics": COMPANY_METRICS,
    "company_ledger": COMPANY_LEDGER,
}

#: Longest DuckDB message kept in an error (it may quote the query).
MAX_MESSAGE_CHARS = 600


#: Seconds a query may run, by default (``None`` in :class:`Bounds`: no limit).
DEFAULT_TIMEOUT = 120.0
#: DuckDB's memory by default: 2 GiB, or half this machine's memory if that is less.
DEFAULT_MEMORY = 2 * 2**30
#: DuckDB's threads by default: this machine's cores, at most 4.
DEFAULT_THREADS = 4
#: Rows in each batch that DuckDB hands over.
BATCH_ROWS = 65_536
#: Rows, and bytes, gathered into one row group of an exported Parquet file.
ROW_GROUP_ROWS, ROW_GROUP_BYTES = 1_048_576, 32 * 2**20


class QueryError(InputError):
    """A query that cannot run over a run directory: not a query, bad SQL, unknown names."""


class QueryLimitError(CarnetError):
    """A query stopped by its bounds: it ran past its time, or needs more memory than allowed."""


def default_memory() -> int:
    """:data:`DEFAULT_MEMORY`, or half of this machine's memory if that is less."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return DEFAULT_MEMORY
    return max(2**27, min(DEFAULT_MEMORY, physical // 2)) if physical > 0 else DEFAULT_MEMORY


def default_threads() -> int:
    """:data:`DEFAULT_THREADS`, or this machine's cores if fewer."""
    return max(1, min(DEFAULT_THREADS, os.cpu_count() or 1))


@dataclass(frozen=True)
class Bounds:
    """What one query may take.

    Seconds of wall time (``None``: no limit), DuckDB's memory in bytes (beyond which its
    operators spill to disk, or the query fails) and its threads.
    """

    timeout: float | None = DEFAULT_TIMEOUT
    memory: int = field(default_factory=default_memory)
    threads: int = field(default_factory=default_threads)

    def __post_init__(self) -> None:
        if self.timeout is not None and not self.timeout > 0:
            raise InputError(f"a query's time limit must be positive, not {self.timeout}")
        if self.memory < 2**20:
            raise InputError(f"a query's memory must be at least 1 MiB, not {self.memory} bytes")
        if self.threads < 1:
            raise InputError(f"a query needs at least one thread, not {self.threads}")


def tables(run_dir: str | Path) -> dict[str, ds.Dataset | pa.Table]:
    """A finished run's tables by name, read lazily from its files.

    A table of parts with no part written (a run without decisions) is empty, with its columns;
    the company tables exist only in runs with companies.
    """
    from carnet.scenario.loading import load_scenario
    from carnet.sim.company_outputs import empty_company_ledger
    from carnet.sim.metrics import empty_decisions
    from carnet.sim.panel import empty_ledger

    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    try:
        files = set(manifest["files"])
        chain = [str(part["file"]) for part in manifest["ledger_chain"]]
        empty = {LEDGER: empty_ledger, DECISIONS: empty_decisions}
        if COMPANIES in files:
            empty[COMPANY_LEDGER] = empty_company_ledger
        found: dict[str, ds.Dataset | pa.Table] = {}
        for name, where in TABLES.items():
            parts = [str(run_dir / f) for f in chain if part_kind(f) == where]
            if parts:
                found[name] = ds.dataset(parts, format="parquet")
            elif where in files:
                found[name] = ds.dataset(str(run_dir / where), format="parquet")
            elif where in empty:
                found[name] = empty[where](load_scenario(run_dir / SCENARIO))
    except (OSError, KeyError, TypeError, pa.ArrowException) as exc:
        raise CarnetError(f"{run_dir}: unreadable run directory: {exc}") from None
    return found


@contextmanager
def connect(
    run_dir: str | Path, bounds: Bounds | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection (closed on exit): a run's tables, no file, no network.

    Its memory and threads are those of ``bounds`` (default :class:`Bounds`), locked with the
    rest of its configuration. Large queries spill to a temporary folder of their own, removed on
    exit, never to the run.
    """
    bounds = bounds or Bounds()
    found = tables(run_dir)
    with tempfile.TemporaryDirectory(prefix="carnet-query-") as spill:
        con = duckdb.connect(
            ":memory:",
            config={
                "enable_external_access": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                "python_enable_replacements": False,
                "temp_directory": spill,
                "memory_limit": f"{bounds.memory}B",
                "threads": bounds.threads,
                "lock_configuration": True,
            },
        )
        try:
            for name, table in found.items():
                con.register(name, table)
            yield con
        finally:
            con.close()


class _Guard:
    """What watches a query on a connection: its thread, and a timer that interrupts it.

    DuckDB works on :meth:`call`'s thread while the calling one waits, so that Ctrl-C (which
    Python delivers only to the main thread, between bytecodes) interrupts the query at once
    instead of when DuckDB next returns.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="carnet-query")
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._armed: object = None
        self.rang: str | None = None

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, run on the guard's thread; Ctrl-C while it runs interrupts the query."""
        future = self._pool.submit(fn)
        try:
            return future.result()
        except KeyboardInterrupt:
            self._con.interrupt()
            wait([future])  # the connection is not closed under the query
            raise

    def set(self, seconds: float | None, why: str) -> None:
        """Interrupt the query in ``seconds`` (never with ``None``), in place of any earlier."""
        self.cancel()
        if seconds is None:
            return
        with self._lock:
            token = self._armed = object()
            self._timer = threading.Timer(max(0.0, seconds), self._ring, (token, why))
            self._timer.daemon = True
            self._timer.start()

    def _ring(self, token: object, why: str) -> None:
        with self._lock:  # never once cancel() has returned: the connection may be closing
            if token is self._armed:
                self.rang = why
                self._con.interrupt()

    def cancel(self) -> None:
        with self._lock:
            self._armed = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def close(self) -> None:
        self.cancel()
        self._pool.shutdown(wait=True)


class Rows:
    """A query's result as DuckDB produces it: :attr:`schema`, then its batches, read once.

    Iterating reads on from where the last read stopped; :attr:`read` counts the rows read.
    """

    def __init__(
        self,
        reader: pa.RecordBatchReader,
        error: Callable[[Exception], BaseException],
        guard: _Guard,
        deadline: float | None,
    ) -> None:
        self._reader = reader
        self._error = error
        self._guard = guard
        self._deadline = deadline
        self.schema: pa.Schema = reader.schema
        self.read = 0
        self.done = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while not self.done:
            try:
                batch = self._guard.call(self._reader.read_next_batch)
            except StopIteration:
                self.done = True
                return
            except (duckdb.Error, OSError) as exc:  # DuckDB's errors come as OSError mid-stream
                raise self._error(exc) from None
            self.read += batch.num_rows
            yield batch

    def head(self, n: int) -> pa.Table:
        """The next ``n`` rows or fewer (fewer only when the result ends)."""
        batches: list[pa.RecordBatch] = []
        got = 0
        if n > 0:
            for batch in self:
                batches.append(batch)
                got += batch.num_rows
                if got >= n:
                    break
        return pa.Table.from_batches(batches, self.schema).slice(0, n)

    def count_rest(self, seconds: float) -> bool:
        """Read on for at most ``seconds`` (and never past the query's time), only counting.

        Returns whether the result ended, :attr:`read` being then its number of rows. The query
        is stopped when the time is up: the connection serves nothing after this.
        """
        left = None if self._deadline is None else self._deadline - time.monotonic()
        self._guard.set(seconds if left is None else min(seconds, left), "count")
        try:
            for _ in self:
                pass
        except QueryLimitError:
            return False
        finally:
            self._guard.cancel()
        return True


@contextmanager
def stream(run_dir: str | Path, sql: str, bounds: Bounds | None = None) -> Iterator[Rows]:
    """Run one query over a run's tables (see :data:`TABLES`); its result streams as it comes.

    The query runs within ``bounds`` (default :class:`Bounds`): past its time, the connection is
    interrupted and reading raises :class:`QueryLimitError`, as it does when the query needs more
    memory than DuckDB may take. The connection closes on leaving, reading stops there.

    Raises:
        QueryError: ``sql`` is not one query, does not parse, names a table or column that does
            not exist, or fails as it runs (also while its rows are read).
        QueryLimitError: the query ran past its time, or out of memory.
        CarnetError: ``run_dir`` is not a finished run directory.
    """
    bounds = bounds or Bounds()
    with connect(run_dir, bounds) as con:
        guard = _Guard(con)

        def error(exc: Exception) -> BaseException:
            return _translate(con, exc, guard.rang, bounds)

        try:
            _check_one_query(con, sql)
            deadline = None if bounds.timeout is None else time.monotonic() + bounds.timeout
            guard.set(bounds.timeout, "timeout")
            try:
                reader = guard.call(lambda: con.sql(sql).to_arrow_reader(BATCH_ROWS))
            except (duckdb.Error, OSError) as exc:
                raise error(exc) from None
            yield Rows(reader, error, guard, deadline)
        finally:
            guard.close()


def query(run_dir: str | Path, sql: str, bounds: Bounds | None = None) -> pa.Table:
    """Run one query over a run's tables (see :data:`TABLES`) and return its whole result.

    As :func:`stream`, which it reads to the end (its result must fit in memory).

    Raises:
        QueryError: ``sql`` is not one query, does not parse, names a table or column that does
            not exist, or fails as it runs.
        QueryLimitError: the query ran past its time, or out of memory.
        CarnetError: ``run_dir`` is not a finished run directory.
    """
    with stream(run_dir, sql, bounds) as rows:
        return pa.Table.from_batches(list(rows), rows.schema)


def export(
    run_dir: str | Path,
    sql: str,
    out: Path,
    fmt: Literal["csv", "parquet"],
    bounds: Bounds | None = None,
) -> int:
    """Write the whole result of one query to ``out`` as CSV or Parquet; return its rows.

    The result streams from DuckDB to the file batch by batch, never whole in memory. ``out``
    is written atomically (a failed query or write leaves no file) and never inside the run.

    Raises:
        QueryError: as :func:`query`, or a result that CSV cannot hold.
        QueryLimitError: as :func:`query`.
        InputError: ``out`` is inside the run directory.
        RunError: ``out`` cannot be written.
    """
    run_dir = Path(run_dir)
    if out.resolve().is_relative_to(run_dir.resolve()):  # the run's files are sealed
        raise InputError(f"{out} is inside the run directory {run_dir}; write it elsewhere")
    with stream(run_dir, sql, bounds) as rows:
        write = _csv_writer(rows) if fmt == "csv" else _parquet_writer(rows)
        try:
            atomic_write(out, write)
        except OSError as exc:
            raise RunError(describe_os_error(exc, out)) from None
        return rows.read


def _csv_writer(rows: Rows) -> Callable[[IO[bytes]], None]:
    def refused(exc: pa.ArrowException) -> QueryError:
        return QueryError(f"cannot write this result as CSV ({exc}); write it as Parquet")

    try:  # the writer refuses the types CSV cannot hold (lists, structs...) before any row
        pcsv.CSVWriter(pa.BufferOutputStream(), rows.schema).close()
    except pa.ArrowException as exc:
        raise refused(exc) from None

    def write(f: IO[bytes]) -> None:
        with pcsv.CSVWriter(f, rows.schema) as writer:
            for batch in rows:
                try:
                    writer.write_batch(batch)
                except pa.ArrowException as exc:
                    raise refused(exc) from None

    return write


def _parquet_writer(rows: Rows) -> Callable[[IO[bytes]], None]:
    def write(f: IO[bytes]) -> None:
        # As parquet_bytes writes a table, in row groups of up to ROW_GROUP_ROWS rows.
        with pq.ParquetWriter(f, rows.schema, compression="zstd", write_statistics=True) as w:
            group: list[pa.RecordBatch] = []
            size = nbytes = 0
            for batch in rows:
                group.append(batch)
                size += batch.num_rows
                nbytes += batch.nbytes
                if size >= ROW_GROUP_ROWS or nbytes >= ROW_GROUP_BYTES:
                    w.write_table(pa.Table.from_batches(group, rows.schema))
                    group, size, nbytes = [], 0, 0
            if group or rows.read == 0:
                w.write_table(pa.Table.from_batches(group, rows.schema))

    return write


def _check_one_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse ``sql`` unless it is one statement that only reads."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(_message(exc, _shown(con))) from None
    if len(statements) != 1:
        raise QueryError(
            f"give exactly one query, got {len(statements)} statements"
            " (for example: SELECT count(*) FROM ledger)"
        )
    kind = statements[0].type
    if kind == duckdb.StatementType.MULTI:
        raise QueryError(
            "this statement runs several (as a PIVOT does without its values); "
            "list them: PIVOT ledger ON kind IN ('act', 'expiry') USING count(*)"
        )
    if kind != duckdb.StatementType.SELECT:
        raise QueryError(
            f"{kind.name} refused: carnet query only reads "
            "(SELECT, WITH, FROM, DESCRIBE, SUMMARIZE, PIVOT)"
        )


def _shown(con: duckdb.DuckDBPyConnection) -> list[str]:
    shown = {name for (name,) in con.sql("SHOW TABLES").fetchall()}
    return [n for n in TABLES if n in shown]


def _translate(
    con: duckdb.DuckDBPyConnection, exc: Exception, rang: str | None, bounds: Bounds
) -> BaseException:
    """The error to raise for what DuckDB raised while a query ran or its rows were read."""
    text = str(exc)
    if isinstance(exc, duckdb.InterruptException) or text.startswith("INTERRUPT Error"):
        if rang == "timeout":
            return QueryLimitError(
                f"query: stopped after {bounds.timeout:g} s, its time limit"
                " (--timeout SECONDS allows more, 0 no limit)"
            )
        if rang is not None:
            return QueryLimitError(f"query: stopped ({rang})")
        return KeyboardInterrupt()  # not ours: Ctrl-C, which DuckDB turns into an interrupt
    if isinstance(exc, duckdb.OutOfMemoryException) or text.startswith("Out of Memory Error"):
        first = text.splitlines()[0] if text.strip() else "out of memory"
        return QueryLimitError(
            clean(
                f"query: needs more memory than its limit of {_size(bounds.memory)}"
                f" (--max-memory SIZE allows more, --threads 1 needs less): {first}",
                MAX_MESSAGE_CHARS,
            )
        )
    if isinstance(exc, duckdb.Error):
        return QueryError(_message(exc, _shown(con)))
    return QueryError(_message(exc, []))


def _size(n: int) -> str:
    """Bytes as a person reads them: 512 MiB, 2 GiB, 1.5 GiB."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{n} bytes"


def _message(exc: Exception, names: list[str]) -> str:
    """DuckDB's message on one line; an unknown table also lists the run's tables."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # "LINE 1: ..." and its caret repeat the query; the first line names what is wrong.
    kept = [line for line in lines if not line.startswith("LINE ") and set(line) != {"^"}]
    text = " ".join(kept)
    if isinstance(exc, duckdb.CatalogException) and "Table with name" in text:
        text = f"{text.split('Did you mean')[0].rstrip()} (this run's tables: {', '.join(names)})"
    return clean(f"query: {text}", MAX_MESSAGE_CHARS)
