"""Physical names and the identifiers derived from them.

Queues and state machines get explicit names, so their URLs and ARNs are known before they exist:
the shared functions are created first (identical in both architectures) and can already be told
where their work goes, without a dependency cycle (receiver -> state machine -> functions).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

MAX_PREFIX_LENGTH = 38  # leaves room for the longest suffix within the 64-character IAM role name limit


@dataclass(frozen=True)
class Naming:
    """Names of this stack's resources: ``<project>-<stack>-<part>...``."""

    prefix: str

    @classmethod
    def for_stack(cls) -> Naming:
        prefix = f"{pulumi.get_project()}-{pulumi.get_stack()}".lower()
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
