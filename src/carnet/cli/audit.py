"""The audit's commands: ``carnet audit``, ``carnet compare`` and ``carnet run --replicates``.

Thin: the numbers come from :mod:`carnet.analysis.audit` and :mod:`carnet.analysis.replicates`;
this module picks
the headline figures of each table and prints them, each with its 95% interval when it has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import typer

from carnet.cli.common import (
    EXIT_INPUT,
    Scheduler,
    Workers,
    console,
    fail,
    progress_bar,
    reported,
)
from carnet.scenario.schema import Scenario

#: What each audit table shows on the terminal: its rows (a filter on key columns, or none)
#: and its headline numbers. Everything else is in the Parquet files.
HEADLINES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "sanctions": ({}, ("sanctions", "wrongful", "wrongful_share", "wrongful_per_100k")),
    "listings": ({}, ("entries", "wrongful_entries", "days_per_entry")),
    "gates": ({}, ("applications", "approval_rate", "impact_ratio", "refused_wrongfully")),
    "privacy": ({"group": "all"}, ("per_citizen_year",)),
    "behaviour": ({"group": "all"}, ("acts", "acts_without_responses", "change_share")),
    "appeals": ({}, ("filed", "won", "wrongful_left_standing")),
    "sanctions_by_place": ({}, ("sanctions", "wrongful", "wrongful_share")),
}
TITLES = {
    "sanctions": "Sanctions (point deductions) and the wrongful ones",
    "listings": "Lists: entries, and listings for violations never committed",
    "gates": "Gates: approvals, disparate impact (÷ the most favoured group), wrongful refusals",
    "privacy": "Data collected per citizen-year",
    "behaviour": "Behaviour with responses vs without (deterred, chilled)",
    "appeals": "Appeals, and wrongful sanctions left standing",
    "sanctions_by_place": "Sanctions by region and income quintile (the panel)",
}


def _figure(value: float) -> str:
    if value != value:  # NaN
        return "–"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _cell(row: dict[str, Any], centre: str) -> str:
    mid, low, high = row[centre], row["low"], row["high"]
    if low == high == mid:
        return _figure(mid)
    return f"{_figure(mid)} [{_figure(low)}, {_figure(high)}]"


def print_tables(tables: dict[str, pa.Table], centre: str, caption: str) -> None:
    """Print the headline numbers of long audit tables (``metric`` and ``centre``, low, high)."""
    from rich.table import Table

    out = console()
    out.print(caption, markup=False)
    for name, (where, metrics) in HEADLINES.items():
        table = tables.get(name)
        if table is None or table.num_rows == 0:
            continue
        keys = [f.name for f in table.schema if pa.types.is_string(f.type) and f.name != "metric"]
        cells: dict[tuple[Any, ...], dict[str, str]] = {}
        for row in table.to_pylist():
            if row["metric"] in metrics and all(row[k] == v for k, v in where.items()):
                key = tuple(row[k] for k in keys if k not in where)
                cells.setdefault(key, {})[row["metric"]] = _cell(row, centre)
        shown = Table(title=TITLES[name], title_justify="left")
        for k in keys:
            if k not in where:
                shown.add_column(k, no_wrap=True)
        for metric in metrics:
            shown.add_column(metric.replace("_", " "), justify="right")
        for key, values in cells.items():
            shown.add_row(*map(str, key), *(values.get(m, "") for m in metrics))
        out.print(shown)


def _save(tables: dict[str, pa.Table], folder: Path, scenario: Scenario | None = None) -> None:
    from carnet.runs.directory import atomic_write, write_tables
    from carnet.scenario.loading import to_yaml

    write_tables(tables, folder)
    if scenario is not None:
        atomic_write(folder / "scenario.yaml", to_yaml(scenario).encode("utf-8"))


def run_replicates(
    scenario: Scenario, n: int, out: Path | None, threads: int | None, quiet: bool
) -> None:
    """``carnet run --replicates N``: audit N seeds, print means with 95% intervals, save them."""
    from carnet.analysis.replicates import replicate, summarise

    target = out or Path("runs") / f"{scenario.name}-seed{scenario.run.seed}-x{n}"
    bar, task = progress_bar(f"{scenario.name}: {n} seeds", n, quiet)
    with bar, reported(f"running {n} replicates of {scenario.name}"):
        audits = replicate(
            scenario, n, threads=threads, progress=lambda d, t: bar.update(task, completed=d)
        )
    tables = summarise(audits)
    with reported(f"writing {target}", exit_code=1):
        _save(tables, target, scenario)
    if quiet:
        typer.echo(str(target))
        return
    seeds = f"seeds {scenario.run.seed}..{scenario.run.seed + n - 1}"
    print_tables(tables, "mean", f"mean over {n} replicates [95% interval], {seeds}")
    console().print(f"replicates: {target} (one Parquet file per table)", markup=False)


def audit(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory.")],
    out: Annotated[
        Path | None, typer.Option(help="Write every audit table as Parquet into this folder.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Threads (default: all).")] = None,
) -> None:
    """Audit a run: wrongful sanctions, exclusion at the gates, privacy, behaviour, appeals.

    Behaviour change needs the same run without responses to the system: carnet runs it again
    from the run's scenario and seed (common random numbers), in memory.
    """
    from carnet.analysis.audit import audit_with_behaviour
    from carnet.analysis.replicates import summarise
    from carnet.runs.directory import load_run

    with reported(f"reading {run_dir}", exit_code=EXIT_INPUT):
        result = load_run(run_dir)
    with reported("running it again without responses"):
        found = audit_with_behaviour(result, threads=threads)
    if out is not None:
        with reported(f"writing {out}", exit_code=EXIT_INPUT):
            from carnet.runs.directory import check_outside_runs

            check_outside_runs(out)
        with reported(f"writing {out}", exit_code=1):
            found.save(out)
    s = result.scenario
    print_tables(
        summarise([found]), "mean", f"{s.name}, seed {s.run.seed}, {s.run.days} days; "
        "impact intervals in the Parquet files"
    )  # fmt: skip


def compare(
    a: Annotated[str, typer.Argument(metavar="A", help="Preset name or scenario YAML file.")],
    b: Annotated[str, typer.Argument(metavar="B", help="The scenario to set against A.")],
    replicates: Annotated[int, typer.Option(min=1, help="Seeds to run each on.")] = 5,
    days: Annotated[int | None, typer.Option(help="Override run.days of both.")] = None,
    population: Annotated[
        int | None, typer.Option(help="Override population.size of both.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write every difference as Parquet into this folder.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Threads (default: all).")] = None,
) -> None:
    """Compare two scenarios on the same seeds (common random numbers): B - A, with 95% intervals.

    The seeds are A's ``run.seed`` and the next ones; B runs on the same.
    """
    from carnet.analysis.replicates import compare as compare_runs
    from carnet.scenario.loading import load_scenario

    with reported(f"loading {a}"):
        sa = load_scenario(a, days=days, population=population)
    with reported(f"loading {b}"):
        sb = load_scenario(b, days=days, population=population, seed=sa.run.seed)
    if sa.population.size != sb.population.size or sa.run.days != sb.run.days:
        raise fail(
            "A and B must have the same population size and days to be compared; "
            "use --population and --days"
        )
    bar, task = progress_bar(f"{sa.name} vs {sb.name}", replicates, False)
    with bar, reported(f"comparing {sa.name} and {sb.name}"):
        tables = compare_runs(
            sa, sb, replicates, threads=threads,
            progress=lambda d, t: bar.update(task, completed=d),
        )  # fmt: skip
    if out is not None:
        with reported(f"writing {out}", exit_code=1):
            _save(tables, out)
    print_tables(
        tables, "difference", f"B - A over {replicates} seeds [95% interval]; A = {a}, B = {b}"
    )


def sweep(
    sweep_file: Annotated[Path, typer.Argument(metavar="SWEEP", help="A sweep YAML file.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Sweep folder (default: sweeps/<sweep file name>); run again to resume."),
    ] = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
) -> None:
    """Run a grid of scenario overrides x seeds on Dask; one Parquet table of every cell's figures.

    A sweep that stops is finished by running the same command again: done cells are kept.
    """
    from carnet.analysis.sweep import Sweep, run_sweep

    with reported(f"reading {sweep_file}"):
        plan = Sweep(sweep_file)
    target = out or Path("sweeps") / sweep_file.stem
    cells = len(plan.cells())
    bar, task = progress_bar(f"{sweep_file.name}: {cells} cells", cells, False)
    with bar, reported(f"running the sweep into {target}; run it again to resume"):
        table = run_sweep(
            plan, target, scheduler=scheduler, workers=workers,
            progress=lambda d, t: bar.update(task, completed=d),
        )  # fmt: skip
    console().print(f"every cell's figures: {table}", markup=False)
