"""carnet: simulate and audit social-credit systems on synthetic societies.

Library first: :func:`load_scenario` reads a scenario and :func:`set` changes its values by
path; :func:`simulate` runs it in memory and returns a :class:`~carnet.result.Result` with
metrics, the panel's ledger and dossiers; :func:`run` writes a run directory as it goes (what
``carnet run`` does), :func:`resume` finishes one, :func:`save_run` and :func:`load_run` write
and read one. Populations are synthesised from aggregate parameters only; carnet never touches
records of real people.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from carnet._version import __version__

#: Each public name and the module that defines it; imported on first use, so that
#: ``carnet validate`` need not compile or import the engine.
_PUBLIC = {
    "Result": "carnet.result",
    "Scenario": "carnet.scenario.schema",
    "load_run": "carnet.runs.directory",
    "load_scenario": "carnet.scenario.loading",
    "resume": "carnet.runs.launch",
    "run": "carnet.runs.launch",
    "save_run": "carnet.runs.directory",
    "set": "carnet.scenario.paths",
    "simulate": "carnet.result",
}
__all__ = [
    "Result",
    "Scenario",
    "__version__",
    "load_run",
    "load_scenario",
    "resume",
    "run",
    "save_run",
    "set",
    "simulate",
]

if TYPE_CHECKING:
    from carnet.result import Result, simulate
    from carnet.runs.directory import load_run, save_run
    from carnet.runs.launch import resume, run
    from carnet.scenario.loading import load_scenario
    from carnet.scenario.paths import set
    from carnet.scenario.schema import Scenario


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'carnet' has no attribute {name!r}")
