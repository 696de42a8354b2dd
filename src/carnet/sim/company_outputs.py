"""The companies' tables: their metrics by sector, their panel, their ledger, and who works where.

Companies go through the citizens' phases as a population of their own
(:func:`carnet.sim.employers.sized_company_view`), so their tables are the citizens' tables with the
names a reader expects: ``company`` for ``citizen``, ``sector`` for ``group``, ``companies`` for
``citizens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.scenario.schema import Scenario
from carnet.sim.employers import Staff, employers
from carnet.sim.metrics import metrics_table
from carnet.sim.panel import empty_ledger_columns, panel_columns, population_table
from carnet.sim.phases.company_lists import (
    COUNTS,
    ENTRIES,
    EXITS,
    JOINT_IN,
    JOINT_OUT,
    WRONG_IN,
    WRONG_OUT,
)
from carnet.sim.phases.record import ledger_table
from carnet.sim.population import State

if TYPE_CHECKING:
    from carnet.sim.compiled import Compiled

_RENAME = {"citizen": "company", "group": "sector", "citizens": "companies"}


def _renamed(table: pa.Table) -> pa.Table:
    return table.rename_columns([_RENAME.get(name, name) for name in table.column_names])


def company_ledger_names(s: Scenario) -> tuple[list[str], list[str]]:
    """Names of the company ledger's behaviour and source codes, the blacklist's at the end."""
    assert s.companies is not None
    behaviours = [b.name for b in s.companies.behaviours] + ["blacklist"]
    return behaviours, [src.name for src in s.sources] + ["agencies"]


def company_ledger_table(cols: dict[str, npt.NDArray[Any]], s: Scenario) -> pa.Table:
    """Company ledger columns as a table: the citizens' ledger, with ``company`` for ``citizen``.

    ``true_actor`` is the company that truly committed the act.
    """
    return _renamed(ledger_table(cols, *company_ledger_names(s)))


def company_panel(companies: State, staff: Staff, first_citizen: int) -> dict[str, Any]:
    """The panel's rows of a shard's companies, with their size and legal representative."""
    columns = panel_columns(companies)
    idx = columns["citizen"] - companies.first_citizen
    columns["employees"] = (staff.end - staff.start)[idx]
    columns["representative"] = staff.representative[idx] + first_citizen
    return columns


def company_outputs(
    s: Scenario, rules: Compiled, recorders: Sequence[Any], panels: Sequence[dict[str, Any]]
) -> tuple[pa.Table, pa.Table]:
    """The companies in the panel (one row each), and their metrics by day and sector.

    ``recorders`` hold each shard's company aggregates, ``panels`` its :func:`company_panel`.
    """
    cs, ct = rules.companies, rules.company_parameters
    assert cs is not None and ct is not None
    population = population_table(cs, ct, panels).drop_columns(["household", "children"])
    for name in ("employees", "representative"):
        column = np.concatenate([p[name] for p in panels]) if panels else np.empty(0, np.int64)
        population = population.append_column(name, pa.array(column, pa.int64()))
    no_data = np.zeros((1, ct.n_groups, len(s.sources)), np.int64)  # counted on citizens
    metrics = metrics_table(cs, recorders, no_data, adapts=False)
    metrics = metrics.drop_columns(
        [c for c in metrics.column_names if c.startswith(("data_", "state_data_"))]
    )
    if rules.company_lists is not None:
        counts: npt.NDArray[np.int64] = np.sum([r.lists for r in recorders], axis=0)
        days, G = counts.shape[:2]
        for i, name in enumerate(COUNTS):
            metrics = metrics.append_column(name, pa.array(counts[:, :, i].reshape(days * G)))
        stocks = {
            "blacklisted": (ENTRIES, EXITS),
            "jointly_listed": (JOINT_IN, JOINT_OUT),
            "wrongfully_blacklisted": (WRONG_IN, WRONG_OUT),
        }
        for name, (into, out) in stocks.items():
            stock = np.cumsum(counts[:, :, into] - counts[:, :, out], axis=0)
            metrics = metrics.append_column(name, pa.array(stock.reshape(days * G)))
    return _renamed(population), _renamed(metrics)


def employer_column(panel: dict[str, Any], staff: Staff, first: int, block_size: int) -> Any:
    """Each panel citizen's employer (a global company id, or -1 for none)."""
    return employers(staff, panel["citizen"] - first, block_size)


def empty_company_ledger(s: Scenario) -> pa.Table:
    """A companies' ledger of scenario ``s`` with no rows: its columns and codes."""
    return company_ledger_table(empty_ledger_columns(), s)
