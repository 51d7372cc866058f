"""Both example stacks under mocks: the same alarm meanings to the topic, the same dashboard widgets, the
saved queries over every log group, JSON logs and X-Ray on (issue 8, section 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import alarms, observability
from components.dashboard import DashboardError, Metric, StackInventory, Widget, dashboard_body
from tests.unit.program import ProgramRun, Resource, prepare_layer, run_program, stack_config

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
QUERY = "aws:cloudwatch/queryDefinition:QueryDefinition"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
STACK_FILES = {"sqs": "Pulumi.dev.yaml", "stepfunctions": "Pulumi.dev-sfn.yaml"}
#: meanings that watch a dead-letter or source queue: only a stack with queues has them
QUEUE_MEANINGS = {alarms.DLQ_DEPTH, alarms.DLQ_OLDEST_MESSAGE, alarms.BACKLOG_AGE}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ProgramRun]]:
    built: dict[str, ProgramRun] = {}
    with pytest.MonkeyPatch.context() as patch:
        for architecture, stack_file in STACK_FILES.items():
            build_dir = tmp_path_factory.mktemp(f"build-{architecture}")
            patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(build_dir))
            config = stack_config(stack_file)
            prepare_layer(build_dir, config["lambdaArchitecture"])
            built[architecture] = run_program(config, stack="dev" if architecture == "sqs" else "dev-sfn")
        yield built


def topic_arn(run: ProgramRun) -> str:
    (topic,) = run.of_type("aws:sns/topic:Topic")
    return str(topic.outputs["arn"])


def meaning(alarm: Resource) -> str:
    tagged = alarm.inputs["tags"][alarms.MEANING_TAG]
    assert alarm.inputs["name"].endswith(f"-{tagged}"), "the name ends with the meaning the tag says"
    return str(tagged)


def dashboard(run: ProgramRun) -> dict[str, Any]:
    (resource,) = run.of_type(DASHBOARD)
    body: dict[str, Any] = json.loads(resource.inputs["dashboardBody"])
    return body


def test_both_architectures_alarm_on_the_same_meanings(runs: dict[str, ProgramRun]) -> None:
    meanings = {arch: {meaning(a) for a in run.of_type(ALARM)} for arch, run in runs.items()}
    assert (
        meanings["sqs"] - QUEUE_MEANINGS
        == meanings["stepfunctions"]
        == {
            alarms.FUNCTION_ERRORS,
            alarms.FUNCTION_THROTTLES,
            alarms.EXECUTIONS_FAILED,
            alarms.EXECUTIONS_TIMED_OUT,
        }
    )
    assert meanings["sqs"] >= QUEUE_MEANINGS


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_every_alarm_notifies_the_topic(runs: dict[str, ProgramRun], architecture: str) -> None:
    run = runs[architecture]
    for alarm in run.of_type(ALARM):
        assert alarm.inputs["alarmActions"] == [topic_arn(run)], alarm.name
        assert alarm.inputs["okActions"] == [topic_arn(run)], alarm.name


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_every_function_alarms_on_its_errors_and_throttles(runs: dict[str, ProgramRun], architecture: str) -> None:
    run = runs[architecture]
    for function in run.of_type(FUNCTION):
        watched = {
            (a.inputs["metricName"], meaning(a))
            for a in run.of_type(ALARM)
            if a.inputs["namespace"] == "AWS/Lambda"
            and a.inputs["dimensions"] == {"FunctionName": function.inputs["name"]}
        }
        assert {("Errors", alarms.FUNCTION_ERRORS), ("Throttles", alarms.FUNCTION_THROTTLES)} <= watched


def test_every_dead_letter_queue_alarms_on_depth_and_oldest_message(runs: dict[str, ProgramRun]) -> None:
    run = runs["sqs"]
    dlqs = [q.inputs["name"] for q in run.of_type("aws:sqs/queue:Queue") if "redrivePolicy" not in q.inputs]
    assert dlqs
    for dlq in dlqs:
        watched = {meaning(a) for a in run.of_type(ALARM) if a.inputs["dimensions"] == {"QueueName": dlq}}
        assert watched == {alarms.DLQ_DEPTH, alarms.DLQ_OLDEST_MESSAGE}, dlq


def test_a_parked_record_is_the_sqs_failed_execution(runs: dict[str, ProgramRun]) -> None:
    run = runs["sqs"]
    failed = [a for a in run.of_type(ALARM) if meaning(a) == alarms.EXECUTIONS_FAILED]
    assert failed
    for alarm in failed:
        assert alarm.inputs["metricName"] == "StepParked"
        assert alarm.inputs["dimensions"]["Stack"] == "dev"


def test_both_dashboards_have_the_same_widgets(runs: dict[str, ProgramRun]) -> None:
    titles = {arch: [w["properties"]["title"] for w in dashboard(run)["widgets"]] for arch, run in runs.items()}
    assert titles["sqs"] == titles["stepfunctions"]
    assert set(titles["sqs"]) == {
        observability.DELIVERIES,
        observability.LATENCY,
        observability.STEP_ERRORS,
        observability.PARKED,
        observability.THROTTLES,
        observability.GITHUB_HEADROOM,
    }


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_the_dashboard_graphs_every_function_of_the_stack(runs: dict[str, ProgramRun], architecture: str) -> None:
    run = runs[architecture]
    names = {f.inputs["name"] for f in run.of_type(FUNCTION)}
    (errors,) = [w for w in dashboard(run)["widgets"] if w["properties"]["title"] == observability.STEP_ERRORS]
    assert {row[3] for row in errors["properties"]["metrics"]} == names


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_the_dashboard_shows_the_github_headroom_of_every_function_that_calls_github(
    runs: dict[str, ProgramRun], architecture: str
) -> None:
    from components.catalog import BUSINESS_FUNCTIONS, Needs

    (widget,) = [
        w for w in dashboard(runs[architecture])["widgets"] if w["properties"]["title"] == observability.GITHUB_HEADROOM
    ]
    rows = widget["properties"]["metrics"]
    assert {tuple(row[:2]) for row in rows} == {("GitHubAutomation", "GitHubRateLimitRemaining")}
    assert {row[-1]["stat"] for row in rows} == {"Minimum"}
    callers = {spec.key for spec in BUSINESS_FUNCTIONS if Needs.GITHUB_APP_SECRET in spec.needs}
    assert {row[row.index("service") + 1] for row in rows} == callers
    assert {row[row.index("Resource") + 1] for row in rows} == {"core", "graphql"}


def test_product_metrics_carry_the_stack_dimension(runs: dict[str, ProgramRun]) -> None:
    for stack, run in (("dev", runs["sqs"]), ("dev-sfn", runs["stepfunctions"])):
        rows = [row for w in dashboard(run)["widgets"] for row in w["properties"]["metrics"]]
        product = [row for row in rows if row[0] == "GitHubAutomation"]
        assert product
        assert all(row[row.index("Stack") + 1] == stack for row in product)


def test_both_dashboards_graph_the_same_latency_percentiles_per_use_case(runs: dict[str, ProgramRun]) -> None:
    """One metric for both architectures: store-records' EMF (sqs) and RecordLatency's PutMetricData
    (stepfunctions) both have exactly the dimensions Stack and UseCase."""
    graphed = {}
    for stack, run in (("dev", runs["sqs"]), ("dev-sfn", runs["stepfunctions"])):
        (widget,) = [w for w in dashboard(run)["widgets"] if w["properties"]["title"] == observability.LATENCY]
        rows = widget["properties"]["metrics"]
        assert all(row[:2] == ["GitHubAutomation", "DeliveryLatency"] for row in rows)
        assert all(row[2:6:2] == ["Stack", "UseCase"] and row[3] == stack for row in rows), "no service dimension"
        graphed[stack] = [(row[5], row[-1]["stat"]) for row in rows]
    assert graphed["dev"] == graphed["dev-sfn"]
    assert graphed["dev"] == [
        (u, stat) for u in ("member_added", "workflow_run", "installation") for stat in ("p50", "p99")
    ]


def test_the_latency_metric_the_dashboard_checks_is_the_one_emitted() -> None:
    from components.dashboard import PRODUCT_METRICS
    from functions.common.observability import DELIVERY_LATENCY, STACK_DIMENSION, USE_CASE_DIMENSION

    assert PRODUCT_METRICS[DELIVERY_LATENCY] == {STACK_DIMENSION, USE_CASE_DIMENSION}


def test_a_dashboard_metric_the_stack_lacks_fails_the_build() -> None:
    inventory = StackInventory("dev", "GitHubAutomation", {"FunctionName": frozenset({"fn-a"})})
    ok = Widget("w", [Metric("AWS/Lambda", "Errors", {"FunctionName": "fn-a"}, "a")])
    assert json.loads(dashboard_body([ok], inventory, "us-east-1"))["widgets"][0]["properties"]["title"] == "w"
    for metric in (
        Metric("AWS/Lambda", "Errors", {"FunctionName": "fn-gone"}, "gone"),
        Metric("GitHubAutomation", "WebhooksLost", {"service": "receiver", "Stack": "dev"}, "lost"),
        Metric("GitHubAutomation", "WebhooksIgnored", {"service": "receiver"}, "no stack"),
        Metric("GitHubAutomation", "WebhooksIgnored", {"service": "receiver", "Stack": "prod"}, "other stack"),
        Metric("GitHubAutomation", "DeliveryLatency", {"service": "store-records", "Stack": "dev"}, "with service"),
        Metric("GitHubAutomation", "DeliveryLatency", {"Stack": "dev", "UseCase": "push"}, "no such use case"),
    ):
        with pytest.raises(DashboardError):
            dashboard_body([Widget("w", [metric])], inventory, "us-east-1")


def test_the_dashboards_use_cases_are_the_receivers() -> None:
    from components.dashboard import USE_CASES
    from functions.receiver import USE_CASE

    assert set(USE_CASES) == set(USE_CASE.values())


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_the_saved_queries_read_every_log_group(runs: dict[str, ProgramRun], architecture: str) -> None:
    run = runs[architecture]
    groups = {g.inputs["name"] for g in run.of_type(LOG_GROUP) if not g.inputs["name"].startswith("/aws/apigateway")}
    queries = {q.inputs["name"].rsplit("/", 1)[1]: q.inputs for q in run.of_type(QUERY)}
    assert set(queries) == {"one-delivery", "failures-last-hour"}
    for query in queries.values():
        assert set(query["logGroupNames"]) == groups
    assert "correlation_id" in queries["one-delivery"]["queryString"]


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_every_function_logs_json_and_records_no_trace_by_default(
    runs: dict[str, ProgramRun], architecture: str
) -> None:
    """X-Ray is off unless asked for (xrayTracing): at a million deliveries a month Lambda's sampling records
    nearly every request, at $5 a million traces per traced function (docs/comparison.md). The machines log
    errors only: ALL-level Express logs cost more than the rest of the delivery (docs/comparison.md)."""
    for function in runs[architecture].of_type(FUNCTION):
        assert function.inputs["loggingConfig"]["logFormat"] == "JSON", function.name
        assert function.inputs["tracingConfig"] == {"mode": "PassThrough"}, function.name
        assert function.inputs["environment"]["variables"]["POWERTOOLS_TRACE_DISABLED"] == "true"
    for machine in runs[architecture].of_type("aws:sfn/stateMachine:StateMachine"):
        assert machine.inputs["tracingConfiguration"] == {"enabled": False}
        assert machine.inputs["loggingConfiguration"]["level"] == "ERROR"


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_xray_tracing_active_traces_every_function_and_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, architecture: str
) -> None:
    monkeypatch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path))
    config = stack_config(STACK_FILES[architecture]) | {"xrayTracing": "Active"}
    prepare_layer(tmp_path, config["lambdaArchitecture"])
    run = run_program(config, stack="dev" if architecture == "sqs" else "dev-sfn")
    for function in run.of_type(FUNCTION):
        assert function.inputs["tracingConfig"] == {"mode": "Active"}, function.name
        assert function.inputs["environment"]["variables"]["POWERTOOLS_TRACE_DISABLED"] == "false"
    for machine in run.of_type("aws:sfn/stateMachine:StateMachine"):
        assert machine.inputs["tracingConfiguration"] == {"enabled": True}


def test_the_state_machines_log_level_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path))
    config = stack_config(STACK_FILES["stepfunctions"]) | {"stateMachineLogLevel": "ALL"}
    prepare_layer(tmp_path, config["lambdaArchitecture"])
    machines = run_program(config, stack="dev-sfn").of_type("aws:sfn/stateMachine:StateMachine")
    assert machines and {m.inputs["loggingConfiguration"]["level"] for m in machines} == {"ALL"}


@pytest.mark.parametrize("architecture", STACK_FILES)
def test_every_log_group_a_trace_reads_is_exported(runs: dict[str, ProgramRun], architecture: str) -> None:
    """`stackops trace` finds the logs from the stack's outputs, never from names it builds itself."""
    run = runs[architecture]
    function_groups = {f.inputs["name"]: f.inputs["loggingConfig"]["logGroup"] for f in run.of_type(FUNCTION)}
    exported = run.exports["functionLogGroups"]
    assert sorted(exported.values()) == sorted(function_groups.values())
    assert all(
        function_groups[name] == exported[key] for name in function_groups for key in exported if name.endswith(key)
    )
    machine_groups = sorted(
        m.inputs["loggingConfiguration"]["logDestination"].removesuffix(":*").rsplit(":log-group:", 1)[1]
        for m in run.of_type("aws:sfn/stateMachine:StateMachine")
    )
    assert sorted(run.exports["stateMachineLogGroups"].values()) == machine_groups
    assert bool(machine_groups) is (architecture == "stepfunctions")
