"""IAM policy documents as plain data, so tests can read every statement the program grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

Statement = dict[str, Any]

#: Where AWS allows no narrower resource than "*"; the unit tests accept "*" only for these actions.
ACTIONS_WITHOUT_RESOURCE_SCOPE = frozenset(
    {
        "xray:PutTraceSegments",  # X-Ray has no resource-level permissions
        "xray:PutTelemetryRecords",
        # Step Functions log delivery to CloudWatch Logs is configured account-wide (AWS docs require "*")
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        # CloudWatch metrics have no ARN; the policy narrows PutMetricData to a namespace with a condition
        "cloudwatch:PutMetricData",
    }
)


def allow(
    actions: Sequence[str],
    resources: Sequence[pulumi.Input[str]],
    sid: str | None = None,
    condition: Mapping[str, Mapping[str, Any]] | None = None,
) -> Statement:
    statement: Statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": list(resources)}
    if sid:
        statement["Sid"] = sid
    if condition:
        statement["Condition"] = {operator: dict(keys) for operator, keys in condition.items()}
    return statement


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role_policy(service: str) -> str:
    """A trust policy letting one AWS service (e.g. ``lambda.amazonaws.com``) assume the role."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )  # type: ignore[return-value]
