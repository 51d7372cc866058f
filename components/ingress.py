"""Ingress: GitHub's webhook deliveries reach the receiver through an API Gateway HTTP API.

The API has two routes; any other method or path gets API Gateway's own 404 and never reaches a Lambda.

- ``POST /webhook`` (no authorizer): the receiver authenticates each delivery itself (HMAC
  ``X-Hub-Signature-256`` over the raw body), so nothing in front of it may change the body or the
  headers: no request parameter mapping, no caching, no body transformation.
- ``GET /chargeback?month=YYYY-MM`` (``AWS_IAM``): the month's chargeback report for a finance tool,
  only for SigV4-signed requests of a principal allowed ``execute-api:Invoke`` on it (API Gateway answers
  403 to any other, before the function); read-only.

With ``customDomain`` set, CloudFront serves that name with an ACM certificate and forwards to the API
(the original design: Route 53 + ACM + CloudFront).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import StackConfig
from components.lambda_function import LambdaFunction
from components.naming import Naming

WEBHOOK_PATH = "/webhook"
CHARGEBACK_PATH = "/chargeback"
#: The report reads every page of a month's totals: HTTP APIs allow up to 30 s.
CHARGEBACK_TIMEOUT_MS = 29_000
#: github.com waits 10 s for the answer; API Gateway gives up first so the failure is ours to log.
INTEGRATION_TIMEOUT_MS = 9_000
#: CloudFront only serves ACM certificates from us-east-1, whatever the stack's region.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
#: AWS managed CloudFront policies (ids are fixed by AWS and documented).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
#: CloudFront accepts only these method sets; POST needs the full one (the API answers 404 to the rest).
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]

#: One JSON object per request. HTTP API access logs offer ``$context`` variables only, no request
#: headers, so ``X-GitHub-Delivery`` cannot appear here: the receiver logs it with the request id.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "domainName": "$context.domainName",
        "routeKey": "$context.routeKey",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationStatus": "$context.integrationStatus",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)


@dataclass
class IngressArgs:
    config: StackConfig
    naming: Naming
    receiver: LambdaFunction
    chargeback_report: LambdaFunction | None = None


class Ingress(pulumi.ComponentResource):
    """The public webhook endpoint: HTTP API, optional custom domain, and ``webhook_url``."""

    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    domain: WebhookDomain | None
    webhook_url: pulumi.Output[str]
    chargeback_url: pulumi.Output[str] | None

    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:ingress:Ingress", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        config, naming = args.config, args.naming

        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=naming("webhook"),
            protocol_type="HTTP",
            description="Receives GitHub App webhook deliveries; serves the chargeback report (IAM)",
            opts=child,
        )
        # No API Gateway authorizer: the receiver verifies GitHub's signature over the raw body.
        routes = [
            self._lambda_route(
                ProxyRoute(f"{name}-webhook", f"{name}-receiver", "POST", WEBHOOK_PATH, "NONE", INTEGRATION_TIMEOUT_MS),
                args.receiver,
                "The webhook receiver function",
                child,
            )
        ]
        if args.chargeback_report is not None:
            chargeback = ProxyRoute(
                f"{name}-chargeback",
                f"{name}-chargeback-report",
                "GET",
                CHARGEBACK_PATH,
                "AWS_IAM",
                CHARGEBACK_TIMEOUT_MS,
            )
            routes.append(
                self._lambda_route(chargeback, args.chargeback_report, "The chargeback report function", child)
            )

        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{naming('webhook')}",
            retention_in_days=config.log_retention_days,
            opts=child,
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=float(config.api_throttling_rate_limit),
                throttling_burst_limit=config.api_throttling_burst_limit,
            ),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=routes),
        )

        if config.custom_domain:
            self.domain = WebhookDomain(
                f"{name}-domain",
                WebhookDomainArgs(
                    domain_name=config.custom_domain,
                    zone_id=config.custom_domain_zone_id,
                    api_endpoint=self.api.api_endpoint,
                    naming=naming,
                ),
                child,
            )
            self.webhook_url = pulumi.Output.concat("https://", self.domain.alias_name, WEBHOOK_PATH)
        else:
            self.domain = None
            # Published once the stage serves it: the URL is useless before.
            self.webhook_url = pulumi.Output.all(self.api.api_endpoint, self.stage.id).apply(
                lambda values: f"{values[0]}{WEBHOOK_PATH}"
            )

        # Straight on the API (SigV4 signs the host the caller names: the custom domain is the webhook's).
        self.chargeback_url = (
            None
            if args.chargeback_report is None
            else pulumi.Output.all(self.api.api_endpoint, self.stage.id).apply(
                lambda values: f"{values[0]}{CHARGEBACK_PATH}"
            )
        )
        self.register_outputs({"webhookUrl": self.webhook_url, "apiEndpoint": self.api.api_endpoint})

    def _lambda_route(
        self, route: ProxyRoute, function: LambdaFunction, description: str, child: pulumi.ResourceOptions
    ) -> aws.apigatewayv2.Route:
        """``METHOD /path`` to ``function`` (Lambda proxy, payload 2.0), which only this route may invoke."""
        integration = aws.apigatewayv2.Integration(
            route.integration_name,
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=function.arn,
            payload_format_version="2.0",
            timeout_milliseconds=route.timeout_ms,
            description=description,
            opts=child,
        )
        created = aws.apigatewayv2.Route(
            route.name,
            api_id=self.api.id,
            route_key=f"{route.method} {route.path}",
            authorization_type=route.authorization,
            target=pulumi.Output.concat("integrations/", integration.id),
            opts=child,
        )
        aws.lambda_.Permission(
            route.permission_name,
            action="lambda:InvokeFunction",
            function=function.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(self.api.execution_arn, f"/*/{route.method}", route.path),
            opts=child,
        )
        return created


@dataclass(frozen=True)
class ProxyRoute:
    """A route of the API and the names of its integration and invoke permission."""

    name: str  # the route resource: <ingress>-webhook
    integration_name: str  # <ingress>-receiver; its permission is <ingress>-invoke-receiver
    method: str
    path: str
    authorization: str  # NONE or AWS_IAM
    timeout_ms: int

    @property
    def permission_name(self) -> str:
        ingress, _, function = self.integration_name.partition("-")
        return f"{ingress}-invoke-{function}"


@dataclass
class WebhookDomainArgs:
    domain_name: str
    zone_id: str
    #: ``https://<id>.execute-api.<region>.amazonaws.com`` of the HTTP API
    api_endpoint: pulumi.Input[str]
    naming: Naming


class WebhookDomain(pulumi.ComponentResource):
    """``https://<domain>`` in front of the HTTP API: ACM certificate, CloudFront, Route 53 alias records."""

    certificate: aws.acm.Certificate
    distribution: aws.cloudfront.Distribution
    alias_name: pulumi.Output[str]

    def __init__(self, name: str, args: WebhookDomainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:ingress:WebhookDomain", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # The resource-level region (pulumi-aws 7) rather than a second provider: an explicit provider
        # would not inherit the stack's aws:* settings (profile, assumed role, allowed accounts, tags).
        self.certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.domain_name,
            validation_method="DNS",
            region=CLOUDFRONT_CERTIFICATE_REGION,
            opts=child,
        )
        # One name, no SANs: exactly one validation record.
        option = self.certificate.domain_validation_options[0]
        validation_record = aws.route53.Record(
            f"{name}-certificate-validation",
            zone_id=args.zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=300,
            # ACM asks for the same record for every certificate of this name in the account, so a
            # replaced certificate finds its record already there.
            allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{name}-certificate",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[validation_record.fqdn],
            region=CLOUDFRONT_CERTIFICATE_REGION,
            opts=child,
        )

        origin_id = "webhook-api"
        self.distribution = aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment=f"{args.naming('webhook')}: GitHub webhook deliveries",
            aliases=[args.domain_name],
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class="PriceClass_100",
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=origin_id,
                    domain_name=pulumi.Output.from_input(args.api_endpoint).apply(_host),
                    custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                        http_port=80,
                        https_port=443,
                        origin_protocol_policy="https-only",
                        origin_ssl_protocols=["TLSv1.2"],
                    ),
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=origin_id,
                viewer_protocol_policy="https-only",
                allowed_methods=ALL_METHODS,
                cached_methods=["GET", "HEAD"],
                compress=False,
                cache_policy_id=CACHING_DISABLED_POLICY_ID,
                # Every viewer header (the signature, event and delivery headers) but Host, which must
                # name the API for API Gateway to route the request.
                origin_request_policy_id=ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID,
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=validation.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            ),
            opts=child,
        )

        records = [
            aws.route53.Record(
                f"{name}-alias-{record_type.lower()}",
                zone_id=args.zone_id,
                name=args.domain_name,
                type=record_type,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=self.distribution.domain_name,
                        zone_id=self.distribution.hosted_zone_id,
                        evaluate_target_health=False,
                    )
                ],
                opts=child,
            )
            for record_type in ("A", "AAAA")
        ]
        self.alias_name = records[0].name

        self.register_outputs({"domainName": self.alias_name, "distributionDomainName": self.distribution.domain_name})


def _host(url: str) -> str:
    """``https://host[/...]`` -> ``host``: CloudFront wants a bare origin domain name."""
    return url.removeprefix("https://").split("/", 1)[0]
