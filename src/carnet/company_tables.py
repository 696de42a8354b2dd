"""The companies' tables: their metrics by sector, their panel, their ledger, and who works where.

Companies go through the citizens' phases as a population of their own
(:func:`carnet.employers.company_scenario`), so their tables are the citizens' tables with the
names a reader expects: ``company`` for ``citizen``, ``sector`` for ``group``, ``companies`` for
``citizens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.employers import Staff, employers
from carnet.metrics import metrics_table
from carnet.phases.company_lists import (
    COUNTS,
    ENTRIES,
    EXITS,
    JOINT_IN,
    JOINT_OUT,
    WRONG_IN,
    WRONG_OUT,
)
from carnet.phases.record import ledger_table
from carnet.population import PANEL
from carnet.result import population_table
from carnet.scenario import Scenario

if TYPE_CHECKING:
    from carnet.engine import Rules
    from carnet.step import Shard

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


def company_tables(s: Scenario, rules: Rules, shards: Sequence[Shard]) -> tuple[pa.Table, pa.Table]:
    """The companies in the panel (one row each), and their metrics by day and sector."""
    cs, ct = rules.companies, rules.company_tables
    assert cs is not None and ct is not None
    companies = [sh.companies for sh in shards if sh.companies is not None]
    states = [co.state for co in companies]
    population = population_table(cs, ct, states).drop_columns(["household", "children"])
    employees, representative = [], []
    for sh, co in zip(shards, companies, strict=True):
        panel = np.flatnonzero(co.state.flags & PANEL)
        employees.append((sh.staff.end - sh.staff.start)[panel])
        representative.append(sh.staff.representative[panel] + sh.state.first_citizen)
    population = population.append_column(
        "employees", pa.array(np.concatenate(employees), pa.int64())
    ).append_column("representative", pa.array(np.concatenate(representative), pa.int64()))
    recorders = [co.recorder for co in companies]
    no_data = np.zeros((ct.n_groups, len(s.sources)), np.int64)  # data is counted on citizens
    metrics = metrics_table(cs, recorders, no_data)
    metrics = metrics.drop_columns([c for c in metrics.column_names if c.startswith("data_")])
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


def with_employers(
    population: pa.Table, staffs: Sequence[tuple[int, Staff]], block_size: int
) -> pa.Table:
    """The citizens' panel with each one's employer (a company id, or -1 for none)."""
    citizen = population["citizen"].to_numpy()
    employer = np.full(len(citizen), -1, np.int64)
    for first, staff in staffs:
        mine = (citizen >= first) & (citizen < first + len(staff.blocks) * block_size)
        employer[mine] = employers(staff, citizen[mine] - first, block_size)
    return population.append_column("employer", pa.array(employer, pa.int64()))
