"""``carnet sensitivity``: which parameters drive which figures.

Thin: the analysis is :mod:`carnet.analysis.sensitivity`; this module parses, calls and prints
the ranking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carnet.cli.common import Scheduler, Workers, console, progress_bar, reported


def sensitivity(
    spec_file: Annotated[Path, typer.Argument(metavar="SPEC", help="A sensitivity spec (YAML).")],
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: sensitivity/<spec name>); run again to resume."),
    ] = None,
    scheduler: Scheduler = None,
    workers: Workers = None,
) -> None:
    """Which parameters drive which figures: Sobol' or Morris indices over a spec's ranges.

    Every sample runs on the same seeds (common random numbers). A run that stops is finished
    by running the same command again: its done cells are kept.
    """
    from carnet.analysis.sensitivity import SensitivitySpec, ranking, run_sensitivity

    with reported(f"reading {spec_file}"):
        spec = SensitivitySpec.read(spec_file)
    target = out or Path("sensitivity") / spec_file.stem
    runs = len({c.key for cells in spec.cells(spec.values(spec.design())) for c in cells})
    bar, task = progress_bar(f"{spec_file.name}: {runs} runs", runs, False)
    with bar, reported(f"running the analysis into {target}; run it again to resume"):
        table = run_sensitivity(
            spec, target, scheduler=scheduler, workers=workers,
            progress=lambda d, t: bar.update(task, completed=d),
        )  # fmt: skip
    ranked = ranking(table, spec.method)
    _print_ranking(ranked, spec.method)
    flat = sorted(set(table["output"].to_pylist()) - set(ranked))
    if flat:
        console().print(f"no variance across the samples (no indices): {', '.join(flat)}",
                        markup=False)  # fmt: skip
    console().print(f"indices: {target / 'sensitivity.parquet'}; page: "
                    f"{target / 'sensitivity.html'}", markup=False)  # fmt: skip


def _print_ranking(ranked: dict[str, list[tuple[str, float, float]]], method: str) -> None:
    from rich.table import Table

    index = "ST" if method == "sobol" else "mu*"
    shown = Table(title=f"What drives each figure ({index}, 95% interval), most first",
                  title_justify="left")  # fmt: skip
    for column in ("figure", "parameter", index):
        right = column == index
        shown.add_column(column, justify="right" if right else "left", no_wrap=right,
                         overflow="fold")  # fmt: skip
    for output, rows in ranked.items():
        for i, (parameter, value, conf) in enumerate(rows):
            shown.add_row(output if i == 0 else "", parameter, f"{value:.3g} ± {conf:.2g}")
    console().print(shown)
