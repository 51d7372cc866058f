"""One Lambda function with its own role, log group, and tracing: the unit every architecture uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import iam
from components.catalog import FunctionSpec
from components.packaging import LAMBDA_RUNTIME


@dataclass
class LambdaFunctionArgs:
    spec: FunctionSpec
    name: str
    code: pulumi.Archive
    layer_arn: pulumi.Input[str]
    architecture: str
    log_retention_days: int
    environment: Mapping[str, pulumi.Input[str]]
    statements: Sequence[iam.Statement] = field(default_factory=list)
    #: Lambda's TracingConfig mode: Active samples and records traces, PassThrough records none of its own.
    tracing_mode: str = "Active"


class LambdaFunction(pulumi.ComponentResource):
    """A function whose role may write only its own log group, send traces, and do what ``statements`` allow."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: LambdaFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:functions:LambdaFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/lambda/{args.name}", retention_in_days=args.log_retention_days, opts=child
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=f"{args.name}-role",
            description=f"Runs the {args.spec.key} function",
            assume_role_policy=iam.assume_role_policy("lambda.amazonaws.com"),
            opts=child,
        )
        base = [
            iam.allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [pulumi.Output.concat(self.log_group.arn, ":*")],
                sid="OwnLogGroup",
            ),
            iam.allow(["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"], sid="Tracing"),
        ]
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id, policy=iam.policy_document([*base, *args.statements]), opts=child
        )
        self.function = aws.lambda_.Function(
            name,
            name=args.name,
            description=args.spec.description,
            role=self.role.arn,
            runtime=LAMBDA_RUNTIME,
            handler=args.spec.handler,
            code=args.code,
            layers=[args.layer_arn],
            architectures=[args.architecture],
            timeout=args.spec.timeout_seconds,
            memory_size=args.spec.memory_mb,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment)),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode=args.tracing_mode),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=self.log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.policy]),
        )
        self.register_outputs({"name": self.function.name, "arn": self.function.arn})

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.function.arn

    def grant(self, name: str, statements: Sequence[iam.Statement], parent: pulumi.Resource) -> aws.iam.RolePolicy:
        """Give this function's role more permissions, owned by the component that needs them."""
        return aws.iam.RolePolicy(
            name, role=self.role.id, policy=iam.policy_document(statements), opts=pulumi.ResourceOptions(parent=parent)
        )
