"""The stepfunctions architecture: one state machine per use case, writing DynamoDB and publishing SNS
through native integrations, so no glue Lambda exists for either.

The receiver starts ``onboarding``, ``chargeback`` or ``backfill`` (names from ``components.wiring``)
with the delivery id as the execution name; backfill runs onboarding once per member.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam, wiring
from components.alarms import Alarms
from components.asl import DefinitionTemplate
from components.backfill_bucket import PAGES_PREFIX, BackfillBucket, BackfillBucketArgs
from components.catalog import ADD_TEAM_MEMBER, LIST_ORG_MEMBERS, LOOKUP_DIRECTORY, PRICE_WORKFLOW_RUN, RECEIVER
from components.config import STANDARD_MAX_SECONDS, StackConfig
from components.naming import AwsIdentity, Naming
from components.shared import METRICS_NAMESPACE, SharedResources

STANDARD, EXPRESS = "STANDARD", "EXPRESS"
#: How the backfill starts an onboarding execution and waits for it, by onboarding's workflow type:
#: Step Functions cannot follow an Express execution with ``.sync``, so Express children are started
#: synchronously through the AWS SDK integration instead.
START_CHILD_RESOURCE = {
    STANDARD: "arn:aws:states:::states:startExecution.sync:2",
    EXPRESS: "arn:aws:states:::aws-sdk:sfn:startSyncExecution",
}
#: The transient errors of starting that child, by the integration's error naming (``<Service>.<Shape>``
#: with the ``Exception`` suffix; an SDK integration reports an unmodelled error such as throttling as its
#: service's base exception): only names the integration can raise (tests/unit/test_error_names.py).
START_CHILD_RETRY_ERRORS = {
    STANDARD: ["StepFunctions.ExecutionLimitExceededException"],
    EXPRESS: ["Sfn.SfnException"],
}
#: EventBridge rule Step Functions manages in the account to learn when a ``.sync`` child finishes.
SYNC_EVENTS_RULE = "rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
#: Rate-limit waits per execution at most (``RateLimit*`` states): even GitHub answering ``Retry-After: 1``
#: again and again leaves a Standard history far below its 25,000 events (about 9 events a wait).
RATE_LIMIT_MAX_WAITS = 100
#: Log delivery is configured through account-level CloudWatch Logs APIs that take no resource ARN.
LOG_DELIVERY_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
TRACING_ACTIONS = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)


@dataclass
class StepFunctionsPipelineArgs:
    config: StackConfig
    naming: Naming
    shared: SharedResources


class WorkflowTypeError(ValueError):
    """A state machine definition its workflow type cannot run."""


def check_workflow_type(
    machine: str, template: DefinitionTemplate, values: Mapping[str, Any], workflow_type: str
) -> None:
    """Express workflows cannot wait for a job (``.sync``): such a machine must be STANDARD, and so must the
    child executions of a Distributed Map whose item processor does."""
    express_sync = template.express_children_using_sync(values)
    if express_sync:
        raise WorkflowTypeError(
            f"state machine {machine!r} ({template.path.name}): a Distributed Map with EXPRESS child executions "
            f"uses a .sync integration ({', '.join(express_sync)}); its ExecutionType must be {STANDARD}"
        )
    if workflow_type != STANDARD and template.uses_sync_integration(values):
        sync = ", ".join(r for r in template.resources(values) if ".sync" in r)
        raise WorkflowTypeError(
            f"state machine {machine!r} ({template.path.name}) uses a .sync integration ({sync}) "
            f"and must be {STANDARD}, not {workflow_type}"
        )


def start_child_statements(
    child_type: str, child_arn: pulumi.Input[str], child_name: str, identity: AwsIdentity
) -> list[iam.Statement]:
    """What starting a child and waiting for it needs (Step Functions developer guide, nested workflows)."""
    if child_type == EXPRESS:
        return [iam.allow(["states:StartSyncExecution"], [child_arn], sid="RunOnboarding")]
    return [
        iam.allow(["states:StartExecution"], [child_arn], sid="StartOnboarding"),
        iam.allow(
            ["states:DescribeExecution", "states:StopExecution"],
            [identity.arn("states", f"execution:{child_name}:*")],
            sid="FollowOnboarding",
        ),
        iam.allow(
            ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            [identity.arn("events", SYNC_EVENTS_RULE)],
            sid="SyncCompletionEvents",
        ),
    ]


def map_run_statements(machine_name: str, identity: AwsIdentity) -> list[iam.Statement]:
    """What a Distributed Map needs of its own machine: start its child executions (they run the machine's
    ARN), and follow and stop them (``execution:<machine>/<map run label>:<id>``). Step Functions developer
    guide, "IAM policies for using Distributed Map states"."""
    return [
        iam.allow(["states:StartExecution"], [identity.state_machine_arn(machine_name)], sid="StartPageExecutions"),
        iam.allow(
            ["states:DescribeExecution", "states:StopExecution"],
            [identity.arn("states", f"execution:{machine_name}/*")],
            sid="FollowPageExecutions",
        ),
    ]


def page_execution_type(onboarding_type: str) -> str:
    """The type of the backfill's page children: STANDARD, whatever onboarding's type.

    A page child starts onboarding executions: ``.sync:2`` (Standard onboarding) needs a STANDARD child, and
    an EXPRESS child could start Express onboarding synchronously through the SDK. Standard children keep a
    history that ``trace`` reads and the meter counts; Express ones would save the per-member transitions
    of a page (3 per member, about $0.08 per 1,000 members) but leave only log lines, so they wait until
    trace and the meter read a map run's Express children."""
    return STANDARD


def rate_limit_budget_seconds(config: StackConfig, workflow_type: str) -> int:
    """Seconds an execution may wait in all for GitHub's rate limits (``RateLimitWithinBudget``).

    STANDARD: ``rateLimitMaxWaitSeconds``. EXPRESS runs 5 minutes at most, and no ``Catch`` sees its own
    timeout, so it waits at most half its ``TimeoutSeconds``, leaving the other half to the work and its
    retries; a longer wait fails the execution at once, with its failure notification.
    """
    if workflow_type == EXPRESS:
        return min(config.rate_limit_max_wait_seconds, config.workflow_timeout_seconds // 2)
    return config.rate_limit_max_wait_seconds


def execution_timeout_seconds(config: StackConfig, workflow_type: str) -> int:
    """``TimeoutSeconds`` of a per-event machine: STANDARD gets its rate-limit budget on top of
    ``workflowTimeoutSeconds`` (the work's own budget), so a wait within the budget never times it out."""
    if workflow_type == EXPRESS:
        return config.workflow_timeout_seconds
    return min(STANDARD_MAX_SECONDS, config.workflow_timeout_seconds + rate_limit_budget_seconds(config, workflow_type))


def include_execution_data(workflow_type: str) -> bool:
    """Express executions have no history in Step Functions: their logs are all there is to look at.
    Standard executions keep a full history, so their logs leave the (personal) payloads out."""
    return workflow_type == EXPRESS


def latency_values() -> dict[str, str]:
    """What a per-event machine's ``RecordLatency`` puts its ``DeliveryLatency`` under: the functions'
    namespace and ``Stack`` dimension (components/shared.py), so both architectures' figures are one metric."""
    return {"MetricsNamespace": METRICS_NAMESPACE, "Stack": pulumi.get_stack()}


def put_latency_statement() -> iam.Statement:
    """``RecordLatency``'s ``PutMetricData``, into the product's namespace only."""
    return iam.allow(
        ["cloudwatch:PutMetricData"],
        ["*"],
        sid="RecordLatency",
        condition={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
    )


class StepFunctionsPipeline(pulumi.ComponentResource):
    state_machine_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: StepFunctionsPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:stepfunctions:StepFunctionsPipeline", name, None, opts)
        self._name, self._args = name, args
        config, shared = args.config, args.shared
        self._identity = AwsIdentity.current(pulumi.InvokeOptions(parent=self))
        #: each state machine's log group, by use case
        self.log_groups: dict[str, aws.cloudwatch.LogGroup] = {}
        functions = shared.functions
        child_opts = pulumi.ResourceOptions(parent=self)

        onboarding = self._state_machine(
            "ONBOARDING",
            "onboarding.asl.json",
            config.workflow_type,
            {
                "AddTeamMemberFunctionArn": functions[ADD_TEAM_MEMBER.key].arn,
                "LookupDirectoryFunctionArn": functions[LOOKUP_DIRECTORY.key].arn,
                "NotificationTopicArn": shared.topic.arn,
                "TimeoutSeconds": execution_timeout_seconds(config, config.workflow_type),
                "RateLimitBudgetSeconds": rate_limit_budget_seconds(config, config.workflow_type),
                "RateLimitMaxWaits": RATE_LIMIT_MAX_WAITS,
                **latency_values(),
            },
            [
                iam.allow(
                    ["lambda:InvokeFunction"],
                    [functions[ADD_TEAM_MEMBER.key].arn, functions[LOOKUP_DIRECTORY.key].arn],
                    sid="InvokeSteps",
                ),
                *shared.table_write_statements(),
                put_latency_statement(),
            ],
        )
        chargeback = self._state_machine(
            "CHARGEBACK",
            "chargeback.asl.json",
            config.workflow_type,
            {
                "PriceWorkflowRunFunctionArn": functions[PRICE_WORKFLOW_RUN.key].arn,
                "NotificationTopicArn": shared.topic.arn,
                "TimeoutSeconds": execution_timeout_seconds(config, config.workflow_type),
                "RateLimitBudgetSeconds": rate_limit_budget_seconds(config, config.workflow_type),
                "RateLimitMaxWaits": RATE_LIMIT_MAX_WAITS,
                **latency_values(),
            },
            [
                iam.allow(["lambda:InvokeFunction"], [functions[PRICE_WORKFLOW_RUN.key].arn], sid="InvokeSteps"),
                *shared.table_write_statements(),
                put_latency_statement(),
            ],
        )
        pages = BackfillBucket(f"{name}-backfill-pages", BackfillBucketArgs(naming=args.naming), child_opts)
        backfill_name = wiring.state_machine_name(args.naming, "BACKFILL")
        backfill = self._state_machine(
            "BACKFILL",
            "backfill.asl.json",
            STANDARD,
            {
                "ListOrgMembersFunctionArn": functions[LIST_ORG_MEMBERS.key].arn,
                "StartOnboardingResource": START_CHILD_RESOURCE[config.workflow_type],
                "StartOnboardingRetryErrors": START_CHILD_RETRY_ERRORS[config.workflow_type],
                "OnboardingStateMachineArn": onboarding.arn,
                "NotificationTopicArn": shared.topic.arn,
                "MaxConcurrency": config.backfill_max_concurrency,
                "PageConcurrency": config.backfill_page_concurrency,
                "ToleratedFailurePercentage": config.backfill_tolerated_failure_percentage,
                "PageExecutionType": page_execution_type(config.workflow_type),
                "BackfillBucket": pages.bucket.id,
                "BackfillPrefix": PAGES_PREFIX,
                "RateLimitBudgetSeconds": rate_limit_budget_seconds(config, STANDARD),
                "RateLimitMaxWaits": RATE_LIMIT_MAX_WAITS,
            },
            [
                iam.allow(["lambda:InvokeFunction"], [functions[LIST_ORG_MEMBERS.key].arn], sid="InvokeSteps"),
                *pages.page_statements(),
                *map_run_statements(backfill_name, self._identity),
                *start_child_statements(
                    config.workflow_type,
                    onboarding.arn,
                    wiring.state_machine_name(args.naming, "ONBOARDING"),
                    self._identity,
                ),
            ],
        )

        machines = {"ONBOARDING": onboarding, "CHARGEBACK": chargeback, "BACKFILL": backfill}
        # A Standard machine answers a reused name with ExecutionAlreadyExists; the receiver then describes
        # that execution to tell a duplicate from a redelivery after a failure (functions/common/dispatch.py).
        # Express names are not unique, so Express executions are never described.
        types = {"ONBOARDING": config.workflow_type, "CHARGEBACK": config.workflow_type, "BACKFILL": STANDARD}
        standard_executions = [
            self._identity.arn("states", f"execution:{wiring.state_machine_name(args.naming, use_case)}:*")
            for use_case, workflow_type in types.items()
            if workflow_type == STANDARD
        ]
        functions[RECEIVER.key].grant(
            f"{name}-receiver-dispatch",
            [
                iam.allow(
                    ["states:StartExecution"], [machine.arn for machine in machines.values()], sid="DispatchToPipeline"
                ),
                iam.allow(["states:DescribeExecution"], standard_executions, sid="RecheckClosedExecutions"),
            ],
            self,
        )
        self.machines = machines
        self.state_machine_arns = {use_case: machine.arn for use_case, machine in machines.items()}
        self.register_outputs({"stateMachineArns": self.state_machine_arns})

    def _state_machine(
        self,
        use_case: str,
        file_name: str,
        workflow_type: str,
        values: Mapping[str, Any],
        statements: Sequence[iam.Statement],
    ) -> aws.sfn.StateMachine:
        config, naming, shared = self._args.config, self._args.naming, self._args.shared
        key, machine_name = wiring.STATE_MACHINES[use_case], wiring.state_machine_name(naming, use_case)
        prefix = f"{self._name}-{key}"
        child = pulumi.ResourceOptions(parent=self)
        template = DefinitionTemplate.load(file_name)
        try:
            check_workflow_type(machine_name, template, values, workflow_type)
        except WorkflowTypeError as error:
            raise pulumi.RunError(str(error)) from None

        log_group = aws.cloudwatch.LogGroup(
            f"{prefix}-logs",
            name=f"/aws/vendedlogs/states/{machine_name}",
            retention_in_days=config.log_retention_days,
            opts=child,
        )
        role = aws.iam.Role(
            f"{prefix}-role",
            name=f"{machine_name}-role",
            description=f"Runs the {machine_name} state machine",
            assume_role_policy=self._trust_policy(machine_name),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{prefix}-policy",
            role=role.id,
            policy=iam.policy_document(
                [
                    *statements,
                    *shared.publish_statements(),
                    iam.allow(LOG_DELIVERY_ACTIONS, ["*"], sid="LogDelivery"),
                    iam.allow(TRACING_ACTIONS, ["*"], sid="Tracing"),
                ]
            ),
            opts=child,
        )
        machine = aws.sfn.StateMachine(
            prefix,
            name=machine_name,
            type=workflow_type,
            role_arn=role.arn,
            definition=template.definition(values),
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level=config.state_machine_log_level,
                include_execution_data=include_execution_data(workflow_type),
                log_destination=pulumi.Output.concat(log_group.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=config.xray_tracing == "Active"),
            # Step Functions checks the role may deliver logs when the machine is created.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        Alarms(self._name, naming, shared.topic.arn, self).executions(key, machine_name, machine.arn)
        self.log_groups[use_case] = log_group
        return machine

    def _trust_policy(self, machine_name: str) -> pulumi.Output[str]:
        """Only this account's state machine of that name may assume the role (confused deputy)."""
        return pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "states.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": self._identity.account_id},
                            # the machine itself and its published versions or aliases (``<arn>:<qualifier>``)
                            "ArnLike": {
                                "aws:SourceArn": [
                                    self._identity.state_machine_arn(machine_name),
                                    pulumi.Output.concat(self._identity.state_machine_arn(machine_name), ":*"),
                                ]
                            },
                        },
                    }
                ],
            }
        )
