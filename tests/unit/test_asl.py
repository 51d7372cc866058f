"""The state machine definitions.

- ``components/asl.py``: ``${Name}`` substitution fails loudly on a missing or an unused value.
- The shape of every ``components/statemachines/*.asl.json``: parsed by moto's ASL parser, every
  transition lands on a state, Lambda tasks retry the Lambda service errors and the transient
  business errors with bounded, jittered backoff, every other failure ends in a failure notification.
- Their data flow, run by moto's Step Functions engine with each Lambda replaced by a Python fake and
  the real write plans of ``functions/records.py``: stored once, notified once, failures notified.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda import models as lambda_models
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.static_analyser.express_static_analyser import ExpressStaticAnalyser
from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

from components.asl import STATEMACHINES_DIR, DefinitionError, DefinitionTemplate, key_values
from components.backfill_bucket import PAGES_PREFIX
from components.stepfunctions_pipeline import (
    START_CHILD_RESOURCE,
    START_CHILD_RETRY_ERRORS,
    WorkflowTypeError,
    check_workflow_type,
    page_execution_type,
)
from functions import records
from functions.common.errors import RATE_LIMITED_ERROR_NAME, RETRYABLE_ERROR_NAMES, GitHubRateLimited
from functions.common.models import TeamMembership, WorkflowRunRef
from functions.common.observability import DELIVERY_LATENCY, STACK_DIMENSION, USE_CASE_DIMENSION
from functions.directory import CompanyRecord, DirectoryResult
from functions.pricing import JobUsage, price_run
from sandbox import moto_fixes

ACCOUNT, REGION = "123456789012", "us-east-1"
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SNS_PUBLISH = "arn:aws:states:::sns:publish"
TRANSACT_WRITE = "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems"
MAX_RETRY_ATTEMPTS = 5  # Express executions have 5 minutes; retries must fit well inside
GUID_LENGTH = 36  # X-Github-Delivery, the correlation id
GITHUB_LOGIN_MAX = 39
SNS_SUBJECT_LIMIT = 100  # SNS: fewer than 100 characters
EXECUTION_NAME_MAX = 80

RATE_LIMIT_PLACEHOLDERS = ("RateLimitBudgetSeconds", "RateLimitMaxWaits")
LATENCY_PLACEHOLDERS = ("MetricsNamespace", "Stack")
PUT_METRIC_DATA = "arn:aws:states:::aws-sdk:cloudwatch:putMetricData"
#: The only JSONata states (a per-state QueryLanguage in a JSONPath machine): JSONPath has no clock.
JSONATA_STATES = {"onboarding.asl.json": {"RecordLatency"}, "chargeback.asl.json": {"RecordLatency"}}
#: Tasks whose failure loses nothing but a datapoint: caught, not retried (no retry storm on a throttle).
BEST_EFFORT = {"RecordLatency"}
PER_EVENT = {"onboarding.asl.json": "ONBOARDING", "chargeback.asl.json": "CHARGEBACK"}
DEFINITIONS = (*PER_EVENT, "backfill.asl.json")
PLACEHOLDERS = {
    "onboarding.asl.json": {
        "AddTeamMemberFunctionArn",
        "LookupDirectoryFunctionArn",
        "NotificationTopicArn",
        "TimeoutSeconds",
        *RATE_LIMIT_PLACEHOLDERS,
        *LATENCY_PLACEHOLDERS,
    },
    "chargeback.asl.json": {
        "PriceWorkflowRunFunctionArn",
        "NotificationTopicArn",
        "TimeoutSeconds",
        *RATE_LIMIT_PLACEHOLDERS,
        *LATENCY_PLACEHOLDERS,
    },
    "backfill.asl.json": {
        "ListOrgMembersFunctionArn",
        "StartOnboardingResource",
        "StartOnboardingRetryErrors",
        "OnboardingStateMachineArn",
        "NotificationTopicArn",
        "MaxConcurrency",
        "PageConcurrency",
        "ToleratedFailurePercentage",
        "PageExecutionType",
        "BackfillBucket",
        "BackfillPrefix",
        *RATE_LIMIT_PLACEHOLDERS,
    },
}


def sample_values(file_name: str, child_type: str = "STANDARD") -> dict[str, Any]:
    values: dict[str, Any] = {
        "NotificationTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:notifications",
        "TimeoutSeconds": 120,
        "MaxConcurrency": 7,
        "RateLimitBudgetSeconds": 3600,
        "RateLimitMaxWaits": 100,
        "StartOnboardingResource": START_CHILD_RESOURCE[child_type],
        "StartOnboardingRetryErrors": START_CHILD_RETRY_ERRORS[child_type],
        "OnboardingStateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:onboarding",
        "MetricsNamespace": "GitHubAutomation",
        "Stack": "dev-sfn",
        "PageConcurrency": 3,
        "ToleratedFailurePercentage": 5,
        "PageExecutionType": page_execution_type(child_type),
        "BackfillBucket": "github-automation-dev-sfn-backfill-0123456789ab",
        "BackfillPrefix": PAGES_PREFIX,
    }
    for name in PLACEHOLDERS[file_name]:
        if name.endswith("FunctionArn"):
            values[name] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name.removesuffix('FunctionArn')}"
    return {name: values[name] for name in PLACEHOLDERS[file_name]}


def rendered(file_name: str, child_type: str = "STANDARD") -> dict[str, Any]:
    return json.loads(DefinitionTemplate.load(file_name).render(sample_values(file_name, child_type)))


def scopes(definition: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The definition and every Map iteration / Parallel branch in it: each has StartAt and States."""
    yield definition
    for state in definition["States"].values():
        if "ItemProcessor" in state:
            yield from scopes(state["ItemProcessor"])
        for branch in state.get("Branches", []):
            yield from scopes(branch)


def tasks(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for scope in scopes(definition):
        for name, state in scope["States"].items():
            if state["Type"] == "Task":
                yield name, state, scope


def transitions(state: dict[str, Any]) -> list[str]:
    targets = [state["Next"]] if "Next" in state else []
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [state["Default"]] if "Default" in state else []
    return targets + [catcher["Next"] for catcher in state.get("Catch", [])]


def path_from(scope: dict[str, Any], start: str) -> list[str]:
    """The states visited from ``start`` following Next (a failure path has no branches)."""
    visited = [start]
    while "Next" in scope["States"][visited[-1]]:
        visited.append(scope["States"][visited[-1]]["Next"])
        assert len(visited) <= len(scope["States"]), f"a cycle through {visited}"
    return visited


# --- components/asl.py ---------------------------------------------------------------------------


def write_template(directory: Path, document: dict[str, Any]) -> DefinitionTemplate:
    (directory / "t.asl.json").write_text(json.dumps(document))
    return DefinitionTemplate.load("t.asl.json", directory)


TEMPLATE = {
    "StartAt": "A",
    "TimeoutSeconds": "${Timeout}",
    "States": {"A": {"Type": "Task", "Resource": "${Resource}", "Comment": "calls ${Name} for ${Who}", "End": True}},
}


def test_a_whole_string_placeholder_keeps_the_value_type_and_an_embedded_one_becomes_text(tmp_path: Path) -> None:
    template = write_template(tmp_path, TEMPLATE)
    document = json.loads(template.render({"Timeout": 60, "Resource": "arn:x", "Name": "f", "Who": 7}))
    assert document["TimeoutSeconds"] == 60
    assert document["States"]["A"]["Resource"] == "arn:x"
    assert document["States"]["A"]["Comment"] == "calls f for 7"


def test_a_jsonata_expression_is_no_placeholder_and_renders_unchanged(tmp_path: Path) -> None:
    expression = "{% $max([0, $millis() - $states.input.receivedAt]) & ' in ${Stack}' %}"
    state = {"Type": "Pass", "QueryLanguage": "JSONata", "Output": expression, "End": True}
    template = write_template(tmp_path, {"StartAt": "A", "States": {"A": state}})
    assert template.placeholders == {"Stack"}
    output = json.loads(template.render({"Stack": "dev"}))["States"]["A"]["Output"]
    assert output == "{% $max([0, $millis() - $states.input.receivedAt]) & ' in dev' %}"
    with pytest.raises(DefinitionError, match="no value for placeholder"):
        template.render({})


def test_a_placeholder_without_value_fails_naming_the_file_and_the_placeholder(tmp_path: Path) -> None:
    template = write_template(tmp_path, TEMPLATE)
    with pytest.raises(DefinitionError, match=r"t\.asl\.json: no value for placeholder\(s\) Name, Who"):
        template.render({"Timeout": 60, "Resource": "arn:x"})


def test_a_value_without_placeholder_fails_naming_it(tmp_path: Path) -> None:
    template = write_template(tmp_path, TEMPLATE)
    with pytest.raises(DefinitionError, match=r"t\.asl\.json: value\(s\) given for unknown placeholder\(s\) Typo"):
        template.render({"Timeout": 60, "Resource": "arn:x", "Name": "f", "Who": "w", "Typo": 1})


def test_definition_checks_the_names_before_any_value_is_known(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="no value for placeholder"):
        write_template(tmp_path, TEMPLATE).definition({"Timeout": 60})


def test_a_placeholder_in_a_key_fails(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"placeholder in the key '\$\{Key\}'"):
        write_template(tmp_path, {"StartAt": "A", "States": {"${Key}": {"Type": "Succeed"}}})


def test_a_non_text_value_inside_a_string_fails(tmp_path: Path) -> None:
    template = write_template(tmp_path, TEMPLATE)
    with pytest.raises(DefinitionError, match="placeholder Name is inside a string"):
        template.render({"Timeout": 60, "Resource": "arn:x", "Name": {"a": 1}, "Who": "w"})


@pytest.mark.parametrize(
    ("text", "error"), [("{", "not valid JSON"), ('{"StartAt": "A"}', "not an Amazon States Language definition")]
)
def test_a_file_that_is_not_a_definition_fails_naming_it(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "bad.asl.json").write_text(text)
    with pytest.raises(DefinitionError, match=f"bad.asl.json: {error}"):
        DefinitionTemplate.load("bad.asl.json", tmp_path)


@pytest.mark.parametrize(
    ("resource", "sync"),
    [
        ("arn:aws:states:::states:startExecution.sync:2", True),
        ("arn:aws:states:::batch:submitJob.sync", True),
        ("arn:aws:states:::aws-sdk:sfn:startSyncExecution", False),
        (LAMBDA_INVOKE, False),
    ],
)
def test_sync_integrations_are_recognised_after_substitution(tmp_path: Path, resource: str, sync: bool) -> None:
    template = write_template(tmp_path, TEMPLATE)
    values = {"Timeout": 60, "Resource": resource, "Name": "f", "Who": "w"}
    assert template.uses_sync_integration(values) is sync


def test_a_resource_must_be_known_at_build_time(tmp_path: Path) -> None:
    template = write_template(tmp_path, TEMPLATE)
    with pytest.raises(DefinitionError, match="placeholder Resource in a Resource needs a plain string"):
        template.resources({"Timeout": 60, "Resource": 42, "Name": "f", "Who": "w"})


# --- the definitions -----------------------------------------------------------------------------


def test_every_definition_file_is_checked_here() -> None:
    assert sorted(p.name for p in STATEMACHINES_DIR.glob("*.asl.json")) == sorted(DEFINITIONS)


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_placeholders_are_the_ones_the_pipeline_fills(file_name: str) -> None:
    assert DefinitionTemplate.load(file_name).placeholders == PLACEHOLDERS[file_name]


@pytest.fixture
def asl_grammar() -> Iterator[None]:
    """moto's grammar as AWS's: an integer ToleratedFailurePercentage and Express map children parse
    (sandbox/moto_fixes.py; their own tests show moto 5.2.5 refuses both)."""
    patches = moto_fixes.Patches()
    moto_fixes.accept_integer_failure_percentages(patches)
    moto_fixes.accept_express_map_children(patches)
    try:
        yield
    finally:
        patches.uninstall()


@pytest.mark.parametrize(
    ("file_name", "child_type"),
    [*((name, "STANDARD") for name in PER_EVENT), ("backfill.asl.json", "STANDARD"), ("backfill.asl.json", "EXPRESS")],
)
@pytest.mark.usefixtures("asl_grammar")
def test_every_definition_parses_as_amazon_states_language(file_name: str, child_type: str) -> None:
    StaticAnalyser().analyse(json.dumps(rendered(file_name, child_type)))


@pytest.mark.parametrize("file_name", PER_EVENT)
def test_per_event_definitions_can_run_as_express(file_name: str) -> None:
    ExpressStaticAnalyser().analyse(json.dumps(rendered(file_name)))


@pytest.mark.usefixtures("asl_grammar")
def test_the_backfill_cannot_run_as_express() -> None:
    with pytest.raises(ValueError, match="does not support"):
        ExpressStaticAnalyser().analyse(json.dumps(rendered("backfill.asl.json", "STANDARD")))


JSONPATH_FIELDS = {"InputPath", "Parameters", "ResultSelector", "ResultPath", "OutputPath"}
JSONATA_FIELDS = {"Arguments", "Output", "QueryLanguage", "Assign"}


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_jsonpath_but_for_the_jsonata_states(file_name: str) -> None:
    definition = rendered(file_name)
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    jsonata = JSONATA_STATES.get(file_name, set())
    for scope in scopes(definition):
        for name, state in scope["States"].items():
            catchers = state.get("Catch", [])
            if name in jsonata:
                assert state["QueryLanguage"] == "JSONata", name
                assert not JSONPATH_FIELDS & state.keys(), f"{name}: a JSONata state has Arguments and Output"
                assert all(not JSONPATH_FIELDS & catcher.keys() for catcher in catchers), name
                assert all(not key.endswith(".$") for key, _ in key_values(state)), name
            else:
                assert not JSONATA_FIELDS & state.keys(), name
                assert all(not JSONATA_FIELDS & catcher.keys() for catcher in catchers), name
                assert "{%" not in json.dumps(state), f"{name}: a JSONata expression in a JSONPath state"


@pytest.mark.parametrize("file_name", PER_EVENT)
def test_stored_and_notified_records_the_delivery_latency_best_effort(file_name: str) -> None:
    """The metric store-records emits in the sqs architecture (functions/common/observability.py): same
    namespace, name, unit and dimensions; without ``receivedAt`` it fails, caught: only the datapoint is lost."""
    states = rendered(file_name)["States"]
    assert states["MarkNotified"]["Next"] == "RecordLatency", "one state: Standard bills each transition"
    record = states["RecordLatency"]
    assert record["Resource"] == PUT_METRIC_DATA and record.get("End") is True
    assert "Retry" not in record
    assert record["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "Output": "{% $states.input %}", "Next": "LatencyNotRecorded"}
    ]
    assert states["LatencyNotRecorded"]["Type"] == "Succeed"
    assert record["Output"] == "{% $states.input %}", "the execution's output stays the stored request"
    (datum,) = record["Arguments"]["MetricData"]
    assert record["Arguments"]["Namespace"] == "GitHubAutomation"
    assert (datum["MetricName"], datum["Unit"]) == (DELIVERY_LATENCY, "Milliseconds")
    assert datum["Dimensions"] == [
        {"Name": STACK_DIMENSION, "Value": "dev-sfn"},
        {"Name": USE_CASE_DIMENSION, "Value": "{% $states.input.useCase %}"},
    ]
    assert datum["Value"] == (
        "{% $exists($states.input.receivedAt) ? $max([0, $millis() - $states.input.receivedAt])"
        " : $error('no receivedAt: received before this version') %}"
    )


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_every_transition_lands_on_a_state_and_every_state_is_reachable(file_name: str) -> None:
    for scope in scopes(rendered(file_name)):
        states = scope["States"]
        for name, state in states.items():
            for target in transitions(state):
                assert target in states, f"{name} goes to unknown state {target}"
            terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
            assert terminal or "Next" in state or state["Type"] == "Choice", f"{name} never ends"
        reached, frontier = set(), [scope["StartAt"]]
        while frontier:
            name = frontier.pop()
            if name not in reached:
                reached.add(name)
                frontier.extend(transitions(states[name]))
        assert reached == set(states), f"unreachable: {set(states) - reached}"


PAYLOADS = {"ListOrgMembers": "$.listing.next"}


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_lambda_tasks_retry_lambda_service_errors_and_transient_business_errors(file_name: str) -> None:
    lambda_tasks = [
        (name, state) for name, state, _ in tasks(rendered(file_name)) if state["Resource"] == LAMBDA_INVOKE
    ]
    assert lambda_tasks
    for name, state in lambda_tasks:
        retried = [set(retrier["ErrorEquals"]) for retrier in state["Retry"]]
        assert LAMBDA_SERVICE_ERRORS in retried, name
        business = [names for names in retried if names & set(RETRYABLE_ERROR_NAMES)]
        assert len(business) == 1 and business[0] <= set(RETRYABLE_ERROR_NAMES), name
        assert "GitHubUnavailable" in business[0], name
        assert "GitHubRateLimited" not in business[0], f"{name} waits out rate limits as GitHub asks instead"
        # the message unchanged; a paginated step the request for the page the last call named
        assert state["Parameters"]["Payload.$"] == PAYLOADS.get(name, "$"), f"{name} must pass the message unchanged"


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_rate_limited_lambda_tasks_wait_as_github_asks_instead_of_backing_off(file_name: str) -> None:
    """GitHubRateLimited is never retried with backoff (a primary limit resets up to an hour later): each
    GitHub-calling task catches it first, and the RateLimit* states wait the advised seconds within the budget
    and go back to that very task."""
    definition = rendered(file_name)
    states = definition["States"]
    lambda_tasks = [name for name, state, _ in tasks(definition) if state["Resource"] == LAMBDA_INVOKE]
    for name in lambda_tasks:
        state = states[name]
        assert all(RATE_LIMITED_ERROR_NAME not in retrier["ErrorEquals"] for retrier in state["Retry"]), name
        first = state["Catch"][0]
        assert first["ErrorEquals"] == [RATE_LIMITED_ERROR_NAME] and first["Next"] == f"{name}RateLimited", name
        assert states[f"{name}RateLimited"]["Parameters"]["task"] == name
        back = {choice["StringEquals"]: choice["Next"] for choice in states["RateLimitRetry"]["Choices"]}
        assert back[name] == name, name
    assert states["RateLimitWait"]["SecondsPath"] == "$.rateLimit.waitSeconds"
    (within,) = states["RateLimitWithinBudget"]["Choices"]
    assert [rule["NumericLessThanEquals"] for rule in within["And"]] == [3600, 100]
    assert states["RateLimitBudgetSpent"]["Next"] == "DescribeFailure"


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_every_retry_backs_off_exponentially_with_jitter_and_gives_up(file_name: str) -> None:
    for name, state, _ in tasks(rendered(file_name)):
        if name in BEST_EFFORT:
            continue
        assert state.get("Retry"), f"{name} never retries"
        for retrier in state["Retry"]:
            assert "States.ALL" not in retrier["ErrorEquals"] and "States.TaskFailed" not in retrier["ErrorEquals"]
            assert retrier["IntervalSeconds"] >= 1 and retrier["BackoffRate"] >= 2, name
            assert 1 <= retrier["MaxAttempts"] <= MAX_RETRY_ATTEMPTS, name
            assert retrier["JitterStrategy"] == "FULL", name


#: Where a per-event machine goes once the record is stored: a failure there is not a failure of the work,
#: so it ends the execution with an error of its own and sends no failure notification.
AFTER_STORED = {
    "NotifySuccess": "NotificationPending",
    "MarkNotified": "NotificationNotMarked",
    "AlreadyStored": "NotificationPending",
}


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_every_failure_is_notified_then_fails_the_execution(file_name: str) -> None:
    definition = rendered(file_name)
    top = definition["States"]
    for name, state in top.items():
        if state["Type"] not in ("Task", "Map") or "Failure" in name or name in AFTER_STORED or name in BEST_EFFORT:
            continue
        catch_all = [c for c in state["Catch"] if c["ErrorEquals"] == ["States.ALL"]]
        assert len(catch_all) == 1 and state["Catch"][-1] is catch_all[0], f"{name}: States.ALL caught last, once"
        assert catch_all[0]["ResultPath"] == "$.error", name
        path = path_from(definition, catch_all[0]["Next"])
        publishes = [top[s] for s in path if top[s].get("Resource") == SNS_PUBLISH]
        assert len(publishes) == 1, f"{name}: failure path {path} must publish once"
        assert publishes[0]["Parameters"]["TopicArn"] == sample_values(file_name)["NotificationTopicArn"]
        assert top[path[-1]] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    describe = top["DescribeFailure"]["Parameters"]
    assert re.fullmatch(r"States\.Format\('[A-Z][a-z]+ failed: \{\}', \$\$\.Execution\.Name\)", describe["subject.$"])
    assert describe["report"]["errorType.$"] == "$.error.Error" and describe["report"]["error.$"] == "$.error.Cause"
    notify = top["NotifyFailure"]
    assert notify["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Failed"}], (
        "a failure to notify still fails the execution with the original error"
    )


@pytest.mark.parametrize("file_name", PER_EVENT)
def test_a_stored_record_is_never_reported_as_failed(file_name: str) -> None:
    """Once the write is in, a failing publish or marker ends the execution with its own error (the
    ExecutionsFailed alarm fires), never on the failure path that says the record was not stored."""
    top = rendered(file_name)["States"]
    for name, fail_state in AFTER_STORED.items():
        catch = top[name]["Catch"]
        assert catch == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": fail_state}], name
        assert top[fail_state]["Type"] == "Fail" and top[fail_state]["Error"] == fail_state
        assert "stored" in top[fail_state]["Cause"]


#: The longest value each path a subject formats can hold: an execution name (AWS: at most 80
#: characters), the org (a GitHub login: at most 39); counts have at most 10 digits.
SUBJECT_ARGUMENT_MAX = {"$$.Execution.Name": EXECUTION_NAME_MAX, "$.org": GITHUB_LOGIN_MAX}
COUNT_DIGITS = 10


def subject_formats(definition: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for scope in scopes(definition):
        for name, state in scope["States"].items():
            for key, value in (state.get("Parameters") or {}).items():
                if key == "subject.$":
                    yield name, value


def longest_formatted(expression: str) -> int:
    """The longest text ``States.Format('...', args)`` can make, from SUBJECT_ARGUMENT_MAX."""
    match = re.fullmatch(r"States\.Format\('([^']*)', (.*)\)", expression)
    assert match, expression
    template, arguments = match.group(1), re.split(r", (?![^()]*\))", match.group(2))
    longest = len(template.replace("{}", ""))
    for argument in arguments:
        if argument.startswith("States.ArrayLength(") or argument.endswith((".count", ".listed")):
            longest += COUNT_DIGITS
        else:
            assert argument in SUBJECT_ARGUMENT_MAX, f"{argument} has no known bound"
            longest += SUBJECT_ARGUMENT_MAX[argument]
    return longest


@pytest.mark.parametrize("file_name", DEFINITIONS)
def test_every_subject_a_machine_formats_is_shorter_than_sns_allows(file_name: str) -> None:
    """SNS refuses a subject of 100 characters or more, and a state cannot cut a string: every subject
    built with States.Format must fit whatever its arguments hold."""
    formats = list(subject_formats(rendered(file_name)))
    assert formats, file_name
    for name, expression in formats:
        assert longest_formatted(expression) < SNS_SUBJECT_LIMIT, f"{name}: {expression}"


def test_the_subject_bound_sees_what_made_the_old_subject_too_long() -> None:
    old = "States.Format('{} failed: {}', $$.StateMachine.Name, $.correlationId)"
    with pytest.raises(AssertionError, match=r"StateMachine\.Name has no known bound"):
        longest_formatted(old)
    assert longest_formatted("States.Format('Onboarding failed: {}', $$.Execution.Name)") == 99


@pytest.mark.parametrize("file_name", PER_EVENT)
def test_per_event_machines_store_natively_once_then_notify(file_name: str) -> None:
    definition = rendered(file_name)
    states = definition["States"]
    assert definition["TimeoutSeconds"] == sample_values(file_name)["TimeoutSeconds"]
    store = states["Store"]
    assert store["Resource"] == TRANSACT_WRITE
    assert store["Parameters"] == {"TransactItems.$": "$.transactItems"}
    assert store["ResultPath"] is None
    canceled = "DynamoDb.TransactionCanceledException"
    (brief,) = [r for r in store["Retry"] if r["ErrorEquals"] == [canceled]]
    assert brief["MaxAttempts"] <= 2, "a cancellation is usually a duplicate: retry it briefly"
    assert store["Catch"][0] == {"ErrorEquals": [canceled], "ResultPath": "$.error", "Next": "WhyCancelled"}
    why = states["WhyCancelled"]
    assert why["Type"] == "Choice" and why["Default"] == "DescribeFailure", "an unexplained cancellation is a failure"
    assert [c["Next"] for c in why["Choices"]] == ["AlreadyStored"]
    assert "ConditionalCheckFailed" in json.dumps(why["Choices"]) and "TransactionConflict" in json.dumps(
        why["Choices"]
    )
    already = states["AlreadyStored"]
    assert already["Resource"] == "arn:aws:states:::dynamodb:getItem" and already["Next"] == "WasNotified"
    assert already["Parameters"]["ConsistentRead"] is True, "the marker was written just before"
    assert already["Parameters"]["TableName.$"] == "$.marker.tableName"
    assert already["Parameters"]["Key.$"] == "$.marker.key"
    assert already["Parameters"]["ProjectionExpression"] == ", ".join(records.READ_ATTRIBUTE_NAMES)
    assert already["Parameters"]["ExpressionAttributeNames.$"] == "$.marker.readAttributeNames"
    was = states["WasNotified"]
    assert was["Default"] == "NotifySuccess", "stored by this delivery earlier, never notified: notify now"
    notified, stored_by = f"$.stored.Item.{records.NOTIFIED}", f"$.stored.Item.{records.STORED_BY}.S"
    assert was["Choices"] == [
        {"Variable": notified, "IsPresent": True, "Next": "AlreadyNotified"},
        {
            "And": [
                {"Variable": stored_by, "IsPresent": True},
                {"Not": {"Variable": stored_by, "StringEqualsPath": "$.correlationId"}},
            ],
            "Next": "AnnouncedByItsDelivery",
        },
    ], "stored by another delivery: that one announces it"
    assert states["AlreadyNotified"]["Type"] == "Succeed", "a duplicate is neither notified nor failed"
    assert states["AnnouncedByItsDelivery"]["Type"] == "Succeed"
    assert store["Next"] == "NotifySuccess"
    notify = states["NotifySuccess"]
    assert notify["Resource"] == SNS_PUBLISH and notify["Next"] == "MarkNotified"
    assert notify["Parameters"]["Subject.$"] == "$.notification.subject"
    assert notify["Parameters"]["Message.$"] == "$.notification.message"
    mark = states["MarkNotified"]
    assert mark["Resource"] == "arn:aws:states:::dynamodb:updateItem" and mark["Next"] == "RecordLatency"
    planned = records.notification_marker("t", {"login": "x"}).update_item_request()
    assert {key.removesuffix(".$") for key in mark["Parameters"]} == set(planned), "the whole planned UpdateItem"
    assert all(path.startswith("$.marker.") for path in mark["Parameters"].values())
    for state in (already, mark):
        assert all(e.startswith("DynamoDB.") for r in state["Retry"] for e in r["ErrorEquals"])
    assert [s for s in states.values() if s.get("Resource") == LAMBDA_INVOKE][-1]["Next"] == "Store"


def page_processor(child_type: str = "STANDARD") -> dict[str, Any]:
    """The Distributed Map's item processor: what each page's child execution runs."""
    return rendered("backfill.asl.json", child_type)["States"]["OnboardPages"]["ItemProcessor"]


def test_the_backfill_lists_one_page_per_call_and_keeps_each_where_the_map_reads_it() -> None:
    states = rendered("backfill.asl.json")["States"]
    assert states["FirstPage"]["Parameters"] == {"next.$": "$$.Execution.Input"}
    listing = states["ListOrgMembers"]
    assert listing["Parameters"]["Payload.$"] == "$.listing.next", "each call asks for the page the last one named"
    assert listing["ResultPath"] == "$.listing" and listing["Next"] == "PageHasMembers"
    has_members = states["PageHasMembers"]
    assert has_members["Choices"] == [{"Variable": "$.listing.count", "NumericGreaterThan": 0, "Next": "PutPage"}]
    assert has_members["Default"] == "MorePages", "a page with no members (SAML identities) writes no object"
    assert states["PutPage"]["Next"] == "MorePages"
    put = states["PutPage"]
    assert put["Resource"] == "arn:aws:states:::aws-sdk:s3:putObject"
    assert put["Parameters"]["Bucket"] == sample_values("backfill.asl.json")["BackfillBucket"]
    assert put["Parameters"]["Key.$"] == (
        f"States.Format('{PAGES_PREFIX}{{}}/members-{{}}.json', $$.Execution.Name, $.listing.page)"
    )
    assert put["Parameters"]["Body.$"] == "States.JsonToString($.listing.items)"
    assert put["ResultPath"] is None, "the page's members leave the parent's state once written"
    more = states["MorePages"]
    assert more["Choices"] == [{"Variable": "$.listing.next", "IsNull": False, "Next": "ListOrgMembers"}]
    assert more["Default"] == "OnboardPages"


def test_the_backfill_onboards_the_pages_with_a_distributed_map_configured_by_the_stack() -> None:
    values = sample_values("backfill.asl.json")
    pages = rendered("backfill.asl.json")["States"]["OnboardPages"]
    assert pages["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {
            "Bucket": values["BackfillBucket"],
            "Prefix.$": f"States.Format('{PAGES_PREFIX}{{}}/', $$.Execution.Name)",
        },
    }
    assert pages["MaxConcurrency"] == values["PageConcurrency"]
    assert pages["ToleratedFailurePercentage"] == values["ToleratedFailurePercentage"]
    assert pages["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert pages["ItemSelector"]["backfill.$"] == "$$.Execution.Name", "children name their members after the parent"
    assert pages["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "DescribeFailure"}]


def test_each_page_runs_one_onboarding_per_member_bounded_and_tolerant() -> None:
    definition = rendered("backfill.asl.json")
    assert "TimeoutSeconds" not in definition
    processor = page_processor()
    read = processor["States"]["ReadPage"]
    assert read["Resource"] == "arn:aws:states:::aws-sdk:s3:getObject"
    assert read["ResultSelector"] == {"members.$": "States.StringToJson($.Body)"}
    onboard = processor["States"]["OnboardMembers"]
    assert onboard["Type"] == "Map" and onboard["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    assert onboard["MaxConcurrency"] == sample_values("backfill.asl.json")["MaxConcurrency"]
    assert onboard["ItemsPath"] == "$.page.members"
    assert "ToleratedFailurePercentage" not in onboard, "Distributed Map only; each iteration catches instead"
    start = onboard["ItemProcessor"]["States"]["OnboardMember"]
    assert start["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert start["Parameters"]["StateMachineArn"] == sample_values("backfill.asl.json")["OnboardingStateMachineArn"]
    assert onboard["ItemSelector"]["startedBy"] == {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id"}
    assert start["Parameters"]["Input.$"] == "States.JsonMerge($.member, $.startedBy, false)", (
        "the child's input is the member message (an object, so Step Functions links the child to its parent)"
    )
    assert start["Parameters"]["Name.$"] == "$.name"
    assert start["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MemberFailed"}]
    assert onboard["ItemProcessor"]["States"]["MemberFailed"].get("End") is True, "a failed member ends its iteration"
    ends = {name: state["Parameters"] for name, state in processor["States"].items() if state.get("End")}
    assert set(ends) == {"PageDone", "PageWithFailures"}
    for parameters in ends.values():
        assert {key.removesuffix(".$") for key in parameters} == {"count", "anyFailed", "failed"}, (
            "a page's result is counts and failed members only: the parent keeps every page's"
        )


def test_an_express_onboarding_is_run_synchronously_by_the_page_children() -> None:
    processor = page_processor("EXPRESS")
    assert processor["ProcessorConfig"]["ExecutionType"] == "STANDARD", "trace and the meter read their histories"
    start = processor["States"]["OnboardMembers"]["ItemProcessor"]["States"]
    assert start["OnboardMember"]["Resource"] == "arn:aws:states:::aws-sdk:sfn:startSyncExecution"
    assert start["OnboardMember"]["Next"] == "CheckOnboarding", "startSyncExecution reports a failed child in Status"


def test_an_express_page_child_cannot_wait_with_sync() -> None:
    values = {**sample_values("backfill.asl.json"), "PageExecutionType": "EXPRESS"}
    template = DefinitionTemplate.load("backfill.asl.json")
    assert template.express_children_using_sync(values) == ["arn:aws:states:::states:startExecution.sync:2"]
    with pytest.raises(WorkflowTypeError, match="ExecutionType must be STANDARD"):
        check_workflow_type("backfill", template, values, "STANDARD")
    express_onboarding = {**sample_values("backfill.asl.json", "EXPRESS"), "PageExecutionType": "EXPRESS"}
    assert template.express_children_using_sync(express_onboarding) == [], "startSyncExecution is no .sync"


def test_child_execution_names_are_deterministic_and_fit() -> None:
    selector = page_processor()["States"]["OnboardMembers"]["ItemSelector"]
    assert selector["name.$"] == "States.Format('{}-{}', $$.Map.Item.Value.login, States.Hash($.backfill, 'MD5'))"
    md5_hex = 32
    assert GITHUB_LOGIN_MAX + 1 + md5_hex <= EXECUTION_NAME_MAX


# --- run by moto's Step Functions engine ---------------------------------------------------------

Fake = Callable[[dict[str, Any]], dict[str, Any]]
STACK = "github-automation-test"
NAMESPACE = "GitHubAutomationTests"


class Engine:
    """moto's Step Functions engine with the project's tables and topic, and Lambda functions whose
    code is a Python fake (``fakes[name]``); an exception's class name is the Lambda errorType."""

    def __init__(self) -> None:
        self.fakes: dict[str, Fake] = {}
        self.sleeps: list[float] = []
        self.waits: list[int] = []  # Wait states' seconds, recorded instead of waited
        self.sfn, self.sqs, self.ddb = boto3.client("stepfunctions"), boto3.client("sqs"), boto3.client("dynamodb")
        iam, sns = boto3.client("iam"), boto3.client("sns")
        self.role = iam.create_role(RoleName="machine", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.topic = sns.create_topic(Name="notifications")["TopicArn"]
        self.inbox = self.sqs.create_queue(QueueName="inbox")["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
        # The schemas of components/shared.py
        self.ddb.create_table(
            TableName=f"{STACK}-members",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "login", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "login", "AttributeType": "S"}],
        )
        self.ddb.create_table(
            TableName=f"{STACK}-workflow-runs",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        )

    def function(self, name: str, fake: Fake) -> str:
        self.fakes[name] = fake
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr("handler.py", "")
        return boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=self.role,
            Handler="handler.handler",
            Code={"ZipFile": archive.getvalue()},
        )["FunctionArn"]

    def state_machine(self, file_name: str, values: dict[str, Any]) -> str:
        definition = DefinitionTemplate.load(file_name).render({**values, "NotificationTopicArn": self.topic})
        return self.sfn.create_state_machine(
            name=file_name.removesuffix(".asl.json"), definition=definition, roleArn=self.role
        )["stateMachineArn"]

    def run(self, machine: str, name: str, message: dict[str, Any]) -> dict[str, Any]:
        execution = self.sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(message))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=execution["executionArn"])
            if described["status"] != "RUNNING":
                return described
            time.sleep(0.02)
        raise AssertionError(f"{name} still running")

    def history(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=execution["executionArn"])["events"]

    def notifications(self) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        for message in received:
            self.sqs.delete_message(QueueUrl=self.inbox, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(message["Body"]) for message in received]

    def items(self, table: str) -> list[dict[str, Any]]:
        return self.ddb.scan(TableName=f"{STACK}-{table}")["Items"]

    def invoke(self, function: Any, event: Any, *_: Any, **__: Any) -> tuple[str, bool, str]:
        try:
            return json.dumps(self.fakes[function.function_name](event)), False, ""
        except Exception as error:  # noqa: BLE001 - becomes the Lambda function error, as in AWS
            return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}), True, ""


class FakeTime:
    """Stands in for ``time`` in moto's retrier: records each backoff instead of sleeping it."""

    def __init__(self, sleeps: list[float]) -> None:
        self.sleeps = sleeps

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, function_env: pytest.MonkeyPatch) -> Iterator[Engine]:
    function_env.setenv("MEMBERS_TABLE", f"{STACK}-members")
    function_env.setenv("WORKFLOW_RUNS_TABLE", f"{STACK}-workflow-runs")
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        engine = Engine()
        monkeypatch.setattr(
            lambda_models.LambdaFunction,
            "_invoke_lambda",
            lambda function, event, *a, **k: engine.invoke(function, event),
        )
        monkeypatch.setattr(retrier_decl, "time", FakeTime(engine.sleeps))
        monkeypatch.setattr(
            WaitFunction, "_wait_interval", lambda function, env, wait_seconds: engine.waits.append(wait_seconds)
        )
        # AWS always evaluates JSONata states (RecordLatency); moto's engine needs the sandbox's evaluator.
        jsonata = moto_fixes.Patches()
        moto_fixes.evaluate_jsonata(jsonata)
        try:
            yield engine
        finally:
            jsonata.uninstall()


class GitHubUnavailable(Exception):
    pass


class GitHubRequestRejected(Exception):
    pass


MEMBER = {
    "correlationId": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    "org": "my-org",
    "login": "octocat",
    "userId": 583231,
    "source": "member_added",
}


def add_team_member(event: dict[str, Any]) -> dict[str, Any]:
    return {**event, "team": "engineering", "role": "member", "state": "active"}


def lookup_directory(event: dict[str, Any]) -> dict[str, Any]:
    from functions import records

    found = DirectoryResult(
        status="found", source="github-saml", record=CompanyRecord(employee_id="E1", email="octo@example.com")
    )
    request = records.member_store_request(
        TeamMembership.model_validate(event),
        found,
        onboarded_at=datetime(2026, 11, 2, tzinfo=UTC),
        table=f"{STACK}-members",
    )
    # the adapter passes the input's receivedAt on to the output (functions/common/adapter.py)
    return request.model_copy(update={"received_at": event.get("receivedAt")}).to_wire()


def onboarding(engine: Engine, add: Fake = add_team_member, lookup: Fake = lookup_directory) -> str:
    return engine.state_machine(
        "onboarding.asl.json",
        {
            "AddTeamMemberFunctionArn": engine.function("add-team-member", add),
            "LookupDirectoryFunctionArn": engine.function("lookup-directory", lookup),
            "TimeoutSeconds": 60,
            "RateLimitBudgetSeconds": 3600,
            "RateLimitMaxWaits": 100,
            "MetricsNamespace": NAMESPACE,
            "Stack": STACK,
        },
    )


@pytest.mark.parametrize(("delivery", "announced"), [("72d3162e-cc78-11e3-81ab-4c9367dc0958", True), ("other", False)])
def test_a_stored_member_without_its_notification_is_announced_by_the_delivery_that_stored_it(
    engine: Engine, delivery: str, announced: bool
) -> None:
    """The first run stored and published but crashed before the marker: its own redelivery publishes
    again (at least once), another delivery of the same member (a backfill) leaves it alone."""
    machine = onboarding(engine)
    assert engine.run(machine, "delivery-1", MEMBER)["status"] == "SUCCEEDED"
    engine.notifications()
    engine.ddb.update_item(
        TableName=f"{STACK}-members", Key={"login": {"S": "octocat"}}, UpdateExpression=f"REMOVE {records.NOTIFIED}"
    )

    again = engine.run(machine, "delivery-2", MEMBER | {"correlationId": delivery, "source": "backfill"})

    assert again["status"] == "SUCCEEDED"
    entered = [e["stateEnteredEventDetails"]["name"] for e in engine.history(again) if "stateEnteredEventDetails" in e]
    assert ("NotifySuccess" in entered) is announced and ("AnnouncedByItsDelivery" in entered) is not announced
    assert len(engine.notifications()) == (1 if announced else 0)


def test_onboarding_stores_and_notifies_once_even_when_delivered_twice(engine: Engine) -> None:
    machine = onboarding(engine)

    first = engine.run(machine, "delivery-1", MEMBER)
    assert first["status"] == "SUCCEEDED"
    assert [item["login"]["S"] for item in engine.items("members")] == ["octocat"]
    (notification,) = engine.notifications()
    assert notification["Subject"].startswith("Onboarded octocat to my-org/engineering")
    assert json.loads(notification["Message"])["employeeId"] == "E1"
    assert engine.sleeps == []

    again = engine.run(machine, "delivery-1-again", MEMBER)
    assert again["status"] == "SUCCEEDED"
    entered = [e["stateEnteredEventDetails"]["name"] for e in engine.history(again) if "stateEnteredEventDetails" in e]
    assert entered[-4:] == ["WhyCancelled", "AlreadyStored", "WasNotified", "AlreadyNotified"]
    assert engine.notifications() == [], "a duplicate delivery is not notified again"
    assert len(engine.items("members")) == 1
    (brief,) = [
        r
        for r in rendered("onboarding.asl.json")["States"]["Store"]["Retry"]
        if r["ErrorEquals"] == ["DynamoDb.TransactionCanceledException"]
    ]
    assert len(engine.sleeps) == brief["MaxAttempts"], "the cancellation was retried before counting as stored"


def latency_datapoints(use_case: str, stack: str = STACK) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return boto3.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=DELIVERY_LATENCY,
        Dimensions=[{"Name": STACK_DIMENSION, "Value": stack}, {"Name": USE_CASE_DIMENSION, "Value": use_case}],
        StartTime=now - timedelta(minutes=5),
        EndTime=now + timedelta(minutes=5),
        Period=60,
        Statistics=["SampleCount", "Maximum"],
    )["Datapoints"]


def test_onboarding_records_the_delivery_latency_once_stored_and_notified(engine: Engine) -> None:
    machine = onboarding(engine)
    received_at = int(time.time() * 1000) - 1500
    delivered = {**MEMBER, "receivedAt": received_at}

    done = engine.run(machine, "delivery-11", delivered)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    assert json.loads(done["output"])["useCase"] == "member_added", "the output is still the stored request"
    (datapoint,) = latency_datapoints("member_added")
    assert datapoint["SampleCount"] == 1 and 1500 <= datapoint["Maximum"] < 60_000
    assert datapoint["Unit"] == "Milliseconds"

    again = engine.run(machine, "delivery-11-again", delivered)
    assert again["status"] == "SUCCEEDED"
    (datapoint,) = latency_datapoints("member_added")
    assert datapoint["SampleCount"] == 1, "a duplicate publishes nothing and records no latency"


def test_a_delivery_without_received_at_succeeds_without_a_latency(engine: Engine) -> None:
    """A delivery received before receivedAt existed: the expression raises, the state's Catch ends it well."""
    done = engine.run(onboarding(engine), "delivery-12", MEMBER)
    assert done["status"] == "SUCCEEDED", done.get("cause")
    entered = [e["stateEnteredEventDetails"]["name"] for e in engine.history(done) if "stateEnteredEventDetails" in e]
    assert entered[-3:] == ["MarkNotified", "RecordLatency", "LatencyNotRecorded"]
    assert latency_datapoints("member_added") == []


def test_a_latency_that_cannot_be_put_still_succeeds(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    def throttled(*_: Any, **__: Any) -> None:
        raise RuntimeError("Rate exceeded")

    monkeypatch.setattr(CloudWatchBackend, "put_metric_data", throttled)
    done = engine.run(onboarding(engine), "delivery-13", {**MEMBER, "receivedAt": 1})
    assert done["status"] == "SUCCEEDED", done.get("cause")
    entered = [e["stateEnteredEventDetails"]["name"] for e in engine.history(done) if "stateEnteredEventDetails" in e]
    assert entered[-2:] == ["RecordLatency", "LatencyNotRecorded"]
    assert len(engine.notifications()) == 1


@pytest.fixture
def sns_faults(engine: Engine) -> Iterator[moto_fixes.SnsPublishFaults]:
    """The sandbox's switchable SNS outage (sandbox/moto_fixes.py), on this engine's moto."""
    faults, patches = moto_fixes.SnsPublishFaults(), moto_fixes.Patches()
    moto_fixes.fail_sns_publishes(patches, faults)
    yield faults
    patches.uninstall()


def test_a_stored_member_whose_publish_keeps_failing_is_pending_then_notified_once(
    engine: Engine, sns_faults: moto_fixes.SnsPublishFaults
) -> None:
    machine = onboarding(engine)
    sns_faults.fail(engine.topic)
    pending = engine.run(machine, "delivery-6", MEMBER)
    assert (pending["status"], pending.get("error")) == ("FAILED", "NotificationPending")
    assert "stored" in pending["cause"]
    subjects = [subject for _, subject in sns_faults.rejected]
    assert subjects and all(subject.startswith("Onboarded octocat") for subject in subjects), (
        "no failure notification says the stored member was not onboarded"
    )
    (item,) = engine.items("members")
    assert "notified" not in item

    sns_faults.clear()
    redelivered = engine.run(machine, "delivery-6-redelivered", MEMBER)
    assert redelivered["status"] == "SUCCEEDED"
    (notification,) = engine.notifications()
    assert notification["Subject"].startswith("Onboarded octocat to my-org/engineering")
    (item,) = engine.items("members")
    assert item["notified"] == {"BOOL": True}

    assert engine.run(machine, "delivery-6-again", MEMBER)["status"] == "SUCCEEDED"
    assert engine.notifications() == [], "notified once the marker is there"


def test_a_transient_error_is_retried_with_backoff(engine: Engine) -> None:
    failures = iter([GitHubUnavailable("502"), GitHubUnavailable("503")])

    def flaky(event: dict[str, Any]) -> dict[str, Any]:
        error = next(failures, None)
        if error:
            raise error
        return add_team_member(event)

    assert engine.run(onboarding(engine, flaky), "delivery-2", MEMBER)["status"] == "SUCCEEDED"
    assert len(engine.sleeps) == 2 and all(0 <= s <= 20 for s in engine.sleeps), engine.sleeps


def test_a_permanent_error_is_notified_once_and_fails_the_execution(engine: Engine) -> None:
    def rejected(event: dict[str, Any]) -> dict[str, Any]:
        raise GitHubRequestRejected("422: cannot add an outside collaborator")

    failed = engine.run(onboarding(engine, rejected), "delivery-3", MEMBER)
    assert failed["status"] == "FAILED" and failed["error"] == "GitHubRequestRejected"
    assert engine.sleeps == [], "a permanent error is not retried"
    (notification,) = engine.notifications()
    assert notification["Subject"] == "Onboarding failed: delivery-3"
    report = json.loads(notification["Message"])
    assert report["errorType"] == "GitHubRequestRejected" and "outside collaborator" in report["error"]
    assert report["correlationId"] == MEMBER["correlationId"]
    assert engine.items("members") == []


def rate_limited_then(fake: Fake, *retry_after: float | None) -> Fake:
    """``fake``, after raising GitHubRateLimited once per ``retry_after``."""
    pending = list(retry_after)

    def step(event: dict[str, Any]) -> dict[str, Any]:
        if pending:
            raise GitHubRateLimited("PUT team membership: GitHub answered 403 (API rate limit)", pending.pop(0))
        return fake(event)

    return step


def test_a_rate_limited_step_waits_as_long_as_github_says_then_goes_on(engine: Engine) -> None:
    machine = onboarding(
        engine, rate_limited_then(add_team_member, 1799.2, None), rate_limited_then(lookup_directory, 37)
    )

    done = engine.run(machine, "delivery-rl-1", MEMBER)

    assert done["status"] == "SUCCEEDED"
    assert engine.waits == [1800, 60, 37], "x-ratelimit-reset rounded up, GitHub's one minute when it says nothing"
    assert engine.sleeps == [], "no backoff retries on a rate limit"
    assert [item["login"]["S"] for item in engine.items("members")] == ["octocat"]
    (notification,) = engine.notifications()
    assert notification["Subject"].startswith("Onboarded octocat")


def test_the_rate_limit_budget_counts_every_step_of_the_execution(engine: Engine) -> None:
    """3600 s in all: the first step waits 1800 + 1800, so the second step's 600 s more are refused."""
    machine = onboarding(
        engine, rate_limited_then(add_team_member, 1800, 1800), rate_limited_then(lookup_directory, 600)
    )

    failed = engine.run(machine, "delivery-rl-2", MEMBER)

    assert failed["status"] == "FAILED" and failed["error"] == "GitHubRateLimited"
    assert engine.waits == [1800, 1800]
    (notification,) = engine.notifications()
    report = json.loads(notification["Message"])
    assert report["errorType"] == "GitHubRateLimited"
    assert "wait 600 s more, beyond the budget of 3600 s" in report["error"]
    assert engine.items("members") == []


def test_chargeback_stores_the_run_and_its_totals_once(engine: Engine) -> None:
    from functions import records

    run = WorkflowRunRef(
        correlation_id="d-4",
        owner="my-org",
        repo="app",
        repository_private=True,
        run_id=42,
        run_attempt=1,
        workflow_name="ci",
        conclusion="success",
        completed_at="2026-11-02T10:00:00Z",
    )
    job = JobUsage(
        job_id=1,
        name="test",
        labels=("ubuntu-latest",),
        conclusion="success",
        started_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        completed_at=datetime(2026, 11, 2, 9, 1, 30, tzinfo=UTC),
    )
    price = price_run(
        [job],
        repository_private=True,
        self_hosted_usd_per_minute=Decimal(0),
        fallback_day=records.booking_day(run.completed_at),
    )
    machine = engine.state_machine(
        "chargeback.asl.json",
        {
            "PriceWorkflowRunFunctionArn": engine.function(
                "price-workflow-run",
                lambda event: records.workflow_run_store_request(
                    WorkflowRunRef.model_validate(event), price, table=f"{STACK}-workflow-runs"
                ).to_wire(),
            ),
            "TimeoutSeconds": 60,
            "RateLimitBudgetSeconds": 3600,
            "RateLimitMaxWaits": 100,
            "MetricsNamespace": NAMESPACE,
            "Stack": STACK,
        },
    )

    for name in ("delivery-4", "delivery-4-again"):
        assert engine.run(machine, name, run.to_wire())["status"] == "SUCCEEDED"
    by_sk = {item["sk"]["S"]: item for item in engine.items("workflow-runs")}
    assert set(by_sk) == {records.run_sk(42, 1), records.TOTAL_SK, records.month_sk("2026-11")}
    assert by_sk[records.TOTAL_SK]["runs"]["N"] == "1", "the duplicate did not count twice"
    assert len(engine.notifications()) == 1


@pytest.fixture
def distributed_map(engine: Engine) -> Iterator[Engine]:
    """The engine with moto's Distributed Map made AWS's (sandbox/moto_fixes.py, each fix with its own test)
    and the task parameters cased as botocore wants them, so a task can start a child execution."""
    patches = moto_fixes.Patches()
    for fix in (
        moto_fixes.case_sfn_task_parameters,
        moto_fixes.accept_integer_failure_percentages,
        moto_fixes.name_distributed_children,
        moto_fixes.enforce_tolerated_failures,
        moto_fixes.count_ended_children,
        moto_fixes.list_s3_objects_as_items,
        moto_fixes.read_s3_object_bodies,
    ):
        fix(patches)
    try:
        yield engine
    finally:
        patches.uninstall()


BACKFILL_BUCKET = "github-automation-test-backfill-pages"


def member_pages(*pages: list[str]) -> Fake:
    """list-org-members over these pages of logins: one page a call, as functions/list_org_members.py."""

    def list_page(event: dict[str, Any]) -> dict[str, Any]:
        page = event.get("page", 1)
        members = [
            {**MEMBER, "login": login, "userId": 100 * page + n, "source": "backfill"}
            for n, login in enumerate(pages[page - 1])
        ]
        listed = event.get("listed", 0) + len(members)
        following = {**event, "page": page + 1, "listed": listed} if page < len(pages) else None
        return {"items": members, "count": len(members), "page": page, "listed": listed, "next": following}

    return list_page


def identity_pages_then(identity_pages: int, members: Fake) -> Fake:
    """list-org-members with the github-saml directory: ``identity_pages`` calls that cache SAML identities
    and list nobody (count 0, page 0), then ``members``' pages."""

    def list_page(event: dict[str, Any]) -> dict[str, Any]:
        read = event.get("identitiesListed", 0) // 100
        if not event.get("identitiesDone"):
            done = read + 1 >= identity_pages
            following = {**event, "identitiesListed": 100 * (read + 1)} | ({"identitiesDone": True} if done else {})
            return {"items": [], "count": 0, "page": 0, "listed": 0, "next": following}
        return members(event)

    return list_page


def backfill_machine(engine: Engine, pages: Fake, tolerated: int = 0) -> str:
    boto3.client("s3").create_bucket(Bucket=BACKFILL_BUCKET)
    child = engine.sfn.create_state_machine(
        name="onboarding",
        roleArn=engine.role,
        definition=json.dumps(
            {
                "StartAt": "Which",
                "States": {
                    "Which": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.login", "StringEquals": "b", "Next": "Rejected"}],
                        "Default": "Onboarded",
                    },
                    "Rejected": {"Type": "Fail", "Error": "GitHubRequestRejected"},
                    "Onboarded": {"Type": "Succeed"},
                },
            }
        ),
    )["stateMachineArn"]
    return engine.state_machine(
        "backfill.asl.json",
        {
            "ListOrgMembersFunctionArn": engine.function("list-org-members", pages),
            "StartOnboardingResource": START_CHILD_RESOURCE["STANDARD"],
            "StartOnboardingRetryErrors": START_CHILD_RETRY_ERRORS["STANDARD"],
            "OnboardingStateMachineArn": child,
            "MaxConcurrency": 2,
            "PageConcurrency": 2,
            "ToleratedFailurePercentage": tolerated,
            "PageExecutionType": "STANDARD",
            "BackfillBucket": BACKFILL_BUCKET,
            "BackfillPrefix": PAGES_PREFIX,
            "RateLimitBudgetSeconds": 3600,
            "RateLimitMaxWaits": 100,
        },
    )


def test_the_backfill_onboards_each_page_of_members_and_summarises_failures(distributed_map: Engine) -> None:
    engine = distributed_map
    machine = backfill_machine(engine, member_pages(["a", "b"], ["c"]))

    done = engine.run(machine, "delivery-5", {"correlationId": "delivery-5", "org": "my-org", "page": 1, "listed": 0})

    assert done["status"] == "SUCCEEDED", "a failed member does not fail the backfill"
    listed = [
        e
        for e in engine.history(done)
        if e["type"] == "TaskScheduled" and "lambda" in e["taskScheduledEventDetails"]["resourceType"]
    ]
    assert len(listed) == 2, "one list-org-members call per page"
    objects = boto3.client("s3").list_objects_v2(Bucket=BACKFILL_BUCKET, Prefix=f"{PAGES_PREFIX}delivery-5/")
    assert sorted(o["Key"] for o in objects["Contents"]) == [
        f"{PAGES_PREFIX}delivery-5/members-1.json",
        f"{PAGES_PREFIX}delivery-5/members-2.json",
    ]
    suffix = "-" + hashlib.md5(b"delivery-5").hexdigest()
    onboarding = engine.sfn.list_state_machines()["stateMachines"]
    (child_machine,) = [m["stateMachineArn"] for m in onboarding if m["name"] == "onboarding"]
    started = engine.sfn.list_executions(stateMachineArn=child_machine)["executions"]
    assert sorted(e["name"] for e in started) == ["a" + suffix, "b" + suffix, "c" + suffix], (
        "each member's child is named after the backfill, not after its page"
    )
    for execution in started:
        child_input = json.loads(engine.sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        page_child = done["executionArn"].replace(":execution:backfill:delivery-5", ":execution:backfill/Pages:")
        assert child_input.pop("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID").startswith(page_child), (
            "started by its page's child execution"
        )
        assert child_input["login"] in {"a", "b", "c"} and child_input["source"] == "backfill"
    (summary,) = engine.notifications()
    report = json.loads(summary["Message"])
    assert summary["Subject"] == "Backfill of my-org: 3 members, 1 failed"
    assert (report["members"], report["pages"]) == (3, 2)
    assert [(entry["login"], entry["status"]) for entry in report["failed"]] == [("b", "FAILED")]


def test_a_page_that_cannot_be_read_fails_the_backfill_beyond_the_tolerance(distributed_map: Engine) -> None:
    engine = distributed_map
    machine = backfill_machine(engine, member_pages(["a"], ["c"]))
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BACKFILL_BUCKET)
    # a page object that is not a JSON list of members: its child fails to onboard anyone
    s3.put_object(Bucket=BACKFILL_BUCKET, Key=f"{PAGES_PREFIX}delivery-6/members-9.json", Body=b"not json")

    done = engine.run(machine, "delivery-6", {"correlationId": "delivery-6", "org": "my-org", "page": 1, "listed": 0})

    assert done["status"] == "FAILED"
    (failure,) = engine.notifications()
    report = json.loads(failure["Message"])
    assert report["errorType"] == "States.ExceedToleratedFailureThreshold", "1 of 3 pages failed, none tolerated"
    assert failure["Subject"] == "Backfill failed: delivery-6"


def test_a_page_that_fails_within_the_tolerance_leaves_the_others_onboarded(distributed_map: Engine) -> None:
    engine = distributed_map
    machine = backfill_machine(engine, member_pages(["a"], ["c"]), tolerated=50)
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BACKFILL_BUCKET, Key=f"{PAGES_PREFIX}delivery-7/members-9.json", Body=b"not json")

    done = engine.run(machine, "delivery-7", {"correlationId": "delivery-7", "org": "my-org", "page": 1, "listed": 0})

    assert done["status"] == "SUCCEEDED", "1 of 3 pages failed: within 50%"
    (summary,) = engine.notifications()
    assert summary["Subject"] == "Backfill of my-org: 2 members, 0 failed"


def test_pages_of_saml_identities_loop_without_writing_an_object(distributed_map: Engine) -> None:
    engine = distributed_map
    machine = backfill_machine(engine, identity_pages_then(3, member_pages(["a", "c"], ["d"], [])))

    done = engine.run(machine, "delivery-8", {"correlationId": "delivery-8", "org": "my-org", "page": 1, "listed": 0})

    assert done["status"] == "SUCCEEDED"
    listed = [
        e
        for e in engine.history(done)
        if e["type"] == "TaskScheduled" and "lambda" in e["taskScheduledEventDetails"]["resourceType"]
    ]
    assert len(listed) == 3 + 3, "3 identity pages, then 3 member pages (the last one empty)"
    objects = boto3.client("s3").list_objects_v2(Bucket=BACKFILL_BUCKET, Prefix=f"{PAGES_PREFIX}delivery-8/")
    assert sorted(o["Key"] for o in objects["Contents"]) == [
        f"{PAGES_PREFIX}delivery-8/members-1.json",
        f"{PAGES_PREFIX}delivery-8/members-2.json",
    ], "no object for a page with no members"
    (summary,) = engine.notifications()
    assert summary["Subject"] == "Backfill of my-org: 3 members, 0 failed"
    assert json.loads(summary["Message"])["pages"] == 3


def test_an_empty_org_runs_the_map_over_no_pages(distributed_map: Engine) -> None:
    engine = distributed_map
    machine = backfill_machine(engine, member_pages([]))

    done = engine.run(machine, "delivery-9", {"correlationId": "delivery-9", "org": "my-org", "page": 1, "listed": 0})

    assert done["status"] == "SUCCEEDED"
    objects = boto3.client("s3").list_objects_v2(Bucket=BACKFILL_BUCKET, Prefix=f"{PAGES_PREFIX}delivery-9/")
    assert objects.get("Contents", []) == []
    (summary,) = engine.notifications()
    assert summary["Subject"] == "Backfill of my-org: 0 members, 0 failed"


def test_a_rate_limited_listing_waits_then_lists_the_same_page(distributed_map: Engine) -> None:
    """The listing's payload is ``$.listing.next``, not the state: after the wait it is the same page's."""
    engine = distributed_map
    pages = member_pages(["a"], ["c"])
    payloads: list[dict[str, Any]] = []

    def limited_once(event: dict[str, Any]) -> dict[str, Any]:
        payloads.append(event)
        if len(payloads) == 2:
            raise GitHubRateLimited("paced: GET /orgs/my-org/members not sent", 900)
        return pages(event)

    machine = backfill_machine(engine, limited_once)

    done = engine.run(machine, "delivery-rl", {"correlationId": "delivery-rl", "org": "my-org", "page": 1, "listed": 0})

    assert done["status"] == "SUCCEEDED"
    assert engine.waits == [900]
    assert [p.get("page") for p in payloads] == [1, 2, 2]
    assert payloads[2] == payloads[1]
    (summary,) = engine.notifications()
    assert summary["Subject"] == "Backfill of my-org: 2 members, 0 failed"
