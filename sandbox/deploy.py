"""Deploy the real Pulumi program into the embedded AWS: each resource it registers is created in moto.

:class:`SandboxMocks` is the ``pulumi.runtime.Mocks`` the program runs under (sandbox/program.py). For every
resource the program registers it makes the boto3 calls that the AWS provider would make and answers with the
emulator's real outputs (ARNs, queue URLs, ids), so what the program wires together (a function's
environment, a state machine's definition, the webhook URL) points at things that exist. A resource type it
does not emulate is listed in ``unemulated`` and answered with its inputs; it is never dropped silently.
Component resources (``github-automation:...``) have no cloud counterpart and are only counted.

:func:`deploy_stack` runs the program for one stack and starts the stack's data plane: the HTTP API on
loopback (sandbox/http_api.py) and the SQS event source mappings' poller (sandbox/sqs_poller.py).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
from botocore.client import BaseClient
from botocore.config import Config
from pulumi.runtime import rpc

from sandbox import program
from sandbox.api_calls import POLLER_ACCESS_KEY
from sandbox.aws import ACCOUNT_ID, REGION, EmbeddedAws
from sandbox.direct import DirectInvoker
from sandbox.http_api import HttpApiGateway
from sandbox.lambda_runtime import FAKE_CREDENTIALS, InvokeResult
from sandbox.sqs_poller import EventSourcePoller, QueueMapping

if TYPE_CHECKING:
    from sandbox.fake_github import OrgSeed

PARTITION = "aws"
DNS_SUFFIX = "amazonaws.com"
#: Lambda's longest function timeout: an Invoke API call may take this long before it answers.
MAX_FUNCTION_SECONDS = 900
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)

Outputs = dict[str, Any]
ClientFactory = Callable[[str], BaseClient]


@dataclass(frozen=True)
class CreatedResource:
    typ: str
    name: str  # the Pulumi resource name
    id: str  # the physical id Pulumi records (a name, an ARN or a URL, as the AWS provider does)
    inputs: dict[str, Any] = field(repr=False)  # as the provider saw them (secrets unwrapped)
    outputs: Outputs = field(repr=False)


@dataclass(frozen=True)
class UnemulatedResource:
    typ: str
    name: str
    reason: str = "the sandbox does not emulate this type"


class NotKept(Exception):
    """The emulator accepted the call but keeps nothing of it: the resource is listed as unemulated."""


@dataclass
class Deployment:
    """One stack deployed into the emulator, with its data plane running until :meth:`close`."""

    stack: str
    exports: dict[str, Any]
    resources: dict[str, list[CreatedResource]]  # by Pulumi type token
    unemulated: list[UnemulatedResource]
    components: list[str]  # the component resources' names (no cloud counterpart)
    event_source_mappings: list[QueueMapping]
    http_apis: HttpApiGateway
    poller: EventSourcePoller

    @property
    def webhook_url(self) -> str:
        return str(self.exports["webhookUrl"])

    def of_type(self, typ: str) -> list[CreatedResource]:
        return self.resources.get(typ, [])

    def idle(self) -> bool:
        """No message waits in or is being processed from any of the stack's mapped queues."""
        return self.poller.idle()

    def close(self) -> None:
        self.poller.stop()
        self.http_apis.close()

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ApiInvoker:
    """Invoke functions as the Lambda Invoke API does, the one path the runtime hook serves: straight into
    moto's function (sandbox/direct.py), or through the API for a function moto does not know.

    No retries (a retried invoke would run the function twice) and a read timeout longer than any
    function may run: the runtime enforces the function's own timeout.
    """

    def __init__(self, aws: EmbeddedAws) -> None:
        self._client = aws.new_client(
            "lambda",
            Config(read_timeout=MAX_FUNCTION_SECONDS + 30, retries={"total_max_attempts": 1}, max_pool_connections=50),
        )
        self._direct = DirectInvoker(
            aws.api_calls,
            self.through_api,
            caller=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            account_id=ACCOUNT_ID,
            region=REGION,
        )

    def __call__(self, function: str, payload: bytes) -> InvokeResult:
        return self._direct(function, payload)

    def through_api(self, function: str, payload: bytes) -> InvokeResult:
        response = self._client.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=payload)
        return InvokeResult(response["Payload"].read(), response.get("FunctionError"))


def plain(value: Any) -> Any:
    """Inputs as the provider sees them: Pulumi secrets unwrapped, whole floats back to ints."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return plain(value.get("value"))
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def archive_zip(archive: pulumi.Archive) -> bytes:
    """The bytes of a Lambda code or layer archive: an AssetArchive zipped, a FileArchive read as is."""
    if isinstance(archive, pulumi.FileArchive):
        return Path(archive.path).read_bytes()
    if not isinstance(archive, pulumi.AssetArchive):
        raise TypeError(f"cannot package a {type(archive).__name__} (expected AssetArchive or FileArchive)")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, asset in sorted(archive.assets.items()):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            if isinstance(asset, pulumi.FileAsset):
                zipped.writestr(info, Path(asset.path).read_bytes(), zipfile.ZIP_DEFLATED)
            elif isinstance(asset, pulumi.StringAsset):
                zipped.writestr(info, asset.text, zipfile.ZIP_DEFLATED)
            else:
                raise TypeError(f"cannot package {name!r}: a {type(asset).__name__} is not a local file")
    return buffer.getvalue()


def _arn(service: str, resource: str, region: str = REGION, account: str = "") -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


def _log_group_arn(arn: str) -> str:
    """CloudWatch Logs describes a group as ``...:log-group:NAME:*``; the provider exports it without ``:*``."""
    return arn.removesuffix(":*")


class SandboxMocks(pulumi.runtime.Mocks):
    """Create each resource the program registers in the emulator; answer with its real outputs.

    Pulumi calls :meth:`new_resource` from several threads at once; boto3 clients are thread-safe and the
    bookkeeping is locked. A failing AWS call raises, which stops the program with that error.
    """

    def __init__(self, clients: ClientFactory, gateway: HttpApiGateway) -> None:
        self._clients = clients
        self._gateway = gateway
        self._lock = threading.Lock()
        self._client_cache: dict[str, BaseClient] = {}
        self.account_id = self._client("sts").get_caller_identity()["Account"]
        self.created: list[CreatedResource] = []
        self.unemulated: list[UnemulatedResource] = []
        self.components: list[str] = []
        self.mappings: list[QueueMapping] = []
        self._create: dict[str, Callable[[str, dict[str, Any]], tuple[str, Outputs]]] = {
            "aws:dynamodb/table:Table": self._table,
            "aws:secretsmanager/secret:Secret": self._secret,
            "aws:secretsmanager/secretVersion:SecretVersion": self._secret_version,
            "aws:kms/key:Key": self._kms_key,
            "aws:sns/topic:Topic": self._topic,
            "aws:sns/topicSubscription:TopicSubscription": self._subscription,
            "aws:lambda/layerVersion:LayerVersion": self._layer_version,
            "aws:iam/role:Role": self._role,
            "aws:iam/rolePolicy:RolePolicy": self._role_policy,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:lambda/function:Function": self._function,
            "aws:lambda/permission:Permission": self._permission,
            "aws:sqs/queue:Queue": self._queue,
            "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": self._redrive_allow_policy,
            "aws:lambda/eventSourceMapping:EventSourceMapping": self._event_source_mapping,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self._metric_alarm,
            "aws:cloudwatch/dashboard:Dashboard": self._dashboard,
            "aws:cloudwatch/queryDefinition:QueryDefinition": self._query_definition,
            "aws:sfn/stateMachine:StateMachine": self._state_machine,
            "aws:apigatewayv2/api:Api": self._api,
            "aws:apigatewayv2/integration:Integration": self._integration,
            "aws:apigatewayv2/route:Route": self._route,
            "aws:apigatewayv2/stage:Stage": self._stage,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
                self._bucket_encryption
            ),
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": self._bucket_public_access_block,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": self._bucket_ownership_controls,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": self._bucket_lifecycle,
            "aws:s3/bucketPolicy:BucketPolicy": self._bucket_policy,
        }

    @property
    def emulated_types(self) -> frozenset[str]:
        return frozenset(self._create)

    # --- pulumi.runtime.Mocks ---------------------------------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            with self._lock:
                self.components.append(args.name)
            return None, {}
        create = self._create.get(args.typ)
        if create is None:
            with self._lock:
                self.unemulated.append(UnemulatedResource(args.typ, args.name))
            return f"{args.name}-unemulated", dict(args.inputs)
        inputs = plain(args.inputs)
        try:
            physical_id, outputs = create(args.name, inputs)
        except NotKept as not_kept:
            with self._lock:
                self.unemulated.append(UnemulatedResource(args.typ, args.name, str(not_kept)))
            return f"{args.name}-unemulated", dict(args.inputs)
        except Exception as error:
            raise RuntimeError(f"sandbox: creating {args.typ} {args.name!r} in the emulator failed: {error}") from error
        with self._lock:
            self.created.append(CreatedResource(args.typ, args.name, physical_id, inputs, outputs))
        return physical_id, {**args.inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        match args.token:
            case "aws:index/getCallerIdentity:getCallerIdentity":
                identity = self._client("sts").get_caller_identity()
                return {
                    "accountId": identity["Account"],
                    "arn": identity["Arn"],
                    "userId": identity["UserId"],
                    "id": identity["Account"],
                }, []
            case "aws:index/getRegion:getRegion":
                region = self._client("sts").meta.region_name
                return {
                    "name": region,
                    "region": region,
                    "id": region,
                    "endpoint": f"ec2.{region}.{DNS_SUFFIX}",
                    "description": region,
                }, []
            case "aws:index/getPartition:getPartition":
                return {
                    "partition": PARTITION,
                    "dnsSuffix": DNS_SUFFIX,
                    "id": PARTITION,
                    "reverseDnsPrefix": "com.amazonaws",
                }, []
        raise NotImplementedError(f"sandbox: the program calls {args.token}, which the sandbox does not answer")

    # --- helpers ---------------------------------------------------------------------------------------

    def _client(self, service: str) -> BaseClient:
        with self._lock:
            if service not in self._client_cache:
                self._client_cache[service] = self._clients(service)
            return self._client_cache[service]

    def arn(self, service: str, resource: str) -> str:
        return _arn(service, resource, REGION, self.account_id)

    # --- one method per resource type: (id, outputs) as the AWS provider reports them ----------------

    def _table(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        table = inputs["name"]
        keys = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
        if inputs.get("rangeKey"):
            keys.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
        request: dict[str, Any] = {
            "TableName": table,
            "KeySchema": keys,
            "AttributeDefinitions": [
                {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs.get("attributes", [])
            ],
            "BillingMode": inputs.get("billingMode", "PROVISIONED"),
        }
        indexes = [
            {
                "IndexName": index["name"],
                "KeySchema": [
                    {"AttributeName": k["attributeName"], "KeyType": k["keyType"]} for k in index["keySchemas"]
                ],
                "Projection": {
                    "ProjectionType": index["projectionType"],
                    **_pick(index, NonKeyAttributes="nonKeyAttributes"),
                },
            }
            for index in inputs.get("globalSecondaryIndexes", [])
        ]
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        if inputs.get("serverSideEncryption", {}).get("enabled"):
            request["SSESpecification"] = {"Enabled": True}
        description = self._client("dynamodb").create_table(**request)["TableDescription"]
        if inputs.get("pointInTimeRecovery", {}).get("enabled"):
            self._client("dynamodb").update_continuous_backups(
                TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        if (ttl := inputs.get("ttl") or {}).get("enabled"):
            self._client("dynamodb").update_time_to_live(
                TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]}
            )
        return table, {"name": table, "arn": description["TableArn"], "id": table}

    def _secret(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        # The provider's name_prefix: the prefix and a unique suffix.
        secret_name = inputs.get("name") or f"{inputs.get('namePrefix', name)}{uuid.uuid4().hex[:26]}"
        response = self._client("secretsmanager").create_secret(
            Name=secret_name, **_pick(inputs, Description="description")
        )
        return response["ARN"], {"arn": response["ARN"], "name": secret_name, "id": response["ARN"]}

    def _secret_version(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        response = self._client("secretsmanager").put_secret_value(
            SecretId=inputs["secretId"], SecretString=inputs["secretString"]
        )
        return f"{response['ARN']}|{response['VersionId']}", {
            "arn": response["ARN"],
            "versionId": response["VersionId"],
            "versionStages": response["VersionStages"],
        }

    def _kms_key(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        kms = self._client("kms")
        metadata = kms.create_key(**_pick(inputs, Description="description", Policy="policy"))["KeyMetadata"]
        if inputs.get("enableKeyRotation"):
            kms.enable_key_rotation(KeyId=metadata["KeyId"])
        return metadata["KeyId"], {"arn": metadata["Arn"], "keyId": metadata["KeyId"], "id": metadata["KeyId"]}

    def _topic(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        attributes = _pick(inputs, KmsMasterKeyId="kmsMasterKeyId")
        arn = self._client("sns").create_topic(Name=inputs["name"], Attributes=attributes)["TopicArn"]
        return arn, {"arn": arn, "name": inputs["name"], "id": arn}

    def _subscription(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        arn = self._client("sns").subscribe(
            TopicArn=inputs["topic"],
            Protocol=inputs["protocol"],
            Endpoint=inputs["endpoint"],
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return arn, {"arn": arn, "id": arn}

    def _layer_version(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        response = self._client("lambda").publish_layer_version(
            LayerName=inputs["layerName"],
            Content={"ZipFile": archive_zip(inputs["code"])},
            **_pick(
                inputs,
                Description="description",
                CompatibleRuntimes="compatibleRuntimes",
                CompatibleArchitectures="compatibleArchitectures",
            ),
        )
        return response["LayerVersionArn"], {
            "arn": response["LayerVersionArn"],
            "layerArn": response["LayerArn"],
            "version": str(response["Version"]),
            "codeSha256": response["Content"]["CodeSha256"],
            "id": response["LayerVersionArn"],
        }

    def _role(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        role = self._client("iam").create_role(
            RoleName=inputs["name"],
            AssumeRolePolicyDocument=inputs["assumeRolePolicy"],
            **_pick(inputs, Description="description"),
        )["Role"]
        return role["RoleName"], {
            "arn": role["Arn"],
            "name": role["RoleName"],
            "uniqueId": role["RoleId"],
            "id": role["RoleName"],
        }

    def _role_policy(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        policy_name = inputs.get("name") or name
        self._client("iam").put_role_policy(
            RoleName=inputs["role"], PolicyName=policy_name, PolicyDocument=inputs["policy"]
        )
        return f"{inputs['role']}:{policy_name}", {"name": policy_name, "id": f"{inputs['role']}:{policy_name}"}

    def _log_group(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        logs, group = self._client("logs"), inputs["name"]
        logs.create_log_group(logGroupName=group)
        if inputs.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=group, retentionInDays=inputs["retentionInDays"])
        described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        arn = next(g["arn"] for g in described if g["logGroupName"] == group)
        return group, {"arn": _log_group_arn(arn), "name": group, "id": group}

    def _function(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        request: dict[str, Any] = {
            "FunctionName": inputs["name"],
            "Role": inputs["role"],
            "Runtime": inputs["runtime"],
            "Handler": inputs["handler"],
            "Code": {"ZipFile": archive_zip(inputs["code"])},
            "Publish": bool(inputs.get("publish", False)),
            **_pick(
                inputs,
                Description="description",
                Timeout="timeout",
                MemorySize="memorySize",
                Layers="layers",
                Architectures="architectures",
            ),
        }
        if "environment" in inputs:
            request["Environment"] = {"Variables": dict(inputs["environment"].get("variables") or {})}
        if "tracingConfig" in inputs:
            request["TracingConfig"] = {"Mode": inputs["tracingConfig"]["mode"]}
        if "loggingConfig" in inputs:
            request["LoggingConfig"] = _pick(
                inputs["loggingConfig"],
                LogFormat="logFormat",
                LogGroup="logGroup",
                ApplicationLogLevel="applicationLogLevel",
                SystemLogLevel="systemLogLevel",
            )
        function = self._client("lambda").create_function(**request)
        arn = function["FunctionArn"]
        invoke_arn = f"arn:{PARTITION}:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"
        return function["FunctionName"], {
            "arn": arn,
            "name": function["FunctionName"],
            "qualifiedArn": f"{arn}:{function['Version']}",
            "invokeArn": invoke_arn,
            "version": function["Version"],
            "lastModified": function["LastModified"],
            "codeSha256": function["CodeSha256"],
            "sourceCodeHash": function["CodeSha256"],
            "sourceCodeSize": function["CodeSize"],
            "id": function["FunctionName"],
        }

    def _permission(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        statement_id = inputs.get("statementId") or name
        self._client("lambda").add_permission(
            FunctionName=inputs["function"],
            StatementId=statement_id,
            Action=inputs["action"],
            Principal=inputs["principal"],
            **_pick(inputs, SourceArn="sourceArn", SourceAccount="sourceAccount", Qualifier="qualifier"),
        )
        return statement_id, {"statementId": statement_id, "id": statement_id}

    def _queue(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        attributes = {
            key: str(value)
            for key, value in _pick(
                inputs,
                VisibilityTimeout="visibilityTimeoutSeconds",
                MessageRetentionPeriod="messageRetentionSeconds",
                DelaySeconds="delaySeconds",
                MaximumMessageSize="maxMessageSize",
                ReceiveMessageWaitTimeSeconds="receiveWaitTimeSeconds",
                RedrivePolicy="redrivePolicy",
                RedriveAllowPolicy="redriveAllowPolicy",
                KmsMasterKeyId="kmsMasterKeyId",
            ).items()
        }
        if "sqsManagedSseEnabled" in inputs:
            attributes["SqsManagedSseEnabled"] = "true" if inputs["sqsManagedSseEnabled"] else "false"
        if inputs.get("fifoQueue"):
            attributes["FifoQueue"] = "true"
        sqs = self._client("sqs")
        url = sqs.create_queue(QueueName=inputs["name"], Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {"url": url, "arn": arn, "name": inputs["name"], "id": url}

    def _redrive_allow_policy(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        sqs, url = self._client("sqs"), inputs["queueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedriveAllowPolicy": inputs["redriveAllowPolicy"]})
        if "RedriveAllowPolicy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]:
            # moto 5.2.5 takes the attribute without error, but never returns or enforces it.
            raise NotKept("the emulator neither returns nor enforces a queue's RedriveAllowPolicy")
        return url, {"id": url}

    def _event_source_mapping(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        request: dict[str, Any] = {
            "EventSourceArn": inputs["eventSourceArn"],
            "FunctionName": inputs["functionName"],
            "Enabled": inputs.get("enabled", True),
            **_pick(
                inputs,
                BatchSize="batchSize",
                MaximumBatchingWindowInSeconds="maximumBatchingWindowInSeconds",
                FunctionResponseTypes="functionResponseTypes",
            ),
        }
        if inputs.get("scalingConfig", {}).get("maximumConcurrency"):
            request["ScalingConfig"] = {"MaximumConcurrency": inputs["scalingConfig"]["maximumConcurrency"]}
        created = self._client("lambda").create_event_source_mapping(**request)
        queue_name = created["EventSourceArn"].rsplit(":", 1)[1]
        queue_url = self._client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]
        # What the poller runs by: moto's stored mapping, or what was asked where moto drops a setting.
        mapping = QueueMapping.from_configuration({**request, **created}, queue_url)
        with self._lock:
            self.mappings.append(mapping)
        return created["UUID"], {
            "uuid": created["UUID"],
            "arn": created.get("EventSourceMappingArn", ""),
            "functionArn": created["FunctionArn"],
            "state": created.get("State", ""),
            "lastModified": str(created.get("LastModified", "")),
            "id": created["UUID"],
        }

    def _metric_alarm(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        request: dict[str, Any] = {
            "AlarmName": inputs["name"],
            **_pick(
                inputs,
                AlarmDescription="alarmDescription",
                Namespace="namespace",
                MetricName="metricName",
                Statistic="statistic",
                Period="period",
                EvaluationPeriods="evaluationPeriods",
                Threshold="threshold",
                ComparisonOperator="comparisonOperator",
                TreatMissingData="treatMissingData",
                AlarmActions="alarmActions",
                OKActions="okActions",
                InsufficientDataActions="insufficientDataActions",
                DatapointsToAlarm="datapointsToAlarm",
            ),
        }
        if "Threshold" in request:
            request["Threshold"] = float(request["Threshold"])
        if inputs.get("dimensions"):
            request["Dimensions"] = [{"Name": k, "Value": v} for k, v in sorted(inputs["dimensions"].items())]
        cloudwatch = self._client("cloudwatch")
        cloudwatch.put_metric_alarm(**request)
        alarm = cloudwatch.describe_alarms(AlarmNames=[inputs["name"]])["MetricAlarms"][0]
        return inputs["name"], {"arn": alarm["AlarmArn"], "name": inputs["name"], "id": inputs["name"]}

    def _dashboard(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        cloudwatch, dashboard = self._client("cloudwatch"), inputs["dashboardName"]
        cloudwatch.put_dashboard(DashboardName=dashboard, DashboardBody=inputs["dashboardBody"])
        (described,) = cloudwatch.list_dashboards(DashboardNamePrefix=dashboard)["DashboardEntries"]
        return dashboard, {"dashboardArn": described["DashboardArn"], "dashboardName": dashboard, "id": dashboard}

    def _query_definition(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        created = self._client("logs").put_query_definition(
            name=inputs["name"], queryString=inputs["queryString"], logGroupNames=inputs.get("logGroupNames", [])
        )
        query_id = created["queryDefinitionId"]
        return query_id, {"queryDefinitionId": query_id, "name": inputs["name"], "id": query_id}

    def _state_machine(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        request: dict[str, Any] = {
            "name": inputs["name"],
            "definition": inputs["definition"],
            "roleArn": inputs["roleArn"],
            "type": inputs.get("type", "STANDARD"),
        }
        logging_config = inputs.get("loggingConfiguration")
        if logging_config:
            request["loggingConfiguration"] = {
                "level": logging_config.get("level", "OFF"),
                "includeExecutionData": bool(logging_config.get("includeExecutionData", False)),
            }
            if logging_config.get("logDestination"):
                request["loggingConfiguration"]["destinations"] = [
                    {"cloudWatchLogsLogGroup": {"logGroupArn": logging_config["logDestination"]}}
                ]
        if inputs.get("tracingConfiguration"):
            request["tracingConfiguration"] = {"enabled": bool(inputs["tracingConfiguration"].get("enabled"))}
        created = self._client("stepfunctions").create_state_machine(**request)
        arn = created["stateMachineArn"]
        return arn, {
            "arn": arn,
            "name": inputs["name"],
            "creationDate": created["creationDate"].isoformat(),
            "status": "ACTIVE",
            "stateMachineVersionArn": created.get("stateMachineVersionArn", ""),
            "id": arn,
        }

    def _api(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        api = self._client("apigatewayv2").create_api(
            Name=inputs["name"], ProtocolType=inputs["protocolType"], **_pick(inputs, Description="description")
        )
        api_id = api["ApiId"]
        # The API's endpoint is where the sandbox serves it: a loopback server of its own.
        endpoint = self._gateway.serve(api_id) if inputs["protocolType"] == "HTTP" else api["ApiEndpoint"]
        return api_id, {
            "apiEndpoint": endpoint,
            "executionArn": self.arn("execute-api", api_id),
            "arn": f"arn:{PARTITION}:apigateway:{REGION}::/apis/{api_id}",
            "id": api_id,
        }

    def _integration(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        integration = self._client("apigatewayv2").create_integration(
            ApiId=inputs["apiId"],
            IntegrationType=inputs["integrationType"],
            **_pick(
                inputs,
                IntegrationMethod="integrationMethod",
                IntegrationUri="integrationUri",
                PayloadFormatVersion="payloadFormatVersion",
                TimeoutInMillis="timeoutMilliseconds",
                Description="description",
            ),
        )
        return integration["IntegrationId"], {"id": integration["IntegrationId"]}

    def _route(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        route = self._client("apigatewayv2").create_route(
            ApiId=inputs["apiId"],
            RouteKey=inputs["routeKey"],
            **_pick(inputs, Target="target", AuthorizationType="authorizationType"),
        )
        return route["RouteId"], {"id": route["RouteId"]}

    # --- S3: the stepfunctions backfill's page bucket (components/backfill_bucket.py) ---------------------

    def _bucket(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        bucket = inputs.get("bucket") or f"{inputs['bucketPrefix']}{uuid.uuid4().hex[:12]}"
        self._client("s3").create_bucket(Bucket=bucket)
        arn = f"arn:aws:s3:::{bucket}"
        return bucket, {"id": bucket, "bucket": bucket, "arn": arn}

    def _bucket_encryption(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"],
                    **_pick(rule["applyServerSideEncryptionByDefault"], KMSMasterKeyID="kmsMasterKeyId"),
                },
                **_pick(rule, BucketKeyEnabled="bucketKeyEnabled"),
            }
            for rule in inputs["rules"]
        ]
        self._client("s3").put_bucket_encryption(
            Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
        )
        return inputs["bucket"], {"id": inputs["bucket"]}

    def _bucket_public_access_block(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        settings = {
            "BlockPublicAcls": "blockPublicAcls",
            "IgnorePublicAcls": "ignorePublicAcls",
            "BlockPublicPolicy": "blockPublicPolicy",
            "RestrictPublicBuckets": "restrictPublicBuckets",
        }
        self._client("s3").put_public_access_block(
            Bucket=inputs["bucket"],
            PublicAccessBlockConfiguration={key: bool(inputs.get(field, False)) for key, field in settings.items()},
        )
        return inputs["bucket"], {"id": inputs["bucket"]}

    def _bucket_ownership_controls(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        self._client("s3").put_bucket_ownership_controls(
            Bucket=inputs["bucket"],
            OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]},
        )
        return inputs["bucket"], {"id": inputs["bucket"]}

    def _bucket_lifecycle(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        rules = []
        for rule in inputs["rules"]:
            entry: dict[str, Any] = {"ID": rule["id"], "Status": rule["status"]}
            entry["Filter"] = {"Prefix": rule.get("filter", {}).get("prefix", "")}
            if "expiration" in rule:
                entry["Expiration"] = {"Days": rule["expiration"]["days"]}
            if "abortIncompleteMultipartUpload" in rule:
                days = rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
                entry["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
            rules.append(entry)
        self._client("s3").put_bucket_lifecycle_configuration(
            Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules}
        )
        return inputs["bucket"], {"id": inputs["bucket"]}

    def _bucket_policy(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        self._client("s3").put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
        return inputs["bucket"], {"id": inputs["bucket"]}

    def _stage(self, name: str, inputs: dict[str, Any]) -> tuple[str, Outputs]:
        api_id, stage_name = inputs["apiId"], inputs["name"]
        request: dict[str, Any] = {
            "ApiId": api_id,
            "StageName": stage_name,
            "AutoDeploy": bool(inputs.get("autoDeploy")),
        }
        if inputs.get("defaultRouteSettings"):
            settings = _pick(
                inputs["defaultRouteSettings"],
                ThrottlingRateLimit="throttlingRateLimit",
                ThrottlingBurstLimit="throttlingBurstLimit",
                DetailedMetricsEnabled="detailedMetricsEnabled",
            )
            if "ThrottlingRateLimit" in settings:
                settings["ThrottlingRateLimit"] = float(settings["ThrottlingRateLimit"])
            request["DefaultRouteSettings"] = settings
        if inputs.get("accessLogSettings"):
            request["AccessLogSettings"] = _pick(
                inputs["accessLogSettings"], DestinationArn="destinationArn", Format="format"
            )
        self._client("apigatewayv2").create_stage(**request)
        base = self._gateway.url(api_id)
        invoke_url = f"{base}/" if stage_name == "$default" else f"{base}/{stage_name}"
        return stage_name, {
            "invokeUrl": invoke_url,
            "executionArn": f"{self.arn('execute-api', api_id)}/{stage_name}",
            "arn": f"arn:{PARTITION}:apigateway:{REGION}::/apis/{api_id}/stages/{stage_name}",
            "id": stage_name,
        }


def _pick(inputs: Mapping[str, Any], **keys: str) -> dict[str, Any]:
    """``{AwsKey: inputs[pulumiKey]}`` for each ``AwsKey=pulumiKey`` the inputs set (None and "" are unset)."""
    return {key: inputs[source] for key, source in keys.items() if inputs.get(source) not in (None, "")}


def sandbox_config(
    stack_file: str | Path, github_api_url: str, directory_url: str | None = None, seed: OrgSeed | None = None
) -> dict[str, str]:
    """A stack file's config pointed at the sandbox's fakes: the GitHub API, the HTTP directory if the stack
    uses one, and (given the fake's ``seed``) the seeded org, team, App and installation."""
    config = program.stack_config(stack_file)
    config["githubApiUrl"] = github_api_url
    if config.get("directory", "github-saml") != "github-saml":
        if directory_url is None:
            raise ValueError(f"{stack_file} looks members up in an HTTP directory: give the fake's directory_url")
        config["directory"] = directory_url
    if seed is not None:
        config.update(
            githubOrg=seed.org,
            onboardingTeam=seed.team,
            githubAppId=str(seed.app_id),
            githubAppInstallationId=str(seed.installation_id),
        )
    return config


@contextlib.contextmanager
def _scratch_build_dir() -> Iterator[Path]:
    """A throwaway ``GITHUB_AUTOMATION_BUILD_DIR`` for the program's layer cache (never the real ``build/``)."""
    saved = os.environ.get("GITHUB_AUTOMATION_BUILD_DIR")
    with tempfile.TemporaryDirectory(prefix="sandbox-build-") as scratch:
        os.environ["GITHUB_AUTOMATION_BUILD_DIR"] = scratch
        try:
            yield Path(scratch)
        finally:
            if saved is None:
                os.environ.pop("GITHUB_AUTOMATION_BUILD_DIR", None)
            else:
                os.environ["GITHUB_AUTOMATION_BUILD_DIR"] = saved


def deploy_stack(
    aws: EmbeddedAws,
    stack: str,
    config: Mapping[str, str],
    secrets: Mapping[str, str],
    *,
    start_pollers: bool = True,
    poller_concurrency: int | None = None,
) -> Deployment:
    """Run the program for ``stack`` into ``aws``; serve its HTTP APIs and (unless told not to) poll its queues."""
    invoke = ApiInvoker(aws)
    gateway = HttpApiGateway(aws.client, invoke, account_id=ACCOUNT_ID, region=REGION)
    try:
        mocks = SandboxMocks(aws.client, gateway)
        with _scratch_build_dir():
            program.placeholder_layer(config.get("lambdaArchitecture", "arm64"))
            exports = program.run_program(mocks, dict(config), dict(secrets), stack=stack)
    except BaseException:
        gateway.close()
        raise
    resources: dict[str, list[CreatedResource]] = {}
    for resource in mocks.created:
        resources.setdefault(resource.typ, []).append(resource)
    options = {} if poller_concurrency is None else {"max_concurrency": poller_concurrency}
    # The pollers sign as themselves: the cost meter counts their receives and deletes (sandbox/api_calls.py).
    pollers = aws.clients_as(POLLER_ACCESS_KEY)
    poller = EventSourcePoller(mocks.mappings, pollers, invoke, time_scale=aws.time_scale, **options)
    if start_pollers:
        poller.start()
    return Deployment(
        stack=stack,
        exports=exports,
        resources=resources,
        unemulated=list(mocks.unemulated),
        components=list(mocks.components),
        event_source_mappings=list(mocks.mappings),
        http_apis=gateway,
        poller=poller,
    )
