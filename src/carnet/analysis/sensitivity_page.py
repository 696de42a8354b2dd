"""The page of a sensitivity analysis: a chart of every output's indices, with their intervals."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import pyarrow as pa

from carnet.analysis.experiment import Parameter
from carnet.analysis.page import Section, page, table_html

_ABOUT = {
    "sobol": "Sobol' indices with 95% bootstrap intervals. S1: the share of the figure's variance "
    "that the parameter explains alone; ST: alone and through its interactions. ST near 0 "
    "(its interval reaching 0): the figure does not depend on the parameter in this range.",
    "morris": "Morris screening with 95% bootstrap intervals. mu*: the mean absolute change of "
    "the figure when the parameter moves by its whole range; sigma: how much that change varies "
    "(non-linearity or interactions).",
}


def _chart(rows: list[dict[str, float | str]], method: str, output: str) -> go.Figure:
    params = [str(r["parameter"]) for r in rows]
    bars = (("S1", "S1_conf"), ("ST", "ST_conf")) if method == "sobol" else (
        ("mu_star", "mu_star_conf"), ("sigma", None))  # fmt: skip
    fig = go.Figure()
    for column, conf in bars:
        fig.add_bar(
            name=column,
            y=params,
            x=[r[column] for r in rows],
            orientation="h",
            error_x={"type": "data", "array": [r[conf] for r in rows]} if conf else None,
        )
    fig.update_layout(
        barmode="group",
        title=output,
        height=160 + 45 * len(params),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        yaxis={"automargin": True, "autorange": "reversed"},
    )
    return fig


def sensitivity_page(
    table: pa.Table, method: str, parameters: Sequence[Parameter], title: str, meta: str,
    spec_text: str,
) -> str:  # fmt: skip
    """The self-contained HTML page of ``table`` (:func:`~carnet.analysis.sensitivity.indices`).

    ``method`` is ``sobol`` or ``morris``; ``meta`` says what ran; ``spec_text`` ends the page.
    """
    by_output: dict[str, list[dict[str, float | str]]] = {}
    for row in table.to_pylist():
        by_output.setdefault(row["output"], []).append(row)
    sections = []
    for i, (output, rows) in enumerate(by_output.items()):
        noise = rows[0]["noise_share"]
        about = _ABOUT[method]
        if isinstance(noise, float) and noise == noise:
            about += f" Seeds' noise: {noise:.1%} of this figure's variance across samples."
        index = "S1" if method == "sobol" else "mu_star"
        content: go.Figure | str = _chart(rows, method, output)
        if all(r[index] != r[index] for r in rows):  # NaN: the figure had no variance
            content = "<p>This figure did not vary across the samples: no indices.</p>"
        sections.append(Section(f"output-{i}", output, about, content))
    params = [(p.path, p.low, p.high, "log" if p.log else "linear") for p in parameters]
    sections.insert(0, Section("parameters", "Parameters varied", "Each range as sampled.",
                               table_html(("path", "low", "high", "scale"), params)))  # fmt: skip
    return page(title, meta, sections, spec_text)
