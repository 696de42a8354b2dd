"""The cross-version baseline: headline figures of three small runs, pinned in this folder.

``tests/test_baseline.py`` runs each scenario of :data:`RUNS` afresh (a few thousand citizens,
60 days, a fixed seed) and compares its figures, :func:`figures`, with ``<name>.json`` here:
integers exactly, floats to 12 significant digits. The figures are ``Result.summary()`` and the
total of every column of the metrics, with the ledger's and the decisions' numbers of rows. A
difference fails the test with each figure that moved, before and after.

They move only when the draws change: a new or renamed random stream, phases in another order, a
kernel that draws differently. That is sometimes the point of a change, never a side effect. To
pin new figures on purpose:

    python tests/baseline/regenerate.py            # every run of RUNS
    python tests/baseline/regenerate.py minimal    # one

(with the project's environment, e.g. ``.venv/bin/python``), review ``git diff tests/baseline``,
and commit the new files with the change that moves them and a line in CHANGELOG.md saying that
the draws changed, and why: a run of the previous version and a run of this one, same scenario
and same seed, no longer agree. New figures without that line are a bug.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: Each baseline's scenario, as carnet.simulate takes it: small, and seeded here.
RUNS: dict[str, dict[str, Any]] = {
    "minimal": {"scenario": "minimal", "population": 5000, "days": 60, "seed": 101},
    "rongcheng": {"scenario": "rongcheng", "population": 5000, "days": 60, "seed": 202},
    "rongcheng-gated": {"scenario": "rongcheng-gated", "population": 5000, "days": 60,
                        "seed": 303},
}  # fmt: skip

#: Columns of the metrics that are no counts to total.
NOT_TOTALLED = {"day", "group", "points_mean"}


def figures(name: str) -> dict[str, Any]:
    """The headline figures of one run of :data:`RUNS`, as JSON would hold them."""
    import pyarrow.compute as pc

    import carnet

    run = RUNS[name]
    result = carnet.simulate(run["scenario"], population=run["population"], days=run["days"],
                             seed=run["seed"])  # fmt: skip
    m = result.metrics
    totals = {
        column: pc.sum(m[column]).as_py() or 0
        for column in m.column_names
        if column not in NOT_TOTALLED
    }
    found = {
        "summary": dataclasses.asdict(result.summary()),
        "metrics_totals": totals,
        "ledger_rows": result.ledger.num_rows,
        "decision_rows": result.decisions.num_rows,
    }
    # As JSON holds them: tuples become lists, and so on.
    figures_: dict[str, Any] = json.loads(json.dumps(found))
    return figures_


def path(name: str) -> Path:
    return HERE / f"{name}.json"


def load(name: str) -> dict[str, Any]:
    """The pinned figures of ``name`` (without the note of how they were made)."""
    pinned: dict[str, Any] = json.loads(path(name).read_text(encoding="utf-8"))
    return pinned["figures"]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, float | int):
        return bool(a == b)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if not isinstance(b, float | int):
        return False
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or (a == b)


def differences(pinned: Any, fresh: Any, where: str = "") -> list[str]:
    """Every figure that differs, one line each: its path, the pinned value and the fresh one."""
    if isinstance(pinned, dict) and isinstance(fresh, dict):
        out: list[str] = []
        for key in sorted(set(pinned) | set(fresh), key=str):
            here = f"{where}.{key}" if where else str(key)
            if key not in fresh:
                out.append(f"{here}: {pinned[key]!r} pinned, gone now")
            elif key not in pinned:
                out.append(f"{here}: not pinned, {fresh[key]!r} now")
            else:
                out += differences(pinned[key], fresh[key], here)
        return out
    if isinstance(pinned, list) and isinstance(fresh, list) and len(pinned) == len(fresh):
        return [line for i, (a, b) in enumerate(zip(pinned, fresh, strict=True))
                for line in differences(a, b, f"{where}[{i}]")]  # fmt: skip
    if _same(pinned, fresh):
        return []
    return [f"{where}: {pinned!r} pinned, {fresh!r} now"]


def write(name: str) -> Path:
    """Run ``name`` and pin its figures."""
    import carnet

    doc = {
        "note": "Pinned by tests/baseline/regenerate.py: regenerate only on purpose, with a line "
        "in CHANGELOG.md (see that script's docstring).",
        "run": RUNS[name],
        "written_by": f"carnet {carnet.__version__}",
        "figures": figures(name),
    }
    target = path(name)
    target.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return target


def main(argv: list[str]) -> int:
    names = argv or list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        print(f"unknown baseline {', '.join(unknown)}; known: {', '.join(RUNS)}", file=sys.stderr)
        return 2
    for name in names:
        before = load(name) if path(name).is_file() else None
        target = write(name)
        if before is None:
            print(f"{target}: new")
            continue
        moved = differences(before, load(name))
        print(f"{target}: {len(moved)} figure(s) changed")
        for line in moved:
            print(f"  {line}")
    print("Commit these with the change that moves them and a line in CHANGELOG.md.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
