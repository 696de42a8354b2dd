"""The report of a run: one HTML page with every chart, readable offline.

The page carries plotly.js and the charts' data inside it, so it needs no network, no server and
no other file: it can be mailed, archived beside the run, or opened years later. A chart that
does not apply to the run is left out with a one-line note. The scenario that made the run closes
the page. Optionally every chart is also written as a PNG (for papers), through kaleido and a
Chrome or Chromium installed on the machine (``pip install 'carnet[png]'``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from carnet.analysis import audit
from carnet.analysis.charts import CHARTS, FOUR_FIFTHS, Chart, NotApplicableError
from carnet.errors import CarnetError, RunError
from carnet.runs.directory import atomic_write, describe_os_error
from carnet.scenario.loading import to_yaml

if TYPE_CHECKING:
    from carnet.result import Result

#: Width in pixels of the PNG figures (their height is the chart's own); scaled twice for print.
PNG_WIDTH, PNG_SCALE = 1100, 2

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1200px; margin: 0 auto; padding: 1em 2em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta, .about, .note { color: #555; } .note { font-style: italic; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
tr.adverse td { color: #b2182b; font-weight: bold; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


def draw(result: Result) -> dict[str, go.Figure | str]:
    """Each chart of :data:`~carnet.analysis.charts.CHARTS` by name: its figure, or why not."""
    drawn: dict[str, go.Figure | str] = {}
    for chart in CHARTS:
        try:
            drawn[chart.name] = chart.draw(result)
        except NotApplicableError as why:
            drawn[chart.name] = str(why)
    return drawn


def _impact_table(result: Result) -> str:
    """The audit's gates table: approvals, wrongful refusals and disparate impact."""
    head = (
        "gate",
        "group",
        "applications",
        "approved",
        "approval rate",
        "refused wrongfully",
        "ratio",
        "95% interval",
    )
    rows = []
    for r in audit.gates(result).to_pylist():
        cells = (
            r["gate"],
            r["group"],
            f"{r['applications']:,.0f}",
            f"{r['approved']:,.0f}",
            f"{r['approval_rate']:.1%}",
            f"{r['refused_wrongfully']:,.0f}",
            f"{r['impact_ratio']:.3f}",
            f"{r['impact_low']:.3f} – {r['impact_high']:.3f}",
        )
        adverse = ' class="adverse"' if r["impact_ratio"] < FOUR_FIFTHS else ""
        rows.append(f"<tr{adverse}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells))
    header = "".join(f"<th>{h}</th>" for h in head)
    return (
        f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<p class="note">Refused wrongfully: refusals that a record holding only true entries '
        "would have approved. Intervals from this run alone (delta method on the log ratio); "
        "rows in red fall below the four-fifths rule.</p>"
    )


def _section(chart: Chart, drawn: go.Figure | str, result: Result) -> str:
    parts = [f'<section id="{chart.name}"><h2>{html.escape(chart.title)}</h2>']
    if isinstance(drawn, str):
        parts.append(f'<p class="note">Not drawn: {html.escape(drawn)}.</p></section>')
        return "".join(parts)
    parts.append(f'<p class="about">{html.escape(chart.about)}</p>')
    parts.append(
        pio.to_html(
            drawn,
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=f"chart-{chart.name}",
            default_height=f"{drawn.layout.height or 450}px",
            config={
                "displaylogo": False,
                "responsive": True,
                "toImageButtonOptions": {"filename": chart.name},
            },
        )
    )
    if chart.name == "impact":
        parts.append(_impact_table(result))
    parts.append("</section>")
    return "".join(parts)


def report_html(result: Result, drawn: Mapping[str, go.Figure | str] | None = None) -> str:
    """The report of ``result`` as one self-contained HTML page (``drawn``: from :func:`draw`)."""
    from carnet._version import __version__

    s = result.scenario
    drawn = draw(result) if drawn is None else drawn
    contents = (
        "".join(f'<li><a href="#{c.name}">{html.escape(c.title)}</a></li>' for c in CHARTS)
        + '<li><a href="#scenario">Scenario</a></li>'
    )
    sections = "".join(_section(c, drawn[c.name], result) for c in CHARTS)
    title = html.escape(f"carnet report: {s.name}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<header><h1>{html.escape(s.name)}</h1><p>{html.escape(s.description)}</p>"
        f'<p class="meta">{s.population.size:,} synthetic citizens, {s.run.days} days, '
        f"seed {s.run.seed}; carnet {__version__}. Every figure is about a synthetic society, "
        "not about real people.</p></header>"
        f"<nav><ol>{contents}</ol></nav>{sections}"
        '<section id="scenario"><h2>Scenario</h2>'
        '<p class="about">The resolved scenario of this run, every default spelled out.</p>'
        f"<pre>{html.escape(to_yaml(s))}</pre></section></body></html>\n"
    )


def write_pngs(figures: Mapping[str, go.Figure], folder: Path) -> list[Path]:
    """Write each figure as ``folder/<name>.png``, through kaleido and a local Chrome/Chromium.

    kaleido finds Chrome or Chromium where they are usually installed (Debian:
    ``apt-get install chromium``), or where the ``BROWSER_PATH`` environment variable says.
    """
    try:
        import kaleido
        from kaleido.errors import ChromeNotFoundError
    except ImportError:
        raise CarnetError("writing PNGs needs kaleido: pip install 'carnet[png]'") from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(describe_os_error(exc, folder)) from None
    paths = {name: folder / f"{name}.png" for name in figures}
    specs = [
        {
            "fig": fig,
            "path": paths[name],
            "opts": {
                "format": "png",
                "width": PNG_WIDTH,
                "height": fig.layout.height or 450,
                "scale": PNG_SCALE,
            },
        }
        for name, fig in figures.items()
    ]
    try:  # no MathJax: kaleido would fetch it from the network
        kaleido.write_fig_from_object_sync(specs, kopts={"mathjax": False}, cancel_on_error=True)
    except ChromeNotFoundError:
        raise CarnetError(
            "writing PNGs needs Chrome or Chromium (Debian: apt-get install chromium), "
            "or BROWSER_PATH set to one"
        ) from None
    return list(paths.values())


def write_report(result: Result, path: str | Path, *, png_dir: str | Path | None = None) -> Path:
    """Write the report of ``result`` to ``path`` (atomically) and return that path.

    With ``png_dir``, every chart drawn is also written there as ``<name>.png``.
    """
    path = Path(path)
    drawn = draw(result)
    try:
        atomic_write(path, report_html(result, drawn).encode("utf-8"))
    except OSError as exc:
        raise RunError(describe_os_error(exc, path)) from None
    if png_dir is not None:
        figures = {k: v for k, v in drawn.items() if isinstance(v, go.Figure)}
        write_pngs(figures, Path(png_dir))
    return path
