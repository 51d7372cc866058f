"""Cost allocation tags on every resource that AWS can tag, so Cost Explorer splits two stacks' bills.

Every taggable resource gets ``github-automation:stack`` (the Pulumi stack name) and
``github-automation:architecture`` (``sqs`` | ``stepfunctions``). They must also be activated as cost
allocation tags in the Billing console (or ``ce:UpdateCostAllocationTagsStatus``) before Cost Explorer can
filter by them: see docs/comparison-aws.md.

Why a transformation and not an explicit ``aws.Provider(default_tags=...)``: an explicit provider does not
read the stack's ``aws:`` config (region, profile, assumeRoles, the user's own ``aws:defaultTags``...), so
it would have to copy every key of it, and silently drop the ones it does not know. A transformation on
the program's top-level components leaves the default provider, and all of that config, as the user set
it: the provider still merges the user's ``aws:defaultTags`` into every resource, and these two tags,
being resource tags, win over a default tag of the same key (the provider's documented precedence).

A resource type is taggable when its pulumi-aws resource has ``tags`` (the same set the provider's
``default_tags`` applies to). The types this program creates that AWS cannot tag: IAM role policies
(inline), Secrets Manager secret versions, SNS topic subscriptions, Lambda layer versions and
permissions, SQS redrive allow policies, API Gateway v2 integrations and routes, Route 53 records, Logs
Insights query definitions: none of them is billed on its own. CloudWatch dashboards cannot be tagged
either, though each is billed: the stack's one is named after it (``<project>-<stack>-dashboard``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

STACK_TAG = "github-automation:stack"
ARCHITECTURE_TAG = "github-automation:architecture"


def cost_allocation_tags(stack: str, architecture: str) -> dict[str, str]:
    """The two tags that identify a stack's resources (and so its bill)."""
    return {STACK_TAG: stack, ARCHITECTURE_TAG: architecture}


def _merged(tags: Mapping[str, str] | None, ours: Mapping[str, str]) -> dict[str, str]:
    return {**(tags or {}), **ours}


def tag_everything(tags: Mapping[str, str]) -> pulumi.ResourceTransformation:
    """A transformation giving ``tags`` to every taggable custom resource (children of components included).

    A resource's own tags are kept; on a key clash these win, so a stack can never be mislabelled.
    """
    ours = dict(tags)

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, pulumi.CustomResource) or "tags" not in args.props:
            return None
        props = dict(args.props)
        props["tags"] = pulumi.Output.from_input(props.get("tags")).apply(lambda own: _merged(own, ours))
        return pulumi.ResourceTransformationResult(props, args.opts)

    return transform
