"""The report: its charts hold the run's numbers, and the page renders offline in a real browser."""

from __future__ import annotations

import copy
import os
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from helpers import base_scenario, chromium, need, offline_page, run_script

import carnet
from carnet.analysis import audit, charts
from carnet.analysis.report import PNG_SCALE, PNG_WIDTH, draw, report_html, write_pngs, write_report
from carnet.result import Result
from carnet.sim.parameters import POINTS_OFFSET, compile_parameters

ROOT = Path(__file__).resolve().parents[1]
#: Where the browser test leaves its screenshot (git-ignored).
ARTIFACTS = Path(os.environ.get("CARNET_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def _known() -> dict[str, Any]:
    """One group; every red light is seen and pinned on someone else; nothing scales exposure."""
    doc = copy.deepcopy(base_scenario(days=60))
    doc["population"]["size"] = 3000
    doc["sources"][0]["misattribution"] = 1.0
    doc["behaviours"][0]["observed_by"] = [{"source": "camera", "detect": 1.0}]
    doc["description"] = "A test <script>alert('escaped?')</script> & more"
    return doc


@pytest.fixture(scope="module")
def known() -> Result:
    return carnet.simulate(carnet.load_scenario(_known()))


@pytest.fixture(scope="module")
def gated() -> Result:
    """The gated city, small: groups, lists, gates and denunciations."""
    return carnet.simulate(carnet.load_scenario("rongcheng-gated", population=6000, days=60))


@pytest.fixture(scope="module")
def national() -> Result:
    """The national preset, small: everything of the gated city, and companies."""
    return carnet.simulate(carnet.load_scenario("china", population=20000, days=45))


def _total(result: Result, column: str) -> int:
    return int(pc.sum(result.metrics[column]).as_py())


def _daily(table: pa.Table, column: str) -> np.ndarray:
    """A metric summed over groups (or sectors), day by day."""
    by = table.group_by("day").aggregate([(column, "sum")]).sort_by("day")
    return by[f"{column}_sum"].to_numpy()


# --- the charts hold the metrics -----------------------------------------------------------------


def test_grade_shares_are_the_metrics_over_citizens(known: Result) -> None:
    fig = charts.grade_shares(known)
    m = known.metrics
    citizens = m["citizens"].to_numpy()
    assert len(fig.data) == len(known.scenario.grades)  # one group: one trace per grade
    total = np.zeros(known.scenario.run.days)
    for trace, grade in zip(fig.data, known.scenario.grades, strict=True):
        counts = m[f"grade_{grade.name}"].to_numpy()
        assert trace.name == grade.name
        np.testing.assert_array_equal(trace.customdata, counts)
        np.testing.assert_allclose(trace.y, counts / citizens)
        total += trace.y
    np.testing.assert_allclose(total, 1.0)


def test_acts_split_as_the_sources_saw_them(known: Result) -> None:
    fig = charts.acts_observed(known)
    s = known.scenario
    by_outcome = {t.legendgroup: t for t in fig.data}
    assert set(by_outcome) == {"missed", "detected", "misattributed"}
    for i, b in enumerate(s.behaviours):
        counts = {o: _total(known, f"acts_{b.name}_{o}") for o in by_outcome}
        done = sum(counts.values())
        assert by_outcome["missed"].y[i] == f"{b.name} ({done:,})"
        for outcome, trace in by_outcome.items():
            assert trace.customdata[i] == counts[outcome]
            assert trace.x[i] == pytest.approx(counts[outcome] / done)
    # Every red light is detected and pinned on someone else: none missed, none on the doer.
    red = by_outcome["misattributed"]
    assert red.x[0] == 1.0 and red.customdata[0] > 0
    assert by_outcome["missed"].customdata[0] == by_outcome["detected"].customdata[0] == 0


def test_wrongful_sanctions_are_the_misattributed_red_lights(known: Result) -> None:
    fig = charts.wrongful_sanctions(known)
    (trace,) = fig.data  # no denunciations: misattribution is the only cause
    assert trace.name == "misattribution"
    wrongful = _total(known, "acts_red_light_misattributed")
    assert wrongful > 0
    assert trace.customdata[0] == wrongful == known.summary().wrongful_sanctions
    assert trace.y[0] == pytest.approx(wrongful * 1e5 / known.scenario.population.size)


def test_wrongful_sanctions_by_cause_add_up_to_the_summary(gated: Result) -> None:
    fig = charts.wrongful_sanctions(gated)
    by_cause = {t.name: float(np.sum(t.customdata)) for t in fig.data}
    assert by_cause == {
        cause: pytest.approx(n) for cause, n in gated.summary().wrongful_by_cause.items()
    }
    assert [str(g) for g in fig.data[0].x] == [g.name for g in gated.scenario.population.groups]


def test_privacy_exposure_per_citizen_year(known: Result) -> None:
    # Exposure does not scale collection here: each citizen gives each source's rate every day.
    s = known.scenario
    rate = {src.name: src.data_points_per_day for src in s.sources}
    (by_source,) = charts.privacy_by_source(known).data
    assert list(by_source.x) == ["camera", "bank"]
    np.testing.assert_allclose(by_source.y, [rate["camera"] * 365, rate["bank"] * 365])
    days = s.population.size * s.run.days
    np.testing.assert_allclose(by_source.customdata, [rate["camera"] * days, rate["bank"] * days])
    (by_kind,) = charts.privacy_by_sensitivity(known).data
    assert list(by_kind.x) == ["location", "financial"]
    np.testing.assert_allclose(by_kind.y, by_source.y)


def test_points_histogram_counts_the_panel(known: Result) -> None:
    fig = charts.points_distribution(known)
    (trace,) = fig.data
    points = known.population["points"].to_numpy()
    low, high, counts = trace.customdata.T
    for lo, hi, n in zip(low, high, counts, strict=True):
        assert n == np.count_nonzero((points >= lo) & (points <= hi))
    assert counts.sum() == len(points) == known.scenario.population.size
    np.testing.assert_allclose(trace.y, counts / len(points))
    (start,) = fig.layout.shapes
    assert start.x0 == start.x1 == known.scenario.population.start_points


def test_points_on_replays_the_ledger(known: Result) -> None:
    s = known.scenario
    citizens, at_end = audit.points_on(known, s.run.days)
    np.testing.assert_array_equal(citizens, known.population["citizen"].to_numpy())
    np.testing.assert_array_equal(at_end, known.population["points"].to_numpy())
    _, at_start = audit.points_on(known, 0)
    assert (at_start == s.population.start_points).all()
    # Half-way, a citizen's points are the balance of their last change before that day.
    day = s.run.days // 2
    _, half = audit.points_on(known, day)
    ledger = known.ledger.filter(pc.less(known.ledger["day"], day)).to_pylist()
    last = {row["citizen"]: row["balance"] for row in ledger}
    expected = [last.get(c, s.population.start_points) for c in citizens.tolist()]
    np.testing.assert_array_equal(half, expected)


def test_mobility_counts_grade_moves(known: Result) -> None:
    s = known.scenario
    grades = [g.name for g in s.grades]
    end = known.population["grade"].to_pylist()
    # From the start, everyone is in the starting grade (A at 1000 points).
    (start,) = charts.mobility(known, since=0).data
    (a,) = [i for i, g in enumerate(grades) if g == "A"]
    assert [start.text[a][j] for j in range(len(grades))] == [end.count(g) for g in grades]
    assert all(np.isnan(start.z[i]).all() for i in range(len(grades)) if i != a)
    # From the end to the end, nobody moves.
    (still,) = charts.mobility(known, since=s.run.days).data
    assert np.trace(np.asarray(still.text)) == known.population.num_rows
    # Half-way: each cell counts the citizens in that pair of grades.
    day = s.run.days // 2
    (moves,) = charts.mobility(known).data
    assert f"day {day}" in charts.mobility(known).layout.title.text
    _, half = audit.points_on(known, day)
    grade_of = compile_parameters(s).grade_of_points
    before = [grades[i] for i in grade_of[half + POINTS_OFFSET]]
    for i, row in enumerate(grades):
        for j, col in enumerate(grades):
            pairs = sum(1 for x, y in zip(before, end, strict=True) if (x, y) == (row, col))
            assert moves.text[i][j] == pairs


def test_list_stocks_are_the_daily_stocks(national: Result) -> None:
    fig = charts.list_stocks(national)
    lines = {t.name: t for t in fig.data}
    m, cm = national.metrics, national.company_metrics
    assert cm is not None
    for column, label in charts.STOCKS.items():
        if column in m.column_names:
            np.testing.assert_array_equal(lines[label].y, _daily(m, column))
    np.testing.assert_array_equal(lines["companies blacklisted"].y, _daily(cm, "blacklisted"))
    assert {"citizens blacklisted", "citizens redlisted"} <= set(lines)


def test_disparate_impact_plots_the_audit_gates_table(gated: Result) -> None:
    fig = charts.disparate_impact(gated)
    table = audit.gates(gated).to_pylist()
    assert table
    plotted = {
        (gate, t.name): (x, x + hi, x - lo)
        for t in fig.data
        for gate, x, hi, lo in zip(t.y, t.x, t.error_x.array, t.error_x.arrayminus, strict=True)
    }
    assert len(plotted) == len(table)
    for row in table:
        ratio, high, low = plotted[(row["gate"], row["group"])]
        assert ratio == pytest.approx(row["impact_ratio"])
        assert (low, high) == (pytest.approx(row["impact_low"]), pytest.approx(row["impact_high"]))


def test_charts_that_do_not_apply_say_why(known: Result) -> None:
    with pytest.raises(charts.NotApplicableError, match="no gates"):
        charts.disparate_impact(known)
    with pytest.raises(charts.NotApplicableError, match="no lists"):
        charts.list_stocks(known)
    drawn = draw(known)
    assert drawn["impact"] == "this scenario has no gates"
    assert drawn["lists"] == "this scenario has no lists"
    page = report_html(known, drawn)
    assert "Not drawn: this scenario has no gates." in page
    assert 'id="chart-impact"' not in page and 'id="chart-lists"' not in page


# --- the page ------------------------------------------------------------------------------------


def test_page_is_self_contained_and_escapes_the_scenario(known: Result, tmp_path: Path) -> None:
    path = write_report(known, tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert "alert('escaped?')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;escaped?&#x27;)&lt;/script&gt; &amp; more" in page
    assert "misattribution: 1.0" in page  # the scenario's YAML closes the page
    drawn = [c.name for c in charts.CHARTS if not isinstance(draw(known)[c.name], str)]
    assert [n for n in drawn if f'id="chart-{n}"' in page] == drawn


def test_report_renders_offline_in_a_browser(national: Result, tmp_path: Path) -> None:
    path = write_report(national, tmp_path / "report.html")
    expected = [c.name for c in charts.CHARTS]
    assert all(not isinstance(v, str) for v in draw(national).values())  # every chart applies

    with offline_page(("file:",), 1280, 900) as (page, errors, remote):
        page.on("requestfailed", lambda r: remote.append(r.url))
        page.goto(path.as_uri(), wait_until="load")
        drawn = page.evaluate(
            """() => [...document.querySelectorAll('.plotly-graph-div')].map(d => ({
                id: d.id,
                svg: d.querySelectorAll('.main-svg').length,
                traces: (d._fullData || []).length,
                painted: d.querySelectorAll('g.trace').length
                         + d.querySelectorAll('g.hm image').length,
                marks: d.querySelectorAll('g.trace path, g.hm image').length,
            }))"""
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert remote == [], f"the page asked the network for {remote}"
    assert errors == []
    assert [d["id"] for d in drawn] == [f"chart-{n}" for n in expected]
    for d in drawn:
        assert d["svg"] > 0 and d["traces"] > 0, d
        assert d["painted"] == d["traces"] and d["marks"] > 0, d
    assert (ARTIFACTS / "report.png").stat().st_size > 0


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_pngs_for_papers(known: Result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need("kaleido")
    monkeypatch.setenv("BROWSER_PATH", chromium())
    figures = {"grades": charts.grade_shares(known), "acts": charts.acts_observed(known)}
    written = write_pngs(figures, tmp_path / "figures")
    assert [p.name for p in written] == ["grades.png", "acts.png"]
    for path, fig in zip(written, figures.values(), strict=True):
        assert _png_size(path) == (PNG_WIDTH * PNG_SCALE, fig.layout.height * PNG_SCALE)


# --- the command ---------------------------------------------------------------------------------


def test_carnet_report_writes_the_page(known: Result, tmp_path: Path) -> None:
    run = carnet.save_run(known, tmp_path / "run")
    done = run_script("report", str(run))
    assert done.code == 0, done.text
    assert (run / "report.html").is_file()
    assert f"wrote {run / 'report.html'}" in done.stdout
    elsewhere = tmp_path / "elsewhere.html"
    done = run_script("report", str(run), "--out", str(elsewhere))
    assert done.code == 0, done.text
    assert elsewhere.read_bytes() == (run / "report.html").read_bytes()  # same run, same bytes


def test_carnet_report_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    done = run_script("report", str(tmp_path))
    assert done.code == 2
    assert "Traceback" not in done.text


def test_report_of_a_run_with_no_panel(known: Result, tmp_path: Path) -> None:
    empty = replace(known, population=known.population.slice(0, 0), ledger_parts=[])
    drawn = draw(empty)
    assert drawn["points"] == drawn["mobility"] == "the run kept no panel of citizens"
    assert write_report(empty, tmp_path / "r.html").is_file()
