"""What both architectures deploy unchanged: tables, secrets, topic, layer and business functions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components import iam, packaging
from components.catalog import BUSINESS_FUNCTIONS, FunctionSpec, Needs
from components.config import StackConfig, StackSecrets
from components.lambda_function import LambdaFunction, LambdaFunctionArgs
from components.naming import AwsIdentity, Naming

METRICS_NAMESPACE = "GitHubAutomation"


@dataclass
class SharedResourcesArgs:
    config: StackConfig
    secrets: StackSecrets
    naming: Naming
    identity: AwsIdentity
    #: per function key, the environment that routes its work (components.wiring)
    routing: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)


#: The TTL attribute of the SAML identity cache (functions/saml_identities.py writes it, epoch seconds).
SAML_IDENTITIES_TTL_ATTRIBUTE = "expiresAt"


class SharedResources(pulumi.ComponentResource):
    members_table: aws.dynamodb.Table
    saml_identities_table: aws.dynamodb.Table
    workflow_runs_table: aws.dynamodb.Table
    topic: aws.sns.Topic
    functions: dict[str, LambdaFunction]

    def __init__(self, name: str, args: SharedResourcesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("github-automation:shared:SharedResources", name, None, opts)
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        config, naming = args.config, args.naming

        self.members_table = aws.dynamodb.Table(
            "members",
            name=naming("members"),
            billing_mode="PAY_PER_REQUEST",
            hash_key="login",
            attributes=[aws.dynamodb.TableAttributeArgs(name="login", type="S")],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            opts=child,
        )
        self.workflow_runs_table = aws.dynamodb.Table(
            "workflow-runs",
            name=naming("workflow-runs"),
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            range_key="sk",
            attributes=[aws.dynamodb.TableAttributeArgs(name=n, type="S") for n in ("pk", "sk", "period")],
            global_secondary_indexes=[
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name="period-index",
                    projection_type="ALL",
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name="period", key_type="HASH"),
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name="pk", key_type="RANGE"),
                    ],
                )
            ],
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            opts=child,
        )

        # A backfill's SAML identities, read 100 a GraphQL page by list-org-members and read per member by
        # lookup-directory (functions/saml_identities.py); expired by DynamoDB after a week.
        self.saml_identities_table = aws.dynamodb.Table(
            "saml-identities",
            name=naming("saml-identities"),
            billing_mode="PAY_PER_REQUEST",
            hash_key="org",
            range_key="login",
            attributes=[aws.dynamodb.TableAttributeArgs(name=n, type="S") for n in ("org", "login")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=SAML_IDENTITIES_TTL_ATTRIBUTE, enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            opts=child,
        )

        self.github_app_secret = aws.secretsmanager.Secret(
            "github-app",
            name_prefix=naming("github-app-"),
            description="GitHub App id, installation id and private key",
            opts=child,
        )
        app_secret: pulumi.Input[str] = pulumi.Output.json_dumps(
            {
                "appId": config.github_app_id,
                "installationId": config.github_app_installation_id,
                "privateKey": args.secrets.github_app_private_key,
            }
        )
        aws.secretsmanager.SecretVersion(
            "github-app",
            secret_id=self.github_app_secret.id,
            secret_string=pulumi.Output.secret(app_secret),
            opts=child,
        )
        self.webhook_secret = aws.secretsmanager.Secret(
            "webhook", name_prefix=naming("webhook-"), description="GitHub App webhook secret", opts=child
        )
        aws.secretsmanager.SecretVersion(
            "webhook", secret_id=self.webhook_secret.id, secret_string=args.secrets.webhook_secret, opts=child
        )

        # A customer managed key: CloudWatch alarms cannot publish to a topic under the AWS managed SNS key.
        self.topic_key = aws.kms.Key(
            "notifications",
            description=f"Encrypts the {naming.prefix} notification topic",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=iam.policy_document(
                [
                    {
                        "Sid": "AccountAdministers",
                        "Effect": "Allow",
                        "Principal": {"AWS": args.identity.account_root_arn()},
                        "Action": "kms:*",
                        "Resource": "*",
                    },
                    {
                        "Sid": "CloudWatchAlarmsPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                    },
                ]
            ),
            opts=child,
        )
        self.topic = aws.sns.Topic(
            "notifications", name=naming("notifications"), kms_master_key_id=self.topic_key.arn, opts=child
        )
        if config.notification_email:
            aws.sns.TopicSubscription(
                "notifications-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=config.notification_email,
                opts=child,
            )

        self.code = packaging.function_code()
        self.layer = aws.lambda_.LayerVersion(
            "dependencies",
            layer_name=naming("dependencies"),
            code=packaging.dependency_layer(config.lambda_architecture),
            compatible_runtimes=[packaging.LAMBDA_RUNTIME],
            compatible_architectures=[config.lambda_architecture],
            description="githubkit, Powertools for AWS Lambda, pydantic (functions/requirements.txt)",
            opts=child,
        )

        self.functions = {spec.key: self.new_function(spec, self) for spec in BUSINESS_FUNCTIONS}
        self.register_outputs(
            {
                "membersTable": self.members_table.name,
                "workflowRunsTable": self.workflow_runs_table.name,
                "samlIdentitiesTable": self.saml_identities_table.name,
                "topicArn": self.topic.arn,
                "functions": {key: fn.function.name for key, fn in self.functions.items()},
            }
        )

    def new_function(self, spec: FunctionSpec, parent: pulumi.Resource) -> LambdaFunction:
        """A function from ``functions/`` with the shared code, layer, settings and its least privilege."""
        return LambdaFunction(
            spec.key,
            LambdaFunctionArgs(
                spec=spec,
                name=self._args.naming(spec.key),
                code=self.code,
                layer_arn=self.layer.arn,
                architecture=self._args.config.lambda_architecture,
                log_retention_days=self._args.config.log_retention_days,
                environment={**self._environment(spec), **self._args.routing.get(spec.key, {})},
                statements=self._statements(spec),
                tracing_mode=self._args.config.xray_tracing,
            ),
            pulumi.ResourceOptions(parent=parent),
        )

    def _environment(self, spec: FunctionSpec) -> dict[str, pulumi.Input[str]]:
        config = self._args.config
        env: dict[str, pulumi.Input[str]] = {
            "POWERTOOLS_SERVICE_NAME": spec.key,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
            # No trace is recorded without active tracing: the Tracer then patches nothing and sends nothing.
            "POWERTOOLS_TRACE_DISABLED": "false" if config.xray_tracing == "Active" else "true",
            # The Stack dimension of every product metric (functions/common/observability.py).
            "GITHUB_AUTOMATION_STACK": pulumi.get_stack(),
            "ARCHITECTURE": config.architecture,
            "GITHUB_ORG": config.github_org,
            "ONBOARDING_TEAM": config.onboarding_team,
            "TEAM_ROLE": config.team_role,
            "DIRECTORY": config.directory,
            "GITHUB_API_URL": config.github_api_url,
            "GITHUB_API_VERSION": config.github_api_version,
            "SELF_HOSTED_USD_PER_MINUTE": config.self_hosted_usd_per_minute,
            "NOTIFICATION_TOPIC_ARN": self.topic.arn,
        }
        if Needs.WEBHOOK_SECRET in spec.needs:
            env["WEBHOOK_SECRET_ARN"] = self.webhook_secret.arn
        if Needs.GITHUB_APP_SECRET in spec.needs:
            env["GITHUB_APP_SECRET_ARN"] = self.github_app_secret.arn
            env["GITHUB_RATE_LIMIT_RESERVE"] = str(config.github_rate_limit_reserve)
        if Needs.TABLE_NAMES in spec.needs:
            env["MEMBERS_TABLE"] = self.members_table.name
            env["WORKFLOW_RUNS_TABLE"] = self.workflow_runs_table.name
        if {Needs.SAML_IDENTITIES_READ, Needs.SAML_IDENTITIES_WRITE} & spec.needs:
            env["SAML_IDENTITIES_TABLE"] = self.saml_identities_table.name
        if Needs.CHARGEBACK_READS in spec.needs:
            env["WORKFLOW_RUNS_TABLE"] = self.workflow_runs_table.name
        return env

    def _statements(self, spec: FunctionSpec) -> list[iam.Statement]:
        statements = []
        if Needs.WEBHOOK_SECRET in spec.needs:
            statements.append(
                iam.allow(["secretsmanager:GetSecretValue"], [self.webhook_secret.arn], sid="WebhookSecret")
            )
        if Needs.GITHUB_APP_SECRET in spec.needs:
            statements.append(
                iam.allow(["secretsmanager:GetSecretValue"], [self.github_app_secret.arn], sid="GitHubAppSecret")
            )
        if Needs.TABLE_WRITES in spec.needs:
            statements.extend(self.table_write_statements())
        if Needs.NOTIFICATIONS in spec.needs:
            statements.extend(self.publish_statements())
        if Needs.SAML_IDENTITIES_WRITE in spec.needs:
            statements.append(
                iam.allow(["dynamodb:BatchWriteItem"], [self.saml_identities_table.arn], sid="CacheSamlIdentities")
            )
        if Needs.SAML_IDENTITIES_READ in spec.needs:
            statements.append(
                iam.allow(["dynamodb:GetItem"], [self.saml_identities_table.arn], sid="ReadSamlIdentities")
            )
        if Needs.CHARGEBACK_READS in spec.needs:
            statements.append(self.chargeback_read_statement())
        return statements

    def chargeback_read_statement(self) -> iam.Statement:
        """Read the chargeback: ``Query`` on the workflow-runs table and its ``period-index``, nothing else."""
        return iam.allow(
            ["dynamodb:Query"],
            [self.workflow_runs_table.arn, pulumi.Output.concat(self.workflow_runs_table.arn, "/index/period-index")],
            sid="ChargebackReads",
        )

    def table_write_statement(self) -> iam.Statement:
        """Run the planned writes (a conditional TransactWriteItems) on the two tables."""
        return iam.allow(
            ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
            [self.members_table.arn, self.workflow_runs_table.arn],
            sid="PlannedWrites",
        )

    def notification_marker_statement(self) -> iam.Statement:
        """Read a stored item's notification marker back (a consistent GetItem), so a retry publishes only
        a missing notification; the marker itself is set with UpdateItem (``table_write_statement``)."""
        return iam.allow(
            ["dynamodb:GetItem"], [self.members_table.arn, self.workflow_runs_table.arn], sid="NotificationMarkers"
        )

    def table_write_statements(self) -> list[iam.Statement]:
        """What running a StoreRequest needs: its planned writes and its notification marker."""
        return [self.table_write_statement(), self.notification_marker_statement()]

    def publish_statements(self) -> list[iam.Statement]:
        """Publish to the notification topic, which is encrypted with its own key."""
        return [
            iam.allow(["sns:Publish"], [self.topic.arn], sid="Notify"),
            iam.allow(["kms:Decrypt", "kms:GenerateDataKey*"], [self.topic_key.arn], sid="NotifyEncrypted"),
        ]
