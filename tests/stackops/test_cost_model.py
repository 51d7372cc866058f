"""The cost model (stackops.cost_model): AWS's worked examples priced from usage lines, properties of
the totals, the derived designs, crossovers and levers. Inputs are hand-built (usage_samples)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackops import billing_units as bu
from stackops.cost import CostReport, Estimate
from stackops.cost_model import (
    DEFAULT_VOLUMES,
    FLOOR_CALLERS,
    LEVER_VOLUMES,
    CostModelError,
    Design,
    designs_from,
    estimate,
    lambda_traces_recorded,
    price,
)
from stackops.usage import UsageLine
from tests.stackops.usage_samples import invoke, line, report, sfn_stack, sqs_stack


def design_of(*lines: UsageLine, cpu: str = "arm64") -> Design:
    return Design("test", cpu, {"member_added": list(lines)}, [])


def usd(e: Estimate, service: str) -> float:
    return sum(cost.usd for cost in e.lines if cost.service == service)


@pytest.fixture(scope="module")
def cost() -> CostReport:
    return price(report())


# --- AWS's worked examples, priced from usage lines -------------------------------------------------


def test_lambda_example_2_from_usage_lines() -> None:
    """Lambda pricing page, example 2: 128 MB, 30M invokes a month of 200 ms each (x86):
    $5.83 compute + $5.80 requests = $11.63."""
    lines = invoke("fn", "http", 1, bu.lambda_billed_ms(200), memory_mb=128, cpu="x86_64")
    e = estimate(design_of(*lines, cpu="x86_64"), "member_added", 30_000_000)
    assert round(usd(e, "lambda"), 2) == 11.63


def test_express_example_from_usage_lines() -> None:
    """Step Functions pricing page, Express example: 100M executions of 10 s at 62.85 MB used (64 MB
    billed): $100.00 requests + $382.97 duration = $482.97."""
    lines = [
        line("states", "express_requests", 1, "m"),
        line("states", "express_gb_seconds", bu.express_gb_seconds(10_000, 62.85), "m"),
    ]
    assert round(estimate(design_of(*lines), "member_added", 100_000_000).per_event_usd, 2) == 482.97


def test_standard_transitions_with_retries() -> None:
    """Step Functions pricing: every state entered and every retry is a transition, $0.025 per 1,000
    above 4,000 free. A machine of 5 states whose Lambda task retried twice: 7 transitions per run;
    100,000 runs = 700,000 - 4,000 free = 696,000 x $0.000025 = $17.40."""
    states_entered, retries = 5, 2
    lines = [line("states", "standard_transitions", states_entered + retries, "m")]
    assert round(estimate(design_of(*lines), "member_added", 100_000).per_event_usd, 2) == 17.40


def test_sqs_chunks_from_usage_lines() -> None:
    """SQS pricing: a 256 KB message is 4 requests; 1M free. 1M sends of 256 KB a month:
    4M - 1M free = 3M x $0.40/M = $1.20."""
    lines = [line("sqs", "requests", bu.sqs_requests(256 * 1024), "q", operation="SendMessage", caller="function")]
    assert round(estimate(design_of(*lines), "member_added", 1_000_000).per_event_usd, 2) == 1.20


def test_dynamodb_from_usage_lines() -> None:
    """DynamoDB pricing: a transactional write of a 3 KB item is 6 WRU; 1M of them $3.75; a strongly
    consistent 8 KB read is 2 RRU, 1M of them $0.25."""
    lines = [
        line("dynamodb", "write_request_units", bu.dynamodb_write_units(3 * 1024, transactional=True), "t"),
        line("dynamodb", "read_request_units", bu.dynamodb_read_units(8 * 1024, "strong"), "t"),
    ]
    e = estimate(design_of(*lines), "member_added", 1_000_000)
    assert round(e.per_event_usd, 2) == 4.00


# --- properties -------------------------------------------------------------------------------------

#: Units without tier bounds between 1M and 300M a month at up to 2 per delivery: linear once free tiers are used.
LINEAR_UNITS = [
    ("lambda", "requests"),
    ("lambda", "gb_seconds"),
    ("sqs", "requests"),
    ("states", "standard_transitions"),
    ("states", "express_requests"),
    ("dynamodb", "write_request_units"),
    ("sns", "publishes"),
    ("xray", "traces_recorded"),
    ("apigateway", "http_requests"),
]
lines_st = st.lists(
    st.tuples(st.sampled_from(LINEAR_UNITS), st.floats(0.5, 2.0)).map(
        lambda t: line(t[0][0], t[0][1], t[1], "r", architecture="arm64")
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda usage: (usage.service, usage.unit),  # each unit at most 2 per delivery, as LINEAR_UNITS says
)


@settings(max_examples=40, deadline=None)
@given(lines_st, st.integers(1, 10**8), st.integers(1, 10**8), st.booleans())
def test_cost_never_negative_and_monotonic_in_volume(lines: list[UsageLine], v1: int, v2: int, free: bool) -> None:
    d = design_of(*lines)
    low, high = sorted((v1, v2))
    a = estimate(d, "member_added", low, apply_free_tier=free)
    b = estimate(d, "member_added", high, apply_free_tier=free)
    assert all(cost.usd >= 0 for cost in a.lines + b.lines)
    assert 0 <= a.per_event_usd <= b.per_event_usd + 1e-9
    assert math.isclose(a.total_usd, a.per_event_usd + a.idle_usd)


@settings(max_examples=40, deadline=None)
@given(lines_st, st.integers(5_000_000, 40_000_000))
def test_linear_in_volume_above_the_free_tier(lines: list[UsageLine], v: int) -> None:
    """f(2v) - f(v) == f(3v) - f(2v) once every free tier is used up and within one tier."""
    d = design_of(*lines)
    f1, f2, f3 = (estimate(d, "member_added", k * v).per_event_usd for k in (1, 2, 3))
    assert f2 - f1 == pytest.approx(f3 - f2, rel=1e-9)


@given(st.floats(0, 300_000), st.floats(0, 4096))
def test_express_cost_uses_100_ms_steps_and_a_64_mb_minimum(duration_ms: float, memory_mb: float) -> None:
    billed_ms, billed_mb = bu.express_billed(duration_ms, memory_mb)
    measured = design_of(line("states", "express_gb_seconds", bu.express_gb_seconds(duration_ms, memory_mb)))
    rounded = design_of(
        line("states", "express_gb_seconds", math.ceil(max(duration_ms, 1e-9) / 100) * 0.1 * billed_mb / 1024)
    )
    minimum = design_of(line("states", "express_gb_seconds", 0.1 * 64 / 1024))
    cost, by_hand, floor = (estimate(x, "member_added", 1_000_000).per_event_usd for x in (measured, rounded, minimum))
    assert billed_mb == max(64, math.ceil(memory_mb / 64) * 64)
    assert cost == pytest.approx(by_hand) and cost >= floor - 1e-12
    assert billed_ms >= 100


@given(st.integers(0, 1_048_576))
def test_sqs_cost_is_per_64_kib_chunk(payload: int) -> None:
    chunks = math.ceil(payload / 65_536) or 1
    e = estimate(design_of(line("sqs", "requests", bu.sqs_requests(payload), "q")), "member_added", 10_000_000)
    assert e.per_event_usd == pytest.approx((10_000_000 * chunks - 1_000_000) * 0.40 / 1e6)


# --- the report -------------------------------------------------------------------------------------


def test_default_volumes_span_1k_to_100m_with_the_reported_points() -> None:
    assert DEFAULT_VOLUMES[0] == 1_000 and DEFAULT_VOLUMES[-1] == 100_000_000
    assert {10_000, 1_000_000, 100_000_000} <= set(DEFAULT_VOLUMES) and set(LEVER_VOLUMES) <= set(DEFAULT_VOLUMES)
    assert list(DEFAULT_VOLUMES) == sorted(set(DEFAULT_VOLUMES)) and len(DEFAULT_VOLUMES) >= 25


def test_every_design_workload_and_volume_is_estimated(cost: CostReport) -> None:
    assert cost.designs == [
        "sqs",
        "stepfunctions-STANDARD",
        "stepfunctions-EXPRESS",
        "floor",
        "article-sqs",
        "article-stepfunctions",
    ]
    assert cost.mix == {"member_added": 0.4, "workflow_run": 0.6}  # 4 and 6 deliveries per stack
    keys = {(e.design, e.workload, e.volume) for e in cost.estimates}
    assert len(keys) == len(cost.estimates) == 6 * 3 * len(DEFAULT_VOLUMES)


def test_estimates_add_up(cost: CostReport) -> None:
    for e in cost.estimates:
        assert e.total_usd == pytest.approx(e.per_event_usd + e.idle_usd)
        assert sum(c.usd for c in e.lines) == pytest.approx(e.per_event_usd, abs=1e-9)
        assert sum(c.usd for c in e.idle_lines) == pytest.approx(e.idle_usd, abs=1e-9)
        assert e.per_million_usd == pytest.approx(e.per_event_usd / e.volume * 1e6)


def test_idle_cost_uses_the_free_tier_first(cost: CostReport) -> None:
    """The sqs stack's idle: 3,285,000 empty receives - 1M free = $0.914, 12 alarms - 10 free = $0.20,
    2 secrets $0.80, 1 key $1.00; the free tier goes to the idle receives, so every per-delivery request
    (3 queues x (send, receive, delete, 3 empty receives above the idle rate)) costs $0.40/M."""
    e = next(e for e in cost.estimates if (e.design, e.workload, e.volume) == ("sqs", "member_added", 1_000))
    assert e.idle_usd == pytest.approx(2_285_000 * 0.40 / 1e6 + 0.20 + 0.80 + 1.00)
    per_delivery_sqs = sum(c.quantity for c in e.lines if c.service == "sqs")
    assert per_delivery_sqs == pytest.approx(1_000 * 3 * (1 + 0.5 + 0.5 + 3))
    assert usd(e, "sqs") == pytest.approx(per_delivery_sqs * 0.40 / 1e6)


def test_mix_is_the_weighted_use_cases(cost: CostReport) -> None:
    at = {(e.design, e.workload): e for e in cost.estimates if e.volume == 100_000_000}
    for design in cost.designs:
        mixed = at[(design, "mix")].lines
        expected = 0.4 * sum(c.quantity for c in at[(design, "member_added")].lines)
        expected += 0.6 * sum(c.quantity for c in at[(design, "workflow_run")].lines)
        assert sum(c.quantity for c in mixed) == pytest.approx(expected)


def test_floor_keeps_only_what_every_design_pays() -> None:
    """The HTTP API request, one invoke, the receiver's and the GitHub calls' compute at 128 MB, the writes
    and the notification; no queue, transition, log or trace."""
    sqs = next(d for d in designs_from(report()) if d.name == "sqs")
    floor = next(d for d in designs_from(report()) if d.name == "floor")
    for use_case, lines in floor.per_delivery.items():
        assert {x.service for x in lines} <= {"apigateway", "lambda", "dynamodb", "sns"}
        assert [x.resource for x in lines if (x.service, x.unit) == ("lambda", "requests")] == ["receiver"]
        computed = {x.resource: x for x in lines if (x.service, x.unit) == ("lambda", "gb_seconds")}
        assert "store-records" not in computed and set(computed) <= FLOOR_CALLERS
        for resource, compute in computed.items():
            [measured] = [
                x
                for x in sqs.per_delivery[use_case]
                if (x.service, x.unit, x.resource) == ("lambda", "gb_seconds", resource)
            ]
            assert compute.attributes["memoryMb"] == 128
            assert compute.quantity == pytest.approx(measured.quantity * 128 / float(measured.attributes["memoryMb"]))
    assert {x.service for x in floor.idle} == {"secretsmanager", "kms"}
    assert {
        "receiver",
        "add-team-member",
        "lookup-directory",
        "price-workflow-run",
        "list-org-members",
    } == FLOOR_CALLERS


def test_article_sqs_is_derived_from_the_sqs_lines() -> None:
    designs = {d.name: d for d in designs_from(report())}
    sqs, article = designs["sqs"].per_delivery["member_added"], designs["article-sqs"].per_delivery["member_added"]
    assert all(x.attributes["architecture"] == "x86_64" for x in article if x.unit == "gb_seconds")
    # add-team-member: 0.5 invokes of 2 records -> 1 invoke of 1 record, GB-s unchanged
    before = {(x.unit, x.resource): x for x in sqs if x.service == "lambda"}
    after = {(x.unit, x.resource): x for x in article if x.service == "lambda"}
    assert after[("requests", "add-team-member")].quantity == pytest.approx(1.0)
    assert after[("gb_seconds", "add-team-member")].quantity == pytest.approx(
        before[("gb_seconds", "add-team-member")].quantity
    )
    # 2 transactional units = 1 write -> one extra invoke of the store-records profile (40 ms, 256 MB) and an SQS hop
    assert after[("requests", "article-writer")].quantity == pytest.approx(1.0)
    assert after[("gb_seconds", "article-writer")].quantity == pytest.approx(0.040 * 256 / 1024)
    hop = [x for x in article if x.service == "sqs" and x.resource == "article-writer"]
    assert sorted(str(x.attributes["operation"]) for x in hop) == ["DeleteMessage", "ReceiveMessage", "SendMessage"]


def test_article_stepfunctions_adds_a_lambda_per_write_to_standard() -> None:
    designs = {d.name: d for d in designs_from(report())}
    article = designs["article-stepfunctions"].per_delivery["workflow_run"]
    writer = [x for x in article if x.resource == "article-writer" and x.unit == "requests"]
    assert writer[0].quantity == pytest.approx(3.0) and writer[0].attributes["trigger"] == "states"
    assert any(x.unit == "standard_transitions" for x in article)


def test_article_designs_need_their_source_stack() -> None:
    only_express = price(report(sfn_stack("EXPRESS")), volumes=[1_000, 10_000])
    assert "article-stepfunctions" not in only_express.designs and "article-sqs" not in only_express.designs
    assert any("article-stepfunctions left out" in n for n in only_express.notes)


def test_crossovers_are_where_totals_meet(cost: CostReport) -> None:
    from stackops.cost_model import designs_from as derive

    designs = {d.name: d for d in derive(report())}
    crossing = [c for c in cost.crossovers if c.volume is not None]
    assert crossing, "the sample's designs cross somewhere in range"
    for c in crossing:
        assert c.volume is not None and 1_000 <= c.volume <= 100_000_000
        a, b = (designs[n] for n in c.pair)
        at = [estimate(x, c.workload, round(c.volume), mix=cost.mix).total_usd for x in (a, b)]
        assert at[0] == pytest.approx(at[1], rel=1e-3, abs=1e-3)
        below = {n: estimate(designs[n], c.workload, int(c.volume * 0.9), mix=cost.mix).total_usd for n in c.pair}
        assert below[c.cheaper_below] < below[c.cheaper_above]
    pairs = {(c.workload, tuple(c.pair)) for c in cost.crossovers}
    assert len(pairs) == 3 * 15  # every pair of 6 designs, for each of the 3 workloads


def test_pairs_that_never_cross_name_the_cheaper_one(cost: CostReport) -> None:
    c = next(c for c in cost.crossovers if set(c.pair) == {"floor", "stepfunctions-STANDARD"} and c.workload == "mix")
    assert c.volume is None and c.cheaper_below == c.cheaper_above == "floor"


def lever(cost: CostReport, name: str, setting: str, design: str = "sqs", volume: int = 1_000_000) -> float:
    [effect] = [
        x
        for x in cost.levers
        if (x.lever, x.setting, x.design, x.workload, x.volume) == (name, setting, design, "member_added", volume)
    ]
    return effect.delta_usd


def test_levers_are_shown_at_the_three_volumes(cost: CostReport) -> None:
    assert {x.volume for x in cost.levers} == set(LEVER_VOLUMES)
    assert {x.lever for x in cost.levers} == {
        "logLevel",
        "xrayTracing",
        "batchSize",
        "batchWindow",
        "memoryMb",
        "cpu",
        "workflowType",
    }


def test_memory_and_cpu_levers(cost: CostReport) -> None:
    """member_added on sqs: receiver 20 ms + 3 steps x 0.5 x 40 ms at 256 MB arm64 = 0.02 GB-s per delivery.
    At 1M (20,000 GB-s) doubling the memory stays inside the 400,000 free GB-s; at 100M, 512 MB adds
    2,000,000 GB-s at $0.0000133334 and x86_64 costs the x86 rate on the 1,600,000 billable GB-s."""
    assert lever(cost, "memoryMb", "512") == 0
    assert lever(cost, "memoryMb", "512", volume=100_000_000) == pytest.approx(2_000_000 * 0.0000133334)
    assert lever(cost, "memoryMb", "128", volume=100_000_000) == pytest.approx(-1_000_000 * 0.0000133334)
    assert lever(cost, "cpu", "arm64") == 0
    assert lever(cost, "cpu", "x86_64") == 0  # 20,000 GB-s a month: inside the free tier either way
    assert lever(cost, "cpu", "x86_64", volume=100_000_000) == pytest.approx(
        (2_000_000 - 400_000) * (0.0000166667 - 0.0000133334)
    )


def test_xray_and_log_levers(cost: CostReport) -> None:
    """The sample's sqs stack: the receiver (1 request per delivery) and two SQS consumers (1 invoke each per
    member_added) start traces. Active at 1M a month: 3M requests, each function under the reservoir (2.628M
    a month): 3M traces recorded, minus the sample's own 0.05 per delivery, 100k free, $5 a million.
    Lambda logs at WARNING: 2 -> 0.5 uGB per delivery: at 100M, (200 - 50) GB less at $0.50."""
    per_delivery = {
        x.resource: x.quantity
        for x in next(d for d in designs_from(report()) if d.name == "sqs").per_delivery["member_added"]
        if (x.service, x.unit) == ("lambda", "requests") and x.attributes.get("trigger") in ("http", "sqs")
    }
    traces = sum(1_000_000 * q for q in per_delivery.values())
    assert lever(cost, "xrayTracing", "Active") == pytest.approx((traces - 100_000) * 5e-6)
    assert lever(cost, "xrayTracing", "PassThrough") == 0  # the sample's 50,000 traces are inside the free tier
    assert lever(cost, "logLevel", "lambda WARNING", volume=100_000_000) == pytest.approx(-150 * 0.50)
    assert lever(cost, "logLevel", "states ERROR", design="stepfunctions-EXPRESS", volume=100_000_000) < 0


def test_lambda_records_every_request_up_to_one_a_second_and_5_percent_beyond() -> None:
    month = 730 * 3600.0
    assert lambda_traces_recorded(1_000_000, month) == 1_000_000
    assert lambda_traces_recorded(month, month) == month
    assert lambda_traces_recorded(100_000_000, month) == pytest.approx(month + 0.05 * (100_000_000 - month))


def test_workflow_type_lever_is_the_other_measured_stack(cost: CostReport) -> None:
    total = {(e.design, e.volume): e.total_usd for e in cost.estimates if e.workload == "member_added"}
    delta = lever(cost, "workflowType", "EXPRESS", design="stepfunctions-STANDARD")
    assert delta == pytest.approx(
        total[("stepfunctions-EXPRESS", 1_000_000)] - total[("stepfunctions-STANDARD", 1_000_000)]
    )


def test_batch_levers_fill_batches_with_volume(cost: CostReport) -> None:
    """At 100M deliveries a month, ~19 records/s reach each queue: a 20 s window fills batches of 10
    (fewer invokes than the measured 2 records per invoke); batch size 1 means an invoke per record."""
    assert lever(cost, "batchWindow", "20 s (batch 10)", volume=100_000_000) < 0
    assert lever(cost, "batchSize", "1 (window 0 s)", volume=100_000_000) > 0
    assert lever(cost, "batchSize", "100 (window 1 s)", volume=10_000) > 0  # 1 record per invoke at low rates
    # the default window (0 s) hands each record over at once: one invoke per record at any volume
    assert lever(cost, "batchWindow", "0 s (batch 10)", volume=100_000_000) > 0


def test_free_tier_option(cost: CostReport) -> None:
    without = price(report(sqs_stack()), volumes=[10_000], apply_free_tier=False)
    with_ = price(report(sqs_stack()), volumes=[10_000])
    total = {e.design: e.total_usd for e in with_.estimates if e.workload == "mix"}
    for e in without.estimates:
        if e.workload == "mix":
            assert e.total_usd > total[e.design]
    assert any("not applied" in n for n in without.notes)


def test_notes_state_the_assumptions(cost: CostReport) -> None:
    text = " ".join(cost.notes)
    for phrase in ("duration assumed unchanged", "mix = member_added 40.0%", "article-sqs =", "floor =", "idle"):
        assert phrase in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"mix": {"installation": 1.0}},
            r"mix: use case 'installation' is not measured in every stack; one of member_added, workflow_run",
        ),
        ({"mix": {"member_added": 0.5, "workflow_run": 0.4}}, r"mix: shares must sum to 1, got 0.9"),
        ({"mix": {"member_added": -1.0, "workflow_run": 2.0}}, r"mix: share of member_added must be a number >= 0"),
        ({"volumes": [0, 10]}, r"volumes: need deliveries per month > 0, got \[0, 10\]"),
    ],
)
def test_bad_input_is_one_clear_line(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CostModelError, match=message):
        price(report(sqs_stack()), **kwargs)  # type: ignore[arg-type]


def test_a_given_mix_is_used() -> None:
    r = price(report(sqs_stack()), volumes=[1_000], mix={"member_added": 1.0, "workflow_run": 0.0})
    assert r.mix == {"member_added": 1.0, "workflow_run": 0.0}
    assert any(n.endswith("(given)") for n in r.notes)


def test_a_given_lambda_duration_replaces_the_measured_one() -> None:
    """receiver: 1 invoke per delivery at 256 MB; at 100 ms instead of 20 ms: 0.025 GB-s per delivery."""
    from stackops.cost_model import with_lambda_duration

    usage = with_lambda_duration(report(sqs_stack()), 99.2)
    lines = usage.stacks[0].use_cases[0].lines
    receiver = next(x for x in lines if x.unit == "gb_seconds" and x.resource == "receiver")
    assert receiver.quantity == pytest.approx(0.1 * 256 / 1024)
    assert receiver.attributes["billedMsPerInvoke"] == 100.0
    r = price(report(sqs_stack()), volumes=[1_000], lambda_billed_ms=100)
    assert any("billed 100 ms (given)" in n for n in r.notes)
    with pytest.raises(CostModelError, match=r"lambda_billed_ms: need a duration in ms > 0, got 0"):
        price(report(sqs_stack()), lambda_billed_ms=0)
