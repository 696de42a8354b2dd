"""The names a scenario gives its outputs, and those that would collide, with their paths.

Columns of the metrics are made of names (``acts_<behaviour>_<outcome>``, ``wrongful_<b>``,
``data_<source>``, ``grade_<grade>``) beside fixed ones (``wrongful_entries``, ``lawsuits``...),
and the ledgers' codes put the scenario's behaviours and sources beside carnet's own
(``loan``, ``blacklist``). A name that makes a column twice, or takes one of carnet's own
codes, or the ``all`` that totals the groups in the audit, would give a run that finishes and
then breaks every reader of it: :func:`problems` finds each, at the path of the name, before
anything runs. :func:`metric_columns` must name the columns exactly as
:func:`carnet.sim.metrics.metrics_table` and :func:`carnet.sim.company_outputs.company_outputs`
make them (tests/test_output_names.py checks it on every preset).
"""

from __future__ import annotations

from carnet.errors import ScenarioError
from carnet.scenario.policies import BY_THRESHOLD
from carnet.scenario.schema import Scenario, company_view
from carnet.sim.metrics import ledger_names
from carnet.sim.phases.company_lists import COUNTS as COMPANY_LIST_COUNTS
from carnet.sim.phases.company_lists import JOINT_COUNTS
from carnet.sim.phases.lending import COUNTS as LENDING_COUNTS
from carnet.sim.phases.lists import COUNTS as LIST_COUNTS
from carnet.sim.phases.observe import OUTCOMES
from carnet.sim.phases.record import APPEAL_COUNTS, ATTENTION_ARRAYS, RED_COUNTS
from carnet.sim.records import DENUNCIATION_COUNTS

#: The name the audit gives the total over groups.
TOTAL = "all"
#: (column, the path of what named it) pairs.
Named = list[tuple[str, str]]


def metric_columns(s: Scenario, *, prefix: str = "") -> Named:
    """The columns of ``metrics.parquet`` for ``s``, in order, each with the path behind it.

    ``prefix`` is the path of the population (``companies.`` for the companies' view of ``s``).
    """
    fixed = "(carnet's own)"
    out: Named = [(name, fixed) for name in ("day", "group", "citizens", "points_sum")]
    out.append(("points_mean", fixed))
    out += [(f"grade_{g.name}", f"{prefix}grades.{i}.name") for i, g in enumerate(s.grades)]
    behaviours = [(f"{prefix}behaviours.{k}.name", b.name) for k, b in enumerate(s.behaviours)]
    out += [(f"acts_{b}_{o}", path) for path, b in behaviours for o in OUTCOMES]
    out += [(f"{kind}_{b}", path) for kind in ("scored", "wrongful", "expired")
            for path, b in behaviours]  # fmt: skip
    out += [(f"data_{src.name}", f"sources.{j}.name") for j, src in enumerate(s.sources)]
    if s.platforms:
        out += [(f"withheld_{b}", path) for path, b in behaviours]
        out += [(f"state_data_{src.name}", f"sources.{j}.name") for j, src in enumerate(s.sources)]
    if s.lists.blacklist is not None:
        out += [(name, "lists.blacklist") for name in LIST_COUNTS]
        out += [(name, "lists.blacklist") for name in ("distressed", "blacklisted", "published")]
    if s.appeals is not None:
        out += [(name, "appeals") for name in APPEAL_COUNTS]
    if s.lending is not None:
        out += [(name, "lending") for name in LENDING_COUNTS]
    if s.denunciations is not None:
        out += [(name, "denunciations") for name in DENUNCIATION_COUNTS]
    c = s.companies
    if c is not None and c.blacklist is not None and c.blacklist.joint_punishment:
        out += [(name, "companies.blacklist.joint_punishment") for name in JOINT_COUNTS]
        joint = ("jointly_listed", "jointly_listed_wrongfully")
        out += [(name, "companies.blacklist.joint_punishment") for name in joint]
    if not prefix:  # companies never adapt their attention
        out += [(f"{name}_{src.name}", f"sources.{j}.name") for j, src in enumerate(s.sources)
                if src.attention is not None for name in ATTENTION_ARRAYS]  # fmt: skip
    out += [(f"threshold_{g.name}", f"gates.{i}.name") for i, g in enumerate(s.gates)
            if g.policy is not None and g.policy.kind in BY_THRESHOLD]  # fmt: skip
    if s.lists.redlist is not None:
        out += [(name, "lists.redlist") for name in [*RED_COUNTS, "redlisted"]]
    return out


def company_metric_columns(s: Scenario) -> Named:
    """The columns of ``company_metrics.parquet`` (empty without companies), as above."""
    if s.companies is None:
        return []
    renamed = {"group": "sector", "citizens": "companies"}
    view = company_view(s)
    out = [
        (renamed.get(name, name), path)
        for name, path in metric_columns(view, prefix="companies.")
        if not name.startswith(("data_", "state_data_"))
    ]
    if s.companies.blacklist is not None:
        stocks = ("blacklisted", "jointly_listed", "wrongfully_blacklisted")
        out += [(name, "companies.blacklist") for name in [*COMPANY_LIST_COUNTS, *stocks]]
    return out


def problems(s: Scenario) -> list[tuple[str, str]]:
    """Every name of ``s`` that would collide in its outputs, as (path, message) pairs."""
    found: list[tuple[str, str]] = []
    for table, columns in (
        ("metrics.parquet", metric_columns(s)),
        ("company_metrics.parquet", company_metric_columns(s)),
    ):
        first: dict[str, str] = {}
        for name, path in columns:
            if name not in first:
                first[name] = path
                continue
            other = first[name]
            if not path.endswith(".name"):  # carnet's own column came second: blame the name
                path, other = other, path
            if other.endswith(".name"):
                clash = f"which the name at {other} makes too"
            else:
                clash = f"one of carnet's own columns (from {other})"
            found.append((path, f"makes the column {name!r} of {table}, {clash}; "
                                "choose another name"))  # fmt: skip
    for i, g in enumerate(s.population.groups):
        if g.name == TOTAL:
            found.append((f"population.groups.{i}.name", f"{TOTAL!r} names the total over "
                          "groups in the audit; choose another name"))  # fmt: skip
    own_behaviours, own_sources = (names[-3:] for names in ledger_names(s))
    for k, b in enumerate(s.behaviours):
        if b.name in own_behaviours:
            found.append((f"behaviours.{k}.name", _own(b.name, "behaviour", own_behaviours)))
    if s.companies is not None:
        own_sources = [*own_sources, "agencies"]  # the company ledger's code for its agencies
    for j, src in enumerate(s.sources):
        if src.name in own_sources:
            found.append((f"sources.{j}.name", _own(src.name, "source", own_sources)))
    if s.companies is not None:
        for k, b in enumerate(s.companies.behaviours):
            if b.name == "blacklist":
                found.append((f"companies.behaviours.{k}.name", _own(b.name, "behaviour")))
    return found


def _own(name: str, kind: str, names: list[str] | None = None) -> str:
    listed = f" ({', '.join(names)})" if names else ""
    return f"{name!r} is one of the ledger's own {kind} codes{listed}; choose another name"


def check(s: Scenario, source: str | None = None) -> None:
    """Raise :class:`~carnet.errors.ScenarioError` listing :func:`problems`, if there are any."""
    found = problems(s)
    if found:
        raise ScenarioError(source or f"scenario {s.name}", found)
