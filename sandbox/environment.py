"""Both architectures deployed side by side into one embedded AWS, with a fake GitHub in front of them.

``with Sandbox() as sandbox:`` starts the emulator and the fake GitHub, deploys the real Pulumi program
once per architecture (stacks ``sandbox-sqs`` and ``sandbox-sfn``), and offers what `make run`,
`make bench` and the end-to-end tests need: send a signed delivery to a stack's webhook URL, wait until
everything has been processed, and read back tables, notifications, dead-letter queues and executions.
"""

from __future__ import annotations

import dataclasses
import json
import re
import secrets as random_secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from sandbox.aws import EmbeddedAws
from sandbox.deploy import Deployment, deploy_stack, sandbox_config
from sandbox.fake_github import SANDBOX_ORG, AppKey, FakeGitHub, FakeGitHubServer, OrgSeed
from sandbox.fake_rate_limits import RateLimitPolicy, RateLimits
from sandbox.github_clock import GitHubClock
from sandbox.lambda_runtime import OutputSink
from sandbox.workload import Delivery, signed_request

ARCHITECTURES = ("sqs", "stepfunctions")
#: The example stack each architecture starts from (Pulumi.dev-sfn.yaml runs EXPRESS per-event machines).
STACK_FILES = {"sqs": "Pulumi.dev.yaml", "stepfunctions": "Pulumi.dev-sfn.yaml"}
STACK_NAMES = {"sqs": "sandbox-sqs", "stepfunctions": "sandbox-sfn"}


@dataclass(frozen=True)
class StackDesign:
    """A further stack to deploy beside the two above (``Sandbox(designs=...)``): which architecture, from
    which example stack file, under which stack name, with which config changed (e.g. ``workflowType``)."""

    architecture: str
    stack_file: str
    stack_name: str
    overrides: Mapping[str, str] = field(default_factory=dict)


DESIGNS = {name: StackDesign(name, STACK_FILES[name], STACK_NAMES[name]) for name in ARCHITECTURES}
#: Warm processes a function may have at once. Lambda would scale out further; two cores gain nothing from
#: more Pythons starting at once, and each cold one costs a second or so of CPU.
MAX_PROCESSES_PER_FUNCTION = 2
_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_deserialize = TypeDeserializer().deserialize
#: "<Use case> failed: <execution name>" (Step Functions) and "<step> failed for delivery <id>" (sqs adapter)
_FAILURE_SUBJECT = re.compile(r"\bfailed(: | for delivery )")


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]
    sent_at: float  # time.time() when the request left
    seconds: float  # how long the webhook took to answer


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str
    correlation_id: str | None
    published_at: float  # epoch seconds, from the SNS envelope
    failure: bool


@dataclass
class Stack:
    """One architecture's deployment, and the queue that listens to its notification topic."""

    architecture: str
    deployment: Deployment
    observer_queue_url: str
    notifications: list[Notification] = field(default_factory=list)

    @property
    def webhook_url(self) -> str:
        return self.deployment.webhook_url

    @property
    def exports(self) -> dict[str, Any]:
        return self.deployment.exports


class Sandbox:
    def __init__(
        self,
        architectures: Sequence[str] = ARCHITECTURES,
        *,
        time_scale: float = 0.01,
        seed: OrgSeed = SANDBOX_ORG,
        overrides: dict[str, str] | None = None,
        max_processes: int = MAX_PROCESSES_PER_FUNCTION,
        designs: Mapping[str, StackDesign] | None = None,
        output: OutputSink | None = None,
        github_rate_limits: RateLimitPolicy | None = None,
    ) -> None:
        """``architectures`` names the stacks to deploy: ``sqs``, ``stepfunctions``, or a key of ``designs``
        (further stacks, e.g. stepfunctions with STANDARD per-event machines); ``output`` receives every
        line the functions write (function name, line).

        ``github_rate_limits``: the rate limits the fake GitHub enforces (GitHub's defaults if None), on the
        sandbox's clock: a policy whose ``time_scale`` is left at the default 1.0 gets the sandbox's
        ``time_scale`` (one GitHub hour lasts ``3600 * time_scale`` real seconds); any other is kept."""
        self.designs = {**DESIGNS, **(designs or {})}
        unknown = [name for name in architectures if name not in self.designs]
        if unknown:
            raise ValueError(f"unknown stack design(s) {unknown}: use one of {sorted(self.designs)}")
        self._output = output
        self.architectures = tuple(architectures)
        self.seed = seed
        self.webhook_secret = random_secrets.token_hex(20)
        self._time_scale = time_scale
        policy = github_rate_limits or RateLimitPolicy()
        if policy.time_scale == RateLimitPolicy().time_scale:
            policy = dataclasses.replace(policy, time_scale=time_scale)
        self.github_rate_limits = policy
        #: GitHub's clock, on the rate limits' pace: the fake GitHub's and the function processes' pacing's.
        self.github_clock = GitHubClock.starting_now(policy.time_scale)
        self._overrides = overrides or {}
        self._max_processes = max_processes
        self._app_key = AppKey.generate()
        self.aws: EmbeddedAws | None = None
        self.github: FakeGitHubServer | None = None
        self.stacks: dict[str, Stack] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, on_deployed: Any = None) -> Sandbox:
        try:
            self.aws = EmbeddedAws(
                time_scale=self._time_scale, max_processes=self._max_processes, output=self._output
            ).start()
            self.aws.runtime.github_clock = self.github_clock
            self.github = FakeGitHubServer(self.fake_github()).start()
            for architecture in self.architectures:
                self.stacks[architecture] = self._deploy(architecture)
                if on_deployed is not None:
                    on_deployed(architecture)
        except BaseException:
            self.stop()
            raise
        return self

    def fake_github(self) -> FakeGitHub:
        """A fresh fake GitHub holding the seed, with the App's public key and ``github_rate_limits``."""
        return FakeGitHub.seeded(
            self.seed, self._app_key.public_key, rate_limits=self.github_rate_limits, epoch=self.github_clock.epoch
        )

    def fresh_github_rate_limits(self) -> RateLimits:
        """Give the fake GitHub fresh quotas (``github_rate_limits``, every window unstarted), on the clock the
        function processes pace on, and return them."""
        assert self.github is not None
        limits = RateLimits(self.github_rate_limits, epoch=self.github_clock.epoch)
        self.github.github.rate_limits = limits
        return limits

    def stop(self) -> None:
        for stack in self.stacks.values():
            stack.deployment.close()
        self.stacks.clear()
        if self.github is not None:
            self.github.stop()
            self.github = None
        if self.aws is not None:
            self.aws.stop()
            self.aws = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def stack_config(self, architecture: str) -> dict[str, str]:
        """The stack's config: its example file, pointed at the fakes, the same org and directory for both."""
        assert self.github is not None
        design = self.designs[architecture]
        config = sandbox_config(design.stack_file, self.github.url, self.github.directory_url)
        config |= {
            "architecture": design.architecture,
            "githubOrg": self.seed.org,
            "onboardingTeam": self.seed.team,
            "githubAppId": str(self.seed.app_id),
            "githubAppInstallationId": str(self.seed.installation_id),
            "directory": "github-saml",  # the same lookup in both stacks, so their tables can be compared
            "notificationEmail": "",
        }
        return config | dict(design.overrides) | self._overrides

    def _deploy(self, architecture: str) -> Stack:
        assert self.aws is not None
        secrets = {"githubAppPrivateKey": self._app_key.private_key_pem, "webhookSecret": self.webhook_secret}
        deployment = deploy_stack(
            self.aws, self.designs[architecture].stack_name, self.stack_config(architecture), secrets
        )
        sqs, sns = self.aws.client("sqs"), self.aws.client("sns")
        queue_url = sqs.create_queue(QueueName=f"sandbox-{architecture}-observer")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=deployment.exports["notificationTopicArn"], Protocol="sqs", Endpoint=queue_arn)
        return Stack(architecture, deployment, queue_url)

    # --- sending --------------------------------------------------------------------------------

    def send(self, architecture: str, delivery: Delivery) -> Response:
        """POST one signed delivery to the stack's webhook URL, as GitHub would."""
        headers, body = signed_request(delivery, self.webhook_secret)
        request = urllib.request.Request(
            self.stacks[architecture].webhook_url, data=body, headers=headers, method="POST"
        )
        sent_at, started = time.time(), time.perf_counter()
        try:
            with _LOOPBACK.open(request, timeout=30) as reply:
                status, payload = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        seconds = time.perf_counter() - started
        return Response(status, json.loads(payload or b"{}"), sent_at, seconds)

    # --- waiting and reading back -----------------------------------------------------------------

    def running_executions(self, architecture: str) -> int:
        stack = self.stacks[architecture]
        assert self.aws is not None, "the sandbox is not running"
        return self.aws.running_executions(stack.exports.get("stateMachineArns", {}).values())

    def idle(self, architecture: str) -> bool:
        return self.stacks[architecture].deployment.idle() and self.running_executions(architecture) == 0

    def wait_until_idle(
        self, architectures: Iterable[str] | None = None, timeout: float = 120.0, settle: float = 0.3
    ) -> None:
        """Wait until no message is queued or in flight and no execution runs, twice ``settle`` apart."""
        names = tuple(architectures or self.stacks)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.idle(name) for name in names):
                time.sleep(settle)
                if all(self.idle(name) for name in names):
                    return
            time.sleep(0.05)
        busy = [name for name in names if not self.idle(name)]
        raise TimeoutError(f"still processing after {timeout:.0f} s: {', '.join(busy)}")

    def notifications(self, architecture: str) -> list[Notification]:
        """Every notification the stack has published so far (collected from its observer queue)."""
        stack = self.stacks[architecture]
        sqs = self._client("sqs")
        while True:
            messages = sqs.receive_message(
                QueueUrl=stack.observer_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return list(stack.notifications)
            for message in messages:
                stack.notifications.append(_notification(json.loads(message["Body"])))
            sqs.delete_message_batch(
                QueueUrl=stack.observer_queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def table_items(self, architecture: str, export: str) -> list[dict[str, Any]]:
        """Every item of the stack's table (``membersTable`` or ``workflowRunsTable``), as plain Python."""
        table = self.stacks[architecture].exports[export]
        pages = self._client("dynamodb").get_paginator("scan").paginate(TableName=table)
        return [{k: _deserialize(v) for k, v in item.items()} for page in pages for item in page["Items"]]

    def raw_table_items(self, architecture: str, export: str) -> list[dict[str, Any]]:
        """The table's items in DynamoDB's attribute JSON (what the oracle compares)."""
        table = self.stacks[architecture].exports[export]
        pages = self._client("dynamodb").get_paginator("scan").paginate(TableName=table)
        return [item for page in pages for item in page["Items"]]

    def clear_tables(self) -> None:
        """Empty the tables of every stack (between generated workloads; the SAML identity cache too, since a
        workload may reuse an earlier one's delivery ids)."""
        dynamodb = self._client("dynamodb")
        tables = (
            ("membersTable", ("login",)),
            ("workflowRunsTable", ("pk", "sk")),
            ("samlIdentitiesTable", ("org", "login")),
        )
        for architecture, stack in self.stacks.items():
            for export, keys in tables:
                if export not in stack.exports:
                    continue
                for item in self.raw_table_items(architecture, export):
                    dynamodb.delete_item(TableName=stack.exports[export], Key={k: item[k] for k in keys})
            self.notifications(architecture)
            stack.notifications.clear()

    def parked(self, architecture: str) -> dict[str, int]:
        """Where failed work waits: messages per dead-letter queue (sqs), failed executions per machine."""
        stack = self.stacks[architecture]
        found: dict[str, int] = {}
        sqs = self._client("sqs")
        for url in stack.exports.get("deadLetterQueueUrls", {}).values():
            count = int(
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            if count:
                found[f"DLQ {url.rsplit('/', 1)[-1]}"] = count
        sfn = self._client("stepfunctions")
        for arn in stack.exports.get("stateMachineArns", {}).values():
            for status in ("FAILED", "TIMED_OUT", "ABORTED"):
                count = len(sfn.list_executions(stateMachineArn=arn, statusFilter=status)["executions"])
                if count:
                    found[f"{status.lower()} {arn.rsplit(':', 1)[-1]} executions"] = count
        return found

    def executions(self, architecture: str, use_case: str, status: str | None = None) -> list[dict[str, Any]]:
        arn = self.stacks[architecture].exports["stateMachineArns"][use_case]
        options = {"statusFilter": status} if status else {}
        return self._client("stepfunctions").list_executions(stateMachineArn=arn, **options)["executions"]

    def _client(self, service: str) -> Any:
        assert self.aws is not None, "the sandbox is not running"
        return self.aws.client(service)


def _notification(envelope: dict[str, Any]) -> Notification:
    """An SNS envelope (SQS subscription, raw delivery off) as a Notification."""
    subject, message = envelope.get("Subject") or "", envelope.get("Message", "")
    attributes = envelope.get("MessageAttributes") or {}
    correlation_id = (attributes.get("correlationId") or {}).get("Value")
    if correlation_id is None:
        try:
            body = json.loads(message)
            correlation_id = body.get("correlationId") if isinstance(body, dict) else None
        except json.JSONDecodeError:
            correlation_id = None
    published = datetime.fromisoformat(envelope["Timestamp"].replace("Z", "+00:00")).timestamp()
    return Notification(subject, message, correlation_id, published, failure=bool(_FAILURE_SUBJECT.search(subject)))
