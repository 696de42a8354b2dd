"""The command line: parses, calls the library, prints (``carnet --help``)."""

from __future__ import annotations


def main() -> None:
    """The ``carnet`` command."""
    from carnet.cli.app import main as run_main

    run_main()
