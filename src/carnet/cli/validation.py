"""``carnet validation``: run the validation suite, show its table, write it (Parquet, Markdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carnet.cli.common import EXIT_INPUT, console, fail, reported


def validation(
    quick: Annotated[
        bool, typer.Option("--quick", help="Each check at the size CI affords (a minute or so).")
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            help="Write validation.parquet and validation.md here (files carnet wrote are "
            "replaced, any other is refused).",
        ),
    ] = Path("validation"),
    check: Annotated[
        list[str] | None,
        typer.Option("--check", metavar="NAME", help="Run only this check (repeatable)."),
    ] = None,
) -> None:
    """Run the validation suite: carnet against published models and exact references.

    Exits 0 when every row agrees, 1 when some does not (they are named), 2 for unusable input.
    """
    from rich.table import Table
    from rich.text import Text

    from carnet.analysis.validation import checks as registry
    from carnet.analysis.validation.suite import number, run_suite, write_suite

    known = registry.MODULES
    unknown = [n for n in check or () if n not in known]
    if unknown:
        raise fail(f"unknown check {', '.join(map(repr, unknown))}; checks: {', '.join(known)}")
    words = ["carnet validation", *(["--quick"] if quick else []), "--out", str(out)]
    words += [f"--check {n}" for n in check or ()]
    err = console(stderr=True)
    with reported("running the validation suite"):
        suite = run_suite(
            quick, names=check or None, command=" ".join(words),
            progress=lambda name: err.print(f"running {name}…", markup=False),
        )  # fmt: skip
    with reported(f"writing {out}", exit_code=EXIT_INPUT):
        written = write_suite(suite, out)
    table = Table(title=f"carnet validation ({suite.mode})", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("quantity", ratio=1)
    for name in ("reference", "", "value", "se", "tolerance"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("agrees", no_wrap=True)
    for r in suite.rows:
        verdict = Text("yes", style="green") if r.agrees else Text("NO", style="bold red")
        figures = (number(r.reference, 4), r.relation, number(r.value, 4), number(r.se, 2),
                   number(r.tolerance, 2))  # fmt: skip
        table.add_row(Text(r.check), Text(r.quantity), *figures, verdict)
    shown = console()
    shown.print(table)
    for t in suite.times:
        shown.print(f"{t.name}: {t.seconds:.1f} s", markup=False)
    shown.print(f"wrote {' and '.join(map(str, written))}", markup=False)
    if suite.failing:
        lines = [f"  {r.check}: {r.quantity} ({r.source})" for r in suite.failing]
        raise fail(f"{len(suite.failing)} of {len(suite.rows)} rows do not agree:\n"
                   + "\n".join(lines), 1)  # fmt: skip
