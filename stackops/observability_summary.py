"""The observability comparison in the report and in docs/comparison.md: two tables, a conclusion, the traces."""

from __future__ import annotations

import html
from collections.abc import Callable
from statistics import median

from stackops.observability import SCENARIOS, ObservabilityReport, TraceMeasure
from stackops.summary import Table, markdown_table

DESIGN_LABELS = {
    "sqs": "sqs",
    "stepfunctions": "stepfunctions (Express)",
    "stepfunctions-standard": "stepfunctions (Standard)",
}
ARCHITECTURES = ("sqs", "stepfunctions")


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "**no**")


def answer_table(report: ObservabilityReport) -> Table:
    rows = []
    for scenario in SCENARIOS:
        for measure in (m for m in report.measures if m.scenario == scenario):
            rows.append(
                [
                    scenario,
                    DESIGN_LABELS.get(measure.design, measure.design),
                    f"{measure.outcome}" + (f": {measure.stopped_at}" if measure.stopped_at else ""),
                    str(measure.api_calls),
                    f"{measure.seconds:.2f}",
                    f"{measure.places_looked_in} ({measure.places_with_data})",
                    str(measure.steps),
                    _yes(measure.shows_inputs),
                    _yes(measure.shows_outputs),
                    _yes(measure.shows_retries),
                    _yes(measure.shows_failing_step),
                ]
            )
    return Table(
        title='Observability: what answering "what happened to delivery X and why" takes',
        headers=[
            "scenario",
            "design",
            "trace says",
            "API calls",
            "seconds",
            "places looked in (with data)",
            "steps",
            "inputs",
            "outputs",
            "retries",
            "failing step",
        ],
        rows=rows,
        numeric={3, 4, 6},
        note="`python -m stackops trace <delivery-id> --stack NAME` on the sandbox, one run per cell; seconds are "
        "this machine's against the embedded AWS (on AWS each call takes longer; Logs Insights needs one query "
        "for every log group but waits for it to complete). A place is a log group, queue, state machine or "
        "execution read; — is a scenario with nothing of that kind to show.",
    )


def code_table(report: ObservabilityReport) -> Table:
    rows = [[share.architecture, f"`{share.path}`", share.what, str(share.lines)] for share in report.code]
    rows += [[f"**{a} only**", "", "", f"**{report.code_lines(a)}**"] for a in ARCHITECTURES]
    rows.append(["**both**", "", "the same in both architectures", f"**{report.code_lines('both')}**"])
    return Table(
        title="Observability: product code that exists only to observe",
        headers=["architecture", "file", "what", "source lines"],
        rows=rows,
        numeric={3},
        note="Source lines: not blank, not comments, not docstrings (an ASL state: its lines as JSON). Counted by "
        "stackops/observability_code.py from the files as they are.",
    )


def conclusion(report: ObservabilityReport) -> list[str]:
    sentences = []
    by_design: dict[str, list[TraceMeasure]] = {}
    for measure in report.measures:
        by_design.setdefault(measure.design, []).append(measure)
    for design, measures in by_design.items():
        complete = all(
            m.shows_inputs
            and m.shows_outputs is not False
            and m.shows_retries is not False
            and m.shows_failing_step is not False
            for m in measures
        )
        sentences.append(
            f"**{DESIGN_LABELS.get(design, design)}**: `trace` answered with a median of "
            f"{median(m.api_calls for m in measures):g} API calls and {median(m.places_looked_in for m in measures):g} "
            f"places looked in (the backfill: {_backfill(measures)}); its answers "
            + (
                "showed inputs, outputs, retries and the failing step wherever the scenario had them."
                if complete
                else "missed some (see the table)."
            )
        )
    sentences.append(
        f"Code written only to observe: {report.code_lines('both')} source lines the same in both architectures "
        f"(alarms, dashboard, queries, tracing, metrics); beyond them sqs {report.code_lines('sqs')} (its "
        "application-level tracking, functions/common/tracking.py: what an execution's history holds for free) and "
        f"stepfunctions {report.code_lines('stepfunctions')} (the latency metric's state: no Lambda runs last to "
        "emit it)."
    )
    return sentences


def _backfill(measures: list[TraceMeasure]) -> str:
    backfill = [m for m in measures if m.scenario == "backfill with a failing member"]
    if not backfill:
        return "not measured"
    return f"{backfill[0].api_calls} calls, {backfill[0].places_looked_in} places, {backfill[0].steps} steps"


def render_markdown(report: ObservabilityReport) -> str:
    parts = ["### Observability\n", f"Measured with `{report.command}` at {report.made_at} on the sandbox.\n"]
    parts.append("\n".join(f"- {sentence}" for sentence in conclusion(report)) + "\n")
    for table in (answer_table(report), code_table(report)):
        parts.append(f"#### {table.title}\n")
        parts.append(markdown_table(table))
    parts.append("#### The traces\n")
    for measure in report.measures:
        summary = f"{DESIGN_LABELS.get(measure.design, measure.design)}: {measure.scenario}"
        parts.append(
            f"<details><summary>{html.escape(summary)}</summary>\n\n```text\n{measure.rendered.rstrip()}\n```\n\n</details>\n"
        )
    return "\n".join(parts)


def render_html(report: ObservabilityReport, render: Callable[[Table], str]) -> str:
    """The report page's section; ``render`` draws a :class:`Table` as the page's other tables are."""
    body = ['<section id="observability"><h2>Observability</h2>', "<ul>"]
    body += [f"<li>{html.escape(sentence.replace('**', '').replace('`', ''))}</li>" for sentence in conclusion(report)]
    body.append("</ul>")
    body += [render(answer_table(report)), render(code_table(report))]
    body.append("<h3>The traces</h3>")
    for measure in report.measures:
        summary = f"{DESIGN_LABELS.get(measure.design, measure.design)}: {measure.scenario}"
        body.append(
            f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(measure.rendered)}</pre></details>"
        )
    body.append("</section>")
    return "\n".join(body)
