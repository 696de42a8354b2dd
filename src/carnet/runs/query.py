"""SQL over a run directory: DuckDB, read-only and offline, over the run's Parquet files.

:func:`query` runs one query over the tables of :data:`TABLES`. The tables are Arrow datasets that
Python reads from the run's files and hands to an in-memory DuckDB whose external access is off
and whose configuration is locked before any SQL runs: a query cannot read or write any file (the
run's own included), attach a database, install or load an extension, or reach the network. Only
queries are run (``SELECT``, ``WITH``, ``FROM``, ``DESCRIBE``, ``SUMMARIZE``, ``PIVOT … IN (…)``);
``COPY``, ``ATTACH``, ``INSTALL`` and every other statement are refused before they run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.dataset as ds

from carnet.errors import CarnetError, InputError, clean
from carnet.runs.directory import parquet_bytes, read_manifest
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


class QueryError(InputError):
    """A query that cannot run over a run directory: not a query, bad SQL, unknown names."""


def tables(run_dir: str | Path) -> dict[str, ds.Dataset | pa.Table]:
    """A finished run's tables by name, read lazily from its files.

    A table of parts with no part written (a run without decisions) is empty, with its columns;
    the company tables exist only in runs with companies.
    """
    from carnet.scenario.loading import load_scenario
    from carnet.sim.metrics import empty_decisions
    from carnet.sim.company_outputs import empty_company_ledger
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
def connect(run_dir: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection (closed on exit): a run's tables, no file, no network.

    Large queries spill to a temporary folder of their own, removed on exit, never to the run.
    """
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
                "lock_configuration": True,
            },
        )
        try:
            for name, table in found.items():
                con.register(name, table)
            yield con
        finally:
            con.close()


def query(run_dir: str | Path, sql: str) -> pa.Table:
    """Run one query over a run's tables (see :data:`TABLES`) and return its result.

    Raises:
        QueryError: ``sql`` is not one query, does not parse, names a table or column that does
            not exist, or fails as it runs.
        CarnetError: ``run_dir`` is not a finished run directory.
    """
    with connect(run_dir) as con:
        try:
            statements = con.extract_statements(sql)
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
            return con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            shown = {name for (name,) in con.sql("SHOW TABLES").fetchall()}
            raise QueryError(_message(exc, [n for n in TABLES if n in shown])) from None


def _message(exc: duckdb.Error, names: list[str]) -> str:
    """DuckDB's message on one line; an unknown table also lists the run's tables."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # "LINE 1: ..." and its caret repeat the query; the first line names what is wrong.
    kept = [line for line in lines if not line.startswith("LINE ") and set(line) != {"^"}]
    text = " ".join(kept)
    if isinstance(exc, duckdb.CatalogException) and "Table with name" in text:
        text = f"{text.split('Did you mean')[0].rstrip()} (this run's tables: {', '.join(names)})"
    return clean(f"query: {text}", MAX_MESSAGE_CHARS)


def table_bytes(table: pa.Table, fmt: Literal["csv", "parquet"]) -> bytes:
    """A query's result as the bytes of a CSV file (with a header) or a Parquet file."""
    if fmt == "parquet":
        return parquet_bytes(table)
    sink = pa.BufferOutputStream()
    try:
        pcsv.write_csv(table, sink)
    except pa.ArrowException as exc:
        raise QueryError(f"cannot write this result as CSV ({exc}); write it as Parquet") from None
    return bytes(sink.getvalue().to_pybytes())
