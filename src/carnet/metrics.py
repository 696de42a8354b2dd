"""The daily metrics table: exact integer aggregates per (day, group), merged across shards."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from carnet.phases.observe import OUTCOMES
from carnet.phases.record import Recorder
from carnet.scenario import Scenario


def metrics_table(
    s: Scenario, recorders: Sequence[Recorder], data_per_day: npt.NDArray[np.int64]
) -> pa.Table:
    """One row per (day, group) with every aggregate as a column.

    Columns: ``day``, ``group``, ``citizens``, ``points_sum``, ``points_mean``, ``grade_<G>``
    (citizens in each grade at the end of the day), ``acts_<b>_<outcome>`` (acts truly done by
    the group, by what the sources made of them), ``scored_<b>`` and ``wrongful_<b>`` (records
    attached to the group's citizens, and those of them for acts they did not do), ``expired_<b>``
    (records whose points were restored) and ``data_<source>`` (data points collected).
    """
    days = s.run.days
    groups = [g.name for g in s.population.groups]
    G = len(groups)

    def total(name: str) -> npt.NDArray[np.int64]:
        summed: npt.NDArray[np.int64] = np.sum(
            [getattr(r, name) for r in recorders], axis=0, dtype=np.int64
        )
        return summed

    citizens = total("citizens")
    points_sum = total("points_sum")
    grades, acts = total("grades"), total("acts")
    scored, wrongful, expired = total("scored"), total("wrongful"), total("expired")

    def flat(a: npt.NDArray[np.int64]) -> pa.Array:
        return pa.array(np.ascontiguousarray(a).reshape(days * G), pa.int64())

    columns: dict[str, pa.Array] = {
        "day": pa.array(np.repeat(np.arange(days, dtype=np.int32), G), pa.int32()),
        "group": pa.array(groups * days, pa.string()),
        "citizens": flat(np.broadcast_to(citizens, (days, G))),
        "points_sum": flat(points_sum),
        "points_mean": pa.array(
            (points_sum / np.maximum(citizens, 1)).reshape(days * G), pa.float64()
        ),
    }
    for gi, grade in enumerate(s.grades):
        columns[f"grade_{grade.name}"] = flat(grades[:, :, gi])
    for k, b in enumerate(s.behaviours):
        for o, outcome in enumerate(OUTCOMES):
            columns[f"acts_{b.name}_{outcome}"] = flat(acts[:, :, k, o])
    for prefix, array in (("scored", scored), ("wrongful", wrongful), ("expired", expired)):
        for k, b in enumerate(s.behaviours):
            columns[f"{prefix}_{b.name}"] = flat(array[:, :, k])
    for j, src in enumerate(s.sources):
        columns[f"data_{src.name}"] = flat(np.broadcast_to(data_per_day[:, j], (days, G)))
    return pa.table(columns)
