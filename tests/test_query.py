"""`carnet query` and `carnet dossier --html`: SQL over real run directories, read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from helpers import base_scenario, run_script

import carnet
from carnet.analysis.dossier_page import dossier_html
from carnet.errors import CarnetError
from carnet.result import Dossier
from carnet.runs.directory import RunDirectory
from carnet.runs.local import run_to_directory
from carnet.runs.query import QueryError, connect, query


def audited() -> dict[str, Any]:
    """Misattribution, a gate that refuses grades below A, and companies with a blacklist."""
    doc = base_scenario(days=90, ledger_part_days=30)
    doc["population"]["size"] = 3000
    doc["sources"][0]["misattribution"] = 0.2
    doc["sources"].append({"name": "tax_office", "sensitivity": "financial", "misattribution": 0.3})
    doc["gates"] = [{"name": "loan", "applications_per_year": 6.0, "min_grade": "A"}]
    doc["companies"] = {
        "per_1000_citizens": 25.0,
        "employed_share": 0.6,
        "sectors": [{"name": "industry", "share": 1.0}],
        "behaviours": [
            {"name": "tax_arrears", "kind": "negative", "rate_per_year": 4.0,
             "observed_by": [{"source": "tax_office", "detect": 0.8}]},
        ],
        "rules": {"lifetime_days": None, "points": {"tax_arrears": -20}},
        "blacklist": {"triggers": ["tax_arrears"], "listing_probability": 0.5, "term_days": 30,
                      "agencies": 5, "act_probability": 1.0, "points_per_agency": -3},
    }  # fmt: skip
    return doc


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario = carnet.load_scenario(audited())
    return run_to_directory(scenario, tmp_path_factory.mktemp("query") / "run").path


@pytest.fixture(scope="module")
def result(run: Path) -> carnet.Result:
    return carnet.load_run(run)


@pytest.fixture(scope="module")
def quiet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run in which nothing happens: no act, no gate, no company."""
    doc = base_scenario(days=3)
    doc["population"]["size"] = 1000
    for behaviour in doc["behaviours"]:
        behaviour["rate_per_year"] = 0.0
    scenario = carnet.load_scenario(doc)
    return run_to_directory(scenario, tmp_path_factory.mktemp("quiet") / "run").path


def one(run: Path, sql: str) -> Any:
    """The single value a query returns."""
    table = query(run, sql)
    assert table.shape == (1, 1), table
    return table.column(0)[0].as_py()


# --- the tables and their numbers ----------------------------------------------------------------


def test_every_table_holds_the_rows_of_the_result(run: Path, result: carnet.Result) -> None:
    expected = {
        "metrics": result.metrics,
        "ledger": result.ledger,
        "population": result.population,
        "decisions": result.decisions,
        "gates": result.gates,
        "companies": result.companies,
        "company_metrics": result.company_metrics,
        "company_ledger": result.company_ledger,
    }
    for name, table in expected.items():
        assert table is not None
        assert one(run, f"SELECT count(*) FROM {name}") == table.num_rows, name
        assert query(run, f"SELECT * FROM {name} LIMIT 0").column_names == table.column_names
    assert result.ledger.num_rows > 500 and result.decisions.num_rows > 500
    assert result.company_ledger is not None and result.company_ledger.num_rows > 50


def test_ledger_grouped_by_behaviour_matches_the_metrics(run: Path, result: carnet.Result) -> None:
    by_behaviour = query(
        run,
        """SELECT behaviour, count(*) AS scored, count(*) FILTER (WHERE NOT truly_done) AS wrongful
           FROM ledger WHERE kind = 'act' GROUP BY behaviour""",
    ).to_pylist()
    metrics = result.metrics
    assert len(by_behaviour) == 3
    for row in by_behaviour:
        b = row["behaviour"]
        assert row["scored"] == pc.sum(metrics[f"scored_{b}"]).as_py(), b
        assert row["wrongful"] == pc.sum(metrics[f"wrongful_{b}"]).as_py(), b
    assert sum(r["wrongful"] for r in by_behaviour) > 0  # the camera misattributes


def test_points_are_conserved_across_a_join(run: Path) -> None:
    mismatches = one(
        run,
        """SELECT count(*) FROM population p
           LEFT JOIN (SELECT citizen, sum(points) AS s FROM ledger GROUP BY citizen) l
           USING (citizen) WHERE p.points != 1000 + coalesce(l.s, 0)""",
    )
    assert mismatches == 0


def test_decisions_add_up_to_the_gate_counts(run: Path, result: carnet.Result) -> None:
    rows = query(
        run,
        """SELECT d.outcome, d.n, g.n AS counted
           FROM (SELECT outcome, count(*) AS n FROM decisions GROUP BY ALL) d
           JOIN (SELECT outcome, sum(count) AS n FROM gates GROUP BY ALL) g USING (outcome)""",
    ).to_pylist()
    assert {r["outcome"] for r in rows} >= {"approved", "refused_grade"}
    assert all(r["n"] == r["counted"] for r in rows), rows
    assert sum(r["n"] for r in rows) == result.decisions.num_rows


def test_company_tables_agree_with_each_other(run: Path, result: carnet.Result) -> None:
    listings = one(run, "SELECT count(*) FROM company_ledger WHERE kind = 'listing'")
    entries = one(run, "SELECT sum(blacklist_entries) FROM company_metrics")
    assert listings == entries > 0
    assert result.companies is not None
    assert one(run, "SELECT count(*) FROM companies") == result.companies.num_rows


def test_tables_without_files_are_empty_with_their_columns(quiet: Path) -> None:
    result = carnet.load_run(quiet)
    assert not result.ledger_parts and not result.decision_parts
    for name, table in (("ledger", result.ledger), ("decisions", result.decisions)):
        described = query(quiet, f"DESCRIBE {name}").column("column_name").to_pylist()
        assert described == table.column_names
        assert one(quiet, f"SELECT count(*) FROM {name}") == 0
    with pytest.raises(QueryError, match=r"companies does not exist.*this run's tables: metrics"):
        query(quiet, "SELECT * FROM companies")


# --- read-only and offline -----------------------------------------------------------------------


OFF = "disabled (by|through) configuration"  # DuckDB's words for what external access may not do


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("COPY ledger TO '{out}/copy.csv'", "COPY refused"),
        ("ATTACH '{out}/attached.duckdb' AS x", "ATTACH refused"),
        ("INSTALL httpfs", "refused"),
        ("LOAD httpfs", "refused"),
        ("SET enable_external_access = true", "SET refused"),
        ("CREATE TABLE kept AS SELECT 1", "CREATE refused"),
        ("SELECT 1; COPY ledger TO '{out}/two.csv'", "exactly one query, got 2"),
        ("SELECT * FROM read_csv('/etc/passwd')", OFF),
        ("SELECT * FROM read_parquet('{run}/metrics.parquet')", OFF),
        ("SELECT * FROM read_text('{run}/scenario.yaml')", OFF),
        ("SELECT * FROM 'https://example.org/x.parquet'", OFF),
        ("SELECT * FROM glob('{run}/*')", OFF),
    ],
)
def test_statements_that_reach_outside_are_refused(
    run: Path, tmp_path: Path, sql: str, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        query(run, sql.format(out=tmp_path, run=run))
    assert list(tmp_path.iterdir()) == []


def test_the_connection_itself_cannot_write_or_reach_files(run: Path, tmp_path: Path) -> None:
    # Below the statement check: the connection is sealed, whatever SQL reaches it.
    with connect(run) as con:
        for sql in (
            f"COPY (SELECT * FROM ledger) TO '{tmp_path}/out.parquet'",
            f"COPY (SELECT 1) TO '{run}/metrics.parquet'",
            f"ATTACH '{tmp_path}/x.duckdb'",
            f"EXPORT DATABASE '{tmp_path}/export'",
        ):
            with pytest.raises(duckdb.PermissionException):
                con.execute(sql)
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
        hidden = pa.table({"secret": [1]})  # Python objects are not scanned by name either
        with pytest.raises(duckdb.CatalogException):
            con.sql("SELECT * FROM hidden")
        assert hidden.num_rows == 1
        rows = pq.read_table(run / "ledger").num_rows
        assert con.sql("SELECT count(*) FROM ledger").fetchall() == [(rows,)]
    assert list(tmp_path.iterdir()) == []


def test_queries_leave_the_run_intact(run: Path, tmp_path: Path) -> None:
    before = {f: f.read_bytes() for f in run.rglob("*") if f.is_file()}
    part = run / "ledger" / "part-00000.parquet"
    for sql in ("SELECT * FROM ledger", f"COPY (SELECT 1 AS x) TO '{part}'"):
        run_script("query", str(run), sql, "--csv", str(tmp_path / "out.csv"))
    assert {f: f.read_bytes() for f in run.rglob("*") if f.is_file()} == before
    assert run_script("verify", str(run)).code == 0


# --- the command line ----------------------------------------------------------------------------


def test_terminal_shows_the_first_rows_and_counts_them_all(
    run: Path, result: carnet.Result
) -> None:
    shown = run_script(
        "query", str(run), "SELECT citizen, points FROM population ORDER BY citizen", "--limit", "5"
    )
    assert shown.code == 0, shown.text
    assert f"{result.population.num_rows:,} rows; the first 5 shown" in shown.stdout
    lines = [line for line in shown.stdout.splitlines() if line.startswith("│")]
    assert len(lines) == 5
    first = result.population.slice(0, 1).to_pylist()[0]
    assert [cell.strip() for cell in lines[0].split("│")[1:-1]] == [
        str(first["citizen"]),
        str(first["points"]),
    ]


def test_csv_and_parquet_hold_the_whole_result(run: Path, tmp_path: Path) -> None:
    sql = "SELECT day, citizen, behaviour, points, truly_done FROM ledger ORDER BY ALL"
    expected = query(run, sql)
    for flag, read in (("--csv", pcsv.read_csv), ("--parquet", pq.read_table)):
        out = tmp_path / f"ledger.{flag[2:]}"
        done = run_script("query", str(run), sql, flag, str(out), "--limit", "3")
        assert done.code == 0, done.text
        assert f"wrote {expected.num_rows:,} rows to {out}" in done.stdout
        back = read(out)
        assert back.num_rows == expected.num_rows > 500
        for name in expected.column_names:
            assert back[name].to_pylist() == expected[name].to_pylist(), (flag, name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.csv", "ledger.parquet"]


def unfinished(tmp_path: Path) -> Path:
    scenario = carnet.load_scenario(base_scenario(days=3))
    return RunDirectory.create(tmp_path / "unfinished", scenario).path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("{run}", "SELEC count(*) FROM ledger"), 'syntax error at or near "SELEC"'),
        (("{run}", "SELECT * FROM ledgers"), "Table with name ledgers does not exist"),
        (("{run}", "SELECT * FROM ledgers"), "this run's tables: metrics, ledger, population"),
        (("{run}", "SELECT nope FROM ledger"), 'Referenced column "nope" not found'),
        (("{run}", "SELECT 'x'::INTEGER"), "Could not convert string 'x'"),
        (("{run}", ""), "exactly one query, got 0"),
        (("{run}", "COPY ledger TO 'x.csv'"), "COPY refused: carnet query only reads"),
        (("{tmp}", "SELECT 1"), "is not a carnet run directory (no manifest.json)"),
        (("{tmp}/missing", "SELECT 1"), "is not a carnet run directory"),
        (("{unfinished}", "SELECT 1"), "is an unfinished run (no manifest.json)"),
        (("{run}", "SELECT 1", "--csv", "{run}/out.csv"), "is inside the run directory"),
        (("{run}", "SELECT [1, 2] AS l", "--csv", "{tmp}/l.csv"), "write it as Parquet"),
        (("{run}", "SELECT 1", "--csv", "{tmp}/a", "--parquet", "{tmp}/b"), "give one of them"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    run: Path, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    where = {"run": run, "tmp": tmp_path}
    if "{unfinished}" in args[0]:
        where["unfinished"] = unfinished(tmp_path)
    done = run_script("query", *(a.format(**where) for a in args))
    assert done.code == 2, done.text
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == "" and "Traceback" not in done.text
    assert not (run / "out.csv").exists()


def test_a_write_that_fails_exits_1(run: Path, tmp_path: Path) -> None:
    done = run_script("query", str(run), "SELECT 1", "--csv", str(tmp_path / "no" / "x.csv"))
    assert done.code == 1, done.text
    assert f"cannot write {tmp_path / 'no' / 'x.csv'}" in done.stderr
    assert "Traceback" not in done.text


def test_a_folder_that_is_no_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CarnetError, match="not a carnet run directory"):
        query(tmp_path, "SELECT 1")


# --- dossier --html ------------------------------------------------------------------------------


def test_html_dossier_of_a_wronged_citizen(
    run: Path, result: carnet.Result, tmp_path: Path
) -> None:
    ledger = result.ledger
    wronged = ledger.filter(
        pc.and_(pc.invert(ledger["truly_done"]), pc.equal(ledger["kind"], "act"))
    )
    victim = wronged["citizen"][0].as_py()
    dossier = result.dossier(victim)
    out = tmp_path / "victim.html"
    done = run_script("dossier", str(run), str(victim), "--html", str(out))
    assert done.code == 0, done.text
    page = out.read_text(encoding="utf-8")
    assert page == dossier_html(dossier, "test")
    assert f"<h1>Citizen {victim}</h1>" in page
    for key in dossier.attributes:
        assert f"<tr><td>{key}</td><td>" in page, key
    wrongful = [r for r in dossier.rows if dossier.truth(r)[1] == "wrongful"]
    assert page.count('<tr class="wrongful">') == len(wrongful) > 0
    assert "did NOT do it — done by citizen" in page
    for row in dossier.rows:
        assert f'<td class="n">{row["day"]}</td><td>{row["behaviour"]}</td>' in page
    refused = [d for d in dossier.decisions if d["outcome"] != "approved"]
    assert page.count('<tr class="refused">') == len(refused)
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_html_dossier_of_a_company(run: Path, result: carnet.Result, tmp_path: Path) -> None:
    led = result.company_ledger
    assert led is not None
    company = led.filter(pc.equal(led["kind"], "listing"))["company"][0].as_py()
    out = tmp_path / "company.html"
    done = run_script("dossier", str(run), str(company), "--company", "--html", str(out))
    assert done.code == 0, done.text
    page = out.read_text(encoding="utf-8")
    assert f"<h1>Company {company}</h1>" in page
    assert "blacklisted for a" in page
    inside = run_script("dossier", str(run), str(company), "--html", str(run / "d.html"))
    assert inside.code == 2 and "is inside the run directory" in inside.stderr
    assert not (run / "d.html").exists()


def test_html_dossier_escapes_every_value() -> None:
    hostile = '<script>alert("x")</script>'
    dossier = Dossier(
        citizen=7,
        attributes={"group": hostile, "note & more": "<b>bold</b>"},
        rows=[
            {"day": 3, "behaviour": "<img src=x onerror=alert(1)>", "source": "cam'era",
             "points": -5, "balance": 995, "kind": "act", "truly_done": False, "true_actor": 9},
        ],
        blamed_on_others=[{"day": 4, "behaviour": "b", "source": "s", "points": -5,
                           "citizen": '"><script>'}],
        decisions=[{"day": 5, "gate": "<loan>", "grade": "B", "outcome": "refused_grade",
                    "price": 1.0}],
    )  # fmt: skip
    page = dossier_html(dossier, "<scenario>")
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "note &amp; more" in page and "cam&#x27;era" in page
    assert "citizen &quot;&gt;&lt;script&gt;" in page
    assert "&lt;scenario&gt;" in page and "&lt;loan&gt;" in page
    assert '<tr class="wrongful">' in page and "did NOT do it — done by citizen 9" in page
    assert '<tr class="refused">' in page


def test_terminal_and_html_tell_the_same_truth(run: Path, result: carnet.Result) -> None:
    ledger = result.ledger
    victim = ledger.filter(pc.invert(ledger["truly_done"]))["citizen"][0].as_py()
    dossier = result.dossier(victim)
    shown = run_script("dossier", str(run), str(victim))
    assert shown.code == 0, shown.text
    page = dossier_html(dossier, "test")
    for row in dossier.rows:
        truth, _ = dossier.truth(row)
        assert truth in shown.stdout and truth in page


def test_arrow_types_survive_the_round_trip(run: Path) -> None:
    table = query(run, "SELECT day, citizen, points, truly_done, behaviour FROM ledger LIMIT 1")
    assert table.schema.field("day").type == pa.int32()
    assert table.schema.field("points").type == pa.int16()
    assert table.schema.field("truly_done").type == pa.bool_()
    assert table.schema.field("behaviour").type == pa.string()
