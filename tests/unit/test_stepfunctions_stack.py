"""The stepfunctions example stack (``Pulumi.dev-sfn.yaml``, EXPRESS per-event machines) and the same
stack with ``workflowType: STANDARD`` under Pulumi mocks, compared with the sqs stack where both
architectures must deploy the same thing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components import wiring
from components.asl import PLACEHOLDER, DefinitionTemplate, key_values
from components.backfill_bucket import PAGES_PREFIX
from components.catalog import BUSINESS_FUNCTIONS, CHARGEBACK_REPORT, RECEIVER
from components.config import StackConfig, parse_config
from components.naming import Naming
from components.shared import METRICS_NAMESPACE
from components.stepfunctions_pipeline import WorkflowTypeError, check_workflow_type
from tests.unit.program import (
    ACCOUNT,
    ProgramRun,
    Resource,
    prepare_layer,
    run_program,
    stack_config,
    without_architecture_tag,
)

SQS_STACK, SFN_STACK = "Pulumi.dev.yaml", "Pulumi.dev-sfn.yaml"
# Not the defaults either, so the tests see them wired through.
STANDARD_VARIANT = {
    "workflowType": "STANDARD",
    "workflowTimeoutSeconds": "900",
    "backfillMaxConcurrency": "7",
    "backfillPageConcurrency": "3",
    "backfillToleratedFailurePercentage": "5",
    "logRetentionDays": "90",
}
MACHINE = "aws:sfn/stateMachine:StateMachine"
FUNCTION = "aws:lambda/function:Function"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE = "aws:iam/role:Role"
TABLE = "aws:dynamodb/table:Table"
SYNC_RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
FUNCTION_ARN = re.compile(r"^arn:aws:lambda:[^:]+:\d+:function:[^:]+$")


class Stack:
    def __init__(self, run: ProgramRun, config: StackConfig) -> None:
        self.run, self.config, self.naming = run, config, Naming("github-automation-dev")

    def machine(self, use_case: str) -> Resource:
        name = wiring.state_machine_name(self.naming, use_case)
        (found,) = [m for m in self.run.of_type(MACHINE) if m.inputs["name"] == name]
        return found

    def definition(self, use_case: str) -> dict[str, Any]:
        return json.loads(self.machine(use_case).inputs["definition"])

    def statements(self, use_case: str) -> list[dict[str, Any]]:
        role = self.machine(use_case).inputs["roleArn"].rsplit("/", 1)[1]
        return [
            statement
            for policy, document in self.run.policies()
            if policy.inputs["role"] == role
            for statement in document["Statement"]
        ]

    def function(self, key: str) -> Resource:
        (found,) = [f for f in self.run.of_type(FUNCTION) if f.inputs["name"] == self.naming(key)]
        return found

    @property
    def topic_arn(self) -> str:
        return self.run.of_type("aws:sns/topic:Topic")[0].outputs["arn"]


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, bool], Stack]]:
    """Each (stack file, STANDARD variant or not) run once for the whole module."""
    build_dir = tmp_path_factory.mktemp("build")
    runs: dict[tuple[str, bool], Stack] = {}

    def stack(stack_file: str, standard: bool = False) -> Stack:
        if (stack_file, standard) not in runs:
            config = stack_config(stack_file) | (STANDARD_VARIANT if standard else {})
            prepare_layer(build_dir, config["lambdaArchitecture"])
            runs[stack_file, standard] = Stack(run_program(config), parse_config(config))
        return runs[stack_file, standard]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(build_dir))
        yield stack


@pytest.fixture(params=[False, True], ids=["express", "standard"])
def sfn(request: pytest.FixtureRequest, stacks: Callable[[str, bool], Stack]) -> Stack:
    return stacks(SFN_STACK, request.param)


def test_the_example_runs_express_per_event_machines(stacks: Callable[[str, bool], Stack]) -> None:
    assert stacks(SFN_STACK, False).config.workflow_type == "EXPRESS", "the express fixture must be express"


def test_the_stepfunctions_stack_has_no_pipeline_queue_and_no_store_lambda(sfn: Stack) -> None:
    assert sfn.run.of_type("aws:sqs/queue:Queue") == []
    assert sfn.run.of_type("aws:lambda/eventSourceMapping:EventSourceMapping") == []
    assert sorted(f.inputs["name"] for f in sfn.run.of_type(FUNCTION)) == sorted(
        sfn.naming(spec.key) for spec in (*BUSINESS_FUNCTIONS, CHARGEBACK_REPORT)
    )


def test_one_state_machine_per_use_case_named_as_wired(sfn: Stack) -> None:
    assert sorted(m.inputs["name"] for m in sfn.run.of_type(MACHINE)) == sorted(
        wiring.state_machine_name(sfn.naming, use_case) for use_case in wiring.STATE_MACHINES
    )
    assert sfn.machine("ONBOARDING").inputs["type"] == sfn.config.workflow_type
    assert sfn.machine("CHARGEBACK").inputs["type"] == sfn.config.workflow_type
    assert sfn.machine("BACKFILL").inputs["type"] == "STANDARD"


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
def test_every_definition_is_complete_and_calls_only_this_stack(sfn: Stack, use_case: str) -> None:
    text = sfn.machine(use_case).inputs["definition"]
    assert not PLACEHOLDER.search(text)
    definition = json.loads(text)
    invoked = {v for k, v in key_values(definition) if k == "FunctionName"}
    assert invoked and invoked <= {f.outputs["arn"] for f in sfn.run.of_type(FUNCTION)}
    topics = {v for k, v in key_values(definition) if k == "TopicArn"}
    assert topics == {sfn.topic_arn}


@pytest.mark.parametrize("use_case", ["ONBOARDING", "CHARGEBACK"])
def test_per_event_machines_time_out_as_configured_plus_their_rate_limit_budget(sfn: Stack, use_case: str) -> None:
    """STANDARD: workflowTimeoutSeconds for the work, plus rateLimitMaxWaitSeconds of waiting for GitHub's
    rate limits. EXPRESS (5 minutes at most): the timeout as configured, and rate-limit waits within half of it."""
    definition, config = sfn.definition(use_case), sfn.config
    (within,) = definition["States"]["RateLimitWithinBudget"]["Choices"]
    budget = within["And"][0]["NumericLessThanEquals"]
    if config.workflow_type == "EXPRESS":
        assert definition["TimeoutSeconds"] == config.workflow_timeout_seconds == 300
        assert budget == 150
    else:
        assert definition["TimeoutSeconds"] == config.workflow_timeout_seconds + 3600 == 900 + 3600
        assert budget == config.rate_limit_max_wait_seconds == 3600


def test_the_backfill_waits_for_rate_limits_within_the_configured_budget(sfn: Stack) -> None:
    (within,) = sfn.definition("BACKFILL")["States"]["RateLimitWithinBudget"]["Choices"]
    assert within["And"][0]["NumericLessThanEquals"] == sfn.config.rate_limit_max_wait_seconds


def page_states(stack: Stack) -> dict[str, Any]:
    states: dict[str, Any] = stack.definition("BACKFILL")["States"]["OnboardPages"]["ItemProcessor"]["States"]
    return states


def test_the_backfill_map_runs_onboarding_with_the_configured_concurrency(sfn: Stack) -> None:
    pages = sfn.definition("BACKFILL")["States"]["OnboardPages"]
    assert pages["MaxConcurrency"] == sfn.config.backfill_page_concurrency
    assert pages["ToleratedFailurePercentage"] == sfn.config.backfill_tolerated_failure_percentage
    assert pages["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",  # page_execution_type: Standard children, traced and metered
    }
    onboard = page_states(sfn)["OnboardMembers"]
    assert onboard["MaxConcurrency"] == sfn.config.backfill_max_concurrency
    start = onboard["ItemProcessor"]["States"]["OnboardMember"]
    assert start["Parameters"]["StateMachineArn"] == sfn.machine("ONBOARDING").outputs["arn"]
    expected = {
        "STANDARD": "arn:aws:states:::states:startExecution.sync:2",
        "EXPRESS": "arn:aws:states:::aws-sdk:sfn:startSyncExecution",
    }[sfn.config.workflow_type]
    assert start["Resource"] == expected


def test_a_standard_onboarding_is_followed_with_sync_2(stacks: Callable[[str, bool], Stack]) -> None:
    standard = stacks(SFN_STACK, True)
    start = page_states(standard)["OnboardMembers"]["ItemProcessor"]["States"]["OnboardMember"]
    assert start["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    statements = {s.get("Sid"): s for s in standard.statements("BACKFILL")}
    onboarding = standard.machine("ONBOARDING").outputs["arn"]
    assert statements["StartOnboarding"]["Action"] == ["states:StartExecution"]
    assert statements["StartOnboarding"]["Resource"] == [onboarding]
    assert statements["FollowOnboarding"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]
    assert statements["FollowOnboarding"]["Resource"] == [onboarding.replace(":stateMachine:", ":execution:") + ":*"]
    assert statements["SyncCompletionEvents"]["Resource"] == [SYNC_RULE]
    assert set(statements["SyncCompletionEvents"]["Action"]) == {
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    }


def test_an_express_onboarding_is_run_synchronously(stacks: Callable[[str, bool], Stack]) -> None:
    express = stacks(SFN_STACK, False)
    statements = {s.get("Sid"): s for s in express.statements("BACKFILL")}
    states_actions = {a for s in statements.values() for a in s["Action"] if a.startswith("states:")}
    assert states_actions == {"states:StartSyncExecution", *MAP_RUN_ACTIONS}
    assert statements["RunOnboarding"]["Action"] == ["states:StartSyncExecution"]
    assert statements["RunOnboarding"]["Resource"] == [express.machine("ONBOARDING").outputs["arn"]]


MAP_RUN_ACTIONS = {"states:StartExecution", "states:DescribeExecution", "states:StopExecution"}


@pytest.mark.parametrize("standard", [True, False], ids=["standard", "express"])
def test_the_backfill_may_run_its_own_page_executions_and_nothing_more(
    stacks: Callable[[str, bool], Stack], standard: bool
) -> None:
    stack = stacks(SFN_STACK, standard)
    statements = {s.get("Sid"): s for s in stack.statements("BACKFILL")}
    backfill = stack.machine("BACKFILL").outputs["arn"]
    assert statements["StartPageExecutions"]["Action"] == ["states:StartExecution"]
    assert statements["StartPageExecutions"]["Resource"] == [backfill]
    assert statements["FollowPageExecutions"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]
    assert statements["FollowPageExecutions"]["Resource"] == [backfill.replace(":stateMachine:", ":execution:") + "/*"]


def backfill_bucket(stack: Stack) -> Resource:
    (bucket,) = stack.run.of_type("aws:s3/bucket:Bucket")
    return bucket


def bucket_setting(stack: Stack, typ: str) -> Resource:
    (setting,) = [r for r in stack.run.of_type(typ) if r.inputs["bucket"] == backfill_bucket(stack).outputs["id"]]
    return setting


def test_the_page_bucket_is_private_encrypted_tls_only_and_expires_its_pages(sfn: Stack) -> None:
    bucket = backfill_bucket(sfn)
    assert re.fullmatch(r"[a-z0-9-]{3,37}", bucket.inputs["bucketPrefix"]), "a valid bucket name prefix"
    encryption = bucket_setting(
        sfn, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = encryption.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = bucket_setting(sfn, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block.inputs[k] is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    ownership = bucket_setting(sfn, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced", "ACLs off"
    lifecycle = bucket_setting(sfn, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (expiry,) = lifecycle.inputs["rules"]
    assert expiry["status"] == "Enabled" and expiry["filter"]["prefix"] == PAGES_PREFIX
    assert 1 <= expiry["expiration"]["days"] <= 14
    assert expiry["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 1
    policy = json.loads(bucket_setting(sfn, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (deny,) = policy["Statement"]
    arn = bucket.outputs["arn"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Resource"] == [arn, f"{arn}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_backfill_reads_and_writes_only_its_pages(sfn: Stack) -> None:
    arn = backfill_bucket(sfn).outputs["arn"]
    s3 = [s for s in sfn.statements("BACKFILL") if any(a.startswith("s3:") for a in s["Action"])]
    assert [(s["Action"], s["Resource"], s.get("Condition")) for s in s3] == [
        (["s3:GetObject", "s3:PutObject"], [f"{arn}/{PAGES_PREFIX}*"], None),
        (["s3:ListBucket"], [arn], {"StringLike": {"s3:prefix": [f"{PAGES_PREFIX}*"]}}),
    ]
    for use_case in ("ONBOARDING", "CHARGEBACK"):
        assert not any(a.startswith("s3:") for s in sfn.statements(use_case) for a in s["Action"]), use_case
    definition = json.dumps(sfn.definition("BACKFILL"))
    assert definition.count(backfill_bucket(sfn).outputs["id"]) == 3, "PutPage, the ItemReader and ReadPage"


def test_the_sqs_stack_has_no_page_bucket(stacks: Callable[[str, bool], Stack]) -> None:
    assert not stacks(SQS_STACK, False).run.of_type("aws:s3/bucket:Bucket"), "sqs pages through its queue"


def test_a_machine_using_sync_must_be_standard() -> None:
    template = DefinitionTemplate.load("backfill.asl.json")
    values = {name: "arn:x" for name in template.placeholders} | {
        "StartOnboardingResource": "arn:aws:states:::states:startExecution.sync:2",
        "StartOnboardingRetryErrors": ["StepFunctions.ExecutionLimitExceededException"],
        "MaxConcurrency": 1,
    }
    check_workflow_type("backfill", template, values, "STANDARD")
    with pytest.raises(
        WorkflowTypeError,
        match=r"'backfill' \(backfill.asl.json\) uses a \.sync integration "
        r"\(arn:aws:states:::states:startExecution\.sync:2\) and must be "
        r"STANDARD, not EXPRESS",
    ):
        check_workflow_type("backfill", template, values, "EXPRESS")


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
def test_each_machine_invokes_exactly_the_functions_its_definition_calls(sfn: Stack, use_case: str) -> None:
    invoked = {v for k, v in key_values(sfn.definition(use_case)) if k == "FunctionName"}
    granted = [s for s in sfn.statements(use_case) if any(a.startswith("lambda:") for a in s["Action"])]
    assert [(s["Action"], set(s["Resource"])) for s in granted] == [(["lambda:InvokeFunction"], invoked)]
    assert all(FUNCTION_ARN.match(arn) for arn in invoked), "exact function ARNs, no aliases or wildcards"


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
def test_only_the_storing_machines_write_the_tables(sfn: Stack, use_case: str) -> None:
    writes = [s for s in sfn.statements(use_case) if any(a.startswith("dynamodb:") for a in s["Action"])]
    stores = any(
        k == "Resource" and v.endswith("dynamodb:transactWriteItems") for k, v in key_values(sfn.definition(use_case))
    )
    # the record tables; the SAML identity cache is the functions' own (tests/unit/test_saml_identities_table.py)
    tables = sorted(t.outputs["arn"] for t in sfn.run.of_type(TABLE) if not t.name.endswith("saml-identities"))
    if stores:
        assert [(s["Action"], sorted(s["Resource"])) for s in writes] == [
            (["dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], tables),
            (["dynamodb:GetItem"], tables),  # the notification marker, read back by a redelivery
        ]
    else:
        assert writes == []


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
def test_the_machines_that_store_put_their_latency_into_the_product_namespace_only(sfn: Stack, use_case: str) -> None:
    definition = sfn.definition(use_case)
    records = [v for k, v in key_values(definition) if k == "Resource" and v.endswith("cloudwatch:putMetricData")]
    granted = [s for s in sfn.statements(use_case) if any(a.startswith("cloudwatch:") for a in s["Action"])]
    if not records:
        assert granted == [], "only a machine that records a latency may put metrics"
        return
    assert granted == [
        {
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": ["*"],
            "Sid": "RecordLatency",
            "Condition": {"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
        }
    ]
    arguments = definition["States"]["RecordLatency"]["Arguments"]
    assert arguments["Namespace"] == METRICS_NAMESPACE
    stack = {d["Name"]: d["Value"] for d in arguments["MetricData"][0]["Dimensions"]}["Stack"]
    functions_stack = {
        f.inputs["environment"]["variables"]["GITHUB_AUTOMATION_STACK"] for f in sfn.run.of_type(FUNCTION)
    }
    assert functions_stack == {stack}, "the functions' Stack dimension: one metric for both architectures"


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
def test_each_machine_publishes_only_to_the_encrypted_topic(sfn: Stack, use_case: str) -> None:
    key = sfn.run.of_type("aws:kms/key:Key")[0].outputs["arn"]
    statements = sfn.statements(use_case)
    assert [s["Resource"] for s in statements if "sns:Publish" in s["Action"]] == [[sfn.topic_arn]]
    assert [s["Resource"] for s in statements if "kms:Decrypt" in s["Action"]] == [[key]]


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
def test_each_role_can_be_assumed_only_by_this_accounts_state_machine(sfn: Stack, use_case: str) -> None:
    machine = sfn.machine(use_case)
    (role,) = [r for r in sfn.run.of_type(ROLE) if r.outputs["arn"] == machine.inputs["roleArn"]]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == [machine.outputs["arn"], machine.outputs["arn"] + ":*"]


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
def test_each_machine_logs_everything_and_may_trace(sfn: Stack, use_case: str) -> None:
    machine = sfn.machine(use_case)
    logging = machine.inputs["loggingConfiguration"]
    (group,) = [g for g in sfn.run.of_type(LOG_GROUP) if logging["logDestination"] == g.outputs["arn"] + ":*"]
    assert group.inputs["name"].startswith("/aws/vendedlogs/states/")
    assert group.inputs["retentionInDays"] == sfn.config.log_retention_days
    assert logging["level"] == sfn.config.state_machine_log_level == "ERROR"
    assert logging["includeExecutionData"] is (machine.inputs["type"] == "EXPRESS"), (
        "Express executions have no history: their logs must carry the data"
    )
    assert machine.inputs["tracingConfiguration"] == {"enabled": sfn.config.xray_tracing == "Active"}
    actions = {a for s in sfn.statements(use_case) if s["Resource"] == ["*"] for a in s["Action"]}
    assert {
        "logs:CreateLogDelivery",
        "logs:PutResourcePolicy",
        "logs:DescribeLogGroups",
        "xray:PutTraceSegments",
        "xray:GetSamplingTargets",
    } <= actions


@pytest.mark.parametrize("use_case", wiring.STATE_MACHINES)
@pytest.mark.parametrize("metric", ["ExecutionsFailed", "ExecutionsTimedOut"])
def test_failed_and_timed_out_executions_raise_an_alarm(sfn: Stack, use_case: str, metric: str) -> None:
    arn = sfn.machine(use_case).outputs["arn"]
    (alarm,) = [
        a
        for a in sfn.run.of_type(ALARM)
        if a.inputs["metricName"] == metric and a.inputs["dimensions"] == {"StateMachineArn": arn}
    ]
    assert alarm.inputs["namespace"] == "AWS/States"
    assert (alarm.inputs["comparisonOperator"], alarm.inputs["threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm.inputs["alarmActions"] == [sfn.topic_arn]


def test_the_receiver_starts_the_machines_that_were_created(sfn: Stack) -> None:
    env = sfn.function(RECEIVER.key).inputs["environment"]["variables"]
    arns = {use_case: sfn.machine(use_case).outputs["arn"] for use_case in wiring.STATE_MACHINES}
    assert {use_case: env[f"{use_case}_TARGET"] for use_case in wiring.ENTRY_STEP} == arns
    receiver_role = sfn.function(RECEIVER.key).inputs["role"].rsplit("/", 1)[1]
    starts = [
        s
        for policy, document in sfn.run.policies()
        if policy.inputs["role"] == receiver_role
        for s in document["Statement"]
        if any(a.startswith("states:") for a in s["Action"])
    ]
    standard = ["BACKFILL"] + (["CHARGEBACK", "ONBOARDING"] if sfn.config.workflow_type == "STANDARD" else [])
    executions = sorted(arns[use_case].replace(":stateMachine:", ":execution:") + ":*" for use_case in standard)
    assert [(s["Action"], sorted(s["Resource"])) for s in starts] == [
        (["states:StartExecution"], sorted(arns.values())),
        (["states:DescribeExecution"], executions),  # a redelivery after a failed Standard execution
    ]
    assert sfn.run.exports["stateMachineArns"] == arns


def test_tables_and_topic_are_encrypted(sfn: Stack) -> None:
    for table in sfn.run.of_type(TABLE):
        assert table.inputs["serverSideEncryption"] == {"enabled": True}, table.name
    (topic,) = sfn.run.of_type("aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"] == sfn.run.of_type("aws:kms/key:Key")[0].outputs["arn"]


# --- what both architectures share ---------------------------------------------------------------

SHARED_FUNCTION_INPUTS = (
    "name",
    "handler",
    "runtime",
    "layers",
    "architectures",
    "memorySize",
    "timeout",
    "tracingConfig",
    "description",
)


def _business_functions(stack: Stack) -> dict[str, dict[str, Any]]:
    functions = {}
    for spec in BUSINESS_FUNCTIONS:
        inputs = stack.function(spec.key).inputs
        functions[spec.key] = {key: inputs[key] for key in SHARED_FUNCTION_INPUTS} | {
            "code": sorted(inputs["code"].assets)
        }
    return functions


def test_both_architectures_deploy_the_same_business_functions(stacks: Callable[[str, bool], Stack]) -> None:
    sqs, sfn = stacks(SQS_STACK), stacks(SFN_STACK)
    assert _business_functions(sqs) == _business_functions(sfn)
    assert all(functions["code"] for functions in _business_functions(sqs).values())


def test_both_architectures_deploy_the_same_tables(stacks: Callable[[str, bool], Stack]) -> None:
    def tables(stack: Stack) -> list[dict[str, Any]]:
        return sorted(
            (without_architecture_tag(t.inputs) for t in stack.run.of_type(TABLE)), key=lambda inputs: inputs["name"]
        )

    assert tables(stacks(SQS_STACK)) == tables(stacks(SFN_STACK))
    assert len(tables(stacks(SQS_STACK))) == 3  # members, workflow runs, the SAML identity cache
