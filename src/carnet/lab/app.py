"""The lab's page: ``carnet lab`` runs this file with Streamlit (``streamlit run``).

Thin: the knobs come from :mod:`carnet.lab.knobs` (the scenario's schema), the widgets from
:mod:`carnet.lab.widgets`, and everything a run, a comparison or a dossier needs from
:mod:`carnet.lab.session`; this module only lays them out. Importing it does nothing: Streamlit
runs it as ``__main__``, which calls :func:`main`.
"""

from __future__ import annotations

import hmac
import math
import os
from typing import Any

import pyarrow as pa
import streamlit as st

from carnet.analysis.charts import CHARTS
from carnet.errors import CarnetError, ScenarioError
from carnet.lab import TOKEN_ENV, TOKEN_PARAM, UPLOAD_MB, session, widgets
from carnet.lab import knobs as knobs_
from carnet.scenario.loading import DEFAULT_PRESET, MAX_SCENARIO_BYTES, preset_names, to_yaml
from carnet.scenario.schema import Scenario

#: Most wrongfully sanctioned citizens offered in the dossier picker.
PICKS = 300
#: Most changes of the scenario listed against the baseline.
SHOWN_CHANGES = 20
ABOUT = {chart.name: chart for chart in CHARTS}
#: The audit figures shown as headline numbers: (table, key column, key, metric, label).
HEADLINES = (
    ("sanctions", "group", "all", "sanctions", "sanctions"),
    ("sanctions", "group", "all", "wrongful", "wrongful sanctions"),
    ("sanctions", "group", "all", "wrongful_share", "wrongful share"),
    ("appeals", "group", "all", "wrongful_left_standing", "wrongful, left standing"),
)


# --- the scenario -----------------------------------------------------------------------------


def _set_base(scenario: Scenario, source: str) -> None:
    """Start from ``scenario``: new widgets (a new key prefix) that start from its values."""
    state = st.session_state
    state["base"] = scenario
    state["base_source"] = source
    state["base_token"] = state.get("base_token", 0) + 1


def _on_preset() -> None:
    name = st.session_state["preset"]
    _set_base(session.preset(name), f"preset {name}")
    st.session_state["upload_error"] = None


def _on_upload() -> None:
    """Read an uploaded scenario in memory; a bad one leaves everything as it was."""
    state = st.session_state
    upload = state.get("upload")
    state["upload_error"] = None
    if upload is None:  # the file was removed: keep the scenario it gave
        return
    try:
        scenario = session.from_upload(upload.name, upload.getvalue())
    except ScenarioError as exc:
        state["upload_error"] = exc
        return
    _set_base(scenario, f"file {upload.name}")


def _reset() -> None:
    state = st.session_state
    _set_base(state["base"], state["base_source"])


def _path(path: str) -> str:
    """A path of a scenario's value as Markdown code (escaped text if it holds a backtick)."""
    return f"`{path}`" if "`" not in path else widgets.text(path)


def _problems(error: ScenarioError) -> str:
    """Every problem, one Markdown line each, with its path as carnet's CLI prints it."""
    lines = [f"**{len(error.problems)} problem(s)** in {widgets.text(error.source)}:"]
    lines += [f"- {_path(path)}: {widgets.text(message)}" if path
              else f"- {widgets.text(message)}" for path, message in error.problems]  # fmt: skip
    return "\n".join(lines)


def scenario_panel() -> tuple[Scenario | None, ScenarioError | None, Any]:
    """The sidebar: preset or upload, then the knobs.

    Returns the edited scenario (or the problems that stop it) and a container, above the
    knobs, for the run's controls.
    """
    state = st.session_state
    if "base" not in state:
        _set_base(session.preset(DEFAULT_PRESET), f"preset {DEFAULT_PRESET}")
    st.header("Scenario")
    names = preset_names()
    st.selectbox(
        "Preset",
        names,
        index=names.index(DEFAULT_PRESET),
        key="preset",
        on_change=_on_preset,
        help="A scenario that ships with carnet; `carnet presets NAME` prints it with sources.",
    )
    st.file_uploader(
        "Or upload a scenario (YAML)",
        type=["yaml", "yml"],
        key="upload",
        on_change=_on_upload,
        max_upload_size=UPLOAD_MB,
        help=f"At most {MAX_SCENARIO_BYTES // 1024:,} kB. It is read in memory and checked as "
        "`carnet validate` checks a file; it is never saved.",
    )
    error, slot = state.get("upload_error"), st.empty()
    if error is not None:
        slot.error("This file was not loaded; the scenario is unchanged.\n\n" + _problems(error))
    base: Scenario = state["base"]
    st.caption(
        f"**{widgets.text(base.name)}**, from {widgets.text(state['base_source'])}. "
        f"{widgets.text(base.description)}"
    )
    controls = st.container()
    all_knobs = knobs_.knobs(base)
    values, slots = widgets.draw(all_knobs, prefix=f"k{state['base_token']}:")
    st.button("Reset the knobs", on_click=_reset, key="reset")
    edits = knobs_.changed(all_knobs, values)
    try:
        edited = knobs_.edit(base, edits) if edits else base
    except ScenarioError as exc:
        for path, message in exc.problems:
            if path in slots:
                slots[path].error(widgets.text(message))
        return None, exc, controls
    return edited, None, controls


# --- the run ----------------------------------------------------------------------------------


def run_controls(edited: Scenario | None, controls: Any) -> bool:
    """Behaviour option, Run button and the scenario's download; True if Run was pressed."""
    with controls:
        st.checkbox(
            "Also count the acts deterred and chilled",
            key="behaviour",
            help="Runs the scenario a second time without any response to the system (the "
            "same random numbers), which about doubles the time of a run.",
        )
        pressed = st.button(
            "Run", key="run", type="primary", disabled=edited is None, width="stretch"
        )
        if edited is not None:
            st.download_button(
                "Download the scenario (YAML)",
                data=lambda: to_yaml(edited),
                file_name=f"{edited.name}.yaml",
                mime="application/x-yaml",
                key="download-yaml",
                on_click="ignore",
            )
    return pressed


def run_now(scenario: Scenario, slot: Any) -> None:
    """Run ``scenario`` with a progress bar in ``slot``; keep the run, or show why not."""
    bar = slot.progress(0.0, text="Starting")

    def progress(done: float, text: str) -> None:
        bar.progress(min(1.0, done), text=text)

    state = st.session_state
    try:
        state["current"] = session.run(
            scenario, behaviour=bool(state.get("behaviour")), progress=progress
        )
    except CarnetError as exc:
        slot.error(str(exc))
        return
    state["runs"] = state.get("runs", 0) + 1
    state["current"].number = state["runs"]
    slot.empty()


def _figure(table: pa.Table, key: str, value: str, metric: str, column: str = "") -> float:
    """One number of an audit table (or of a differences table, then ``column``)."""
    for row in table.to_pylist():
        if row.get(key) == value and (not column or row.get("metric") == metric):
            return float(row[column or metric])
    return math.nan


def _shown(value: float, metric: str) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.2%}" if metric.endswith("share") else f"{value:,.0f}"


def charts(run: session.LabRun) -> None:
    """The report's charts of a run, the same figures as report.html, each sent as drawn."""
    s = run.scenario
    caption = st.empty()
    for name in session.chart_order():
        chart = ABOUT[name]
        st.subheader(chart.title)
        about, body = st.empty(), st.empty()  # the same places whether drawn or not
        drawn = run.figure(name)
        if isinstance(drawn, str):
            about.caption(f"Not drawn: {widgets.text(drawn)}.")
            continue
        about.caption(widgets.text(chart.about))
        body.plotly_chart(
            drawn, theme=None, key=f"chart-{name}", config={"displaylogo": False}, width="stretch"
        )
    sec = run.seconds
    again = sec.get("without responses")
    without = "" if again is None else f" (and without responses in {again:.2f} s)"
    caption.caption(
        f"Run {run.number}: {s.population.size:,} synthetic citizens × {s.run.days:,} days, "
        f"seed {s.run.seed}: simulated in {sec['simulate']:.2f} s{without}, charts drawn in "
        f"{sec['charts']:.2f} s."
    )


def headlines(run: session.LabRun) -> None:
    """A few of the audit's numbers, in a row."""
    tables = run.audit.tables()
    for column, (table, key, value, metric, text) in zip(
        st.columns(len(HEADLINES)), HEADLINES, strict=True
    ):
        column.metric(text, _shown(_figure(tables[table], key, value, metric), metric))


# --- compare ----------------------------------------------------------------------------------


def compare(run: session.LabRun) -> None:
    """Pin a baseline; then every audit number of this run against it."""
    state = st.session_state
    baseline: session.LabRun | None = state.get("baseline")
    left, right = st.columns(2)
    if left.button("Pin this run as the baseline", key="pin", disabled=baseline is run):
        state["baseline"] = baseline = run
    if baseline is not None and right.button("Forget the baseline", key="unpin"):
        state["baseline"] = baseline = None
    if baseline is None:
        st.info(
            "Pin this run as the baseline, change some knobs and run again: each audit number of "
            "the new run is then shown against the baseline's. Keep the same seed, so that both "
            "runs draw the same random numbers (common random numbers) and every difference is "
            "the effect of what you changed, not chance."
        )
        return
    if baseline is run:
        st.info("This run is the baseline. Change some knobs and press Run to compare.")
        return
    changes = session.scenario_changes(baseline.scenario, run.scenario)
    if changes:
        shown = [f"- {_path(path)}: {widgets.text(str(a))} → {widgets.text(str(b))}"
                 for path, a, b in changes[:SHOWN_CHANGES]]  # fmt: skip
        more = len(changes) - SHOWN_CHANGES
        st.markdown(
            "**What changed since the baseline:**\n"
            + "\n".join(shown)
            + (f"\n- … and {more} more" if more > 0 else "")
        )
    else:
        st.markdown("**The same scenario as the baseline**: every difference below is zero.")
    if baseline.scenario.run.seed != run.scenario.run.seed:
        st.warning(
            f"The seeds differ ({baseline.scenario.run.seed} and {run.scenario.run.seed}): the "
            "differences mix the effect of the change with chance."
        )
    key = (id(baseline), id(run))
    if state.get("differences_key") != key:
        state["differences"] = session.differences(baseline, run)
        state["differences_key"] = key
    tables: dict[str, pa.Table] = state["differences"]
    st.markdown("**This run against the baseline** (all citizens):")
    for column, (table, key_col, value, metric, text) in zip(
        st.columns(len(HEADLINES)), HEADLINES, strict=True
    ):
        now = _figure(tables[table], key_col, value, metric, "b")
        diff = _figure(tables[table], key_col, value, metric, "difference")
        delta = f"{diff:+.2%}" if metric.endswith("share") else f"{diff:+,.0f}"
        column.metric(text, _shown(now, metric), delta=delta, delta_color="inverse")
    only = st.toggle("Only the numbers that changed", value=True, key="only-changed")
    for name, table in tables.items():
        shown = session.changed_only(table) if only else table
        st.markdown(f"**{name}** — {shown.num_rows:,} of {table.num_rows:,} numbers")
        if shown.num_rows:
            names = {"a": "baseline", "b": "this run", "difference": "this run - baseline"}
            shown = shown.rename_columns([names.get(c, c) for c in shown.column_names])
            st.dataframe(shown, hide_index=True, key=f"diff-{name}")
    if run.without_responses is None or baseline.without_responses is None:
        st.caption(
            "The behaviour table (acts deterred and chilled) needs both runs made with "
            "'Also count the acts deterred and chilled'."
        )


# --- dossiers ---------------------------------------------------------------------------------


@st.fragment
def dossiers(run: session.LabRun) -> None:
    """Pick a citizen, read their file: each entry, its source, its points, and the truth."""
    from carnet.analysis.dossier_page import dossier_html

    result = run.result
    wronged = session.wrongfully_sanctioned(result)
    st.markdown(
        f"**{wronged.num_rows:,} citizens** of the panel were sanctioned for something they did "
        "not do (someone else's act pinned on them, or a false denunciation)."
    )
    rows = wronged.slice(0, PICKS).to_pylist()
    described = {
        r["citizen"]: f"citizen {r['citizen']} ({r['group']}): {r['wrongful_sanctions']} wrongful "
        f"sanction(s), {r['points_lost']} points"
        for r in rows
    }
    left, right = st.columns(2)
    picked = left.selectbox(
        "A wrongfully sanctioned citizen",
        list(described),
        format_func=described.__getitem__,
        key="dossier-pick",
        index=0 if described else None,
    )
    typed = right.number_input(
        "Or any citizen of the panel, by number",
        min_value=0,
        max_value=max(0, run.scenario.population.size - 1),
        value=None,
        step=1,
        key="dossier-number",
    )
    citizen = typed if typed is not None else picked
    if citizen is None:
        return
    try:
        dossier = result.dossier(int(citizen))
    except CarnetError as exc:
        st.warning(str(exc))
        return
    st.subheader(f"Citizen {dossier.citizen}")
    about = {
        k: f"{v:.3g}" if isinstance(v, float) else str(v) for k, v in dossier.attributes.items()
    }
    st.dataframe(pa.table({"attribute": list(about), "value": list(about.values())}),
                 hide_index=True, key="dossier-about")  # fmt: skip
    timeline = session.timeline(dossier)
    wrong = sum(timeline["wrongful"].to_pylist())
    st.markdown(
        f"**What the system recorded, and what really happened**: {timeline.num_rows} entries, "
        f"{wrong} for acts this citizen did not do."
    )
    st.dataframe(
        timeline,
        hide_index=True,
        key="dossier-timeline",
        column_config={"wrongful": st.column_config.CheckboxColumn("wrongful", width="small")},
    )
    if dossier.blamed_on_others:
        st.markdown(f"**Acts this citizen did, pinned on others**: {len(dossier.blamed_on_others)}")
        st.dataframe(pa.Table.from_pylist(dossier.blamed_on_others), hide_index=True)
    if dossier.decisions:
        st.markdown(f"**Decisions at the gates**: {len(dossier.decisions)}")
        st.dataframe(pa.Table.from_pylist(dossier.decisions), hide_index=True)
    st.download_button(
        "Download this dossier (HTML)",
        data=lambda: dossier_html(dossier, run.scenario.name),
        file_name=f"dossier-{dossier.citizen}.html",
        mime="text/html",
        key="download-dossier",
        on_click="ignore",
    )


# --- the page ---------------------------------------------------------------------------------


def admitted() -> bool:
    """Whether this session may use the lab: yes, unless ``carnet lab`` gave it a token.

    With a token (:data:`carnet.lab.TOKEN_ENV`), a session is admitted once its address has
    carried it (``?token=...``), and stays so; until then the page draws nothing but a refusal,
    so that no widget, and no callback of one, exists in it.
    """
    token = os.environ.get(TOKEN_ENV, "")
    if not token or st.session_state.get("admitted"):
        return True
    given = st.query_params.get(TOKEN_PARAM, "")
    if hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        st.session_state["admitted"] = True
        return True
    return False


@st.cache_resource(show_spinner="Preparing the simulator (once per server)…")
def warmed() -> float:
    """Compile the kernels and import the charts once per server process (a tiny run)."""
    return session.warm_up()


def main() -> None:
    """The whole page, drawn again by Streamlit after every change.

    Everything above the tabs sits in a slot that is always there, filled or empty: Streamlit
    knows an element by its place, so the charts keep theirs from run to run and are updated
    in place rather than drawn anew.
    """
    st.set_page_config(page_title="carnet lab", layout="wide")
    if not admitted():
        st.error(
            "This lab asks for its token: open the address that `carnet lab` printed, "
            f"which ends in `?{TOKEN_PARAM}=…`."
        )
        st.stop()
    warmed()
    with st.sidebar:
        edited, error, controls = scenario_panel()
        pressed = run_controls(edited, controls)
    st.title("carnet lab")
    st.caption(
        "Simulate a social-credit system on a synthetic society and audit what it does to the "
        "people in it. Every figure is about synthetic citizens drawn from aggregate "
        "parameters, never about real people."
    )
    problems, notice, progress = st.empty(), st.empty(), st.empty()
    if error is not None:
        problems.error("The edited scenario cannot run.\n\n" + _problems(error))
    state = st.session_state
    first = not state.get("opened")  # a new session opens on a run of the default scenario
    state["opened"] = True
    if (pressed or first) and edited is not None:
        run_now(edited, progress)
    run: session.LabRun | None = state.get("current")
    if run is None:
        notice.info("Choose a scenario, turn the knobs, and press **Run**.")
        return
    if edited is not None and edited != run.scenario:
        notice.info("The knobs have changed since this run: press **Run** to see what they do.")
    # Only the open tab is drawn (the others would slow every run down): a tab switch reruns.
    tab_charts, tab_compare, tab_dossiers, tab_report = st.tabs(
        ["Charts", "Compare", "Dossiers", "Report"], key="tab", on_change="rerun"
    )
    if tab_charts.open:
        with tab_charts:
            top = st.container()
            charts(run)
        with top:
            headlines(run)  # above the charts, computed after them: the audit waits for them
    if tab_compare.open:
        with tab_compare:
            compare(run)
    if tab_dossiers.open:
        with tab_dossiers:
            dossiers(run)
    if tab_report.open:
        with tab_report:
            report(run)


def report(run: session.LabRun) -> None:
    """The run's report, as the download of one HTML page."""
    from carnet.analysis.report import report_html

    st.markdown(
        "The report of this run: every chart in one HTML page that opens offline, the audit's "
        "gates table and the scenario."
    )
    st.download_button(
        "Download the report (HTML)",
        data=lambda: report_html(run.result, run.figures),
        file_name=f"{run.scenario.name}-report.html",
        mime="text/html",
        key="download-report",
        on_click="ignore",
    )


if __name__ == "__main__":
    main()
