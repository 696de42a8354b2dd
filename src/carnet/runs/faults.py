"""Named points where a test can stop the process at once, as a crash or a kill would.

Every place where a run's files could be left half done has a point: before and after each
atomic write, between a temporary file's write and its rename, between the run folder's build
and its rename, between the manifest and the checkpoint's removal. A test sets
``CARNET_FAULT=<point>`` (or ``<point>@N`` for the point's N-th passage in a process) and the
process group is killed with SIGKILL when the point is reached: the run and its Dask workers die
together, as when a machine goes down. ``CARNET_FAULT_LOG=<file>`` appends the name of every
point reached to ``file``, so that a kill campaign can list them (tests/test_faults.py).

Without these variables a point costs one lookup in ``os.environ``; points sit only where files
are written, never in the daily step.
"""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from pathlib import Path

FAULT = "CARNET_FAULT"
LOG = "CARNET_FAULT_LOG"
_passages: Counter[str] = Counter()


def point(name: str) -> None:
    """Reached ``name``: log it, and die here if the test asked for it."""
    log, wanted = os.environ.get(LOG), os.environ.get(FAULT)
    if log is None and wanted is None:
        return
    _passages[name] += 1
    if log is not None:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{name}\n".encode())  # one write with O_APPEND: lines never interleave
        finally:
            os.close(fd)
    if wanted is None:
        return
    target, at, nth = wanted.rpartition("@")
    if not at:
        target, nth = wanted, "1"
    if target == name and _passages[name] == int(nth):
        os.killpg(os.getpgrp(), signal.SIGKILL)


def label(path: Path) -> str:
    """A file's name in point names, the numbers of parts as ``#``; a shard's are ``shard/...``.

    ``RUN/shards/plan.json`` is ``shards/plan.json``, ``RUN/shards/0001/ledger/part-00003.parquet``
    is ``shard/ledger/part-#.parquet``.
    """
    name = re.sub(r"\d+", "#", path.name)
    folder = path.parent
    if folder.name in ("ledger", "decisions", "company_ledger"):
        name, folder = f"{folder.name}/{name}", folder.parent
    if folder.name == "shards":
        return f"shards/{name}"
    return f"shard/{name}" if folder.parent.name == "shards" else name
