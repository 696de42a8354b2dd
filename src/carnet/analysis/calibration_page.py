"""The check-fit page of a calibration: targets against the best trials, offline HTML.

One chart per trajectory that targets read: the best trial's replicate mean day by day, the band
its replicates span, the next best trials as thin lines, and each target with its 95% interval.
Yearly sums and headline figures are points (model with its replicates' range, target with its
interval). Then one chart per parameter: every trial's log-likelihood against its value, with
the line below which trials fall out of the profile interval. The page carries plotly.js inside
it, as the run report does (:mod:`carnet.analysis.report`), so it opens without a network.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import plotly.io as pio
import pyarrow as pa
from plotly.offline import get_plotlyjs

from carnet.analysis.page import STYLE

# The calibration's types, by name only: carnet.analysis.calibration imports this module.
Spec: TypeAlias = Any
Fit: TypeAlias = Any
Target: TypeAlias = Any
F64 = npt.NDArray[np.float64]

BEST, OTHERS, OBSERVED = "#1f77b4", "#9ecae1", "#d62728"


def _x(spec: Spec, days: Sequence[int]) -> list[Any]:
    if spec.start is None:
        return list(days)
    return [(spec.start + dt.timedelta(days=int(d))).isoformat() for d in days]


def _observed(spec: Spec, targets: Sequence[Target], x: Sequence[Any]) -> go.Scatter:
    spans = [t.interval() for t in targets]
    above = [hi - t.observed for t, (_, hi) in zip(targets, spans, strict=True)]
    below = [t.observed - lo for t, (lo, _) in zip(targets, spans, strict=True)]
    return go.Scatter(
        x=list(x), y=[t.observed for t in targets], mode="markers", name="observed (95%)",
        marker={"color": OBSERVED, "size": 9, "symbol": "diamond"},
        error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
        text=[t.source for t in targets],
        hovertemplate="%{y:.4g}<br>%{text}<extra>observed</extra>",
    )  # fmt: skip


def _trajectory(spec: Spec, figure: str, series: Sequence[Mapping[str, F64]]) -> go.Figure:
    targets = [t for t in spec.targets if t.figure == figure]
    best = series[0][figure]  # [replicate, day]
    x = _x(spec, range(best.shape[1]))
    chart = go.Figure()
    band = list(best.max(axis=0)) + list(best.min(axis=0))[::-1]
    chart.add_trace(go.Scatter(x=x + x[::-1], y=band, fill="toself", line={"width": 0},
                               fillcolor="rgba(31,119,180,0.2)", hoverinfo="skip",
                               name="best trial: replicates' range"))  # fmt: skip
    for k, other in enumerate(series[1:], start=2):
        chart.add_trace(
            go.Scatter(
                x=x,
                y=other[figure].mean(axis=0),
                mode="lines",
                line={"color": OTHERS, "width": 1},
                name=f"trial ranked {k}",
            )
        )
    chart.add_trace(go.Scatter(x=x, y=best.mean(axis=0), mode="lines", line={"color": BEST},
                               name="best trial: replicates' mean"))  # fmt: skip
    chart.add_trace(_observed(spec, targets, _x(spec, [t.day for t in targets])))
    chart.update_layout(title=figure, height=420, xaxis_title="date" if spec.start else "day")
    return chart


def _points(spec: Spec, targets: Sequence[tuple[int, Target]], fit: Fit, title: str) -> go.Figure:
    x = [f"{t.figure} {t.label}" for _, t in targets]
    mean = [float(fit.means[i]) for i, _ in targets]
    pairs = list(zip(targets, mean, strict=True))
    above = [float(fit.values[i].max()) - m for (i, _), m in pairs]
    below = [m - float(fit.values[i].min()) for (i, _), m in pairs]
    chart = go.Figure(go.Scatter(
        x=x, y=mean, mode="markers", name="best trial (replicates' range)",
        marker={"color": BEST, "size": 9},
        error_y={"type": "data", "symmetric": False, "array": above, "arrayminus": below},
    ))  # fmt: skip
    chart.add_trace(_observed(spec, [t for _, t in targets], x))
    chart.update_layout(title=title, height=400)
    return chart


def _profile(trials: pa.Table, path: str, threshold: float) -> go.Figure:
    logl = np.asarray(trials["log_likelihood"].to_numpy(zero_copy_only=False), np.float64)
    values = np.asarray(trials[path].to_numpy(zero_copy_only=False), np.float64)
    ok = np.isfinite(logl)
    best = float(logl[ok].max())
    chart = go.Figure(go.Scatter(x=values[ok], y=logl[ok], mode="markers", name="trials",
                                 text=[f"trial {n}" for n in np.asarray(trials["trial"])[ok]],
                                 marker={"color": BEST}))  # fmt: skip
    chart.add_hline(y=best - threshold / 2, line={"dash": "dash", "color": OBSERVED},
                    annotation_text="profile interval: above this line")  # fmt: skip
    low = max(best - 40 * threshold, float(logl[ok].min()))
    chart.update_layout(title=f"log-likelihood of every trial against {path}", height=380,
                        xaxis_title=path, yaxis_title="log-likelihood",
                        yaxis={"range": [low - 1, best + 2]})  # fmt: skip
    return chart


def _div(chart: go.Figure, name: str) -> str:
    return str(pio.to_html(chart, full_html=False, include_plotlyjs=False, include_mathjax=False,
                           div_id=f"chart-{name}", default_height=f"{chart.layout.height}px",
                           config={"displaylogo": False, "responsive": True}))  # fmt: skip


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return html.escape(f"{v:.4g}" if isinstance(v, float) else str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page_html(
    spec: Spec,
    trials: pa.Table,
    parameters: pa.Table,
    fits: Mapping[int, Fit],
    series: Sequence[Mapping[str, F64]],
    threshold: float,
) -> str:
    """The check-fit page: ``fits`` of the best trials (best first), their trajectories.

    ``threshold``: the bound on 2 dlogL of the profile intervals, drawn on each profile.
    """
    from carnet._version import __version__

    best_number, fit = next(iter(fits.items()))
    sections = []
    drawn = list(dict.fromkeys(t.figure for t in spec.targets
                               if t.series is not None and t.how != "yearly"))  # fmt: skip
    for i, figure in enumerate(drawn):
        sections.append(_div(_trajectory(spec, figure, series), f"trajectory-{i}"))
    points = [(i, t) for i, t in enumerate(spec.targets) if t.how == "yearly"]
    if points:
        sections.append(_div(_points(spec, points, fit, "sums over a year"), "yearly"))
    heads = [(i, t) for i, t in enumerate(spec.targets) if t.how == "headline"]
    if heads:
        sections.append(_div(_points(spec, heads, fit, "figures of the whole run"), "headline"))
    profiles = [_div(_profile(trials, p.path, threshold), f"profile-{j}")
                for j, p in enumerate(spec.parameters)]  # fmt: skip
    rows = parameters.to_pylist()
    params = _table(
        ("parameter", "best", "95% low", "95% high", "trials within", "range"),
        [(r["parameter"], r["best"], r["low"], r["high"], r["within"],
          f"{r['range_low']:g} .. {r['range_high']:g}") for r in rows],
    )  # fmt: skip
    targets = _table(
        ("figure", "when", "observed", "likelihood", "best trial", "replicates' range", "logL",
         "source"),
        [(t.figure, t.label, t.observed, t.likelihood, float(fit.means[i]),
          f"{fit.values[i].min():.4g} .. {fit.values[i].max():.4g}",
          float(fit.log_likelihoods[i]), t.source) for i, t in enumerate(spec.targets)],
    )  # fmt: skip
    s = spec.base
    title = html.escape(f"carnet calibration: {spec.path.name}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<header><h1>{title}</h1>"
        f'<p class="meta">scenario {html.escape(s.name)}: {s.population.size:,} synthetic '
        f"citizens, {s.run.days} days; {trials.num_rows} trials of {spec.replicates} "
        f"replicate(s) on common random numbers (seeds {spec.seeds[0]}..{spec.seeds[-1]}); best "
        f"trial {best_number}, log-likelihood {float(fit.log_likelihood):.4g}; carnet "
        f"{__version__}.</p></header>"
        "<h2>Calibrated parameters</h2>"
        '<p class="about">Best: the trial of highest log-likelihood (of the replicates\' mean). '
        "Interval: the range over trials with 2 (best logL - logL) &le; 3.84, the profile "
        "likelihood's 95% interval as far as the trials sampled it.</p>"
        f"{params}<h2>Targets against the best trials</h2>{''.join(sections)}{targets}"
        f"<h2>Profiles</h2>{''.join(profiles)}</body></html>\n"
    )
