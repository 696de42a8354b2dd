"""Replicates and comparisons: one scenario over many seeds, two scenarios on the same seeds.

A replicate is the audit of one seed (with its counterfactual run without responses). Over
replicates, every number of every audit table gets a mean and a 95% interval (Student's t over
seeds). A comparison runs two scenarios on the same seeds: random streams are keyed by what they
draw, so the two runs of a seed share their random numbers, and the paired differences isolate
what the scenarios change — a scenario compared with itself differs by exactly zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from carnet.analysis.audit import Audit, audit_with_behaviour
from carnet.result import simulate
from carnet.scenario.schema import Scenario

#: Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (then 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip

Progress = Callable[[int, int], None]
Tables = dict[str, pa.Table]


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom."""
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.959963984540054


def seeds(s: Scenario, n: int) -> list[int]:
    """The seeds of ``n`` replicates: the scenario's own, then the next ones."""
    return [s.run.seed + i for i in range(n)]


def audit_seed(s: Scenario, seed: int, *, threads: int | None = None) -> Audit:
    """The audit of ``s`` run with ``seed``, behaviour change included."""
    return audit_with_behaviour(simulate(s, seed=seed, threads=threads), threads=threads)


def replicate(
    s: Scenario,
    n: int,
    *,
    threads: int | None = None,
    progress: Progress | None = None,
) -> list[Audit]:
    """Audits of ``n`` seeds of ``s`` (each seed's shards step on every core)."""
    audits = []
    for i, seed in enumerate(seeds(s, n)):
        audits.append(audit_seed(s, seed, threads=threads))
        if progress is not None:
            progress(i + 1, n)
    return audits


def _keys(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_string(f.type)]


def _rows(table: pa.Table) -> Iterator[tuple[tuple[Any, ...], dict[str, float]]]:
    """Each row as (its key values, its numbers)."""
    keys = _keys(table)
    for r in table.to_pylist():
        yield tuple(r[k] for k in keys), {k: v for k, v in r.items() if k not in keys}


def _long(columns: dict[str, list[Any]], keys: list[str]) -> pa.Table:
    types = {k: pa.string() for k in [*keys, "metric"]}
    return pa.table(
        {name: pa.array(values, types.get(name, pa.float64())) for name, values in columns.items()}
    )


def _interval(samples: list[float]) -> tuple[float, float, float]:
    x = np.asarray(samples, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean, mean
    half = t_quantile(len(x) - 1) * float(x.std(ddof=1)) / np.sqrt(len(x))
    return mean, mean - half, mean + half


def summarise(audits: list[Audit]) -> Tables:
    """Every number of every audit table: mean and 95% interval over the replicates.

    Tables come back long: their key columns, then ``metric``, ``mean``, ``low``, ``high``.
    """
    out: Tables = {}
    for name, first in audits[0].tables().items():
        keys = _keys(first)
        samples: dict[tuple[Any, ...], dict[str, list[float]]] = {}
        for a in audits:
            for key, numbers in _rows(a.tables()[name]):
                for metric, value in numbers.items():
                    samples.setdefault(key, {}).setdefault(metric, []).append(float(value))
        columns: dict[str, list[Any]] = {k: [] for k in [*keys, "metric", "mean", "low", "high"]}
        for key, metrics in samples.items():
            for metric, values in metrics.items():
                mean, low, high = _interval(values)
                for col, v in zip(columns, (*key, metric, mean, low, high), strict=True):
                    columns[col].append(v)
        out[name] = _long(columns, keys)
    return out


def compare(
    a: Scenario,
    b: Scenario,
    n: int,
    *,
    threads: int | None = None,
    progress: Progress | None = None,
) -> Tables:
    """``b`` against ``a`` on the same ``n`` seeds: each number's paired difference (b - a).

    Tables come back long: their key columns, then ``metric``, ``a``, ``b`` (means over seeds),
    ``difference``, ``low`` and ``high`` (its 95% interval). Rows found in only one of the two
    scenarios (a gate or group that the other lacks) are left out.
    """
    pairs = []
    for i, seed in enumerate(seeds(a, n)):
        pairs.append((audit_seed(a, seed, threads=threads), audit_seed(b, seed, threads=threads)))
        if progress is not None:
            progress(i + 1, n)
    return differences(pairs)


def differences(pairs: Sequence[tuple[Audit, Audit]]) -> Tables:
    """Paired differences b - a of every number of every audit table, over ``(a, b)`` pairs.

    Each pair holds the audits of two scenarios run on the same seed; :func:`compare` makes
    them, and the lab gives one pair of runs it already has. Tables come back long, as
    :func:`compare` describes; with a single pair, each interval is the difference itself.
    """
    out: Tables = {}
    for name, first in pairs[0][0].tables().items():
        keys = _keys(first)
        found: dict[tuple[tuple[Any, ...], str], list[tuple[float, float]]] = {}
        for audit_a, audit_b in pairs:
            mine = dict(_rows(audit_b.tables()[name]))
            for key, numbers in _rows(audit_a.tables()[name]):
                if key not in mine:
                    continue
                for metric, value in numbers.items():
                    found.setdefault((key, metric), []).append((value, mine[key][metric]))
        columns: dict[str, list[Any]] = {
            k: [] for k in [*keys, "metric", "a", "b", "difference", "low", "high"]
        }
        for (key, metric), values in found.items():
            xa, xb = (np.array(v, dtype=np.float64) for v in zip(*values, strict=True))
            diff, low, high = _interval(list(xb - xa))
            row = (*key, metric, float(xa.mean()), float(xb.mean()), diff, low, high)
            for col, v in zip(columns, row, strict=True):
                columns[col].append(v)
        out[name] = _long(columns, keys)
    return out
