"""``carnet calibrate``: fit a scenario's parameters to observed figures (thin: parse, call, show).

The work is :mod:`carnet.analysis.calibration`'s; this prints the calibrated parameters with
their intervals and where the outputs are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carnet.cli.common import Scheduler, Workers, console, reported


def calibrate(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC", help="A calibration YAML file.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Calibration folder (default: calibrations/<spec name>); run again to resume."
        ),
    ] = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
) -> None:
    """Calibrate a scenario's parameters to targets with Optuna; resumable (a journal file).

    Writes trials.parquet (every trial), fits.parquet (each trial against each target),
    parameters.parquet and best.json (the best values, profile-likelihood intervals),
    calibrated.yaml (the scenario at the best values) and fit.html (the check-fit page).
    """
    from rich.table import Table

    from carnet.analysis.calibration import calibrate as run
    from carnet.analysis.calibration import load_spec
    from carnet.cli.common import progress_bar

    with reported(f"reading {spec_file}"):
        spec = load_spec(spec_file)
    target = out or Path("calibrations") / spec_file.stem
    bar, task = progress_bar(f"{spec_file.name}: {spec.trials} trials", spec.trials, False)
    with bar, reported(f"calibrating into {target}; run it again to resume"):
        found = run(
            spec, target, scheduler=scheduler, workers=workers,
            progress=lambda d, t: bar.update(task, completed=d),
        )  # fmt: skip
    shown = Table(
        title=f"best of {found.trials.num_rows} trials: trial {found.best['trial']}, "
        f"log-likelihood {found.best['log_likelihood']:.6g}",
        title_justify="left",
    )
    for name in ("parameter", "best", "95% interval", "trials within"):
        shown.add_column(name, justify="left" if name == "parameter" else "right")
    for row in found.parameters.to_pylist():
        shown.add_row(
            row["parameter"], f"{row['best']:.5g}", f"[{row['low']:.5g}, {row['high']:.5g}]",
            str(row["within"]),
        )  # fmt: skip
    out_console = console()
    if found.resumed:
        out_console.print(
            f"resumed: {found.resumed} trials were done, {found.evaluated} told now", markup=False
        )
    out_console.print(shown)
    out_console.print(f"check the fit: {target / 'fit.html'}; every trial: "
                      f"{target / 'trials.parquet'}", markup=False)  # fmt: skip
