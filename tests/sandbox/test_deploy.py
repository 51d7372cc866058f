"""The real program deployed into the embedded AWS: both stacks side by side, every resource real."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pulumi
import pytest
from botocore.client import BaseClient

from components.asl import key_values
from components.catalog import BUSINESS_FUNCTIONS, STORE_RECORDS
from components.config import parse_config
from components.sqs_pipeline import visibility_timeout_seconds
from sandbox.aws import EmbeddedAws
from sandbox.deploy import CreatedResource, Deployment, SandboxMocks, deploy_stack, sandbox_config
from sandbox.fake_github import SANDBOX_ORG, AppKey
from sandbox.workload import ignored, member_added, signed_request
from tests.unit import program as recorded

GITHUB_URL = "http://127.0.0.1:9"  # no GitHub is called here: only the receiver runs
DIRECTORY_URL = f"{GITHUB_URL}/directory"
STACK_FILES = {"sandbox-sqs": "Pulumi.dev.yaml", "sandbox-sfn": "Pulumi.dev-sfn.yaml"}
WEBHOOK_SECRET = "sandbox-webhook-secret"


@pytest.fixture(scope="module")
def secrets() -> dict[str, str]:
    return {"githubAppPrivateKey": AppKey.generate().private_key_pem, "webhookSecret": WEBHOOK_SECRET}


def _config(stack: str) -> dict[str, str]:
    return sandbox_config(STACK_FILES[stack], GITHUB_URL, DIRECTORY_URL, SANDBOX_ORG)


@pytest.fixture(scope="module")
def stacks(aws: EmbeddedAws, secrets: dict[str, str]) -> Iterator[dict[str, Deployment]]:
    """Both stacks in one emulator; the queues are not polled, so a test can see what the receiver sent."""
    deployments: dict[str, Deployment] = {}
    try:
        for stack in STACK_FILES:
            deployments[stack] = deploy_stack(aws, stack, _config(stack), secrets, start_pollers=False)
        yield deployments
    finally:
        for deployment in deployments.values():
            deployment.close()


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory, secrets: dict[str, str]) -> dict[str, recorded.ProgramRun]:
    """The same stacks run under the unit tests' recording mocks: what the program registers, independently."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path_factory.mktemp("build")))
        recorded.placeholder_layer("arm64")
        return {stack: recorded.run_program(_config(stack), secrets, stack=stack) for stack in STACK_FILES}


def _exists(aws: EmbeddedAws) -> dict[str, Callable[[CreatedResource], Any]]:
    """Per type, a describe/list call that fails unless the resource exists in the emulator."""
    c: Callable[[str], BaseClient] = aws.client

    def bucket_encryption(r: CreatedResource) -> None:
        (rule,) = c("s3").get_bucket_encryption(Bucket=r.id)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    def public_access_block(r: CreatedResource) -> None:
        blocked = c("s3").get_public_access_block(Bucket=r.id)["PublicAccessBlockConfiguration"]
        assert set(blocked.values()) == {True}, blocked

    def lifecycle(r: CreatedResource) -> None:
        (rule,) = c("s3").get_bucket_lifecycle_configuration(Bucket=r.id)["Rules"]
        assert rule["Status"] == "Enabled" and rule["Expiration"]["Days"] > 0

    def log_group(r: CreatedResource) -> None:
        groups = c("logs").describe_log_groups(logGroupNamePrefix=r.id)["logGroups"]
        assert [g["logGroupName"] for g in groups if g["logGroupName"] == r.id] == [r.id]

    def permission(r: CreatedResource) -> None:
        policy = json.loads(c("lambda").get_policy(FunctionName=r.inputs["function"])["Policy"])
        assert r.id in [statement["Sid"] for statement in policy["Statement"]]

    def query(r: CreatedResource) -> None:
        listed = c("logs").describe_query_definitions(queryDefinitionNamePrefix=r.inputs["name"])["queryDefinitions"]
        assert [d["queryDefinitionId"] for d in listed] == [r.id]

    def alarm(r: CreatedResource) -> None:
        assert c("cloudwatch").describe_alarms(AlarmNames=[r.id])["MetricAlarms"]

    return {
        "aws:dynamodb/table:Table": lambda r: c("dynamodb").describe_table(TableName=r.id),
        "aws:secretsmanager/secret:Secret": lambda r: c("secretsmanager").describe_secret(SecretId=r.id),
        "aws:secretsmanager/secretVersion:SecretVersion": lambda r: c("secretsmanager").get_secret_value(
            SecretId=r.outputs["arn"], VersionId=r.outputs["versionId"]
        ),
        "aws:kms/key:Key": lambda r: c("kms").describe_key(KeyId=r.id),
        "aws:sns/topic:Topic": lambda r: c("sns").get_topic_attributes(TopicArn=r.id),
        "aws:sns/topicSubscription:TopicSubscription": lambda r: c("sns").get_subscription_attributes(
            SubscriptionArn=r.id
        ),
        "aws:lambda/layerVersion:LayerVersion": lambda r: c("lambda").get_layer_version(
            LayerName=r.outputs["layerArn"], VersionNumber=int(r.outputs["version"])
        ),
        "aws:iam/role:Role": lambda r: c("iam").get_role(RoleName=r.id),
        "aws:iam/rolePolicy:RolePolicy": lambda r: c("iam").get_role_policy(
            RoleName=r.id.split(":")[0], PolicyName=r.id.split(":")[1]
        ),
        "aws:cloudwatch/logGroup:LogGroup": log_group,
        "aws:lambda/function:Function": lambda r: c("lambda").get_function_configuration(FunctionName=r.id),
        "aws:lambda/permission:Permission": permission,
        "aws:sqs/queue:Queue": lambda r: c("sqs").get_queue_attributes(QueueUrl=r.id),
        "aws:lambda/eventSourceMapping:EventSourceMapping": lambda r: c("lambda").get_event_source_mapping(UUID=r.id),
        "aws:cloudwatch/metricAlarm:MetricAlarm": alarm,
        "aws:cloudwatch/dashboard:Dashboard": lambda r: c("cloudwatch").get_dashboard(DashboardName=r.id),
        "aws:cloudwatch/queryDefinition:QueryDefinition": query,
        "aws:sfn/stateMachine:StateMachine": lambda r: c("stepfunctions").describe_state_machine(stateMachineArn=r.id),
        "aws:apigatewayv2/api:Api": lambda r: c("apigatewayv2").get_api(ApiId=r.id),
        "aws:apigatewayv2/integration:Integration": lambda r: c("apigatewayv2").get_integration(
            ApiId=r.inputs["apiId"], IntegrationId=r.id
        ),
        "aws:apigatewayv2/route:Route": lambda r: c("apigatewayv2").get_route(ApiId=r.inputs["apiId"], RouteId=r.id),
        "aws:apigatewayv2/stage:Stage": lambda r: c("apigatewayv2").get_stage(ApiId=r.inputs["apiId"], StageName=r.id),
        "aws:s3/bucket:Bucket": lambda r: c("s3").head_bucket(Bucket=r.id),
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": bucket_encryption,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": public_access_block,
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls": lambda r: c("s3").get_bucket_ownership_controls(
            Bucket=r.id
        ),
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": lifecycle,
        "aws:s3/bucketPolicy:BucketPolicy": lambda r: c("s3").get_bucket_policy(Bucket=r.id),
    }


@pytest.mark.parametrize("stack", STACK_FILES)
def test_every_registered_resource_is_created_or_listed(
    stack: str, stacks: dict[str, Deployment], programs: dict[str, recorded.ProgramRun]
) -> None:
    deployment = stacks[stack]
    registered = Counter(r.typ for r in programs[stack].resources if r.typ.startswith("aws:"))
    handled = Counter(
        [r.typ for rs in deployment.resources.values() for r in rs] + [u.typ for u in deployment.unemulated]
    )
    assert handled == registered
    # Without a custom domain every type is emulated, but moto keeps no RedriveAllowPolicy: listed, with why.
    not_kept = [u for u in deployment.unemulated if u.typ == "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"]
    assert not_kept == deployment.unemulated
    assert len(not_kept) == (5 if stack == "sandbox-sqs" else 0)
    assert all("RedriveAllowPolicy" in u.reason for u in not_kept)
    assert sorted(deployment.components) == sorted(
        r.name for r in programs[stack].resources if r.typ.startswith("github-automation:")
    )


@pytest.mark.parametrize("stack", STACK_FILES)
def test_every_created_resource_exists_in_the_emulator(
    stack: str, aws: EmbeddedAws, stacks: dict[str, Deployment]
) -> None:
    exists = _exists(aws)
    for resources in stacks[stack].resources.values():
        for resource in resources:
            exists[resource.typ](resource)


def test_an_unemulated_type_is_listed_with_echo_outputs(aws: EmbeddedAws, stacks: dict[str, Deployment]) -> None:
    mocks = SandboxMocks(aws.client, stacks["sandbox-sqs"].http_apis)
    args = pulumi.runtime.MockResourceArgs(
        "aws:route53/record:Record", "alias", {"name": "hooks.example.com"}, custom=True
    )
    physical_id, outputs = mocks.new_resource(args)
    assert outputs == {"name": "hooks.example.com"} and physical_id
    assert [(u.typ, u.name) for u in mocks.unemulated] == [("aws:route53/record:Record", "alias")]
    assert mocks.created == []


def test_queues_have_their_redrive_and_visibility(aws: EmbeddedAws, stacks: dict[str, Deployment]) -> None:
    deployment, sqs = stacks["sandbox-sqs"], aws.client("sqs")
    specs = {spec.key: spec for spec in (*BUSINESS_FUNCTIONS, STORE_RECORDS)}
    parsed = parse_config(_config("sandbox-sqs"))
    exports = deployment.exports
    assert (
        set(exports["queueUrls"])
        == set(exports["deadLetterQueueUrls"])
        == {"add-team-member", "lookup-directory", "price-workflow-run", "list-org-members", "store-records"}
    )
    for key, url in exports["queueUrls"].items():
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        dlq = sqs.get_queue_attributes(QueueUrl=exports["deadLetterQueueUrls"][key], AttributeNames=["All"])[
            "Attributes"
        ]
        assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 5}
        assert int(attributes["VisibilityTimeout"]) == visibility_timeout_seconds(parsed, specs[key])
        assert attributes["SqsManagedSseEnabled"] == "true" and dlq["SqsManagedSseEnabled"] == "true"
        assert dlq["MessageRetentionPeriod"] == str(14 * 24 * 3600)


def test_mappings_keep_batching_partial_failures_and_concurrency(
    aws: EmbeddedAws, stacks: dict[str, Deployment]
) -> None:
    deployment = stacks["sandbox-sqs"]
    listed = {m["UUID"]: m for m in aws.client("lambda").list_event_source_mappings()["EventSourceMappings"]}
    assert len(deployment.event_source_mappings) == 5
    for mapping in deployment.event_source_mappings:
        stored = listed[mapping.uuid]
        assert stored["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert stored["ScalingConfig"] == {"MaximumConcurrency": 10}
        assert (stored["BatchSize"], stored["MaximumBatchingWindowInSeconds"]) == (10, 0)
        assert (
            mapping.batch_size,
            mapping.batching_window_seconds,
            mapping.report_batch_item_failures,
            mapping.maximum_concurrency,
        ) == (10, 0.0, True, 10)
        assert mapping.queue_url in deployment.exports["queueUrls"].values()
        assert mapping.function_arn == stored["FunctionArn"]
        # each step's queue bears its function's name
        assert mapping.queue_arn.rsplit(":", 1)[1] == mapping.function_arn.rsplit(":", 1)[1]
    assert not stacks["sandbox-sfn"].event_source_mappings


def test_the_stacks_poller_polls_every_mapping_at_the_emulators_time_scale(stacks: dict[str, Deployment]) -> None:
    sqs, sfn = stacks["sandbox-sqs"], stacks["sandbox-sfn"]
    assert sqs.poller.mappings == sqs.event_source_mappings and sqs.poller.time_scale == 0.01
    assert sfn.poller.mappings == [] and sfn.idle()


@pytest.mark.parametrize("stack", STACK_FILES)
def test_functions_run_the_programs_code_with_real_references(
    stack: str, aws: EmbeddedAws, secrets: dict[str, str], stacks: dict[str, Deployment]
) -> None:
    deployment, client = stacks[stack], aws.client("lambda")
    prefix = f"github-automation-{stack}-"
    for function in deployment.of_type("aws:lambda/function:Function"):
        configuration = client.get_function_configuration(FunctionName=function.id)
        key = function.id.removeprefix(prefix)
        assert configuration["Handler"] == f"functions.{key.replace('-', '_')}.handler"
        assert configuration["Runtime"] == "python3.13" and configuration["Architectures"] == ["arm64"]
        aws.client("iam").get_role(RoleName=configuration["Role"].rsplit("/", 1)[1])
        assert [layer["Arn"] for layer in configuration["Layers"]] == [
            deployment.of_type("aws:lambda/layerVersion:LayerVersion")[0].id
        ]
        env = configuration["Environment"]["Variables"]
        assert env["GITHUB_API_URL"] == GITHUB_URL and env["GITHUB_ORG"] == SANDBOX_ORG.org
        assert env["NOTIFICATION_TOPIC_ARN"] == deployment.exports["notificationTopicArn"]
        if "WEBHOOK_SECRET_ARN" in env:
            value = aws.client("secretsmanager").get_secret_value(SecretId=env["WEBHOOK_SECRET_ARN"])
            assert value["SecretString"] == WEBHOOK_SECRET
        if "GITHUB_APP_SECRET_ARN" in env:
            value = aws.client("secretsmanager").get_secret_value(SecretId=env["GITHUB_APP_SECRET_ARN"])
            assert json.loads(value["SecretString"]) == {
                "appId": SANDBOX_ORG.app_id,
                "installationId": SANDBOX_ORG.installation_id,
                "privateKey": secrets["githubAppPrivateKey"],
            }
        if "MEMBERS_TABLE" in env:
            assert env["MEMBERS_TABLE"] == deployment.exports["membersTable"]
    receiver = client.get_function_configuration(FunctionName=f"{prefix}receiver")["Environment"]["Variables"]
    targets = [receiver[f"{use_case}_TARGET"] for use_case in ("ONBOARDING", "CHARGEBACK", "BACKFILL")]
    if stack == "sandbox-sqs":
        for target in targets:  # the program builds queue URLs from names: the queues must answer to them
            aws.client("sqs").get_queue_attributes(QueueUrl=target, AttributeNames=["QueueArn"])
    else:
        assert sorted(targets) == sorted(deployment.exports["stateMachineArns"].values())


def test_the_saml_identity_cache_expires_its_items(aws: EmbeddedAws, stacks: dict[str, Deployment]) -> None:
    dynamodb = aws.client("dynamodb")
    for deployment in stacks.values():
        name = deployment.exports["samlIdentitiesTable"]
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == [
            {"AttributeName": "org", "KeyType": "HASH"},
            {"AttributeName": "login", "KeyType": "RANGE"},
        ]
        assert dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED",
            "AttributeName": "expiresAt",
        }


def test_tables_have_their_keys_index_and_protection(aws: EmbeddedAws, stacks: dict[str, Deployment]) -> None:
    dynamodb = aws.client("dynamodb")
    for deployment in stacks.values():
        members = dynamodb.describe_table(TableName=deployment.exports["membersTable"])["Table"]
        assert members["KeySchema"] == [{"AttributeName": "login", "KeyType": "HASH"}]
        assert members["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        runs = dynamodb.describe_table(TableName=deployment.exports["workflowRunsTable"])["Table"]
        assert runs["KeySchema"] == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        [index] = runs["GlobalSecondaryIndexes"]
        assert index["IndexName"] == "period-index" and index["Projection"] == {"ProjectionType": "ALL"}
        assert index["KeySchema"] == [
            {"AttributeName": "period", "KeyType": "HASH"},
            {"AttributeName": "pk", "KeyType": "RANGE"},
        ]
        assert runs["SSEDescription"]["Status"] == "ENABLED"
        backups = dynamodb.describe_continuous_backups(TableName=runs["TableName"])["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_state_machines_have_the_programs_definitions(
    aws: EmbeddedAws, stacks: dict[str, Deployment], programs: dict[str, recorded.ProgramRun]
) -> None:
    sfn, deployment = aws.client("stepfunctions"), stacks["sandbox-sfn"]
    registered = programs["sandbox-sfn"].of_type("aws:sfn/stateMachine:StateMachine")
    expected = {r.inputs["name"]: r.inputs for r in registered}
    arns = deployment.exports["stateMachineArns"]
    assert len(arns) == 3
    for arn in arns.values():
        machine = sfn.describe_state_machine(stateMachineArn=arn)
        wanted = expected[machine["name"]]
        # the backfill bucket's name ends in a suffix of its own in each (bucket_prefix, as on AWS)
        (sandbox_bucket,) = [r.id for r in deployment.resources["aws:s3/bucket:Bucket"]]
        (program_bucket,) = [r.outputs["id"] for r in programs["sandbox-sfn"].of_type("aws:s3/bucket:Bucket")]
        deployed = machine["definition"].replace(sandbox_bucket, "<backfill bucket>")
        assert json.loads(deployed) == json.loads(wanted["definition"].replace(program_bucket, "<backfill bucket>"))
        assert machine["type"] == wanted["type"]
        aws.client("iam").get_role(RoleName=machine["roleArn"].rsplit("/", 1)[1])
        assert machine["loggingConfiguration"]["level"] == wanted["loggingConfiguration"]["level"] == "ERROR"
        [destination] = machine["loggingConfiguration"]["destinations"]
        assert destination["cloudWatchLogsLogGroup"]["logGroupArn"].endswith(
            f"log-group:/aws/vendedlogs/states/{machine['name']}:*"
        )
    # Every function, topic and state machine a definition names exists.
    functions = {f["FunctionArn"] for f in aws.client("lambda").list_functions()["Functions"]}
    for arn in arns.values():
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
        named = {
            value
            for key, value in key_values(definition)
            if key in ("FunctionName", "TopicArn", "StateMachineArn") and isinstance(value, str)
        }
        assert any(":function:" in name for name in named) and any(":sns:" in name for name in named)
        for name in named:
            if ":function:" in name:
                assert name in functions
            elif ":sns:" in name:
                aws.client("sns").get_topic_attributes(TopicArn=name)
            else:
                sfn.describe_state_machine(stateMachineArn=name)


def test_both_stacks_sit_side_by_side(aws: EmbeddedAws, stacks: dict[str, Deployment]) -> None:
    sqs, sfn = stacks["sandbox-sqs"], stacks["sandbox-sfn"]
    assert sqs.exports["architecture"] == "sqs" and sfn.exports["architecture"] == "stepfunctions"
    assert sqs.webhook_url != sfn.webhook_url
    names = [f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]]
    # the five business functions and the chargeback report; sqs also deploys its store step
    assert sum(name.startswith("github-automation-sandbox-sqs-") for name in names) == 7
    assert sum(name.startswith("github-automation-sandbox-sfn-") for name in names) == 6
    assert len(aws.client("apigatewayv2").get_apis()["Items"]) == 2
    for deployment in stacks.values():
        aws.client("sns").get_topic_attributes(TopicArn=deployment.exports["notificationTopicArn"])


def test_the_api_stage_keeps_the_programs_throttling(aws: EmbeddedAws, stacks: dict[str, Deployment]) -> None:
    apigateway = aws.client("apigatewayv2")
    for deployment in stacks.values():
        [api] = deployment.of_type("aws:apigatewayv2/api:Api")
        assert deployment.webhook_url == f"{api.outputs['apiEndpoint']}/webhook"
        assert deployment.webhook_url.startswith("http://127.0.0.1:")
        stage = apigateway.get_stage(ApiId=api.id, StageName="$default")
        assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
        assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
        routes = {route["RouteKey"]: route for route in apigateway.get_routes(ApiId=api.id)["Items"]}
        assert sorted(routes) == ["GET /chargeback", "POST /webhook"]
        for key, function, authorization in (
            ("POST /webhook", "receiver", "NONE"),
            ("GET /chargeback", "chargeback-report", "AWS_IAM"),
        ):
            integration_id = routes[key]["Target"].split("/")[1]
            integration = apigateway.get_integration(ApiId=api.id, IntegrationId=integration_id)
            assert integration["IntegrationUri"].endswith(f"function:github-automation-{deployment.stack}-{function}")
            assert routes[key].get("AuthorizationType", "NONE") == authorization


def test_a_signed_delivery_to_the_webhook_url_reaches_the_queue(
    aws: EmbeddedAws, stacks: dict[str, Deployment]
) -> None:
    deployment = stacks["sandbox-sqs"]
    delivery = member_added(SANDBOX_ORG, SANDBOX_ORG.members[0])
    headers, body = signed_request(delivery, WEBHOOK_SECRET)
    response = httpx.post(deployment.webhook_url, content=body, headers=headers, timeout=15)
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "accepted", "deliveryId": delivery.delivery_id}
    queued = aws.client("sqs").receive_message(
        QueueUrl=deployment.exports["queueUrls"]["add-team-member"], MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert [m["MessageAttributes"]["correlationId"]["StringValue"] for m in queued] == [delivery.delivery_id]
    assert json.loads(queued[0]["Body"])["login"] == SANDBOX_ORG.members[0].login


def test_the_other_stacks_receiver_answers_on_its_own_url(stacks: dict[str, Deployment]) -> None:
    delivery = ignored(SANDBOX_ORG, "ping", "with-organization")
    headers, body = signed_request(delivery, WEBHOOK_SECRET)
    response = httpx.post(stacks["sandbox-sfn"].webhook_url, content=body, headers=headers, timeout=15)
    assert (response.status_code, response.json()) == (202, {"status": "ignored"})
    forged = httpx.post(stacks["sandbox-sfn"].webhook_url, content=body + b" ", headers=headers, timeout=15)
    assert forged.status_code == 401


def test_deploying_a_stack_twice_fails_with_the_resource_named(
    aws: EmbeddedAws, secrets: dict[str, str], stacks: dict[str, Deployment]
) -> None:
    with pytest.raises(RuntimeError, match=r"sandbox: creating aws:\S+ '.+' in the emulator failed: .*exist"):
        deploy_stack(aws, "sandbox-sqs", _config("sandbox-sqs"), secrets, start_pollers=False)


def test_sandbox_config_points_the_stack_at_the_fakes() -> None:
    config = sandbox_config("Pulumi.dev-sfn.yaml", GITHUB_URL, DIRECTORY_URL, SANDBOX_ORG)
    assert (config["githubApiUrl"], config["directory"], config["githubOrg"]) == (
        GITHUB_URL,
        DIRECTORY_URL,
        SANDBOX_ORG.org,
    )
    assert sandbox_config("Pulumi.dev.yaml", GITHUB_URL)["directory"] == "github-saml"
    with pytest.raises(ValueError, match="directory_url"):
        sandbox_config("Pulumi.dev-sfn.yaml", GITHUB_URL)


@pytest.mark.parametrize("stack", STACK_FILES)
def test_the_dashboard_is_in_the_emulator_with_the_programs_body(
    stack: str, aws: EmbeddedAws, stacks: dict[str, Deployment], programs: dict[str, recorded.ProgramRun]
) -> None:
    (registered,) = programs[stack].of_type("aws:cloudwatch/dashboard:Dashboard")
    (created,) = stacks[stack].resources["aws:cloudwatch/dashboard:Dashboard"]
    stored = aws.client("cloudwatch").get_dashboard(DashboardName=created.id)
    assert stored["DashboardName"] == registered.inputs["dashboardName"]
    assert json.loads(stored["DashboardBody"]) == json.loads(registered.inputs["dashboardBody"])


@pytest.mark.parametrize("stack", STACK_FILES)
def test_the_saved_queries_are_in_the_emulator_over_the_stacks_log_groups(
    stack: str, aws: EmbeddedAws, stacks: dict[str, Deployment]
) -> None:
    groups = {g.id for g in stacks[stack].resources["aws:cloudwatch/logGroup:LogGroup"]}
    for created in stacks[stack].resources["aws:cloudwatch/queryDefinition:QueryDefinition"]:
        (stored,) = aws.client("logs").describe_query_definitions(queryDefinitionNamePrefix=created.inputs["name"])[
            "queryDefinitions"
        ]
        assert stored["queryString"] == created.inputs["queryString"]
        assert set(stored["logGroupNames"]) <= groups and stored["logGroupNames"]
