"""What every command shares: the consoles, exit statuses, and errors turned into messages."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

#: The options of every command that runs cells on Dask (sweep, sensitivity, calibrate).
Scheduler = Annotated[
    str | None,
    typer.Option(metavar="ADDRESS", help="Run the cells on the Dask cluster at this address."),
]
Workers = Annotated[
    int | None, typer.Option(min=1, help="Local worker processes (default: all cores).")
]

#: Exit status for input that cannot be used (the same as ScenarioError's and typer's usage errors).
EXIT_INPUT = 2
#: Exit status after Ctrl-C, as shells report it.
EXIT_INTERRUPTED = 130


def console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that colours nothing it is not told to."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def fail(message: str, code: int = EXIT_INPUT) -> typer.Exit:
    """Print ``message`` to stderr as plain text; return the Exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


@contextmanager
def reported(action: str, exit_code: int | None = None) -> Iterator[None]:
    """Turn errors into a message on stderr and an exit status, never a traceback.

    carnet's own errors print their full text (every problem of a scenario) and exit with their
    ``exit_code`` (or ``exit_code`` given here). Anything else is a bug: it prints one line and
    exits 1, unless ``CARNET_DEBUG`` is set, which lets the traceback through.
    """
    from carnet.errors import CarnetError, ScenarioError

    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        raise fail(f"interrupted while {action}", EXIT_INTERRUPTED) from None
    except CarnetError as exc:
        text = exc.render() if isinstance(exc, ScenarioError) else str(exc)
        raise fail(text, exit_code if exit_code is not None else exc.exit_code) from None
    except Exception as exc:
        if os.environ.get("CARNET_DEBUG"):
            raise
        lines = str(exc).strip().splitlines()
        detail = f": {lines[0]}" if lines else ""
        raise fail(
            f"carnet: unexpected {type(exc).__name__} while {action}{detail} "
            "(a bug in carnet; please report it; CARNET_DEBUG=1 shows the traceback)",
            1,
        ) from None


def progress_bar(label: str, total: int, quiet: bool) -> tuple[Any, Any]:
    """A progress bar on stderr (hidden when ``quiet``) and its task: ``bar.update(task, ...)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console(stderr=True),
        disable=quiet,
    )
    return bar, bar.add_task(label, total=total)


def one_line(text: str, limit: int = 120) -> str:
    """The first sentence of ``text``, on one line, at most ``limit`` characters."""
    flat = " ".join(text.split())
    end = flat.find(". ")
    if end >= 0:
        flat = flat[: end + 1]
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def thousands(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def signed(value: object) -> str:
    """A count with its sign; anything else as text."""
    return f"{value:+d}" if isinstance(value, int) else str(value or "")


def pct(part: int | float, whole: int | float) -> str:
    """``part`` as a percentage of ``whole`` (a dash when there is none)."""
    return f"{100.0 * part / whole:.1f}%" if whole else "—"
