"""github-automation: a GitHub App backend on AWS, as SQS-chained or Step Functions-orchestrated Lambdas.

`pulumi config set architecture sqs|stepfunctions` picks the architecture of a stack; the business
functions, tables, secrets and ingress are the same in both.
"""

import pulumi

from components.catalog import CHARGEBACK_REPORT
from components.config import load_config
from components.ingress import Ingress, IngressArgs
from components.naming import AwsIdentity, Naming
from components.observability import Observability, ObservabilityArgs
from components.shared import METRICS_NAMESPACE, SharedResources, SharedResourcesArgs
from components.sqs_pipeline import SqsPipeline, SqsPipelineArgs
from components.stepfunctions_pipeline import StepFunctionsPipeline, StepFunctionsPipelineArgs
from components.tagging import cost_allocation_tags, tag_everything
from components.wiring import routing_environment

config, secrets = load_config()
naming = Naming.for_stack()
identity = AwsIdentity.current()
# Every taggable resource of every component: Cost Explorer splits the stacks' bills by these tags.
tagged = pulumi.ResourceOptions(
    transformations=[tag_everything(cost_allocation_tags(pulumi.get_stack(), config.architecture))]
)

shared = SharedResources(
    "shared",
    SharedResourcesArgs(
        config=config,
        secrets=secrets,
        naming=naming,
        identity=identity,
        routing=routing_environment(config, naming, identity),
    ),
    tagged,
)

# Behind GET /chargeback (IAM): the month's report, the same in both architectures, observed like the others.
chargeback_report = shared.new_function(CHARGEBACK_REPORT, shared)
observed = ObservabilityArgs(
    naming=naming,
    stack=pulumi.get_stack(),
    metrics_namespace=METRICS_NAMESPACE,
    region=identity.region,
    topic_arn=shared.topic.arn,
    functions={**shared.functions, CHARGEBACK_REPORT.key: chargeback_report},
)
if config.architecture == "sqs":
    queues = SqsPipeline("sqs", SqsPipelineArgs(config=config, naming=naming, shared=shared), tagged)
    pulumi.export("queueUrls", queues.queue_urls)
    pulumi.export("deadLetterQueueUrls", queues.dead_letter_queue_urls)
    observed.functions = {**observed.functions, **queues.functions}
    observed.dead_letter_queues = queues.dead_letter_queues
else:
    machines = StepFunctionsPipeline(
        "stepfunctions", StepFunctionsPipelineArgs(config=config, naming=naming, shared=shared), tagged
    )
    pulumi.export("stateMachineArns", machines.state_machine_arns)
    observed.state_machines = machines.machines
    observed.other_log_groups = machines.log_groups
observability = Observability("observability", observed, tagged)
pulumi.export("dashboardName", observability.dashboard.dashboard_name)
# Where `python -m stackops trace` reads what happened to a delivery: every function's log group by key,
# and (stepfunctions) every state machine's by use case.
pulumi.export("functionLogGroups", {key: fn.log_group.name for key, fn in observed.functions.items()})
pulumi.export("stateMachineLogGroups", {use_case: group.name for use_case, group in observed.other_log_groups.items()})

ingress = Ingress(
    "ingress",
    IngressArgs(
        config=config, naming=naming, receiver=shared.functions["receiver"], chargeback_report=chargeback_report
    ),
    tagged,
)

pulumi.export("architecture", config.architecture)
pulumi.export("webhookUrl", ingress.webhook_url)
pulumi.export("chargebackUrl", ingress.chargeback_url)
pulumi.export("membersTable", shared.members_table.name)
pulumi.export("workflowRunsTable", shared.workflow_runs_table.name)
pulumi.export("samlIdentitiesTable", shared.saml_identities_table.name)
pulumi.export("notificationTopicArn", shared.topic.arn)
# What `python -m stackops chargeback reconcile` needs to read the org's bill as the App (an ARN, not the secret).
pulumi.export("githubOrg", config.github_org)
pulumi.export("githubApiUrl", config.github_api_url)
pulumi.export("githubApiVersion", config.github_api_version)
pulumi.export("githubAppSecretArn", shared.github_app_secret.arn)
