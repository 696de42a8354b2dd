"""`carnet query` streams and is bounded: first rows at once, DuckDB's memory, threads and time.

The peaks are those of the ``carnet`` process itself, read by a small Python parent that runs it
and asks the kernel (``getrusage(RUSAGE_CHILDREN)``) for its children's largest resident set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from helpers import base_scenario, run_script, script_path

import carnet
from carnet.runs.local import run_to_directory
from carnet.runs.query import Bounds, QueryLimitError, connect, query, stream

#: DuckDB 2 binds ``range(1e10)`` to no function (1e10 is a DOUBLE): the same rows, as a BIGINT.
HUGE = "SELECT * FROM range(10000000000)"
#: A query that computes for minutes before its one row (a hundred billion products).
SLOW = "SELECT sum(a.range * b.range) FROM range(100000000) a, range(1000) b"
MiB = 2**20

#: Runs the command given as JSON in argv[1]; prints, as JSON, when its first table row came
#: (seconds after the start), its exit status, what it printed and its peak resident set.
MEASURE = r"""
import json, os, resource, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.Popen(json.loads(sys.argv[1]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True, env={**os.environ, "COLUMNS": "200"})
first, lines = None, []
for line in proc.stdout:
    if first is None and line.startswith("\u2502"):
        first = time.perf_counter() - started
    lines.append(line)
err = proc.stderr.read()
proc.wait()
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"first": first, "code": proc.returncode, "stdout": "".join(lines),
                  "stderr": err, "peak": peak}))
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    doc = base_scenario(days=20)
    doc["population"]["size"] = 2000
    scenario = carnet.load_scenario(doc)
    return run_to_directory(scenario, tmp_path_factory.mktemp("bounds") / "run").path


def measured(*args: str) -> dict[str, object]:
    """``carnet ARGS`` run under :data:`MEASURE`: first row, exit status, output, peak bytes."""
    exe = script_path()
    if exe is None:
        pytest.skip("the carnet console script is not installed")
    env = {k: v for k, v in os.environ.items() if k != "CARNET_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps([exe, *args])],
        capture_output=True, text=True, timeout=300, check=True, env=env,
    )  # fmt: skip
    found: dict[str, object] = json.loads(done.stdout)
    return found


# --- the first rows at once ----------------------------------------------------------------------


@pytest.mark.alone  # times itself and measures a peak
def test_the_first_rows_of_ten_billion_come_at_once_in_little_memory(run: Path) -> None:
    # How long carnet takes to show any row at all, on this machine now (starting Python and
    # importing carnet, DuckDB and Arrow): the bound allows for that much on a loaded machine.
    start = measured("query", str(run), "SELECT 42 AS x")
    assert start["code"] == 0, start
    huge = measured("query", str(run), HUGE, "--limit", "5")
    assert huge["code"] == 0, huge
    first, peak = huge["first"], huge["peak"]
    assert isinstance(first, float) and isinstance(start["first"], float) and isinstance(peak, int)
    assert first < 2.0 or first < start["first"] + 0.5, (first, start["first"])
    assert peak < 500 * MiB, f"peak {peak / MiB:.0f} MiB"
    stdout = str(huge["stdout"])
    rows = [line for line in stdout.splitlines() if line.startswith("│")]
    assert [line.strip("│ ") for line in rows] == ["0", "1", "2", "3", "4"]
    # The rows past those shown are counted for a second, not to the end: "at least N".
    (total,) = [line for line in stdout.splitlines() if "rows" in line]
    assert total.startswith("at least ") and "(counting stopped after 1 s)" in total, total
    assert "the first 5 shown" in total
    counted = int(total.removeprefix("at least ").split()[0].replace(",", ""))
    assert 5 < counted < 10_000_000_000
    print(
        f"query {HUGE}: first rows after {first:.2f} s (SELECT 42: {start['first']:.2f} s), "
        f"peak {peak / MiB:.0f} MiB"
    )


def test_a_small_result_is_counted_exactly(run: Path) -> None:
    done = run_script("query", str(run), "SELECT * FROM range(70000)", "--limit", "2")
    assert done.code == 0, done.text
    assert "70,000 rows; the first 2 shown" in done.stdout and "at least" not in done.stdout
    done = run_script("query", str(run), "SELECT * FROM range(2)", "--limit", "2")
    assert done.stdout.rstrip().endswith("\n2 rows"), done.stdout


def test_stream_hands_over_batches_as_duckdb_makes_them(run: Path) -> None:
    started = time.perf_counter()
    with stream(run, HUGE, Bounds(timeout=60, memory=256 * MiB, threads=2)) as rows:
        head = rows.head(3)
        took = time.perf_counter() - started
        assert head.column(0).to_pylist() == [0, 1, 2]
        assert rows.read < 10_000_000  # a batch or so, not the result
        assert rows.count_rest(0.2) is False  # stops counting when told, without an error
    assert took < 30  # generous: a shared machine; the timed figure is the test above


# --- the bounds ----------------------------------------------------------------------------------


def test_memory_and_threads_are_set_before_the_configuration_is_locked(run: Path) -> None:
    done = run_script(
        "query", str(run),
        "SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t",
        "--max-memory", "300M", "--threads", "1",
    )  # fmt: skip
    assert done.code == 0, done.text
    assert "│ 300.0 MiB │ 1 │" in done.stdout
    with connect(run, Bounds(memory=64 * MiB, threads=2)) as con:
        assert con.sql("SELECT current_setting('memory_limit')").fetchall() == [("64.0 MiB",)]
        for sql in ("SET memory_limit = '100GB'", "SET threads = 64"):
            with pytest.raises(Exception, match="locked"):
                con.execute(sql)
    defaults = Bounds()
    assert defaults.timeout == 120 and 1 <= defaults.threads <= 4
    assert 128 * MiB <= defaults.memory <= 2 * 2**30


def test_past_its_time_a_query_is_interrupted_with_a_message(run: Path) -> None:
    started = time.monotonic()
    done = run_script("query", str(run), SLOW, "--timeout", "1.5", timeout=120)
    took = time.monotonic() - started
    assert done.code == 1, done.text
    assert done.stderr.strip() == (
        "query: stopped after 1.5 s, its time limit (--timeout SECONDS allows more, 0 no limit)"
    )
    assert done.stdout == "" and "Traceback" not in done.text
    assert took < 60  # the query alone would take minutes
    started = time.monotonic()
    with pytest.raises(QueryLimitError, match=r"stopped after 0\.5 s"):
        query(run, SLOW, Bounds(timeout=0.5))
    assert time.monotonic() - started < 30


def test_an_export_past_its_time_leaves_no_file(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "slow.csv"
    done = run_script("query", str(run), SLOW, "--csv", str(out), "--timeout", "1")
    assert done.code == 1 and "its time limit" in done.stderr, done.text
    assert list(tmp_path.iterdir()) == []


def test_a_query_beyond_its_memory_fails_with_a_message(run: Path) -> None:
    # A list cannot spill to disk: it must fit in DuckDB's memory.
    done = run_script(
        "query", str(run), "SELECT list(range) FROM range(50000000)", "--max-memory", "50M"
    )
    assert done.code == 1, done.text
    assert done.stderr.startswith(
        "query: needs more memory than its limit of 50 MiB (--max-memory SIZE allows more"
    ), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.text


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-memory", "lots", "--max-memory 'lots': expected a size"),
        ("--timeout", "-1", "Invalid value for '--timeout'"),
        ("--threads", "0", "Invalid value for '--threads'"),
    ],
)
def test_bounds_that_make_no_sense_are_refused(
    run: Path, option: str, value: str, message: str
) -> None:
    done = run_script("query", str(run), "SELECT 1", option, value)
    assert done.code == 2 and message in done.stderr, done.text


def test_no_time_limit_with_timeout_0(run: Path) -> None:
    done = run_script("query", str(run), "SELECT count(*) FROM range(1000000)", "--timeout", "0")
    assert done.code == 0 and "1000000" in done.stdout, done.text


@pytest.mark.alone
def test_ctrl_c_interrupts_a_running_query(run: Path) -> None:
    exe = script_path()
    if exe is None:
        pytest.skip("the carnet console script is not installed")
    # A test process in which earlier tests set SIGINT to be ignored (a Dask cluster may) hands
    # that on to its children, and Python then installs no KeyboardInterrupt at all: twice the
    # query outlived 60 s in full parallel runs, never alone. The child gets the default back.
    proc = subprocess.Popen(
        [exe, "query", str(run), SLOW], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        time.sleep(8)  # started (a loaded machine takes seconds to import), and computing
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip() == f"interrupted while querying {run}" and out == ""
    assert time.monotonic() - sent < 20  # at once, not when the query would end


# --- exports stream ------------------------------------------------------------------------------


WIDE = "SELECT range AS i, repeat('x', 300) || range AS pad FROM range({n})"


@pytest.mark.alone  # measures a peak
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_exports_stream_the_whole_result_in_little_memory(
    run: Path, tmp_path: Path, fmt: str
) -> None:
    n = 2_000_000  # some 600 MiB of text: materialised (and serialised) it would pass 1 GiB
    out = tmp_path / f"wide.{fmt}"
    done = measured("query", str(run), WIDE.format(n=n), f"--{fmt}", str(out))
    assert done["code"] == 0, done
    assert done["stdout"] == f"wrote {n:,} rows to {out}\n"
    peak = done["peak"]
    assert isinstance(peak, int)
    assert peak < 500 * MiB, f"peak {peak / MiB:.0f} MiB"
    if fmt == "parquet":
        meta = pq.ParquetFile(out).metadata
        assert meta.num_rows == n and meta.num_row_groups > 1
        back = pq.read_table(out, columns=["i"])
        assert back["i"].to_pylist() == list(range(n))
        last = pq.ParquetFile(out).read_row_group(meta.num_row_groups - 1).to_pylist()[-1]
    else:
        back = pcsv.read_csv(out)
        assert back.num_rows == n and back.column_names == ["i", "pad"]
        assert back["i"].to_pylist()[-3:] == [n - 3, n - 2, n - 1]
        last = back.slice(n - 1).to_pylist()[0]
    assert last == {"i": n - 1, "pad": "x" * 300 + str(n - 1)}
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left
    print(f"query --{fmt} of {n:,} wide rows: peak {peak / MiB:.0f} MiB")


def test_an_error_mid_stream_leaves_no_file(run: Path, tmp_path: Path) -> None:
    # The first batches convert; a later row does not: the error comes as the file is written.
    sql = "SELECT (CASE WHEN range > 200000 THEN 'x' ELSE '1' END)::INTEGER AS v FROM range(300000)"
    for flag in ("--csv", "--parquet"):
        done = run_script("query", str(run), sql, flag, str(tmp_path / "out"))
        assert done.code == 2, done.text
        assert "Could not convert string 'x' to INT32" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.text
        assert list(tmp_path.iterdir()) == []


def test_an_empty_result_exports_its_columns(run: Path, tmp_path: Path) -> None:
    for flag, read in (("--csv", pcsv.read_csv), ("--parquet", pq.read_table)):
        out = tmp_path / f"empty.{flag[2:]}"
        done = run_script("query", str(run), "SELECT citizen, points FROM population LIMIT 0",
                          flag, str(out))  # fmt: skip
        assert done.code == 0 and "wrote 0 rows" in done.stdout, done.text
        if flag == "--csv":
            assert out.read_text() == '"citizen","points"\n'
        else:
            assert read(out).column_names == ["citizen", "points"]
