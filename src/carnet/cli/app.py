"""The ``carnet`` command line: a thin layer over the library.

Each command parses its arguments, calls the functions that the Python API offers, and prints what
they return. Errors that carnet reports (:class:`carnet.errors.CarnetError`) are printed without a
traceback and end the command with their exit code: 2 for input that cannot be used (a scenario, a
run directory, a citizen), 1 for anything else. The engine is imported inside the commands that
need it, so that ``carnet validate`` and ``carnet presets`` start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carnet.cli import audit as audit_commands
from carnet.cli import calibrate as calibrate_commands
from carnet.cli import sensitivity as sensitivity_commands
from carnet.cli import validation as validation_commands
from carnet.cli.common import (
    EXIT_INPUT,
    console,
    fail,
    one_line,
    pct,
    reported,
    signed,
    thousands,
)
from carnet.runs.layout import REPORT

if TYPE_CHECKING:
    import pyarrow as pa
    from rich.text import Text

    from carnet.result import Dossier, Summary

app = typer.Typer(
    name="carnet",
    help=(
        "Simulate and audit social-credit systems on synthetic societies. "
        "Populations are synthesised from aggregate parameters only; carnet never reads, scores "
        "or decides about real people."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"carnet {version('carnet')}")
        except PackageNotFoundError:
            typer.echo("carnet (version unknown: not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show carnet's version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Simulate and audit social-credit systems on synthetic societies."""


# --- presets, validate ---------------------------------------------------------------------------


@app.command()
def presets(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="Print this preset's YAML (to copy and edit it)."),
    ] = None,
) -> None:
    """List the scenarios that ship with carnet, or print one of them as YAML."""
    from rich.table import Table
    from rich.text import Text

    from carnet.errors import CarnetError
    from carnet.scenario.loading import load_scenario, preset_names, preset_text

    names = preset_names()
    if name is not None:
        if name not in names:
            raise fail(f"unknown preset {name!r}; presets: {', '.join(names)}")
        sys.stdout.write(preset_text(name))
        return
    table = Table(title="carnet presets", title_justify="left")
    table.add_column("preset", style="bold", no_wrap=True)
    table.add_column("citizens", justify="right", no_wrap=True)
    table.add_column("days", justify="right", no_wrap=True)
    table.add_column("description")
    for preset in names:
        try:
            scenario = load_scenario(preset)
        except CarnetError as exc:
            problem = Text(f"(cannot be loaded: {one_line(str(exc))})", style="red")
            table.add_row(Text(preset), "", "", problem)
            continue
        table.add_row(
            Text(preset),
            thousands(scenario.population.size),
            str(scenario.run.days),
            Text(one_line(scenario.description)),
        )
    out = console()
    out.print(table)
    out.print("Show one as YAML: carnet presets NAME", markup=False)


@app.command()
def validate(
    file: Annotated[
        str, typer.Argument(metavar="FILE", help="Scenario YAML file (or preset name).")
    ],
) -> None:
    """Check a scenario file and list every problem in it, each with its path."""
    from carnet.errors import clean
    from carnet.scenario.loading import load_scenario

    with reported(f"validating {clean(file, 600)}"):
        scenario = load_scenario(file)
        from carnet.sim.output_names import check as check_names
        from carnet.sim.timeline import check as check_timeline

        check_names(scenario, clean(file, 600))
        check_timeline(scenario, clean(file, 600))
    size = thousands(scenario.population.size)
    typer.echo(
        f"{clean(file, 600)}: valid (scenario {scenario.name}, {size} citizens, "
        f"{scenario.run.days} days)"
    )


# --- run -----------------------------------------------------------------------------------------


def _print_summary(summary: Summary, name: str) -> None:
    from rich.table import Table

    out = console()
    out.print(
        f"\n[bold]{name}[/bold]: {thousands(summary.citizens)} synthetic citizens, "
        f"{summary.days} days"
    )

    grades = Table(title="Grades at the end (share of citizens)", title_justify="left")
    grades.add_column("group", style="bold")
    for grade in summary.grades:
        grades.add_column(grade, justify="right")
    grades.add_column("mean points", justify="right")
    for group, shares in summary.grade_shares.items():
        if group == "all":
            grades.add_section()
        mean = summary.mean_points.get(group)
        grades.add_row(
            group,
            *(f"{100.0 * shares.get(g, 0.0):.1f}%" for g in summary.grades),
            "" if mean is None else f"{mean:.1f}",
        )
    out.print(grades)

    acts = Table(title="Sanctions and rewards", title_justify="left")
    acts.add_column("")
    acts.add_column("count", justify="right")
    acts.add_column("share", justify="right")
    acts.add_row("sanctions (point deductions)", thousands(summary.sanctions), "")
    acts.add_row(
        "  wrongful (act not done by them)",
        thousands(summary.wrongful_sanctions),
        pct(summary.wrongful_sanctions, summary.sanctions),
        style="red" if summary.wrongful_sanctions else None,
    )
    for cause, count in summary.wrongful_by_cause.items():
        acts.add_row(f"    {cause}", thousands(count), pct(count, summary.sanctions))
    acts.add_section()
    acts.add_row("rewards (point additions)", thousands(summary.rewards), "")
    acts.add_row(
        "  wrongful",
        thousands(summary.wrongful_rewards),
        pct(summary.wrongful_rewards, summary.rewards),
    )
    acts.add_section()
    acts.add_row("records expired, points restored", thousands(summary.expired), "")
    out.print(acts)

    for title, counts in (
        ("Data collected, by source", summary.data_points_by_source),
        ("Data collected, by sensitivity", summary.data_points_by_sensitivity),
    ):
        data = Table(title=title, title_justify="left")
        data.add_column(title.rsplit(" ", 1)[-1])
        data.add_column("data points", justify="right")
        data.add_column("share", justify="right")
        total = sum(counts.values())
        for key, count in counts.items():
            data.add_row(key, thousands(count), pct(count, total))
        data.add_section()
        data.add_row("total", thousands(total), "")
        out.print(data)

    if summary.lists:
        lists = Table(title="Lists", title_justify="left")
        lists.add_column("list")
        lists.add_column("entries", justify="right")
        lists.add_column("exits", justify="right")
        lists.add_column("on it at the end", justify="right")
        for name, (entries, exits, stock) in summary.lists.items():
            lists.add_row(name, thousands(entries), thousands(exits), thousands(stock))
        out.print(lists)
    if summary.decisions:
        gates = Table(title="Decisions at the gates", title_justify="left")
        gates.add_column("gate")
        outcomes = sorted({o for by in summary.decisions.values() for o in by})
        for outcome in outcomes:
            gates.add_column(outcome.replace("_", " "), justify="right")
        gates.add_column("refused", justify="right")
        for gate, by in summary.decisions.items():
            total = sum(by.values())
            refused = total - by.get("approved", 0)
            gates.add_row(gate, *(thousands(by.get(o, 0)) for o in outcomes), pct(refused, total))
        out.print(gates)


def _parse_size(text: str) -> int:
    """``24G``, ``1.5GB``, ``512M``, ``800000000`` → bytes."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in units else ""
    try:
        value = float(t[: len(t) - len(unit)])
    except ValueError:
        raise fail(
            f"--max-memory {text!r}: expected a size such as 8G, 500M or 2000000000"
        ) from None
    if value <= 0:
        raise fail(f"--max-memory {text!r}: must be positive")
    return int(value * units[unit])


@app.command()
def run(
    scenario: Annotated[
        str, typer.Argument(metavar="SCENARIO", help="Preset name or scenario YAML file.")
    ] = "rongcheng",
    days: Annotated[int | None, typer.Option(help="Override run.days.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override run.seed.")] = None,
    population: Annotated[int | None, typer.Option(help="Override population.size.")] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="Set one value of the scenario by its path, e.g. "
            "--set sources.traffic_cameras.misattribution=0.01 (repeatable; VALUE is YAML).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Run directory (default: runs/<scenario>-seed<seed>, never reused)."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Threads, or worker processes for shards (default: all cores)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the previous run in --out (only a run).")
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN",
            help="Continue an interrupted run from its last checkpoint (takes no scenario).",
        ),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(min=0, metavar="DAYS", help="Days between checkpoints (run.checkpoint_days)."),
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(metavar="SIZE", help="Refuse runs predicted to need more (default: free)."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the run directory.")
    ] = False,
    replicates: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Audit N seeds (run.seed and the next) and report means with 95% intervals.",
        ),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write report.html into the run.")
    ] = False,
    shards: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="K",
            help="Run as K shards in parallel processes (Dask; the same result as one process).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Run the shards on the Dask cluster at tcp://HOST:PORT (--out must be a path "
            "every worker shares).",
        ),
    ] = None,
) -> None:
    """Simulate a scenario into a run directory, with checkpoints, and print what it did."""
    limit = _parse_size(max_memory) if max_memory is not None else None
    if resume is not None:
        options = (days, seed, population, out, replicates, shards, assignments)
        if any(v is not None for v in options) or overwrite:
            raise fail("--resume continues a run as it was started; it takes no other options")
        with reported(f"reading {resume}", exit_code=EXIT_INPUT):
            from carnet.runs.launch import prepare_resume

            resolved, sharded = prepare_resume(resume)
        target = resume
    else:
        from carnet.scenario.loading import load_scenario

        with reported(f"loading {scenario}"):
            resolved = load_scenario(scenario, days=days, seed=seed, population=population)
            if assignments:
                from carnet.scenario.paths import parse_assignments
                from carnet.scenario.paths import set as set_values

                resolved = set_values(resolved, parse_assignments(assignments))
        if replicates is not None:
            from carnet.cli.audit import run_replicates

            run_replicates(resolved, replicates, out, threads, quiet)
            return
        with reported("preparing the run"):  # an unusable --out exits 2, a missing Dask 1
            from carnet.runs.launch import prepare

            launch = prepare(
                resolved, out, overwrite=overwrite, shards=shards, scheduler=scheduler,
                threads=threads, max_memory=limit, checkpoint_every=checkpoint_every,
            )  # fmt: skip
        target, sharded = launch.out, launch.sharded
        if launch.why_shards is not None and not quiet:
            console(stderr=True).print(launch.why_shards, markup=False)

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        disable=quiet,
    )
    task = progress.add_task(
        f"{resolved.name}, {thousands(resolved.population.size)} citizens",
        total=resolved.run.days,
        unit="shards done" if sharded else "days",
    )

    def on_day(done_days: int, total_days: int) -> None:
        progress.update(task, completed=done_days, total=total_days)

    action = f"running {resolved.name} into {target}; continue with: carnet run --resume {target}"
    with progress, reported(action):
        from carnet.runs.launch import resume as resume_run
        from carnet.runs.launch import start

        if resume is not None:
            finished = resume_run(
                resume, scheduler=scheduler, threads=threads, max_memory=limit,
                checkpoint_every=checkpoint_every, progress=on_day,
            )  # fmt: skip
        else:
            finished = start(launch, on_day)

    if not no_report:
        with reported(f"writing {finished.path / REPORT}"):
            from carnet.analysis.report import write_report

            write_report(finished.result, finished.path / REPORT)
    if finished.replaced is not None:  # on stderr, so that --quiet still tells it
        console(stderr=True).print(finished.replaced, markup=False)
    if quiet:
        typer.echo(str(finished.path))
        return
    if finished.resumed_from is not None:
        console().print(f"resumed at day {finished.resumed_from}", markup=False)
    with reported("summarising the run"):
        _print_summary(finished.result.summary(), resolved.name)
    out_console = console()
    out_console.print(f"run directory: {finished.path}", markup=False)
    out_console.print(f"head hash: {finished.head}", markup=False, soft_wrap=True)
    out_console.print(
        f"check it later with: carnet verify {finished.path} --head {finished.head}",
        markup=False,
        soft_wrap=True,
    )
    out_console.print(
        f"dossier of one citizen: carnet dossier {finished.path} CITIZEN", markup=False
    )
    if not no_report:
        out_console.print(f"report: {finished.path / REPORT}", markup=False)


@app.command()
def verify(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    head: Annotated[
        str | None,
        typer.Option(help="The head hash that carnet run printed, kept elsewhere."),
    ] = None,
) -> None:
    """Check that no file of a run was modified, removed, reordered or added since it ran."""
    from carnet.runs.integrity import verify as verify_run

    with reported(f"verifying {run_dir}"):
        problems = verify_run(run_dir, head)
    if problems:
        lines = [f"{run_dir}: NOT intact, {len(problems)} problem(s)"]
        lines += [f"  {p}" for p in problems]
        raise fail("\n".join(lines), 1)
    from carnet.runs.directory import read_manifest

    manifest = read_manifest(run_dir)
    typer.echo(
        f"{run_dir}: intact ({len(manifest['files'])} files, "
        f"{len(manifest['ledger_chain'])} ledger parts, head {manifest['head']})"
    )


# --- dossier -------------------------------------------------------------------------------------


#: How the terminal shows each tone of :meth:`carnet.result.Dossier.truth`.
_TONE_STYLES = {"wrongful": "bold red", "serious": "bold", "redress": "bold green", "minor": "dim"}


def _value(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _print_dossier(dossier: Dossier) -> None:
    from rich.table import Table
    from rich.text import Text

    out = console()
    who = dossier.entity
    about = Table(
        title=f"{who.capitalize()} {dossier.citizen}", title_justify="left", show_header=False
    )
    about.add_column("attribute", style="bold")
    about.add_column("value")
    for key, value in dossier.attributes.items():
        about.add_row(key, _value(value))
    out.print(about)

    if dossier.rows:
        timeline = Table(title="What the system recorded, and the truth", title_justify="left")
        timeline.add_column("day", justify="right")
        timeline.add_column("behaviour", no_wrap=True)
        timeline.add_column("source", no_wrap=True)
        timeline.add_column("points", justify="right")
        timeline.add_column("balance", justify="right")
        timeline.add_column("truth")
        wrongful = 0
        for row in dossier.rows:
            truth, tone = dossier.truth(row)
            wrongful += tone == "wrongful"
            timeline.add_row(
                _value(row.get("day", "")),
                _value(row.get("behaviour", "")),
                _value(row.get("source") or ""),
                signed(row.get("points")),
                _value(row.get("balance", "")),
                Text(truth, style=_TONE_STYLES.get(tone, "")),
            )
        out.print(timeline)
        out.print(
            f"{len(dossier.rows)} entries; {wrongful} of them for acts this {who} did not do.",
            markup=False,
        )
    else:
        out.print(f"The system recorded nothing about this {who}.", markup=False)

    if dossier.blamed_on_others:
        others = Table(title=f"Acts this {who} did, pinned on others", title_justify="left")
        others.add_column("day", justify="right")
        others.add_column("behaviour", no_wrap=True)
        others.add_column("source", no_wrap=True)
        others.add_column("points", justify="right")
        others.add_column("recorded against", justify="right")
        for row in dossier.blamed_on_others:
            blamed = row.get(who)
            others.add_row(
                _value(row.get("day", "")),
                _value(row.get("behaviour", "")),
                _value(row.get("source") or ""),
                signed(row.get("points")),
                "" if blamed is None else f"{who} {blamed}",
            )
        out.print(others)

    if dossier.decisions:
        gates = Table(title="Decisions about this citizen", title_justify="left")
        gates.add_column("day", justify="right")
        gates.add_column("gate", no_wrap=True)
        gates.add_column("grade then")
        gates.add_column("outcome")
        gates.add_column("price", justify="right")
        for row in dossier.decisions:
            outcome = str(row.get("outcome", ""))
            gates.add_row(
                _value(row.get("day", "")),
                _value(row.get("gate", "")),
                _value(row.get("grade", "")),
                Text(outcome, style="" if outcome == "approved" else "bold red"),
                _value(row.get("price", "")),
            )
        out.print(gates)


@app.command()
def dossier(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    citizen: Annotated[
        int, typer.Argument(min=0, metavar="CITIZEN", help="Citizen number (in the panel).")
    ],
    company: Annotated[
        bool, typer.Option("--company", help="CITIZEN is a company number: show its file.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write the file as a self-contained HTML page instead."),
    ] = None,
) -> None:
    """Show everything the system recorded about one citizen, next to what really happened."""
    with reported(f"reading {run_dir}", exit_code=EXIT_INPUT):
        from carnet.runs.directory import load_run

        result = load_run(run_dir)
        found = result.company_dossier(citizen) if company else result.dossier(citizen)
    if html is None:
        _print_dossier(found)
        return
    with reported(f"writing {html}"):
        from carnet.analysis.dossier_page import dossier_html
        from carnet.runs.directory import write_outside

        write_outside(run_dir, html, dossier_html(found, result.scenario.name).encode("utf-8"))
    typer.echo(f"wrote {html}")


# --- query ---------------------------------------------------------------------------------------


def _cell(value: object) -> Text:
    from rich.text import Text

    from carnet.errors import clean

    if value is None:
        return Text("NULL", style="dim")
    return Text(clean(str(value), 200))


def _print_rows(table: pa.Table) -> None:
    import pyarrow.types as pt
    from rich.table import Table

    from carnet.errors import clean

    shown = Table()
    for name, kind in zip(table.schema.names, table.schema.types, strict=True):
        numeric = pt.is_integer(kind) or pt.is_floating(kind) or pt.is_decimal(kind)
        shown.add_column(clean(name, 60), justify="right" if numeric else "left", overflow="fold")
    for row in table.to_pylist():
        shown.add_row(*(_cell(v) for v in row.values()))
    console().print(shown)
    sys.stdout.flush()  # the rows now, before the count that may take a while


#: Seconds spent counting the rows of a result past those shown; past that, "at least N rows".
COUNT_SECONDS = 1.0


@app.command()
def query(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    sql: Annotated[
        str,
        typer.Argument(
            metavar="SQL",
            help="One DuckDB query over the tables metrics, ledger, population, decisions, gates "
            "(and companies, company_metrics, company_ledger).",
        ),
    ],
    limit: Annotated[int, typer.Option(min=0, help="Rows to show on the terminal.")] = 50,
    csv: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Write the whole result as CSV instead.")
    ] = None,
    parquet: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write the whole result as Parquet instead."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            min=0,
            help="Stop the query after this long (writing a file included); 0: no limit.",
        ),
    ] = 120.0,
    max_memory: Annotated[
        str | None,
        typer.Option(
            "--max-memory",
            metavar="SIZE",
            help="DuckDB's memory, such as 500M or 4G; beyond it, it spills to a temporary "
            "folder or the query fails (default: 2G, or half this machine's memory if less).",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="DuckDB's threads (default: this machine's cores, at most 4)."),
    ] = None,
) -> None:
    """Run SQL over a run's Parquet files, read-only and offline; show or save the result.

    The first rows show as soon as DuckDB has them; the rows past them are counted for a
    second at most (else "at least N rows"). --csv and --parquet write the whole result,
    streamed to the file.
    """
    from carnet.errors import RunError
    from carnet.runs.query import (
        Bounds,
        QueryLimitError,
        default_memory,
        default_threads,
        export,
        stream,
    )

    if csv is not None and parquet is not None:
        raise fail("--csv and --parquet: give one of them")
    bounds = Bounds(
        timeout=timeout or None,
        memory=_parse_size(max_memory) if max_memory is not None else default_memory(),
        threads=threads or default_threads(),
    )
    out = csv or parquet
    with reported(f"querying {run_dir}", exit_code=EXIT_INPUT):
        try:
            if out is not None:
                n = export(run_dir, sql, out, "csv" if csv else "parquet", bounds)
                typer.echo(f"wrote {thousands(n)} rows to {out}")
                return
            with stream(run_dir, sql, bounds) as rows:
                head = rows.head(limit + 1)
                _print_rows(head.slice(0, limit))
                ended = head.num_rows <= limit or rows.count_rest(COUNT_SECONDS)
                n = rows.read
        except (QueryLimitError, RunError) as exc:  # a bound or a write: not the input's fault
            raise fail(str(exc), exc.exit_code) from None
    total = f"{thousands(n)} row{'' if n == 1 else 's'}"
    if not ended:
        total = f"at least {total} (counting stopped after {COUNT_SECONDS:g} s)"
    if n > limit:
        total += f"; the first {limit} shown (--limit N for more, --csv or --parquet FILE for all)"
    console().print(total, markup=False)


# --- report --------------------------------------------------------------------------------------


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write the page here instead of RUN/report.html."),
    ] = None,
    png: Annotated[
        bool,
        typer.Option(
            "--png",
            help="Also write every chart as a PNG into figures/ beside the page "
            "(needs kaleido and Chrome or Chromium: pip install 'carnet[png]').",
        ),
    ] = False,
) -> None:
    """Write a run's report: one HTML page with every chart, that opens offline."""
    with reported(f"reading {run_dir}", exit_code=EXIT_INPUT):
        from carnet.runs.directory import load_run

        result = load_run(run_dir)
    target = run_dir / REPORT if out is None else out
    figures = target.parent / "figures" if png else None
    with reported(f"writing {target}", exit_code=EXIT_INPUT):
        from carnet.runs.directory import check_outside_runs

        for path in (target, figures):
            if path is not None:
                check_outside_runs(path, report_of=run_dir)
    with reported(f"writing {target}"):
        from carnet.analysis.report import write_report

        write_report(result, target, png_dir=figures)
    typer.echo(f"wrote {target}" + (f" and every chart as a PNG in {figures}" if figures else ""))


# --- lab -----------------------------------------------------------------------------------------


@app.command()
def lab(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve the lab on.")] = 8501,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on (default: this machine only; any other needs --expose)."
        ),
    ] = "127.0.0.1",
    expose: Annotated[
        bool,
        typer.Option(
            "--expose",
            help="Let --host be an address other machines may reach. The lab has no login: "
            "anyone who reaches it could run simulations here, so it asks for a random token "
            "in its address.",
        ),
    ] = False,
    token: Annotated[
        bool,
        typer.Option(
            "--token",
            help="Ask for a random token in the lab's address on this machine too (other "
            "users of it reach 127.0.0.1 as well); always so with --expose.",
        ),
    ] = False,
) -> None:
    """Open the lab: a web page to turn a scenario's knobs and watch who is punished."""
    import secrets

    from carnet.lab import is_loopback

    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if host.strip() in ("", "0.0.0.0", "::"):
        shown += " (every interface of this machine)"
    if not is_loopback(host):
        if not expose:
            raise fail(
                f"carnet lab: --host {host!r} is not this machine alone (127.0.0.1, ::1 or "
                f"localhost). The lab has no login: anyone who can reach {shown} could run "
                "simulations on this machine. Add --expose to serve it there anyway, behind a "
                "random token in its address."
            )
        typer.echo(
            f"carnet lab: warning: listening on {shown}, which other machines may reach. The lab "
            "has no login: anyone who can reach that address and has the token in the address "
            "below can run simulations on this machine; the token travels in plain HTTP.",
            err=True,
        )
    with reported("starting the lab"):
        from carnet.lab import serve

        serve(host, port, secrets.token_urlsafe(24) if expose or token else None)


app.command()(audit_commands.audit)
app.command()(audit_commands.compare)
app.command()(audit_commands.sweep)
app.command()(sensitivity_commands.sensitivity)
app.command()(calibrate_commands.calibrate)
app.command()(validation_commands.validation)


def main() -> None:
    """Entry point of the ``carnet`` console script."""
    app(prog_name="carnet")
