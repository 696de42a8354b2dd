"""Self-contained HTML pages of charts: what experiments (sensitivity, calibration) write.

A page carries plotly.js and its charts' data inside it, as the report does, so it opens offline,
years later, from an archive. Each section is a heading, a paragraph that says how to read it,
and a chart or an HTML table.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1200px; margin: 0 auto; padding: 1em 2em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta, .about { color: #555; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
"""


@dataclass(frozen=True)
class Section:
    """One part of a page: an anchor, a heading, how to read it, and a chart or HTML."""

    anchor: str
    title: str
    about: str
    content: go.Figure | str


def table_html(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table of ``rows`` (cells escaped; numbers shown to 4 significant digits)."""

    def cell(v: object) -> str:
        text = f"{v:.4g}" if isinstance(v, float) else str(v)
        return f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _content(section: Section) -> str:
    if isinstance(section.content, str):
        return section.content
    return str(
        pio.to_html(
            section.content,
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=f"chart-{section.anchor}",
            default_height=f"{section.content.layout.height or 420}px",
            config={"displaylogo": False, "responsive": True},
        )
    )


def page(title: str, meta: str, sections: Sequence[Section], closing: str = "") -> str:
    """A self-contained HTML page: a title, a line about what made it, its sections in order.

    ``closing`` is preformatted text that ends the page (the spec that made it, say).
    """
    contents = "".join(
        f'<li><a href="#{html.escape(s.anchor)}">{html.escape(s.title)}</a></li>' for s in sections
    )
    body = "".join(
        f'<section id="{html.escape(s.anchor)}"><h2>{html.escape(s.title)}</h2>'
        f'<p class="about">{html.escape(s.about)}</p>{_content(s)}</section>'
        for s in sections
    )
    end = f"<h2>Spec</h2><pre>{html.escape(closing)}</pre>" if closing else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f'<header><h1>{html.escape(title)}</h1><p class="meta">{html.escape(meta)}</p></header>'
        f"<nav><ol>{contents}</ol></nav>{body}{end}</body></html>\n"
    )
