"""Physical names and the identifiers derived from them.

Queues and state machines get explicit names, so their URLs and ARNs are known before they exist:
the shared functions are created first (identical in both architectures) and can already be told
where their work goes, without a dependency cycle (receiver -> state machine -> functions).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.catalog import BUSINESS_FUNCTIONS, CHARGEBACK_REPORT, STORE_RECORDS

_FUNCTION_KEYS = [spec.key for spec in (*BUSINESS_FUNCTIONS, STORE_RECORDS, CHARGEBACK_REPORT)]
#: (AWS name limit, longest suffix after the prefix) of the names that grow with a function's key:
#: the function (Lambda: 64), its role (IAM: 64) and its dead-letter queue (SQS: 80). Every other name
#: is shorter or has a larger limit; tests/unit/test_naming.py checks every name the program creates
#: at this limit and that one of them is exactly at its AWS limit.
_SUFFIX_LIMITS = (
    (64, max(len(f"-{key}") for key in _FUNCTION_KEYS)),
    (64, max(len(f"-{key}-role") for key in _FUNCTION_KEYS)),
    (80, max(len(f"-{key}-dlq") for key in _FUNCTION_KEYS)),
)
MAX_PREFIX_LENGTH = min(limit - suffix for limit, suffix in _SUFFIX_LIMITS)


@dataclass(frozen=True)
class Naming:
    """Names of this stack's resources: ``<project>-<stack>-<part>...``."""

    prefix: str

    @classmethod
    def for_stack(cls) -> Naming:
        stack = pulumi.get_stack()
        if "." in stack:
            # Pulumi accepts '.' in stack names; Lambda, layer, SQS, SNS and state machine names do not.
            # Mapping it to '-' or '_' would give two stacks (prod.eu, prod-eu) the same resource names.
            raise pulumi.RunError(
                f"stack name {stack!r}: '.' is not allowed in the AWS names this stack's resources are named "
                f"after (Lambda, SQS, SNS): rename the stack with '-' or '_', e.g. {stack.replace('.', '-')!r}"
            )
        prefix = f"{pulumi.get_project()}-{stack}".lower()
        if len(prefix) > MAX_PREFIX_LENGTH:
            raise pulumi.RunError(
                f"stack name {pulumi.get_stack()!r} is too long: '<project>-<stack>' must be at most "
                f"{MAX_PREFIX_LENGTH} characters so that every resource name fits AWS limits"
            )
        return cls(prefix)

    def __call__(self, *parts: str) -> str:
        return "-".join((self.prefix, *parts))


@dataclass(frozen=True)
class AwsIdentity:
    """Account, region and partition of the deployment, for ARNs and URLs built from names."""

    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    partition: pulumi.Output[str]
    dns_suffix: pulumi.Output[str]

    @classmethod
    def current(cls, opts: pulumi.InvokeOptions | None = None) -> AwsIdentity:
        caller = aws.get_caller_identity_output(opts=opts)
        region = aws.get_region_output(opts=opts)
        partition = aws.get_partition_output(opts=opts)
        return cls(caller.account_id, region.region, partition.partition, partition.dns_suffix)

    def arn(self, service: str, resource: str) -> pulumi.Output[str]:
        return pulumi.Output.concat(
            "arn:", self.partition, ":", service, ":", self.region, ":", self.account_id, ":", resource
        )

    def account_root_arn(self) -> pulumi.Output[str]:
        return pulumi.Output.concat("arn:", self.partition, ":iam::", self.account_id, ":root")

    def state_machine_arn(self, name: str) -> pulumi.Output[str]:
        return self.arn("states", f"stateMachine:{name}")

    def queue_url(self, name: str) -> pulumi.Output[str]:
        return pulumi.Output.concat("https://sqs.", self.region, ".", self.dns_suffix, "/", self.account_id, "/", name)
