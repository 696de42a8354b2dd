"""The panel's tables: its citizens as Arrow rows, and empty ledgers with their columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from carnet.scenario.schema import Scenario
from carnet.sim.metrics import ledger_names
from carnet.sim.parameters import POINTS_OFFSET, Parameters
from carnet.sim.phases.record import dictionary, ledger_table
from carnet.sim.population import AWARE, LISTED, PANEL, State

PANEL_FIELDS = ("profile", "exposure", "flags", "points", "household", "children")


def panel_columns(state: State) -> dict[str, Any]:
    """The panel's rows of a shard's state: its citizens' ids, households and attributes."""
    idx = np.flatnonzero(state.flags & PANEL)
    columns = {name: getattr(state, name)[idx] for name in PANEL_FIELDS}
    columns["citizen"] = idx + state.first_citizen
    columns["head"] = idx + state.first_citizen - state.household[idx]
    return columns


def population_table(s: Scenario, t: Parameters, panels: Sequence[dict[str, Any]]) -> pa.Table:
    """The panel's citizens: who they are and where they ended, one row each.

    ``panels`` are the shards' :func:`panel_columns`, in shard order.
    """
    col = {
        k: np.concatenate([p[k] for p in panels]) if panels else np.empty(0)
        for k in ("citizen", "head", *PANEL_FIELDS)
    }
    profile = col["profile"].astype(np.int64)

    points = col["points"].astype(np.int16)
    table = pa.table(
        {
            "citizen": pa.array(col["citizen"], pa.int64()),
            "group": dictionary(t.group_of_profile[profile], [g.name for g in s.population.groups]),
            "region": dictionary(
                t.region_of_profile[profile], [r.name for r in s.population.regions]
            ),
            "urban": pa.array(t.urban_of_profile[profile] == 1, pa.bool_()),
            "income_quintile": pa.array(t.income_of_profile[profile] + 1, pa.int8()),
            "exposure": pa.array(col["exposure"] / np.float32(255.0), pa.float32()),
            "aware": pa.array((col["flags"].astype(np.uint8) & AWARE) > 0, pa.bool_()),
            "household": pa.array(col["head"], pa.int64()),  # the id of the household's head
            "children": pa.array(col["children"], pa.int8()),  # kept by the head only
            "listed": pa.array((col["flags"].astype(np.uint8) & LISTED) > 0, pa.bool_()),
            "points": pa.array(points, pa.int16()),
            "grade": dictionary(
                t.grade_of_points[points.astype(np.int64) + POINTS_OFFSET],
                [g.name for g in s.grades],
            ),
        }
    )
    if panels and all("start_points" in p for p in panels):
        # Drawn start points (population.groups.<i>.start): points = start_points + the ledger.
        start = np.concatenate([p["start_points"] for p in panels]).astype(np.int16)
        table = table.append_column("start_points", pa.array(start, pa.int16()))
    return table


def empty_ledger_columns() -> dict[str, Any]:
    """The columns of a ledger (citizens' or companies') with no rows."""
    return {
        name: np.empty(0, dtype=dtype)
        for name, dtype in (
            ("day", np.int32), ("citizen", np.int64), ("kind", np.uint8),
            ("behaviour", np.int16), ("source", np.int16), ("points", np.int16),
            ("balance", np.int16), ("truly_done", np.bool_), ("true_actor", np.int64),
        )
    }  # fmt: skip


def empty_ledger(s: Scenario) -> pa.Table:
    """A ledger of scenario ``s`` with no rows: its columns and codes."""
    return ledger_table(empty_ledger_columns(), *ledger_names(s))
