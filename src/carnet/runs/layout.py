"""The names of a run directory's files and folders, for every module that reads or writes one.

Layout::

    scenario.yaml              the resolved scenario (written first)
    ledger/part-00000.parquet  the panel's ledger, one part per ``run.ledger_part_days``
    decisions/part-00000.parquet  the panel's decisions at the gates, cut the same way
    company_ledger/part-00000.parquet  the companies' ledger, cut the same way (with companies)
    gates.parquet              every decision counted by day, gate, outcome, group and grade
    checkpoint.npz             the state at the last checkpoint (removed when the run completes)
    metrics.parquet            daily aggregates
    population.parquet         the panel's citizens
    companies.parquet          the panel's companies (with companies)
    company_metrics.parquet    daily aggregates of companies by sector (with companies)
    manifest.json              versions, hashes, ledger chain and head hash (written last)
    report.html, figures/      views derived from the sealed files (not sealed)
    shards/plan.json           a sharded run's plan: (first citizen, count) per shard
    shards/0000/ ...           each shard's own run directory, and its output.npz
"""

from __future__ import annotations

from pathlib import PurePosixPath

MANIFEST = "manifest.json"
SCENARIO = "scenario.yaml"
CHECKPOINT = "checkpoint.npz"
METRICS = "metrics.parquet"
POPULATION = "population.parquet"
GATES = "gates.parquet"
COMPANIES = "companies.parquet"
COMPANY_METRICS = "company_metrics.parquet"
REPORT = "report.html"
FIGURES = "figures"
LEDGER = "ledger"
DECISIONS = "decisions"
COMPANY_LEDGER = "company_ledger"
PART_KINDS = (LEDGER, DECISIONS, COMPANY_LEDGER)
SHARDS = "shards"
PLAN = "plan.json"
SHARD_OUTPUT = "output.npz"
TEMP_PREFIX = ".tmp-"
#: Views that ``carnet report`` derives from the sealed files, and may write again at any time:
#: they are not sealed, and their presence is not a change to the run.
DERIVED = (REPORT, f"{FIGURES}/")


def part_kind(file: str) -> str:
    """The kind of a part from its path: ``ledger``, ``decisions`` or ``company_ledger``.

    Parts of a run in one process lie in ``<kind>/``; those of a sharded run's shards in
    ``shards/<shard>/<kind>/``.
    """
    return PurePosixPath(file).parent.name


def part_name(kind: str, index: int) -> str:
    """Relative path of part ``index`` of the ledger or of the decisions."""
    return f"{kind}/part-{index:05d}.parquet"


def shard_folder(index: int) -> str:
    """Relative path of shard ``index``'s folder in a sharded run."""
    return f"{SHARDS}/{index:04d}"
