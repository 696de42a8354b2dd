"""A dossier as one self-contained HTML page: inline CSS, no script, nothing fetched.

The page says what the terminal's ``carnet dossier`` says, in the same words
(:meth:`carnet.result.Dossier.truth`); every value is escaped, and a Content-Security-Policy
forbids the page any request and any script.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from carnet._version import __version__
from carnet.result import Dossier

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1f; margin: 2rem auto; max-width: 64rem;
       padding: 0 1rem; }
h1 { margin-bottom: .2rem; }
h2 { margin-top: 2rem; font-size: 1.15rem; }
.note { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #ddd; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.wrongful td, tr.refused td { background: #fde4e1; }
tr.wrongful td:last-child, tr.refused td:nth-child(4) { color: #a40e0e; font-weight: bold; }
tr.serious td:last-child { font-weight: bold; }
tr.redress td:last-child { color: #17692c; font-weight: bold; }
tr.minor td { color: #777; }
"""

_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
#: The columns shown of a ledger row (then the truth), and of a decision.
_RECORD = ("day", "behaviour", "source", "points", "balance")
_DECISION = ("day", "gate", "grade", "outcome", "price")


def _text(value: object, *, signed: bool = False) -> str:
    if value is None:
        return ""
    if signed and isinstance(value, int):
        return f"{value:+d}"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _cells(row: dict[str, object], keys: Sequence[str]) -> list[str]:
    """The values of ``keys`` in ``row`` as text; points with their sign."""
    return [_text(row.get(key), signed=key == "points") for key in keys]


def _table(
    headers: Sequence[str],
    rows: Sequence[tuple[Sequence[str], str]],
    numeric: Sequence[int] = (),
) -> str:
    """An HTML table; each row is its cells (plain text) and a class (a tone, or "")."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for cells, tone in rows:
        tds = "".join(
            f'<td class="n">{escape(c)}</td>' if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        body.append(f'<tr class="{escape(tone)}">{tds}</tr>' if tone else f"<tr>{tds}</tr>")
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


def dossier_html(dossier: Dossier, scenario_name: str) -> str:
    """One citizen's (or company's) file as a self-contained HTML page.

    The attributes; the timeline of what the system recorded with the truth beside each row,
    wrongful rows highlighted; the acts it did that were pinned on others; its decisions at the
    gates, refusals highlighted.
    """
    who = dossier.entity
    title = f"{who.capitalize()} {dossier.citizen}"
    parts = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="note">Scenario {escape(scenario_name)}. A synthetic {escape(who)}, drawn '
        "from aggregate parameters: carnet never reads, scores or decides about real people.</p>",
        "<h2>Attributes</h2>",
        _table(
            ("attribute", "value"),
            [((str(k), _text(v)), "") for k, v in dossier.attributes.items()],
        ),
        "<h2>What the system recorded, and the truth</h2>",
    ]
    if dossier.rows:
        rows, wrongful = [], 0
        for row in dossier.rows:
            truth, tone = dossier.truth(row)
            wrongful += tone == "wrongful"
            rows.append(([*_cells(row, _RECORD), truth], tone))
        parts.append(_table((*_RECORD, "truth"), rows, numeric=(0, 3, 4)))
        parts.append(
            f"<p>{len(dossier.rows)} entries; {wrongful} of them for acts this {escape(who)} "
            "did not do.</p>"
        )
    else:
        parts.append(f"<p>The system recorded nothing about this {escape(who)}.</p>")
    if dossier.blamed_on_others:
        parts.append(f"<h2>Acts this {escape(who)} did, pinned on others</h2>")
        blamed = [
            ([*_cells(row, _RECORD[:4]), f"{who} {_text(row.get(who))}"], "")
            for row in dossier.blamed_on_others
        ]
        parts.append(_table((*_RECORD[:4], "recorded against"), blamed, numeric=(0, 3)))
    if dossier.decisions:
        parts.append(f"<h2>Decisions about this {escape(who)} at the gates</h2>")
        decided = [
            (_cells(row, _DECISION), "" if row.get("outcome") == "approved" else "refused")
            for row in dossier.decisions
        ]
        headers = ("day", "gate", "grade then", "outcome", "price")
        parts.append(_table(headers, decided, numeric=(0, 4)))
    parts.append(f'<p class="note">Written by carnet {escape(__version__)}.</p>')
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} — {escape(scenario_name)} — carnet dossier</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )
