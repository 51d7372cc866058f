"""Where a stepfunctions backfill keeps its member pages for the Distributed Map to read (issue 10).

The backfill machine writes each page of members it lists to ``backfills/<execution name>/members-<n>.json``
and the Distributed Map's ItemReader lists that prefix, a child execution per page. The objects are
working data (logins and user ids): private (public access blocked, ACLs off, TLS only), encrypted at rest
(SSE-S3), and expired a few days after the backfill that wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import iam
from components.naming import Naming

#: The key prefix of every backfill's pages; the state machine and the lifecycle rule share it.
PAGES_PREFIX = "backfills/"
#: S3 caps a ``bucket_prefix`` at 37 characters (Pulumi adds a random suffix up to the 63 of a bucket name).
BUCKET_PREFIX_MAX = 37


@dataclass
class BackfillBucketArgs:
    naming: Naming
    #: days after which a backfill's pages are deleted (a backfill is done in hours; redrive within this)
    expire_days: int = 7


def bucket_prefix(naming: Naming) -> str:
    """A bucket name prefix from the stack's names: lowercase letters, digits and '-' only."""
    suffix = "-backfill-"
    stem = naming.prefix.replace("_", "-")[: BUCKET_PREFIX_MAX - len(suffix)].rstrip("-")
    return stem + suffix


class BackfillBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(self, name: str, args: BackfillBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:stepfunctions:BackfillBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(name, bucket_prefix=bucket_prefix(args.naming), force_destroy=True, opts=child)
        bucket = self.bucket.id
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=child,
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-expiry",
            bucket=bucket,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-backfill-pages",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=PAGES_PREFIX),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=args.expire_days),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket,
            policy=deny_insecure_transport(self.bucket.arn),
            # S3 refuses a bucket policy while BlockPublicPolicy is being applied
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        self.register_outputs({"bucket": self.bucket.id})

    def page_statements(self) -> list[iam.Statement]:
        """What the backfill machine needs: write and read its pages, list them under the prefix only."""
        objects = pulumi.Output.concat(self.bucket.arn, "/", PAGES_PREFIX, "*")
        return [
            iam.allow(["s3:PutObject", "s3:GetObject"], [objects], sid="BackfillPages"),
            iam.allow(
                ["s3:ListBucket"],
                [self.bucket.arn],
                sid="ListBackfillPages",
                condition={"StringLike": {"s3:prefix": [f"{PAGES_PREFIX}*"]}},
            ),
        ]


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """A bucket policy that refuses every request not made over TLS."""
    return pulumi.Output.json_dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )
