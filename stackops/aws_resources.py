"""A deployed stack's resources, found by its cost allocation tag, with what pricing needs of each.

The Resource Groups Tagging API (``GetResources``, paginated) lists every resource tagged
``github-automation:stack = <stack>``; each one's configuration is then read from its own service (a
function's memory, CPU architecture, log group and log level; a state machine's type and logging; a
queue's consumer). Fallbacks where the tagging API may not return a type: log groups are taken from the
functions' and state machines' logging configuration (the groups they really write to), and HTTP APIs
from API Gateway's own listing by their tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import boto3

from stackops.tags import ARCHITECTURE_TAG, STACK_TAG

PROJECT = "github-automation"


class DiscoveryError(RuntimeError):
    """The stack's resources cannot be found; the message says which stack, where, and why."""


@dataclass(frozen=True)
class Function:
    name: str
    short: str
    memory_mb: int
    architecture: str
    log_group: str
    log_level: str
    #: the queue (short name) an event source mapping feeds it from, if any
    queue: str | None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StateMachine:
    name: str
    short: str
    arn: str
    type: Literal["STANDARD", "EXPRESS"]
    log_group: str | None
    log_level: str
    include_execution_data: bool


@dataclass(frozen=True)
class LogGroup:
    name: str
    short: str  # the function, machine or API it belongs to
    source: Literal["lambda", "states", "apigateway"]
    level: str
    include_execution_data: bool | None = None


@dataclass
class StackResources:
    stack: str
    architecture: Literal["sqs", "stepfunctions"]
    functions: list[Function]
    queues: list[str]  # physical names
    machines: list[StateMachine]
    tables: list[str]
    topics: dict[str, bool]  # topic name -> every subscription is an email one
    apis: dict[str, str]  # API id -> name
    log_groups: list[LogGroup]
    alarms: int
    secrets: int
    keys: int

    def short(self, name: str) -> str:
        return short_name(self.stack, name)


def short_name(stack: str, name: str) -> str:
    """``github-automation-dev-store-records`` -> ``store-records`` (names are ``<project>-<stack>-<part>``)."""
    return name.removeprefix(f"{PROJECT}-{stack}-".lower())


def tagged_arns(session: boto3.session.Session, stack: str) -> dict[str, dict[str, str]]:
    """Every resource ARN tagged with the stack, with its tags."""
    tagging = session.client("resourcegroupstaggingapi")
    found: dict[str, dict[str, str]] = {}
    for page in tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": STACK_TAG, "Values": [stack]}], ResourcesPerPage=100
    ):
        for mapping in page["ResourceTagMappingList"]:
            found[mapping["ResourceARN"]] = {tag["Key"]: tag["Value"] for tag in mapping.get("Tags", [])}
    return found


def _service_and_resource(arn: str) -> tuple[str, str]:
    parts = arn.split(":", 5)
    return parts[2], parts[5]


def discover(session: boto3.session.Session, stack: str) -> StackResources:
    """The stack's resources in the session's region."""
    arns = tagged_arns(session, stack)
    architectures = {tags[ARCHITECTURE_TAG] for tags in arns.values() if ARCHITECTURE_TAG in tags}
    if not arns:
        raise DiscoveryError(
            f"stack {stack!r}: no resource tagged {STACK_TAG}={stack} in {session.region_name}; deploy the stack "
            "with this version (it tags every resource) or pass the region it is in"
        )
    if len(architectures) != 1:
        raise DiscoveryError(
            f"stack {stack!r}: its resources' {ARCHITECTURE_TAG} tags are {sorted(architectures)}; expected one "
            "of sqs, stepfunctions"
        )
    (architecture,) = architectures
    if architecture not in ("sqs", "stepfunctions"):
        raise DiscoveryError(f"stack {stack!r}: {ARCHITECTURE_TAG}={architecture!r}; expected sqs or stepfunctions")

    by_service: dict[str, list[str]] = {}
    for arn in arns:
        service, resource = _service_and_resource(arn)
        by_service.setdefault(service, []).append(resource)

    function_names = [r.removeprefix("function:") for r in by_service.get("lambda", []) if r.startswith("function:")]
    functions = [_function(session, stack, name) for name in sorted(function_names)]
    machine_arns = [arn for arn in arns if arn.split(":")[2] == "states" and ":stateMachine:" in arn]
    machines = [_state_machine(session, stack, arn) for arn in sorted(machine_arns)]
    apis = _apis(session, stack, by_service.get("apigateway", []))
    resources = StackResources(
        stack=stack,
        architecture=architecture,  # type: ignore[arg-type]
        functions=functions,
        queues=sorted(by_service.get("sqs", [])),
        machines=machines,
        tables=sorted(r.removeprefix("table/") for r in by_service.get("dynamodb", []) if r.startswith("table/")),
        topics={name: _email_only(session, arn) for arn in arns if (name := _topic_name(arn))},
        apis=apis,
        log_groups=[],
        alarms=sum(1 for r in by_service.get("cloudwatch", []) if r.startswith("alarm:")),
        secrets=len(by_service.get("secretsmanager", [])),
        keys=sum(1 for r in by_service.get("kms", []) if r.startswith("key/")),
    )
    resources.log_groups = _log_groups(session, resources)
    return resources


def _topic_name(arn: str) -> str | None:
    service, resource = _service_and_resource(arn)
    return resource if service == "sns" and ":" not in resource else None


def _email_only(session: boto3.session.Session, topic_arn: str) -> bool:
    sns = session.client("sns")
    protocols = [
        subscription["Protocol"]
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for subscription in page["Subscriptions"]
    ]
    return bool(protocols) and all(protocol == "email" for protocol in protocols)


def _function(session: boto3.session.Session, stack: str, name: str) -> Function:
    lambda_ = session.client("lambda")
    config = lambda_.get_function_configuration(FunctionName=name)
    environment = dict(config.get("Environment", {}).get("Variables", {}))
    logging = config.get("LoggingConfig", {})
    mappings = [
        mapping
        for page in lambda_.get_paginator("list_event_source_mappings").paginate(FunctionName=name)
        for mapping in page["EventSourceMappings"]
        if mapping["EventSourceArn"].split(":")[2] == "sqs"
    ]
    queue = short_name(stack, mappings[0]["EventSourceArn"].split(":")[5]) if mappings else None
    return Function(
        name=name,
        short=short_name(stack, name),
        memory_mb=int(config["MemorySize"]),
        architecture=(config.get("Architectures") or ["x86_64"])[0],
        log_group=logging.get("LogGroup", f"/aws/lambda/{name}"),
        log_level=environment.get("POWERTOOLS_LOG_LEVEL") or logging.get("ApplicationLogLevel", "INFO"),
        queue=queue,
        environment=environment,
    )


def _state_machine(session: boto3.session.Session, stack: str, arn: str) -> StateMachine:
    described = session.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    logging = described.get("loggingConfiguration", {})
    destinations = logging.get("destinations", [])
    group_arn = destinations[0]["cloudWatchLogsLogGroup"]["logGroupArn"] if destinations else None
    return StateMachine(
        name=described["name"],
        short=short_name(stack, described["name"]),
        arn=arn,
        type=described.get("type", "STANDARD"),
        log_group=group_arn.split(":log-group:")[1].removesuffix(":*") if group_arn else None,
        log_level=logging.get("level", "OFF"),
        include_execution_data=bool(logging.get("includeExecutionData", False)),
    )


def _apis(session: boto3.session.Session, stack: str, tagged: list[str]) -> dict[str, str]:
    """HTTP APIs of the stack: from the tagging API, else (fallback) API Gateway's listing by tag."""
    apigateway = session.client("apigatewayv2")
    listed = [api for page in apigateway.get_paginator("get_apis").paginate() for api in page["Items"]]
    ids = {r.split("/")[2] for r in tagged if r.startswith("/apis/")}
    if not ids:
        ids = {api["ApiId"] for api in listed if api.get("Tags", {}).get(STACK_TAG) == stack}
    return {api["ApiId"]: api["Name"] for api in listed if api["ApiId"] in ids}


def _log_groups(session: boto3.session.Session, resources: StackResources) -> list[LogGroup]:
    """The groups the functions, machines and API stages write to, from their own configuration."""
    groups = [LogGroup(f.log_group, f.short, "lambda", f.log_level) for f in resources.functions]
    groups += [
        LogGroup(m.log_group, m.short, "states", m.log_level, m.include_execution_data)
        for m in resources.machines
        if m.log_group
    ]
    apigateway = session.client("apigatewayv2")
    for api_id, name in resources.apis.items():
        for stage in apigateway.get_stages(ApiId=api_id)["Items"]:
            destination = stage.get("AccessLogSettings", {}).get("DestinationArn")
            if destination:
                group = destination.split(":log-group:")[1].removesuffix(":*")
                groups.append(LogGroup(group, resources.short(name), "apigateway", "ACCESS"))
    return groups
