"""report.md, report.html and embed(), from the hand-made reports of report_inputs (figures worked out there)."""

from __future__ import annotations

import re
from pathlib import Path

import plotly.offline
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackops import cost_model, cost_queries, figures, summary
from stackops.cost import CostReport, LeverEffect
from stackops.report import CSP, END_MARKER, START_MARKER, embed, price_table, render_html, write_report
from stackops.usage import UsageReport
from tests.stackops import report_inputs, usage_samples
from tests.stackops.report_inputs import cost_report, observability_report, usage_report


def test_the_summary_tables_show_the_cost_reports_figures() -> None:
    markdown = summary.render_markdown(usage_report(), cost_report())

    assert "| member_added | $10.00 | $20.00 | $5.00 |" in markdown  # per million: sqs, EXPRESS, floor
    assert "| workflow_run | $20.00 | $40.00 | $8.00 |" in markdown
    # the mix is half and half: sqs 15 and EXPRESS 30 per million; at 100M a month, plus idle
    assert "| sqs | $2.65 | $17.50 | $1,502 |" in markdown  # 2.5 + 15 * (0.01, 1, 100), 1502.5 rounded to even
    assert "| stepfunctions-EXPRESS | $0.80 | $30.50 | $3,000 |" in markdown
    assert "| stepfunctions-EXPRESS vs sqs | stepfunctions-EXPRESS | sqs | 133k/month |" in markdown
    assert "| sqs vs floor | floor everywhere | - | never in 1k-100M |" in markdown
    assert "cost.json has 1 more: the crossovers of each use case." in markdown  # member_added's
    assert "| logLevel | ERROR | stepfunctions-EXPRESS | $25.00 | -$5.50 |" in markdown
    assert "| cpu | x86_64 | sqs | $19.00 | +$2.00 |" in markdown
    assert "| sqs | member_added | 4 | 0.350 | 0.600 | 0.600 |" in markdown  # latencies 0.2, 0.3, 0.4, 0.6


def test_the_conclusion_is_computed_from_the_figures() -> None:
    sentences = summary.conclusion(usage_report(), cost_report())

    assert sentences[0] == (
        "Cheapest deployable design per month (mix of member_added 50%, workflow_run 50%): "
        "**stepfunctions-EXPRESS** from 1k to 100k; **sqs** from 1M to 100M deliveries a month."
    )
    assert "(3 of 6 volumes from 1k to 100M)" in sentences[1]
    assert sentences[2] == "sqs becomes cheaper than stepfunctions-EXPRESS above 133k deliveries a month."
    assert "At 1M deliveries a month: sqs $17.50; stepfunctions-EXPRESS $30.50 (1.7x)." in sentences
    assert any("sqs pays $15.00, 2.3x the floor ($6.50" in s for s in sentences)
    assert sentences[-1] == "With no traffic: sqs $2.50/month, stepfunctions-EXPRESS $0.50/month."


def test_the_floor_and_other_references_are_never_the_recommended_design() -> None:
    # the floor is cheapest everywhere, but nobody can deploy it: it is not in the conclusion's ranking
    sentences = summary.conclusion(usage_report(), cost_report())

    assert "**floor**" not in " ".join(sentences)


def test_the_page_is_self_contained_and_titles_every_chart_with_its_provenance() -> None:
    page = render_html(usage_report(), cost_report())

    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in page
    assert "default-src 'none'" in CSP
    library = plotly.offline.get_plotlyjs()
    assert page.count(library) == 1  # inlined once (its own strings name plotly.com; the CSP blocks any fetch)
    ours = page.replace(library, "")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours), "the page links to the network"
    assert "<script src" not in ours
    for chart in ("chart-volume", "chart-per-million", "chart-breakdown", "chart-levers", "chart-latency"):
        assert f'id="{chart}"' in page
    assert page.count("<figcaption>") == 5
    assert page.count("<code>python -m stackops compare --deliveries 4</code>") >= 5
    assert page.count("as of 2026-11-30 (us-east-1)") >= 5
    assert '<section id="observability"><h2>Observability</h2>' in page


def test_the_levers_shown_are_the_main_workloads_at_the_volume_nearest_1m() -> None:
    cost = cost_report()
    other = cost.levers[0].model_copy(update={"volume": 10_000, "delta_usd": -1.0})
    elsewhere = cost.levers[0].model_copy(update={"workload": "member_added", "delta_usd": -2.0})
    no_effect = cost.levers[1].model_copy(update={"setting": "arm64", "delta_usd": 0.001})
    cost = cost.model_copy(update={"levers": [*cost.levers, other, elsewhere, no_effect]})

    table = summary.levers(cost)

    assert [row[-1] for row in table.rows] == ["-$5.50", "+$2.00"]
    assert table.note == (
        "1 setting changes the total by less than a cent (not shown; the measured settings among them). "
        "cost.json has 2 more: every workload at every lever volume."
    )
    assert table.title.startswith("Cost levers at 1M deliveries a month, mix of member_added 50%")


def test_notes_are_shown_once() -> None:
    usage = usage_report()
    cost = cost_report().model_copy(update={"notes": [*usage.notes, "free tiers applied"]})

    assert cost_queries.notes(usage, cost) == ["Lambda durations measured on this machine", "free tiers applied"]


def test_the_report_of_the_cost_models_own_output(tmp_path: Path) -> None:
    """The report reads what stackops.cost_model really writes (every design, pairs, levers, notes)."""
    usage = usage_samples.report(usage_samples.sqs_stack(), *map(usage_samples.sfn_stack, ("STANDARD", "EXPRESS")))
    cost = cost_model.price(usage)

    markdown = write_report(usage, cost, tmp_path).markdown.read_text()

    assert "| workload | " + " | ".join(cost.designs) + " |" in markdown
    assert markdown.count("\n### ") >= 8
    crossing = [c for c in cost.crossovers if c.workload == "mix" and c.volume is not None]
    for c in crossing:
        if c.cheaper_above in {s.label for s in usage.stacks} and c.cheaper_below in {s.label for s in usage.stacks}:
            assert f"{c.cheaper_above} becomes cheaper than {c.cheaper_below} above" in markdown
    assert "Cheapest deployable design per month" in markdown


def test_a_chart_with_nothing_measured_is_left_out_not_drawn_empty() -> None:
    usage = usage_report()
    unmeasured = usage.model_copy(
        update={
            "stacks": [
                s.model_copy(update={"use_cases": [c.model_copy(update={"latency_seconds": []}) for c in s.use_cases]})
                for s in usage.stacks
            ]
        }
    )
    page = render_html(unmeasured, cost_report())

    assert 'id="chart-latency"' not in page
    latency = page[page.index('<section id="latency">') :]
    assert latency.index("No latency was measured for these stacks.") < latency.index("</section>")
    assert "No latency was measured for these stacks." in summary.render_markdown(unmeasured, cost_report())


def test_a_lever_that_swaps_designs_is_left_to_the_table_and_small_levers_stay_visible() -> None:
    cost = cost_report()
    switch = cost.levers[0].model_copy(update={"lever": "workflowType", "setting": "STANDARD", "delta_usd": 190.0})
    cost = cost.model_copy(update={"levers": [*cost.levers, switch]})

    chart = figures.levers_chart(usage_report(), cost)

    assert chart is not None
    assert [list(trace.y) for trace in chart.figure.data] == [["logLevel = ERROR"], ["cpu = x86_64"]]
    assert "workflowType is in the table" in chart.title
    assert any(row[:2] == ["workflowType", "STANDARD"] for row in summary.levers(cost).rows)


def test_per_million_bars_get_a_log_axis_when_they_span_more_than_20x() -> None:
    cost = cost_report()
    chart = figures.per_million_chart(usage_report(), cost)
    assert chart is not None and chart.figure.layout.yaxis.type == "linear"  # 5 to 40: 8x
    dear = [e.model_copy(update={"per_million_usd": 400.0}) if e.design == "sqs" else e for e in cost.estimates]

    chart = figures.per_million_chart(usage_report(), cost.model_copy(update={"estimates": dear}))

    assert chart is not None and chart.figure.layout.yaxis.type == "log"


def test_the_prices_used_are_listed_with_their_sources_and_the_unverified_ones_named() -> None:
    prices = report_inputs.price_table()

    markdown = summary.render_markdown(usage_report(), cost_report(), prices)

    assert (
        "| lambda/u | $0.20 up to 6,000,000,000 then $0.18 per 1,000,000 | - "
        "| https://aws.amazon.com/lambda/pricing/ | yes |" in markdown
    )
    assert "| dynamodb/u | $0.625 per 1,000,000 | - | https://aws.amazon.com/dynamodb/pricing/ | no |" in markdown
    assert "| logs/u | $0.50 per 1,000,000 | 5 |" in markdown  # a permanent free tier
    assert "| cloudwatch/alarms |" in markdown and "sns/publishes" not in markdown  # only the prices used
    assert "- Not verified against AWS's page (the price table says so): dynamodb/u. Check them first." in markdown
    assert '<section id="prices">' in render_html(usage_report(), cost_report(), prices)


def test_a_price_table_newer_than_the_cost_report_is_named_not_listed() -> None:
    newer = report_inputs.price_table(as_of="2027-01-01")

    markdown = summary.render_markdown(usage_report(), cost_report(), newer)

    assert (
        "- The price table is now us-east-1 as of 2027-01-01, not the us-east-1 table of 2026-11-30 these "
        "figures were priced with: rerun the command."
    ) in markdown
    assert "Prices used" not in markdown


def test_the_bill_is_shown_only_when_an_account_gave_one() -> None:
    cost = cost_report()
    assert summary.bill(cost) is None
    billed = cost.model_copy(update={"bill": {"dev": {"AWS Lambda": 1.25, "Amazon SQS": 0.5}}})

    markdown = summary.render_markdown(usage_report(), billed)

    assert "| dev | AWS Lambda | $1.25 |" in markdown
    assert "| dev | total | $1.75 |" in markdown
    assert '<section id="bill">' in render_html(usage_report(), billed)


def test_write_report_writes_the_four_files_and_the_json_reads_back(tmp_path: Path) -> None:
    files = write_report(usage_report(), cost_report(), tmp_path / "compare")

    assert UsageReport.model_validate_json(files.usage_json.read_text()) == usage_report()
    assert CostReport.model_validate_json(files.cost_json.read_text()) == cost_report()
    assert files.html.read_text().startswith("<!DOCTYPE html>")
    assert files.markdown.read_text() == summary.render_markdown(
        usage_report(), cost_report(), price_table(cost_report())
    )


def _doc(before: str, block: str, after: str) -> str:
    return f"{before}{START_MARKER}\n{block}\n{END_MARKER}{after}"


_text = st.text(st.characters(codec="utf-8", exclude_characters="\r"), max_size=60).filter(lambda t: "<!--" not in t)


@given(before=_text, old=_text, after=_text, new=_text.map(lambda t: t.strip("\n") or "x"))
def test_embed_replaces_only_the_block_and_a_second_run_changes_nothing(
    tmp_path_factory: pytest.TempPathFactory, before: str, old: str, after: str, new: str
) -> None:
    doc = tmp_path_factory.mktemp("doc") / "comparison.md"
    doc.write_text(_doc(before, old, after), encoding="utf-8")

    embed(new, doc)
    once = doc.read_text(encoding="utf-8")
    changed_again = embed(new, doc)

    assert once == _doc(before, new, after)
    assert not changed_again and doc.read_text(encoding="utf-8") == once


@pytest.mark.parametrize(
    "text",
    ["no markers", f"{START_MARKER} only", f"{END_MARKER} {START_MARKER}", f"{START_MARKER}{START_MARKER}{END_MARKER}"],
)
def test_embed_refuses_a_doc_without_its_markers_in_order(tmp_path: Path, text: str) -> None:
    doc = tmp_path / "comparison.md"
    doc.write_text(text)

    with pytest.raises(ValueError, match="comparison.md: needs exactly one"):
        embed("block", doc)
    assert doc.read_text() == text


def test_docs_comparison_has_the_markers_embed_needs() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "comparison.md"
    text = doc.read_text(encoding="utf-8")

    assert text.count(START_MARKER) == 1 and text.count(END_MARKER) == 1
    assert text.index(START_MARKER) < text.index(END_MARKER)


@given(totals=st.lists(st.lists(st.floats(0, 1e6), min_size=3, max_size=3), min_size=1, max_size=12))
def test_cheapest_ranges_cover_every_volume_in_order_with_the_cheapest_design(totals: list[list[float]]) -> None:
    designs = ["a", "b", "c"]
    volumes = [10**i for i in range(len(totals))]
    base = cost_report()
    template = base.estimates[0]
    estimates = [
        template.model_copy(update={"design": d, "workload": "mix", "volume": v, "total_usd": row[i]})
        for v, row in zip(volumes, totals, strict=True)
        for i, d in enumerate(designs)
    ]
    cost = base.model_copy(update={"designs": designs, "estimates": estimates})

    runs = cost_queries.cheapest_ranges(cost, designs, "mix")

    assert runs[0][1] == volumes[0] and runs[-1][2] == volumes[-1]
    for (_, _, last), (_, first, _) in zip(runs, runs[1:], strict=False):
        assert volumes.index(first) == volumes.index(last) + 1
    for design, first, last in runs:
        for v, row in zip(volumes, totals, strict=True):
            if first <= v <= last:
                assert row[designs.index(design)] == min(row)


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "$0"), (0.0042, "$0.0042"), (17.5, "$17.50"), (1502.5, "$1,502"), (-5.5, "-$5.50")],
)
def test_usd(amount: float, text: str) -> None:
    assert cost_queries.usd(amount) == text


@pytest.mark.parametrize(
    ("volume", "text"), [(1000, "1k"), (1778, "1.8k"), (133_333.3, "133k"), (1_000_000, "1M"), (100_000_000, "100M")]
)
def test_volume_label(volume: float, text: str) -> None:
    assert cost_queries.volume_label(volume) == text


def test_the_observability_comparison_is_in_the_summary_and_on_the_page() -> None:
    measured = observability_report()

    markdown = summary.render_markdown(usage_report(), cost_report(), observability=measured)
    page = render_html(usage_report(), cost_report(), observability=measured)

    section = markdown[markdown.index("### Observability") :]
    assert 'what answering "what happened to delivery X and why" takes' in section
    assert "| retried | sqs | succeeded | 7 |" in section
    assert (
        "| **sqs only** |  |  | **40** |" in section
        and "| **both** |  | the same in both architectures | **100** |" in section
    )
    assert section.count("<details>") == len(measured.measures)
    assert "**sqs**: `trace` answered with a median of 7 API calls and 7 places" in section
    assert '<section id="observability">' in page and "&lt;table&gt;" in page  # the traces escaped
    assert "Not measured in this run" not in page


def test_without_an_observability_measurement_the_page_says_so() -> None:
    assert "Not measured in this run" in render_html(usage_report(), cost_report())
    assert "### Observability" not in summary.render_markdown(usage_report(), cost_report())


def test_the_defaults_are_shown_against_the_floor_with_the_target_and_the_former_defaults() -> None:
    """Per million at 1M: sqs 10 / EXPRESS 20 for member_added against the floor's 5 (2x and 4x: not met);
    workflow_run 20 and 40 against 8 (2.5x, 5x); the mix 15 and 30 against 6.5."""
    cost = cost_report()
    cost.levers.append(
        LeverEffect(
            lever="batchWindow",
            setting="1 s (batch 10)",
            design="sqs",
            workload="member_added",
            volume=1_000_000,
            total_usd=9.5,
            delta_usd=-0.5,
        )
    )
    table = summary.against_floor(usage_report(), cost)
    rows = {(row[0], row[1]): row[2:] for row in table.rows}
    assert rows[("member_added", "sqs")] == ["$10.00", "$5.00", "2.00x", "NOT met", "window 1 s -$0.50"]
    assert rows[("member_added", "stepfunctions-EXPRESS")] == ["$20.00", "$5.00", "4.00x", "NOT met", "-"]
    assert rows[("workflow_run", "sqs")][2] == "2.50x"
    assert "target <= 1.5x for sqs and stepfunctions-EXPRESS" in table.title
    assert "The defaults against the floor" in summary.render_markdown(usage_report(), cost)


def test_a_design_within_the_target_is_met() -> None:
    cost = cost_report()
    # the floor at 7.5 / 12 per million: sqs's 10 is within 1.5x of it for member_added, its 20 not for workflow_run
    cost.estimates[:] = [
        e.model_copy(update={"per_million_usd": e.per_million_usd * 1.5}) if e.design == "floor" else e
        for e in cost.estimates
    ]
    rows = {(row[0], row[1]): row for row in summary.against_floor(usage_report(), cost).rows}
    assert rows[("member_added", "sqs")][5] == "met"
    assert rows[("workflow_run", "sqs")][5] == "NOT met"
