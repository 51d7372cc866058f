"""A hand-made UsageReport and CostReport: inputs for the report's tests, never shown as results.

The cost report is internally consistent (each design's monthly total is its idle cost plus a per-million
rate times the volume, the crossovers are where those lines meet), so the report's derived sentences can be
checked against figures worked out here by hand.
"""

from __future__ import annotations

from stackops.cost import CostLine, CostReport, Crossover, Estimate, LeverEffect
from stackops.observability import SCENARIOS, CodeShare, ObservabilityReport, TraceMeasure
from stackops.prices import PriceTable
from stackops.usage import IdleUsage, StackUsage, UsageLine, UsageReport, UseCaseUsage

VOLUMES = [1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]
MIX = {"member_added": 0.5, "workflow_run": 0.5}

#: design -> (idle USD/month, per-million USD for member_added, for workflow_run), split across services.
RATES = {
    "sqs": (2.5, 10.0, 20.0),
    "stepfunctions-EXPRESS": (0.5, 20.0, 40.0),
    "floor": (0.0, 5.0, 8.0),
}
#: Where sqs and stepfunctions-EXPRESS cross on the mix (worked out in cost_report()).
CROSSOVER = 2e6 / 15
SERVICES = {"lambda": 0.5, "dynamodb": 0.3, "logs": 0.2}


def usage_report() -> UsageReport:
    def stack(label: str, architecture: str, workflow: str | None, latency: float) -> StackUsage:
        return StackUsage.model_validate(
            {
                "stack": f"sandbox-{label}",
                "architecture": architecture,
                "workflowType": workflow,
                "lambdaArchitecture": "arm64",
                "useCases": [
                    UseCaseUsage(
                        use_case=case,
                        deliveries=4,
                        lines=[UsageLine(service="lambda", unit="requests", quantity=2.0, resource="receiver")],
                        latency_seconds=[latency, latency * 1.5, latency * 2, latency * 3],
                    )
                    for case in ("member_added", "workflow_run")
                ],
                "idle": IdleUsage(lines=[UsageLine(service="cloudwatch", unit="alarms", quantity=4.0)]),
            }
        )

    return UsageReport(
        source="sandbox",
        command="python -m stackops compare --deliveries 4",
        generated_at="2026-12-01T00:00:00Z",
        notes=["Lambda durations measured on this machine"],
        stacks=[stack("sqs", "sqs", None, 0.2), stack("sfn", "stepfunctions", "EXPRESS", 0.1)],
    )


def _estimate(design: str, workload: str, volume: int) -> Estimate:
    idle, member, run = RATES[design]
    rate = {
        "member_added": member,
        "workflow_run": run,
        "mix": MIX["member_added"] * member + MIX["workflow_run"] * run,
    }[workload]
    per_event = rate * volume / 1e6
    lines = [
        CostLine(service=s, unit="u", quantity=volume, usd=per_event * share, price_key=f"{s}/u")
        for s, share in SERVICES.items()
    ]
    idle_lines = [CostLine(service="cloudwatch", unit="alarms", quantity=4, usd=idle, price_key="cloudwatch/alarms")]
    return Estimate(
        design=design,
        workload=workload,  # type: ignore[arg-type]
        volume=volume,
        per_event_usd=per_event,
        idle_usd=idle,
        total_usd=per_event + idle,
        per_million_usd=rate,
        lines=lines,
        idle_lines=idle_lines if idle else [],
    )


def cost_report() -> CostReport:
    designs = list(RATES)
    estimates = [_estimate(d, w, v) for d in designs for w in ("member_added", "workflow_run", "mix") for v in VOLUMES]
    # sqs (2.5 + 15 v/1e6) against EXPRESS (0.5 + 30 v/1e6) on the mix: equal at v = 2e6 / 15 = 133,333.
    crossovers = [
        Crossover(workload="mix", cheaper_below="stepfunctions-EXPRESS", cheaper_above="sqs", volume=CROSSOVER),
        Crossover(workload="mix", cheaper_below="floor", cheaper_above="floor", volume=None, pair=["sqs", "floor"]),
        Crossover(workload="member_added", cheaper_below="stepfunctions-EXPRESS", cheaper_above="sqs", volume=2e6 / 10),
    ]
    levers = [
        LeverEffect(
            lever="logLevel",
            setting="ERROR",
            design="stepfunctions-EXPRESS",
            workload="mix",
            volume=1_000_000,
            total_usd=25.0,
            delta_usd=-5.5,
        ),
        LeverEffect(
            lever="cpu",
            setting="x86_64",
            design="sqs",
            workload="mix",
            volume=1_000_000,
            total_usd=19.0,
            delta_usd=2.0,
        ),
    ]
    return CostReport(
        usage_command="python -m stackops compare --deliveries 4",
        usage_source="sandbox",
        region="us-east-1",
        prices_as_of="2026-11-30",
        volumes=VOLUMES,
        mix=MIX,
        designs=designs,
        estimates=estimates,
        crossovers=crossovers,
        levers=levers,
    )


def price_table(as_of: str = "2026-11-30") -> PriceTable:
    """The prices the cost report names (``lambda/u`` ...), one of them unverified, and one it does not use."""

    def entry(service: str, unit: str, usd: str, verified: bool = True, **extra: object) -> dict[str, object]:
        return {
            "service": service,
            "unit": unit,
            "description": f"{service} {unit}",
            "per": 1_000_000,
            "tiers": [{"usd": usd}],
            "source": f"https://aws.amazon.com/{service}/pricing/",
            "asOf": as_of,
            "verified": verified,
            **extra,
        }

    return PriceTable.model_validate(
        {
            "region": "us-east-1",
            "currency": "USD",
            "asOf": as_of,
            "prices": [
                entry("lambda", "u", "0.20", tiers=[{"upTo": 6e9, "usd": "0.20"}, {"usd": "0.18"}]),
                entry("dynamodb", "u", "0.625", verified=False),
                entry("logs", "u", "0.50", freeTier={"quantity": 5, "permanent": True}),
                entry("cloudwatch", "alarms", "0.10"),
                entry("sns", "publishes", "0.50"),
            ],
        }
    )


def observability_report() -> ObservabilityReport:
    """Two designs, the four scenarios each, as `stackops.observability_meter` measures them."""
    measures = []
    for design, calls, places in (("sqs", 7, 7), ("stepfunctions-standard", 9, 8)):
        for scenario in SCENARIOS:
            failed = scenario in ("permanent failure", "backfill with a failing member")
            measures.append(
                TraceMeasure(
                    design=design,
                    stack=f"sandbox-{design}",
                    scenario=scenario,
                    delivery_id=f"d-{design}-{scenario}",
                    outcome="failed" if failed else "succeeded",
                    stopped_at="add-team-member: dlq" if failed else "",
                    steps=4,
                    api_calls=calls,
                    api_calls_by_operation={"logs.FilterLogEvents": calls},
                    seconds=0.04,
                    places_looked_in=places,
                    places_with_data=4,
                    shows_inputs=True,
                    shows_outputs=True,
                    shows_retries=True if scenario == "retried" else None,
                    shows_failing_step=True if failed else None,
                    rendered=f"delivery d-{design}-{scenario}: {'failed' if failed else 'succeeded'} <table>",
                )
            )
    code = [
        CodeShare(architecture="both", path="components/alarms.py", what="alarms", lines=100),
        CodeShare(architecture="sqs", path="functions/common/tracking.py", what="tracking", lines=40),
    ]
    return ObservabilityReport(
        command="python -m stackops compare", made_at="2026-12-02T04:00:00+00:00", measures=measures, code=code
    )
