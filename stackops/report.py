"""``build/compare/``: ``usage.json``, ``cost.json``, ``report.html`` (one self-contained page) and ``report.md``.

``report.html`` inlines plotly.js and carries a Content-Security-Policy that allows no request at all
(``default-src 'none'``): it opens from disk, offline, and cannot fetch anything even by mistake.
``report.md`` is the summary that ``docs/comparison.md`` embeds between its markers (:func:`embed`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import plotly.offline

from stackops import cost_queries, observability_summary, summary
from stackops.cost import CostReport
from stackops.figures import Chart, charts
from stackops.observability import ObservabilityReport
from stackops.prices import PriceTable, load_prices
from stackops.usage import UsageReport

START_MARKER = "<!-- compare:report:start -->"
END_MARKER = "<!-- compare:report:end -->"

#: Nothing may be fetched: scripts and styles are inline, images (plotly's) are data: URLs.
CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:"

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; } caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
.provenance, figcaption { color: #555; font-size: 0.85rem; } code { font-size: 0.85em; }
figure { margin: 0; }
"""

#: The report's sections: id, heading, the chart shown, the tables (by title prefix) shown under it.
_SECTIONS = (
    ("volume", "Monthly cost against volume", "volume", ("Monthly cost", "Crossovers")),
    ("per-million", "Cost per delivery", "per-million", ("Cost per million",)),
    ("breakdown", "Where the money goes", "breakdown", ("Idle cost",)),
    ("levers", "Cost levers", "levers", ("Cost levers",)),
    ("latency", "Latency per event", "latency", ("End-to-end latency",)),
    ("bill", "The bill", None, ("The bill",)),
    ("prices", "Prices used", None, ("Prices used",)),
)


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    usage_json: Path
    cost_json: Path
    html: Path
    markdown: Path


def write_report(
    usage: UsageReport, cost: CostReport, out: Path, observability: ObservabilityReport | None = None
) -> ReportFiles:
    """Write the usage, the priced result, the page and the summary to ``out`` (created if missing).

    The price table of the cost report's region, when it is still the one it was priced with, adds the
    prices used (figures, sources, verified or not) to the page and the summary.
    """
    prices = price_table(cost)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / "usage.json", out / "cost.json", out / "report.html", out / "report.md")
    files.usage_json.write_text(usage.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    files.cost_json.write_text(cost.model_dump_json(by_alias=True, indent=2) + "\n", encoding="utf-8")
    files.html.write_text(render_html(usage, cost, prices, observability), encoding="utf-8")
    files.markdown.write_text(summary.render_markdown(usage, cost, prices, observability), encoding="utf-8")
    if observability is not None:
        (out / "observability.json").write_text(observability.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return files


def price_table(cost: CostReport) -> PriceTable | None:
    """The price table of the cost report's region, or None when there is none for it."""
    try:
        return load_prices(cost.region)
    except ValueError:
        return None


def render_html(
    usage: UsageReport,
    cost: CostReport,
    prices: PriceTable | None = None,
    observability: ObservabilityReport | None = None,
) -> str:
    """The whole page: provenance, conclusion, a section per chart with its tables, and observability."""
    drawn = charts(usage, cost)
    tables = summary.tables(usage, cost, summary.matching(cost, prices))
    body = [
        "<h1>Cost comparison: "
        + html.escape(" vs ".join(cost_queries.deployable(usage, cost) or cost.designs))
        + "</h1>",
        f'<p class="provenance">{_inline(summary.provenance(usage, cost))}</p>',
    ]
    body.append('<section id="conclusion"><h2>Conclusion</h2><ul>')
    sentences = summary.conclusion(usage, cost) + summary.caveats(cost, prices)
    body += [f"<li>{_inline(sentence)}</li>" for sentence in sentences]
    body.append("</ul></section>")
    for section_id, heading, chart_key, prefixes in _SECTIONS:
        chart = drawn.get(chart_key) if chart_key else None
        shown = [t for t in tables if t.title.startswith(prefixes)]
        if chart is None and not shown:
            continue
        body.append(f'<section id="{section_id}"><h2>{html.escape(heading)}</h2>')
        if chart is not None:
            body.append(_figure(chart, usage, cost))
        elif chart_key and not any(not t.rows and t.note for t in shown):
            body.append("<p><em>Nothing was measured to chart here.</em></p>")
        body += [_html_table(t) for t in shown]
        body.append("</section>")
    if observability is not None:
        body.append(observability_summary.render_html(observability, _html_table))
    else:
        body.append(
            '<section id="observability"><h2>Observability</h2><p>Not measured in this run: '
            "<code>python -m stackops compare</code> on the sandbox measures it (against an account, trace "
            "your own deliveries with <code>python -m stackops trace</code>).</p></section>"
        )
    notes = cost_queries.notes(usage, cost)
    if notes:
        body.append('<section id="notes"><h2>How these figures were made</h2><ul>')
        body += [f"<li>{_inline(note)}</li>" for note in notes]
        body.append("</ul></section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Cost comparison ({html.escape(usage.source)})</title><style>{_STYLE}</style>"
        f"<script>{plotly.offline.get_plotlyjs()}</script></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _figure(chart: Chart, usage: UsageReport, cost: CostReport) -> str:
    div = chart.figure.to_html(full_html=False, include_plotlyjs=False, div_id=chart.id, config=_PLOTLY_CONFIG)
    caption = (
        f"{html.escape(chart.title)}. Usage: <code>{html.escape(usage.command)}</code> ({usage.source}, "
        f"{html.escape(usage.generated_at)}); prices: <code>stackops/data/aws_prices.json</code> as of "
        f"{html.escape(cost.prices_as_of)} ({html.escape(cost.region)}). Every line item is in "
        "<code>usage.json</code> and <code>cost.json</code> beside this page."
    )
    return f"<figure>{div}<figcaption>{caption}</figcaption></figure>"


def _html_table(table: summary.Table) -> str:
    if not table.rows:
        return f"<p><em>{html.escape(table.note or 'Nothing to show.')}</em></p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{html.escape(c)}</td>' if i in table.numeric else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in table.rows
    )
    note = f"<p>{html.escape(table.note)}</p>" if table.note else ""
    return f"<table><caption>{html.escape(table.title)}</caption><tr>{head}</tr>{rows}</table>{note}"


def _inline(text: str) -> str:
    """The summary's bits of Markdown (``**bold**``, ```code```) as HTML, everything else escaped."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", escaped)


def embed(markdown: str, doc_path: Path) -> bool:
    """Replace what ``doc_path`` holds between its compare markers with ``markdown``; True if it changed.

    The markers stay, so the next run replaces the block again. A document without both markers, in
    order, is refused with a ValueError naming it.
    """
    text = doc_path.read_text(encoding="utf-8")
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < 0 or end < start or text.count(START_MARKER) != 1 or text.count(END_MARKER) != 1:
        raise ValueError(f"{doc_path}: needs exactly one {START_MARKER} followed by one {END_MARKER}")
    updated = text[: start + len(START_MARKER)] + "\n" + markdown.strip("\n") + "\n" + text[end:]
    if updated == text:
        return False
    doc_path.write_text(updated, encoding="utf-8")
    return True
