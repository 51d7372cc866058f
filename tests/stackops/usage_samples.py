"""Hand-built usage reports for the cost model's tests (the meter produces real ones).

The figures are small round numbers chosen so every priced line can be checked by hand; they are
test inputs, not measurements.
"""

from __future__ import annotations

from stackops.usage import IdleUsage, StackUsage, UsageLine, UsageReport, UseCaseUsage


def line(service: str, unit: str, quantity: float, resource: str = "", **attributes: str | float) -> UsageLine:
    return UsageLine(service=service, unit=unit, quantity=quantity, resource=resource, attributes=attributes)


def invoke(
    function: str,
    trigger: str,
    invokes: float,
    billed_ms: float,
    memory_mb: float = 256,
    records_per_invoke: float = 1.0,
    cpu: str = "arm64",
) -> list[UsageLine]:
    """A function's requests and GB-s lines, GB-s = invokes x billed ms / 1000 x memory / 1024."""
    attrs: dict[str, str | float] = {"trigger": trigger}
    if trigger == "sqs":
        attrs["recordsPerInvoke"] = records_per_invoke
    return [
        line("lambda", "requests", invokes, function, **attrs),
        line(
            "lambda",
            "gb_seconds",
            invokes * billed_ms / 1000 * memory_mb / 1024,
            function,
            architecture=cpu,
            memoryMb=memory_mb,
            billedMsPerInvoke=billed_ms,
            invokesPerDelivery=invokes,
        ),
    ]


def common(use_case: str) -> list[UsageLine]:
    writes = 2.0 if use_case == "member_added" else 6.0  # transactional units
    return [
        line("apigateway", "http_requests", 1, "webhook"),
        *invoke("receiver", "http", 1, 20),
        line("dynamodb", "write_request_units", writes, "members", operation="TransactWriteItems"),
        line("logs", "ingested_gb", 2e-6, "receiver", source="lambda", level="INFO", **{"gbAt.WARNING": 5e-7}),
        line("xray", "traces_recorded", 0.05, samplingRate=0.05),
        line("sns", "publishes", 1, "notifications"),
    ]


def sqs_stack() -> StackUsage:
    cases = []
    for use_case, steps in (
        ("member_added", ["add-team-member", "lookup-directory", "store-records"]),
        ("workflow_run", ["price-workflow-run", "store-records"]),
    ):
        lines = common(use_case)
        for step in steps:
            lines += invoke(step, "sqs", 0.5, 40, records_per_invoke=2.0)
            lines += [
                line("sqs", "requests", 1, step, operation="SendMessage", caller="function", empty="false"),
                line("sqs", "requests", 0.5, step, operation="ReceiveMessage", caller="poller", empty="false"),
                line("sqs", "requests", 0.5, step, operation="DeleteMessageBatch", caller="poller", empty="false"),
                line("sqs", "requests", 3, step, operation="ReceiveMessage", caller="poller", empty="true"),
            ]
        cases.append(UseCaseUsage(useCase=use_case, deliveries=4 if use_case == "member_added" else 6, lines=lines))
    idle = IdleUsage(
        lines=[
            line("sqs", "requests", 5 * 657_000, "pollers", operation="ReceiveMessage", empty="true", caller="poller"),
            line("cloudwatch", "alarms", 12),
            line("secretsmanager", "secrets", 2),
            line("kms", "keys", 1),
        ]
    )
    return StackUsage(stack="dev", architecture="sqs", lambdaArchitecture="arm64", useCases=cases, idle=idle)


def sfn_stack(workflow_type: str) -> StackUsage:
    cases = []
    for use_case, steps, transitions in (
        ("member_added", ["add-team-member", "lookup-directory"], 9),
        ("workflow_run", ["price-workflow-run"], 7),
    ):
        lines = common(use_case) + [x for step in steps for x in invoke(step, "states", 1, 40)]
        lines.append(
            line(
                "logs",
                "ingested_gb",
                1e-5,
                use_case,
                source="states",
                level="ALL",
                includeExecutionData="true",
                **{"gbAt.ERROR": 0.0, "gbAt.ALL.noExecutionData": 4e-6},
            )
        )
        if workflow_type == "STANDARD":
            lines.append(line("states", "standard_transitions", transitions, use_case))
        else:
            lines += [
                line("states", "express_requests", 1, use_case),
                line(
                    "states",
                    "express_gb_seconds",
                    0.2 * 64 / 1024,
                    use_case,
                    billedMsPerExecution=200,
                    billedMemoryMb=64,
                ),
            ]
        cases.append(UseCaseUsage(useCase=use_case, deliveries=4 if use_case == "member_added" else 6, lines=lines))
    idle = IdleUsage(
        lines=[line("cloudwatch", "alarms", 4), line("secretsmanager", "secrets", 2), line("kms", "keys", 1)]
    )
    return StackUsage(
        stack=f"dev-sfn-{workflow_type.lower()}",
        architecture="stepfunctions",
        workflowType=workflow_type,
        lambdaArchitecture="arm64",
        useCases=cases,
        idle=idle,
    )


def report(*stacks: StackUsage) -> UsageReport:
    return UsageReport(
        source="sandbox",
        command="make compare",
        generatedAt="2026-12-02T00:00:00Z",
        stacks=list(stacks) or [sqs_stack(), sfn_stack("STANDARD"), sfn_stack("EXPRESS")],
    )
