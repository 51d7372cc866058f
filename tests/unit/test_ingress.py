"""The ingress of both example stacks under Pulumi mocks: the webhook route to the receiver, the IAM-authorized
chargeback route to its report function, throttled and logged, and with ``customDomain`` the ACM
certificate (us-east-1), CloudFront and Route 53 records in front."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from components.config import parse_config
from components.ingress import ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID, CACHING_DISABLED_POLICY_ID
from tests.unit.program import ProgramRun, Resource, prepare_layer, run_program, stack_config, without_architecture_tag

EXAMPLE_STACKS = {"sqs": "Pulumi.dev.yaml", "stepfunctions": "Pulumi.dev-sfn.yaml"}
DOMAIN = "hooks.example.com"
ZONE_ID = "Z0123456789ABCDEFGHIJ"
# Not the defaults, so the test sees them wired through.
DOMAIN_STACK = {
    "customDomain": DOMAIN,
    "customDomainZoneId": ZONE_ID,
    "apiThrottlingRateLimit": "7",
    "apiThrottlingBurstLimit": "13",
    "logRetentionDays": "90",
}
GITHUB_TIMEOUT_MS = 10_000  # github.com's wait for a delivery's response

API = "aws:apigatewayv2/api:Api"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE = "aws:apigatewayv2/route:Route"
STAGE = "aws:apigatewayv2/stage:Stage"
PERMISSION = "aws:lambda/permission:Permission"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
RECORD = "aws:route53/record:Record"
DOMAIN_TYPES = (CERTIFICATE, CERTIFICATE_VALIDATION, DISTRIBUTION, RECORD)


class Stack:
    def __init__(self, config: dict[str, str], run: ProgramRun) -> None:
        self.config = parse_config(config)
        self.run = run

    def only(self, typ: str) -> Resource:
        found = self.run.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]

    def named(self, typ: str, name: str) -> Resource:
        (found,) = [r for r in self.run.of_type(typ) if r.name == name]
        return found

    def function(self, key: str) -> Resource:
        return next(
            r
            for r in self.run.of_type("aws:lambda/function:Function")
            if r.inputs["name"] == f"github-automation-dev-{key}"
        )

    @property
    def receiver(self) -> Resource:
        return next(
            r
            for r in self.run.of_type("aws:lambda/function:Function")
            if r.inputs["name"] == "github-automation-dev-receiver"
        )

    def access_log_group(self) -> Resource:
        arn = self.only(STAGE).inputs["accessLogSettings"]["destinationArn"]
        (group,) = [r for r in self.run.of_type(LOG_GROUP) if r.outputs["arn"] == arn]
        return group


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, bool], Stack]]:
    """Each (stack file, custom domain or not) run once for the whole module."""
    build_dir = tmp_path_factory.mktemp("build")
    runs: dict[tuple[str, bool], Stack] = {}

    def stack(stack_file: str, custom_domain: bool) -> Stack:
        if (stack_file, custom_domain) not in runs:
            config = stack_config(stack_file) | (DOMAIN_STACK if custom_domain else {})
            prepare_layer(build_dir, config["lambdaArchitecture"])
            runs[stack_file, custom_domain] = Stack(config, run_program(config))
        return runs[stack_file, custom_domain]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(build_dir))
        yield stack


@pytest.fixture(params=EXAMPLE_STACKS.values(), ids=list(EXAMPLE_STACKS))
def plain(request: pytest.FixtureRequest, stacks: Callable[[str, bool], Stack]) -> Stack:
    return stacks(request.param, False)


@pytest.fixture(params=EXAMPLE_STACKS.values(), ids=list(EXAMPLE_STACKS))
def with_domain(request: pytest.FixtureRequest, stacks: Callable[[str, bool], Stack]) -> Stack:
    return stacks(request.param, True)


@pytest.fixture(
    params=[(f, d) for d in (False, True) for f in EXAMPLE_STACKS.values()],
    ids=[f"{a}{'-custom-domain' if d else ''}" for d in (False, True) for a in EXAMPLE_STACKS],
)
def stack(request: pytest.FixtureRequest, stacks: Callable[[str, bool], Stack]) -> Stack:
    return stacks(*request.param)


# --- The HTTP API, with or without a custom domain --------------------------------------------------------


def test_two_routes_the_webhook_and_the_chargeback(stack: Stack) -> None:
    assert sorted(r.inputs["routeKey"] for r in stack.run.of_type(ROUTE)) == ["GET /chargeback", "POST /webhook"]


def test_one_route_post_webhook_to_the_receiver_integration(stack: Stack) -> None:
    route, integration = stack.named(ROUTE, "ingress-webhook"), stack.named(INTEGRATION, "ingress-receiver")
    assert route.inputs["routeKey"] == "POST /webhook"
    assert route.inputs["authorizationType"] == "NONE"  # the receiver verifies X-Hub-Signature-256
    assert route.inputs["target"] == f"integrations/{integration.name}-id"  # RecordingMocks' id for it
    assert route.inputs["apiId"] == integration.inputs["apiId"] == stack.only(API).outputs["id"]
    assert stack.only(API).inputs["protocolType"] == "HTTP"


def test_integration_proxies_the_raw_request_to_the_receiver_within_githubs_timeout(stack: Stack) -> None:
    integration = stack.named(INTEGRATION, "ingress-receiver").inputs
    assert integration["integrationType"] == "AWS_PROXY"
    assert integration["payloadFormatVersion"] == "2.0"
    assert integration["integrationUri"] == stack.receiver.outputs["arn"]
    assert 1_000 <= integration["timeoutMilliseconds"] < GITHUB_TIMEOUT_MS
    # Nothing may rewrite the request the signature is computed over.
    assert not {"requestParameters", "requestTemplates", "templateSelectionExpression"} & set(integration)


def test_permission_lets_only_that_route_invoke_the_receiver(stack: Stack) -> None:
    permission = stack.named(PERMISSION, "ingress-invoke-receiver").inputs
    assert permission["action"] == "lambda:InvokeFunction"
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["function"] == stack.receiver.inputs["name"]
    assert permission["sourceArn"] == f"{stack.only(API).outputs['executionArn']}/*/POST/webhook"


def test_get_chargeback_needs_iam_and_reaches_only_the_report_function(stack: Stack) -> None:
    route = stack.named(ROUTE, "ingress-chargeback")
    integration = stack.named(INTEGRATION, "ingress-chargeback-report")
    permission = stack.named(PERMISSION, "ingress-invoke-chargeback-report").inputs
    report = stack.function("chargeback-report")
    assert (route.inputs["routeKey"], route.inputs["authorizationType"]) == ("GET /chargeback", "AWS_IAM")
    assert route.inputs["target"] == f"integrations/{integration.name}-id"
    assert integration.inputs["integrationUri"] == report.outputs["arn"]
    assert integration.inputs["payloadFormatVersion"] == "2.0"
    assert integration.inputs["timeoutMilliseconds"] <= 30_000  # HTTP APIs' maximum
    assert (permission["function"], permission["principal"]) == (report.inputs["name"], "apigateway.amazonaws.com")
    assert permission["sourceArn"] == f"{stack.only(API).outputs['executionArn']}/*/GET/chargeback"
    assert report.inputs["handler"] == "functions.chargeback_report.handler"
    assert report.inputs["environment"]["variables"]["WORKFLOW_RUNS_TABLE"] == "github-automation-dev-workflow-runs"
    assert stack.run.exports["chargebackUrl"] == f"{stack.only(API).outputs['apiEndpoint']}/chargeback"


def test_default_stage_auto_deploys_with_the_configured_throttling(stack: Stack) -> None:
    stage = stack.only(STAGE).inputs
    assert stage["name"] == "$default"
    assert stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] == stack.config.api_throttling_rate_limit
    assert stage["defaultRouteSettings"]["throttlingBurstLimit"] == stack.config.api_throttling_burst_limit


def test_access_logs_are_json_with_the_request_facts(stack: Stack) -> None:
    log_format: dict[str, Any] = json.loads(stack.only(STAGE).inputs["accessLogSettings"]["format"])
    assert {
        "$context.requestId",
        "$context.identity.sourceIp",
        "$context.routeKey",
        "$context.status",
        "$context.responseLatency",
        "$context.integrationErrorMessage",
    } <= set(log_format.values())
    # HTTP API access logs offer $context variables only (no request headers such as X-GitHub-Delivery).
    assert all(value.startswith("$context.") for value in log_format.values())
    assert stack.access_log_group().inputs["retentionInDays"] == stack.config.log_retention_days


@pytest.mark.parametrize("custom_domain", [False, True], ids=["plain", "custom-domain"])
def test_ingress_is_the_same_in_both_architectures(stacks: Callable[[str, bool], Stack], custom_domain: bool) -> None:
    def ingress(stack: Stack) -> list[tuple[str, str, dict[str, Any]]]:
        resources = [r for r in stack.run.resources if r.name.startswith("ingress")]
        return sorted((r.typ, r.name, without_architecture_tag(r.inputs)) for r in resources)

    sqs, stepfunctions = (stacks(stack_file, custom_domain) for stack_file in EXAMPLE_STACKS.values())
    assert ingress(sqs) == ingress(stepfunctions)
    assert {typ for typ, _, _ in ingress(sqs)} >= {API, INTEGRATION, ROUTE, STAGE, PERMISSION, LOG_GROUP}


# --- Without a custom domain ------------------------------------------------------------------------------


def test_webhook_url_is_the_api_endpoint(plain: Stack) -> None:
    assert plain.run.exports["webhookUrl"] == f"{plain.only(API).outputs['apiEndpoint']}/webhook"


def test_no_domain_resources_without_custom_domain(plain: Stack) -> None:
    assert not [r.name for r in plain.run.resources if r.typ in DOMAIN_TYPES or r.typ.startswith("pulumi:providers")]


# --- With a custom domain ---------------------------------------------------------------------------------


def test_certificate_is_dns_validated_in_us_east_1(with_domain: Stack) -> None:
    certificate = with_domain.only(CERTIFICATE)
    assert certificate.inputs["domainName"] == DOMAIN
    assert certificate.inputs["validationMethod"] == "DNS"
    assert certificate.inputs["region"] == "us-east-1"  # CloudFront takes certificates from us-east-1 only

    (option,) = certificate.outputs["domainValidationOptions"]
    (record,) = [r for r in with_domain.run.of_type(RECORD) if r.inputs.get("records")]
    assert record.inputs["zoneId"] == ZONE_ID
    assert (record.inputs["name"], record.inputs["type"], record.inputs["records"]) == (
        option["resourceRecordName"],
        option["resourceRecordType"],
        [option["resourceRecordValue"]],
    )

    validation = with_domain.only(CERTIFICATE_VALIDATION).inputs
    assert validation["certificateArn"] == certificate.outputs["arn"]
    assert validation["validationRecordFqdns"] == [record.outputs["fqdn"]]
    assert validation["region"] == "us-east-1"


def test_distribution_forwards_https_posts_to_the_api_uncached(with_domain: Stack) -> None:
    distribution = with_domain.only(DISTRIBUTION).inputs
    assert distribution["aliases"] == [DOMAIN]
    assert distribution["enabled"] is True

    (origin,) = distribution["origins"]
    assert "https://" + origin["domainName"] == with_domain.only(API).outputs["apiEndpoint"]
    assert origin["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    assert origin["customOriginConfig"]["originSslProtocols"] == ["TLSv1.2"]

    behavior = distribution["defaultCacheBehavior"]
    assert behavior["targetOriginId"] == origin["originId"]
    assert behavior["viewerProtocolPolicy"] == "https-only"
    assert "POST" in behavior["allowedMethods"]
    assert behavior["cachePolicyId"] == CACHING_DISABLED_POLICY_ID == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    assert (
        behavior["originRequestPolicyId"]
        == ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID
        == ("b689b0a8-53d0-40ab-baf2-68738e2966ac")
    )
    assert not {"forwardedValues", "functionAssociations", "lambdaFunctionAssociations"} & set(behavior)

    certificate = distribution["viewerCertificate"]
    assert certificate["acmCertificateArn"] == with_domain.only(CERTIFICATE).outputs["arn"]
    assert certificate["sslSupportMethod"] == "sni-only"
    assert certificate["minimumProtocolVersion"].startswith("TLSv1.2_")


def test_alias_records_point_the_domain_at_the_distribution(with_domain: Stack) -> None:
    distribution = with_domain.only(DISTRIBUTION)
    aliases = {r.inputs["type"]: r.inputs for r in with_domain.run.of_type(RECORD) if r.inputs.get("aliases")}
    assert set(aliases) == {"A", "AAAA"}
    assert with_domain.only(DISTRIBUTION).inputs["isIpv6Enabled"] is True
    for record in aliases.values():
        assert (record["zoneId"], record["name"]) == (ZONE_ID, DOMAIN)
        assert record["aliases"] == [
            {
                "name": distribution.outputs["domainName"],
                "zoneId": distribution.outputs["hostedZoneId"],
                "evaluateTargetHealth": False,
            }
        ]


def test_webhook_url_uses_the_custom_domain(with_domain: Stack) -> None:
    assert with_domain.run.exports["webhookUrl"] == f"https://{DOMAIN}/webhook"
