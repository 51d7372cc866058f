"""The price table: valid, sourced, in step with docs/aws-prices.md, and applied as AWS's worked examples."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackops.prices import PriceError, PriceTable, Tier, load_prices, render_markdown

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "aws-prices.md"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_prices()


def test_doc_embeds_the_table_as_generated(table: PriceTable) -> None:
    """docs/aws-prices.md shows exactly what the JSON holds: change one alone and this fails."""
    doc = DOC.read_text()
    section = doc.split("<!-- prices:begin -->\n", 1)[1].split("<!-- prices:end -->", 1)[0]
    assert section == render_markdown(table), "regenerate docs/aws-prices.md: python -m stackops.prices"


def test_doc_check_notices_a_changed_price(table: PriceTable) -> None:
    changed = table.model_copy(
        update={
            "prices": [table.prices[0].model_copy(update={"tiers": [Tier(usd=Decimal("9.99"))]})] + table.prices[1:]
        }
    )
    assert render_markdown(changed) != render_markdown(table)


def test_every_unit_of_the_usage_schema_has_a_price(table: PriceTable) -> None:
    """The units stackops.usage documents (its table) and the idle units of the agreed attributes."""
    import stackops.usage

    doc = stackops.usage.__doc__ or ""
    rows = [line.split() for line in doc.splitlines() if line[:1].isalpha() and len(line.split()) >= 2]
    units = {(r[0], r[1]) for r in rows if r[0] in {p.service for p in table.prices}}
    assert len(units) >= 15
    idle = {("cloudwatch", "alarms"), ("cloudwatch", "custom_metrics"), ("cloudwatch", "dashboards")}
    idle |= {("secretsmanager", "secrets"), ("kms", "keys"), ("logs", "stored_gb_month")}
    for service, unit in units | idle:
        variants = [p.variant for p in table.prices if (p.service, p.unit) == (service, unit)]
        assert variants, f"{service}/{unit} has no price"
        for variant in variants:
            assert table.monthly_usd(service, unit, 1e6, variant=variant) >= 0


def test_every_entry_has_a_source_and_date(table: PriceTable) -> None:
    raw = json.loads((ROOT / "stackops" / "data" / "aws_prices.json").read_text())
    assert len(raw["prices"]) == len(table.prices)
    for entry in table.prices:
        assert entry.source.startswith("https://aws.amazon.com/")
        assert entry.as_of <= table.as_of
        assert entry.verified or entry.note, f"{entry.key}: an unverified figure must say why in its note"


def test_unknown_region_unit_and_variant_are_one_clear_line(table: PriceTable) -> None:
    with pytest.raises(PriceError, match=r"no price table for region 'eu-west-1': one of us-east-1"):
        load_prices("eu-west-1")
    with pytest.raises(PriceError, match=r"no price for lambda/teraflops in us-east-1: known units are "):
        table.monthly_usd("lambda", "teraflops", 1)
    with pytest.raises(PriceError, match=r"lambda/gb_seconds needs a variant, one of arm64, x86_64; got 'sparc'"):
        table.monthly_usd("lambda", "gb_seconds", 1, variant="sparc")
    with pytest.raises(PriceError, match=r"quantity must be a finite number >= 0"):
        table.monthly_usd("sqs", "requests", -1)


def test_lambda_example_1(table: PriceTable) -> None:
    """Lambda pricing page, example 1: 512 MB, 3M invokes of 1 s: 1,100,000 billable GB-s, 2M requests.

    The page prices the GB-s at its rounded $0.00001667 ($18.34); the table's exact $0.0000166667
    gives $18.33. Requests $0.40.
    """
    gb_s = 3_000_000 * 1.0 * 512 / 1024
    assert round(table.monthly_usd("lambda", "gb_seconds", gb_s, variant="x86_64"), 2) == 18.33
    page_rate = table.entry("lambda", "gb_seconds", "x86_64").model_copy(
        update={"tiers": [Tier(usd=Decimal("0.00001667"))]}
    )
    assert round(page_rate.usd_for(gb_s, free_units=400_000), 2) == 18.34
    assert round(table.monthly_usd("lambda", "requests", 3_000_000), 2) == 0.40


def test_lambda_example_2(table: PriceTable) -> None:
    """Lambda pricing page, example 2: 128 MB, 30M invokes of 200 ms: $5.83 compute + $5.80 requests = $11.63."""
    gb_s = 30_000_000 * 0.2 * 128 / 1024
    compute = round(table.monthly_usd("lambda", "gb_seconds", gb_s, variant="x86_64"), 2)
    requests = round(table.monthly_usd("lambda", "requests", 30_000_000), 2)
    assert (compute, requests, round(compute + requests, 2)) == (5.83, 5.80, 11.63)


def test_express_example(table: PriceTable) -> None:
    """Step Functions pricing page, Express example: 100M executions of 10 s at 64 MB billed memory.

    62,500,000 GB-s = 17,361.11 GB-hours: $60.00 + $120.00 + $202.97 = $382.97 duration, $100 requests.
    """
    gb_s = 100_000_000 * 10 * 64 / 1024
    duration = table.monthly_usd("states", "express_gb_seconds", gb_s)
    assert round(duration, 2) == 382.97
    assert round(duration + table.monthly_usd("states", "express_requests", 100_000_000), 2) == 482.97


def test_standard_transitions_free_tier_and_rate(table: PriceTable) -> None:
    """Step Functions pricing page's rule (its worked Standard example could not be retrieved):
    $0.025 per 1,000 transitions above 4,000 free a month. 100,000 runs of 6 transitions: $14.90."""
    assert table.monthly_usd("states", "standard_transitions", 4_000) == 0
    assert round(table.monthly_usd("states", "standard_transitions", 600_000), 2) == 14.90


def test_sqs_free_tier_and_tiers(table: PriceTable) -> None:
    """SQS pricing page: first 1M requests free, $0.40/M to 100B, $0.30/M next 100B, $0.24/M beyond."""
    assert table.monthly_usd("sqs", "requests", 1_000_000) == 0
    assert round(table.monthly_usd("sqs", "requests", 3_000_000), 2) == 0.80
    assert round(table.monthly_usd("sqs", "requests", 250e9), 2) == round(
        99_999 * 0.40 + 100_000 * 0.30 + 50_000 * 0.24, 2
    )


def test_dynamodb_units_priced(table: PriceTable) -> None:
    """DynamoDB: a transactional write of a 3 KB item takes 6 write units (DynamoDB pricing page);
    a million of them are 6M WRU at $0.625/M = $3.75. No free tier on on-demand requests."""
    from stackops.billing_units import dynamodb_write_units

    assert dynamodb_write_units(3 * 1024, transactional=True) == 6
    assert round(table.monthly_usd("dynamodb", "write_request_units", 6_000_000), 2) == 3.75
    assert round(table.monthly_usd("dynamodb", "read_request_units", 1_000_000), 3) == 0.125


def test_xray_example(table: PriceTable) -> None:
    """X-Ray pricing page, example 1: 2,000 requests/hour for 31 days at 10% sampling: 148,800 traces,
    48,800 billable after 100,000 free, $0.24."""
    assert round(table.monthly_usd("xray", "traces_recorded", 2_000 * 24 * 31 * 0.10), 2) == 0.24


def test_http_api_twelve_month_free_tier_is_never_applied(table: PriceTable) -> None:
    assert table.monthly_usd("apigateway", "http_requests", 1_000_000) == 1.0
    assert round(table.monthly_usd("apigateway", "http_requests", 400_000_000), 2) == 390.00


def test_free_tier_can_be_turned_off(table: PriceTable) -> None:
    assert table.monthly_usd("lambda", "requests", 1_000_000, apply_free_tier=False) == pytest.approx(0.20)


def test_pooled_free_tier_is_shared_once(table: PriceTable) -> None:
    """400,000 free GB-s cover arm64 and x86_64 together, not each."""
    arm = table.entry("lambda", "gb_seconds", "arm64")
    x86 = table.entry("lambda", "gb_seconds", "x86_64")
    usd = table.monthly_usd_pooled([(arm, 300_000), (x86, 300_000)])
    assert usd[0] == 0
    assert usd[1] == pytest.approx(200_000 * 0.0000166667)


def test_lambda_tiers_above_six_billion(table: PriceTable) -> None:
    usd = table.monthly_usd("lambda", "gb_seconds", 7e9, variant="x86_64", apply_free_tier=False)
    assert usd == pytest.approx(6e9 * 0.0000166667 + 1e9 * 0.000015)


@given(st.sampled_from([(p.service, p.unit, p.variant) for p in load_prices().prices]), st.floats(0, 1e12))
def test_cost_never_negative_and_monotonic(key: tuple[str, str, str | None], quantity: float) -> None:
    table = load_prices()
    service, unit, variant = key
    low = table.monthly_usd(service, unit, quantity, variant=variant)
    high = table.monthly_usd(service, unit, quantity * 1.5 + 1, variant=variant)
    assert 0 <= low <= high


def test_idle_poller_receives_follow_the_documented_assumptions(table: PriceTable) -> None:
    """5 pollers per mapping, one 20 s long poll each: 5 x 3/min x 60 x 730 h = 657,000 a month."""
    assert table.sqs_idle_receives_per_month(1) == pytest.approx(657_000)
    assert table.sqs_idle_receives_per_month(4) == pytest.approx(4 * 657_000)
    with pytest.raises(PriceError, match="mappings must be >= 0"):
        table.sqs_idle_receives_per_month(-1)
