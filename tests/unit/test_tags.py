"""Cost allocation tags under Pulumi mocks: every resource AWS can tag carries the stack and its architecture.

Whether a type is taggable is read from pulumi-aws itself (a resource class with ``tags_all`` is one the
provider's ``default_tags`` would tag), independently of how the program adds them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

import pulumi
import pytest

from components.tagging import ARCHITECTURE_TAG, STACK_TAG, cost_allocation_tags, tag_everything
from tests.unit.program import ProgramRun, prepare_layer, run_program, stack_config

EXAMPLE_STACKS = {"dev": "Pulumi.dev.yaml", "dev-sfn": "Pulumi.dev-sfn.yaml"}
CUSTOM_DOMAIN = {"customDomain": "hooks.example.com", "customDomainZoneId": "Z0123456789ABCDEFGHIJ"}
#: What the program creates that AWS cannot tag (none of it is billed on its own).
UNTAGGABLE = {
    "aws:iam/rolePolicy:RolePolicy",
    "aws:secretsmanager/secretVersion:SecretVersion",
    "aws:sns/topicSubscription:TopicSubscription",
    "aws:lambda/layerVersion:LayerVersion",
    "aws:lambda/permission:Permission",
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
    "aws:apigatewayv2/integration:Integration",
    "aws:apigatewayv2/route:Route",
    "aws:route53/record:Record",
    "aws:acm/certificateValidation:CertificateValidation",
    "aws:cloudwatch/dashboard:Dashboard",
    "aws:cloudwatch/queryDefinition:QueryDefinition",
    # a bucket's settings are sub-resources of the (tagged) bucket
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
}


def taggable(typ: str) -> bool:
    """``aws:sqs/queue:Queue`` -> does ``pulumi_aws.sqs.Queue`` have ``tags_all``?"""
    _, module_path, class_name = typ.split(":")
    module = module_path.split("/")[0]
    # Python keywords get a trailing underscore in pulumi-aws (``lambda`` -> ``pulumi_aws.lambda_``).
    python_module = {"index": "pulumi_aws", "lambda": "pulumi_aws.lambda_"}.get(module, f"pulumi_aws.{module}")
    return hasattr(getattr(importlib.import_module(python_module), class_name), "tags_all")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, bool], ProgramRun]]:
    build_dir = tmp_path_factory.mktemp("build")
    done: dict[tuple[str, bool], ProgramRun] = {}

    def run(stack: str, custom_domain: bool) -> ProgramRun:
        if (stack, custom_domain) not in done:
            config = stack_config(EXAMPLE_STACKS[stack]) | (CUSTOM_DOMAIN if custom_domain else {})
            prepare_layer(build_dir, config["lambdaArchitecture"])
            done[stack, custom_domain] = run_program(config, stack=stack)
        return done[stack, custom_domain]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(build_dir))
        yield run


@pytest.mark.parametrize("custom_domain", [False, True], ids=["plain", "custom-domain"])
@pytest.mark.parametrize(("stack", "architecture"), [("dev", "sqs"), ("dev-sfn", "stepfunctions")])
def test_every_taggable_resource_carries_the_stack_and_its_architecture(
    runs: Callable[[str, bool], ProgramRun], stack: str, architecture: str, custom_domain: bool
) -> None:
    resources = [r for r in runs(stack, custom_domain).resources if r.typ.startswith("aws:")]
    tagged = [r for r in resources if taggable(r.typ)]
    assert len(tagged) > 20
    for resource in tagged:
        tags = resource.inputs.get("tags", {})
        assert tags.get(STACK_TAG) == stack, resource.name
        assert tags.get(ARCHITECTURE_TAG) == architecture, resource.name
    assert {r.typ for r in resources if not taggable(r.typ)} <= UNTAGGABLE
    assert all("tags" not in r.inputs for r in resources if not taggable(r.typ))


def test_the_untaggable_types_are_what_pulumi_aws_says() -> None:
    assert not any(taggable(typ) for typ in UNTAGGABLE)
    for typ in ("aws:sqs/queue:Queue", "aws:lambda/function:Function", "aws:sfn/stateMachine:StateMachine"):
        assert taggable(typ)


def test_a_resources_own_tags_are_kept_and_ours_win_a_clash() -> None:
    seen: dict[str, dict[str, str]] = {}

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, object]]:
            seen[args.name] = dict(args.inputs.get("tags", {}))
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, object], list[tuple[str, str]]]:
            return {}, []

    import pulumi_aws as aws

    @pulumi.runtime.test
    def program() -> pulumi.Output[str]:
        transform = tag_everything(cost_allocation_tags("prod", "sqs"))
        queue = aws.sqs.Queue(
            "queue",
            tags={"team": "platform", STACK_TAG: "someone-else"},
            opts=pulumi.ResourceOptions(transformations=[transform]),
        )
        return queue.urn

    pulumi.runtime.set_mocks(Mocks(), project="github-automation", stack="prod")
    program()
    assert seen["queue"] == {"team": "platform", STACK_TAG: "prod", ARCHITECTURE_TAG: "sqs"}


@pytest.mark.parametrize("stack", list(EXAMPLE_STACKS))
def test_every_function_is_told_its_stack_for_the_metric_dimension(
    runs: Callable[[str, bool], ProgramRun], stack: str
) -> None:
    from functions.common.observability import STACK_ENV

    functions = runs(stack, False).of_type("aws:lambda/function:Function")
    assert len(functions) >= 5
    for function in functions:
        assert function.inputs["environment"]["variables"][STACK_ENV] == stack, function.name


@pytest.mark.parametrize("stack", list(EXAMPLE_STACKS))
def test_no_alarm_watches_a_product_metric_without_its_stack(
    runs: Callable[[str, bool], ProgramRun], stack: str
) -> None:
    """The alarms watch AWS's own metrics (queues, state machines), named by resource; any alarm on the
    product's namespace must select this stack's ``Stack`` dimension."""
    from components.shared import METRICS_NAMESPACE

    alarms = runs(stack, False).of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert alarms
    for alarm in alarms:
        if alarm.inputs.get("namespace") == METRICS_NAMESPACE:
            assert alarm.inputs["dimensions"]["Stack"] == stack, alarm.name
        else:
            assert alarm.inputs["namespace"].startswith("AWS/"), alarm.name
