"""carnet: simulate and audit social-credit systems on synthetic societies.

Library first: :func:`load_scenario` reads a scenario, :func:`simulate` runs it and returns a
:class:`~carnet.result.Result` with metrics, the panel's ledger and dossiers. Populations are
synthesised from aggregate parameters only; carnet never touches records of real people.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["Result", "Scenario", "__version__", "load_scenario", "simulate"]

if TYPE_CHECKING:
    from carnet.engine import simulate
    from carnet.loading import load_scenario
    from carnet.result import Result
    from carnet.scenario import Scenario


def __getattr__(name: str) -> Any:
    # Lazy: `carnet validate` need not compile or import the engine.
    if name == "simulate":
        from carnet.engine import simulate

        return simulate
    if name == "load_scenario":
        from carnet.loading import load_scenario

        return load_scenario
    if name == "Result":
        from carnet.result import Result

        return Result
    if name == "Scenario":
        from carnet.scenario import Scenario

        return Scenario
    raise AttributeError(f"module 'carnet' has no attribute {name!r}")
