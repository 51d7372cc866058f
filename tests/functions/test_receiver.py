"""The webhook receiver, end to end against moto: every GitHub payload example, both architectures."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from moto import mock_aws

from functions import receiver as receiver_module
from functions.common import dispatch, emf, secret_cache
from functions.common.json_logging import logger
from functions.receiver import MAX_JSON_DEPTH
from tests.functions.webhooks import (
    FIXTURES,
    TIME_EPOCH,
    FakeLambdaContext,
    delivery_headers,
    fixture_id,
    fixture_paths,
    http_api_event,
    new_delivery_id,
    signature,
    signed_delivery,
)
from tests.functions.xray_daemon import ROOT, XRayDaemon
from tests.functions.xray_daemon import xray_daemon as xray_daemon  # noqa: F401  (the fixture)

SECRET = "It's a Secret to Everybody"
MEMBER_ADDED = (FIXTURES / "organization" / "member_added.payload.json").read_bytes()
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
TARGETS = ("onboarding", "chargeback", "backfill")
ARCHITECTURES = ("sqs", "stepfunctions")

WORKFLOW_RUN = {
    "owner": "octo-org",
    "repo": "octo-repo",
    "repositoryPrivate": False,
    "runId": 289782451,
    "runAttempt": 1,
    "workflowName": ".github/workflows/test.yml",  # the example's name is empty: the path stands in
    "conclusion": "success",
    "event": "repository_dispatch",
    "headBranch": "master",
    "completedAt": "2020-10-05T16:33:49Z",
    "htmlUrl": "https://github.com/octo-org/octo-repo/actions/runs/289782451",
}
MEMBER = {"org": "Octocoders", "login": "hacktocat", "userId": 39652351, "source": "member_added"}
BACKFILL = {
    "org": "Codertocat",
    "installationId": 957387,
    "page": 1,
    "listed": 0,
    "identitiesDone": False,
    "identitiesListed": 0,
}

# fixture id -> (target, message without its correlationId)
HANDLED: dict[str, tuple[str, dict[str, Any]]] = {
    "organization/member_added": ("onboarding", MEMBER),
    "organization/member_added.with-installation": ("onboarding", MEMBER),
    "workflow_run/completed": ("chargeback", WORKFLOW_RUN),
    "workflow_run/completed.with-pull-requests": ("chargeback", WORKFLOW_RUN),
    "installation/created": ("backfill", BACKFILL),
    "installation/created.with-requester": ("backfill", BACKFILL),
}


@dataclass(frozen=True)
class Pipeline:
    """The receiver's AWS side in moto: the webhook secret and one queue and state machine per target."""

    secret_arn: str
    queues: dict[str, str]
    machines: dict[str, str]

    def target(self, architecture: str, name: str) -> str:
        return (self.queues if architecture == "sqs" else self.machines)[name]

    def purge(self) -> None:
        """Empty the queues, so that what a failed test left behind does not fail the next one."""
        self._received()

    def dispatched(self, architecture: str, delivery_id: str) -> dict[str, list[dict[str, Any]]]:
        """What reached each target for this delivery (queues are drained)."""
        found = self._messages(delivery_id) if architecture == "sqs" else self._executions(delivery_id)
        return {target: messages for target, messages in found.items() if messages}

    def _received(self) -> dict[str, list[dict[str, Any]]]:
        """Every message in each queue, removed from it."""
        sqs = dispatch.sqs_client()
        received: dict[str, list[dict[str, Any]]] = {}
        for target, url in self.queues.items():
            received[target] = []
            while messages := sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            ).get("Messages", []):
                for message in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    received[target].append(message)
        return received

    def _messages(self, delivery_id: str) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for target, messages in self._received().items():
            correlation_ids = {message["MessageAttributes"]["correlationId"]["StringValue"] for message in messages}
            assert correlation_ids <= {delivery_id}
            found[target] = [json.loads(message["Body"]) for message in messages]
        return found

    def _executions(self, delivery_id: str) -> dict[str, list[dict[str, Any]]]:
        sfn = dispatch.sfn_client()
        found: dict[str, list[dict[str, Any]]] = {}
        for target, arn in self.machines.items():
            executions = sfn.list_executions(stateMachineArn=arn)["executions"]
            found[target] = [
                json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
                for execution in executions
                if execution["name"] == delivery_id
            ]
        return found


def _clear_clients() -> None:
    dispatch.sqs_client.cache_clear()
    dispatch.sfn_client.cache_clear()
    secret_cache.clear_cache()


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    with mock_aws():
        _clear_clients()
        secret_arn = boto3.client("secretsmanager").create_secret(Name="webhook", SecretString=SECRET)["ARN"]
        sqs = dispatch.sqs_client()
        sfn = dispatch.sfn_client()
        role = "arn:aws:iam::123456789012:role/states"
        yield Pipeline(
            secret_arn=secret_arn,
            queues={name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in TARGETS},
            machines={
                name: sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=role)["stateMachineArn"]
                for name in TARGETS
            },
        )
        _clear_clients()


@dataclass(frozen=True)
class Receiver:
    """The receiver Lambda deployed in one architecture, with its targets in moto."""

    architecture: str
    pipeline: Pipeline
    env: pytest.MonkeyPatch

    def post(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Invoke the handler; (status, parsed JSON body)."""
        from functions.receiver import handler

        response = handler(event, FakeLambdaContext(function_name="receiver"))
        assert response["headers"] == {"content-type": "application/json"}
        return response["statusCode"], json.loads(response["body"])

    def deliver(
        self,
        body: bytes = MEMBER_ADDED,
        *,
        event_name: str = "organization",
        delivery_id: str,
        base64_encoded: bool = False,
    ) -> tuple[int, dict[str, Any]]:
        """Post a correctly signed delivery."""
        return self.post(
            signed_delivery(
                body, event_name=event_name, secret=SECRET, delivery_id=delivery_id, base64_encoded=base64_encoded
            )
        )

    def dispatched(self, delivery_id: str) -> dict[str, list[dict[str, Any]]]:
        return self.pipeline.dispatched(self.architecture, delivery_id)


@pytest.fixture(params=ARCHITECTURES)
def architecture(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def receiver(function_env: pytest.MonkeyPatch, pipeline: Pipeline, architecture: str) -> Receiver:
    if architecture == "sqs":
        pipeline.purge()
    function_env.setenv("ARCHITECTURE", architecture)
    function_env.setenv("GITHUB_ORG", "Octocoders")
    function_env.setenv("WEBHOOK_SECRET_ARN", pipeline.secret_arn)
    for name in TARGETS:
        function_env.setenv(f"{name.upper()}_TARGET", pipeline.target(architecture, name))
    return Receiver(architecture, pipeline, function_env)


def accepted(delivery_id: str) -> tuple[int, dict[str, Any]]:
    return 202, {"status": "accepted", "deliveryId": delivery_id}


def onboarded(delivery_id: str) -> dict[str, list[dict[str, Any]]]:
    """What the member_added example dispatches."""
    return {"onboarding": [{"correlationId": delivery_id, "receivedAt": TIME_EPOCH, **MEMBER}]}


def sha1_signature(secret: str, body: bytes) -> str:
    """The legacy ``X-Hub-Signature`` value: correct, but SHA-1 is not accepted."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def org_of(payload: dict[str, Any]) -> str:
    """The organization an example belongs to, so that only its event and action decide the outcome."""
    for owner in (
        payload.get("organization"),
        (payload.get("repository") or {}).get("owner"),
        (payload.get("installation") or {}).get("account"),
    ):
        if isinstance(owner, dict) and owner.get("login"):
            return owner["login"]
    return "octo-org"


def test_the_handled_table_names_exactly_the_handled_examples() -> None:
    handled_globs = ("organization/member_added*", "workflow_run/completed*", "installation/created*")
    handled = {fixture_id(path) for pattern in handled_globs for path in FIXTURES.glob(pattern)}
    assert handled == set(HANDLED)
    assert len(fixture_paths()) > 250


@pytest.mark.parametrize("path", fixture_paths(), ids=fixture_id)
def test_every_example_is_accepted_or_ignored(path: Path, receiver: Receiver) -> None:
    body = path.read_bytes()
    receiver.env.setenv("GITHUB_ORG", org_of(json.loads(body)))
    delivery_id = new_delivery_id()

    answer = receiver.deliver(body, event_name=path.parent.name, delivery_id=delivery_id)

    if fixture_id(path) in HANDLED:
        target, message = HANDLED[fixture_id(path)]
        assert answer == accepted(delivery_id)
        assert receiver.dispatched(delivery_id) == {
            target: [{"correlationId": delivery_id, "receivedAt": TIME_EPOCH, **message}]
        }
    else:
        assert answer == (202, {"status": "ignored"})
        assert receiver.dispatched(delivery_id) == {}


def test_the_receivers_trace_carries_the_delivery_id_to_the_pipeline(
    receiver: Receiver, xray_daemon: XRayDaemon
) -> None:
    delivery_id = new_delivery_id()
    sent: list[dict[str, Any]] = []
    events = dispatch.sqs_client().meta.events
    record = lambda params, **_: sent.append(params)  # noqa: E731
    events.register("provide-client-params.sqs.SendMessage", record)
    try:
        assert receiver.deliver(delivery_id=delivery_id)[0] == 202
    finally:
        events.unregister("provide-client-params.sqs.SendMessage", record)
    receiver.dispatched(delivery_id)

    (handler,) = xray_daemon.named("## handler")
    assert handler["annotations"]["DeliveryId"] == delivery_id
    if receiver.architecture == "sqs":  # stepfunctions: botocore's X-Amzn-Trace-Id (patched in Lambda) carries it
        (params,) = sent
        header = params["MessageSystemAttributes"]["AWSTraceHeader"]["StringValue"]
        assert header == f"Root={ROOT};Parent={handler['id']};Sampled=1"


@pytest.mark.parametrize(
    "bad_signature",
    [
        pytest.param(lambda body: signature("not the secret", body), id="wrong-secret"),
        pytest.param(lambda body: signature(SECRET, body + b" "), id="other-bytes"),
        pytest.param(lambda body: "", id="empty"),
        pytest.param(lambda body: "sha256=zz", id="garbage"),
        pytest.param(lambda body: "sha256=é" + "0" * 63, id="non-ascii"),
        pytest.param(lambda body: sha1_signature(SECRET, body), id="sha1-in-256-header"),
    ],
)
def test_a_bad_signature_is_401_and_dispatches_nothing(bad_signature: Any, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    headers = delivery_headers(MEMBER_ADDED, event_name="organization", secret=SECRET, delivery_id=delivery_id)
    headers["x-hub-signature-256"] = bad_signature(MEMBER_ADDED)

    status, answer = receiver.post(http_api_event(MEMBER_ADDED, headers))

    assert status == 401
    assert "X-Hub-Signature-256" in answer["error"]
    assert SECRET not in json.dumps(answer)
    assert receiver.dispatched(delivery_id) == {}


def test_a_missing_signature_is_401(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    headers = delivery_headers(MEMBER_ADDED, event_name="organization", secret=SECRET, delivery_id=delivery_id)
    del headers["x-hub-signature-256"]
    headers["x-hub-signature"] = sha1_signature(SECRET, MEMBER_ADDED)  # the legacy header does not count

    assert receiver.post(http_api_event(MEMBER_ADDED, headers)) == (
        401,
        {"error": "X-Hub-Signature-256 header is missing"},
    )
    assert receiver.dispatched(delivery_id) == {}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"action": "member_added",', "body is not JSON"),
        (b"", "body is not JSON"),
        (b"\xff\xfe{}", "body is not JSON"),
        (b'[{"action": "member_added"}]', "body is not a JSON object"),
        (b'"member_added"', "body is not a JSON object"),
    ],
)
def test_a_signed_body_that_is_not_a_json_object_is_400(body: bytes, error: str, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()

    status, answer = receiver.deliver(body, delivery_id=delivery_id, base64_encoded=True)

    assert status == 400
    assert answer["error"].startswith(error)
    assert receiver.dispatched(delivery_id) == {}


@pytest.mark.parametrize("missing", ["x-github-event", "x-github-delivery"])
def test_a_missing_github_header_is_400(missing: str, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    headers = delivery_headers(MEMBER_ADDED, event_name="organization", secret=SECRET, delivery_id=delivery_id)
    del headers[missing]

    assert receiver.post(http_api_event(MEMBER_ADDED, headers)) == (400, {"error": f"{missing} header is missing"})
    assert receiver.dispatched(delivery_id) == {}


def test_a_handled_event_without_the_fields_the_pipeline_needs_is_400(receiver: Receiver) -> None:
    payload = json.loads(MEMBER_ADDED)
    del payload["membership"]["user"]["id"]
    delivery_id = new_delivery_id()

    status, answer = receiver.deliver(json.dumps(payload).encode(), delivery_id=delivery_id)

    assert (status, answer) == (400, {"error": "organization.member_added payload: membership.user.id: Field required"})
    assert receiver.dispatched(delivery_id) == {}


def test_an_oversize_body_is_413_before_its_signature_is_checked(receiver: Receiver) -> None:
    receiver.env.setenv("MAX_WEBHOOK_BYTES", str(len(MEMBER_ADDED) - 1))
    delivery_id = new_delivery_id()
    wrongly_signed = signed_delivery(
        MEMBER_ADDED, event_name="organization", secret="not the secret", delivery_id=delivery_id
    )

    status, answer = receiver.post(wrongly_signed)

    assert status == 413
    assert answer == {"error": f"body is {len(MEMBER_ADDED)} bytes; the limit is {len(MEMBER_ADDED) - 1}"}
    assert receiver.dispatched(delivery_id) == {}


def test_a_body_of_exactly_the_limit_is_accepted(receiver: Receiver) -> None:
    receiver.env.setenv("MAX_WEBHOOK_BYTES", str(len(MEMBER_ADDED)))
    delivery_id = new_delivery_id()

    assert receiver.deliver(delivery_id=delivery_id) == accepted(delivery_id)
    assert receiver.dispatched(delivery_id) == onboarded(delivery_id)


def test_a_base64_body_is_verified_on_its_decoded_bytes(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()

    assert receiver.deliver(delivery_id=delivery_id, base64_encoded=True) == accepted(delivery_id)
    assert receiver.dispatched(delivery_id) == onboarded(delivery_id)


def test_a_body_marked_base64_that_is_not_is_400(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    event = signed_delivery(MEMBER_ADDED, event_name="organization", secret=SECRET, delivery_id=delivery_id)
    event["isBase64Encoded"] = True

    assert receiver.post(event) == (400, {"error": "body is marked base64 but is not valid base64"})
    assert receiver.dispatched(delivery_id) == {}


@pytest.mark.parametrize("org", ["someone-else", "Octocoders-fork"])
def test_an_event_of_another_organization_is_ignored(org: str, receiver: Receiver) -> None:
    receiver.env.setenv("GITHUB_ORG", org)
    delivery_id = new_delivery_id()

    assert receiver.deliver(delivery_id=delivery_id) == (202, {"status": "ignored"})
    assert receiver.dispatched(delivery_id) == {}


def test_the_organization_is_matched_case_insensitively(receiver: Receiver) -> None:
    receiver.env.setenv("GITHUB_ORG", "OCTOCODERS")
    delivery_id = new_delivery_id()

    assert receiver.deliver(delivery_id=delivery_id) == accepted(delivery_id)
    assert receiver.dispatched(delivery_id) == onboarded(delivery_id)


def _close_execution(state_machine_arn: str, name: str, status: str) -> None:
    """Give a (never-running, in moto without execution) execution the closed ``status``."""
    arn = dispatch.execution_arn(state_machine_arn, name)
    if status == "ABORTED":
        dispatch.sfn_client().stop_execution(executionArn=arn)
        return
    from moto.stepfunctions.models import stepfunctions_backends

    backend = stepfunctions_backends["123456789012"]["us-east-1"]
    backend.describe_execution(arn).status = status


def _execution_names(state_machine_arn: str) -> list[str]:
    executions = dispatch.sfn_client().list_executions(stateMachineArn=state_machine_arn)["executions"]
    return sorted(execution["name"] for execution in executions)


@pytest.mark.parametrize("architecture", ["stepfunctions"])
@pytest.mark.parametrize("status", ["RUNNING", "SUCCEEDED"])
def test_a_redelivery_of_a_running_or_succeeded_execution_starts_no_second_one(status: str, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    machine = receiver.pipeline.machines["onboarding"]

    first = receiver.deliver(delivery_id=delivery_id)
    if status != "RUNNING":  # Step Functions then answers ExecutionAlreadyExists
        _close_execution(machine, delivery_id, status)
    second = receiver.deliver(delivery_id=delivery_id)

    assert first == second == accepted(delivery_id)
    assert receiver.dispatched(delivery_id) == onboarded(delivery_id)
    assert [name for name in _execution_names(machine) if name.startswith(delivery_id)] == [delivery_id]


@pytest.mark.parametrize("architecture", ["stepfunctions"])
@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_redelivery_of_a_failed_execution_runs_it_again(status: str, receiver: Receiver) -> None:
    """GitHub's "Redeliver" after a failure is processed, as in sqs: a new attempt ``<id>-2``, then
    ``<id>-3`` after that one failed too; a redelivery while an attempt runs starts nothing."""
    delivery_id = new_delivery_id()
    machine = receiver.pipeline.machines["onboarding"]

    assert receiver.deliver(delivery_id=delivery_id) == accepted(delivery_id)
    _close_execution(machine, delivery_id, status)
    assert receiver.deliver(delivery_id=delivery_id) == accepted(delivery_id)
    assert receiver.deliver(delivery_id=delivery_id) == accepted(delivery_id)  # attempt 2 still runs
    _close_execution(machine, f"{delivery_id}-2", status)
    assert receiver.deliver(delivery_id=delivery_id) == accepted(delivery_id)

    ours = [name for name in _execution_names(machine) if name.startswith(delivery_id)]
    assert ours == [delivery_id, f"{delivery_id}-2", f"{delivery_id}-3"]
    inputs = {
        json.loads(dispatch.sfn_client().describe_execution(executionArn=dispatch.execution_arn(machine, n))["input"])[
            "correlationId"
        ]
        for n in ours
    }
    assert inputs == {delivery_id}, "every attempt carries the delivery id as its correlation id"


@pytest.mark.parametrize("architecture", ["stepfunctions"])
def test_a_delivery_whose_every_attempt_failed_is_409_naming_it(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    machine = receiver.pipeline.machines["onboarding"]
    receiver.env.setattr(dispatch, "MAX_ATTEMPTS", 2)
    for attempt in (1, 2):
        receiver.deliver(delivery_id=delivery_id)
        _close_execution(machine, dispatch.execution_name(delivery_id, attempt), "FAILED")

    status, body = receiver.deliver(delivery_id=delivery_id)

    assert status == 409
    assert delivery_id in body["error"] and "all 2 attempts" in body["error"]


def test_attempt_names_are_valid_distinct_and_keep_the_first_name() -> None:
    ids = ["72d3162e-cc78-11e3-81ab-4c9367dc0958", "x" * 80, "x" * 79, "a:b", "manual redelivery: " + "x" * 100]
    names = [dispatch.execution_name(delivery_id, attempt) for delivery_id in ids for attempt in (1, 2, 10, 999)]
    assert all(re.fullmatch(r"[0-9A-Za-z_-]{1,80}", name) for name in names), names
    assert len(set(names)) == len(names)
    assert dispatch.execution_name(ids[0], 2) == ids[0] + "-2"
    assert all(dispatch.execution_name(i) == dispatch.execution_name(i, 1) for i in ids)
    with pytest.raises(ValueError, match="attempt must be >= 1, not 0"):
        dispatch.execution_name(ids[0], 0)


@pytest.mark.parametrize("architecture", ["stepfunctions"])
@pytest.mark.parametrize("delivery_id", ["manual redelivery: " + "x" * 100, "a:b", "a b"])
def test_a_delivery_id_that_is_not_a_valid_execution_name_still_starts_one(
    delivery_id: str, receiver: Receiver
) -> None:
    name = dispatch.execution_name(delivery_id)

    assert receiver.deliver(delivery_id=delivery_id) == accepted(delivery_id)
    assert re.fullmatch(r"[0-9A-Za-z_-]{1,80}", name)
    assert name == dispatch.execution_name(delivery_id)
    assert receiver.dispatched(name) == {
        "onboarding": [{"correlationId": delivery_id, "receivedAt": TIME_EPOCH, **MEMBER}]
    }


def test_different_delivery_ids_never_share_an_execution_name() -> None:
    ids = ["a:b", "a b", "a_b", "x" * 81, "x" * 82, "manual redelivery: " + "x" * 100]
    assert len({dispatch.execution_name(delivery_id) for delivery_id in ids}) == len(ids)
    assert dispatch.execution_name("72d3162e-cc78-11e3-81ab-4c9367dc0958") == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_an_aws_failure_is_500_so_github_can_redeliver(receiver: Receiver) -> None:
    missing_target = {
        "sqs": "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue",
        "stepfunctions": "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-machine",
    }
    receiver.env.setenv("ONBOARDING_TARGET", missing_target[receiver.architecture])

    assert receiver.deliver(delivery_id=new_delivery_id()) == (
        500,
        {"error": "the event could not be handed over; redeliver it"},
    )


@pytest.mark.parametrize(
    ("signed_with", "outcome"),
    [(SECRET, "webhook accepted"), ("not the secret", "webhook rejected")],
)
def test_every_log_line_carries_the_delivery_id(signed_with: str, outcome: str, receiver: Receiver) -> None:
    log = io.StringIO()
    receiver.env.setattr(logger.registered_handler, "stream", log)
    delivery_id = new_delivery_id()

    receiver.post(signed_delivery(MEMBER_ADDED, event_name="organization", secret=signed_with, delivery_id=delivery_id))

    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["message"] for line in lines] == [outcome]
    assert all(line["correlation_id"] == delivery_id for line in lines)
    assert lines[0]["github_event"] == "organization"
    assert SECRET not in log.getvalue()
    if outcome == "webhook accepted":  # what it handed over: an ERROR-level Express log keeps no input to redrive
        [handed_over] = receiver.dispatched(delivery_id)["onboarding"]
        assert lines[0]["input"] == handed_over


def test_a_run_completed_in_another_time_zone_is_booked_in_utc(receiver: Receiver) -> None:
    payload = json.loads((FIXTURES / "workflow_run" / "completed.payload.json").read_bytes())
    payload["workflow_run"]["updated_at"] = "2020-10-31T23:30:00-02:00"
    receiver.env.setenv("GITHUB_ORG", "octo-org")
    delivery_id = new_delivery_id()

    assert receiver.deliver(json.dumps(payload).encode(), event_name="workflow_run", delivery_id=delivery_id) == (
        accepted(delivery_id)
    )
    [message] = receiver.dispatched(delivery_id)["chargeback"]
    assert message["completedAt"] == "2020-11-01T01:30:00Z"


def test_an_installation_on_an_account_without_a_login_is_ignored(receiver: Receiver) -> None:
    payload = json.loads((FIXTURES / "installation" / "created.payload.json").read_bytes())
    payload["installation"]["account"] = {"slug": "an-enterprise", "name": "An Enterprise"}
    delivery_id = new_delivery_id()

    assert receiver.deliver(json.dumps(payload).encode(), event_name="installation", delivery_id=delivery_id) == (
        202,
        {"status": "ignored"},
    )
    assert receiver.dispatched(delivery_id) == {}


# --- bodies Python's json cannot take (issue 6, item 1) ----------------------------------------------


def nested(depth: int, inner: bytes = b"1") -> bytes:
    """A JSON object whose ``deep`` field nests ``depth`` levels in all (the object is the first)."""
    return b'{"action": "none", "deep": ' + b"[" * (depth - 1) + inner + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100000-brackets"),
        pytest.param(b"{" * 100_000, id="100000-open-braces"),
        pytest.param(nested(MAX_JSON_DEPTH + 1), id="one-level-too-deep"),
    ],
)
def test_a_body_nested_deeper_than_the_bound_is_400_naming_the_bound(body: bytes, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()

    status, answer = receiver.deliver(body, delivery_id=delivery_id)

    assert (status, answer) == (400, {"error": f"body is not JSON: it nests deeper than {MAX_JSON_DEPTH} levels"})
    assert receiver.dispatched(delivery_id) == {}


def test_a_body_nested_exactly_to_the_bound_is_read(receiver: Receiver) -> None:
    assert receiver.deliver(nested(MAX_JSON_DEPTH), delivery_id=new_delivery_id()) == (202, {"status": "ignored"})


def test_brackets_inside_strings_do_not_count_as_nesting(receiver: Receiver) -> None:
    brackets = b'[{\\"' * 50_000  # in a string, with escaped quotes that must not end it
    body = b'{"action": "none", "text": "' + brackets + b'"}'
    assert json.loads(body)["text"].startswith('[{"')

    assert receiver.deliver(body, delivery_id=new_delivery_id()) == (202, {"status": "ignored"})


def test_an_integer_beyond_pythons_digit_limit_is_400(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    payload = json.loads(MEMBER_ADDED)
    body = json.dumps(payload).encode().replace(b'"id": 39652351', b'"id": ' + b"9" * 5000)
    assert b"9" * 5000 in body

    status, answer = receiver.deliver(body, delivery_id=delivery_id)

    assert status == 400
    assert answer["error"].startswith("body is not JSON: ") and "digit" in answer["error"]
    assert receiver.dispatched(delivery_id) == {}


# --- content types (issue 6, item 2) -------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"


def with_content_type(body: bytes, content_type: str | None, delivery_id: str) -> dict[str, Any]:
    """A delivery of ``body`` signed over exactly those bytes, with ``content_type`` (None: no header)."""
    headers = delivery_headers(body, event_name="organization", secret=SECRET, delivery_id=delivery_id)
    if content_type is None:
        del headers["content-type"]
    else:
        headers["content-type"] = content_type
    return http_api_event(body, headers, base64_encoded=True)


@pytest.mark.parametrize(
    "content_type", [FORM, "application/x-www-form-urlencoded; charset=utf-8", "Application/X-WWW-Form-URLEncoded"]
)
def test_a_form_encoded_delivery_is_verified_on_the_form_and_accepted(content_type: str, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    body = urlencode({"payload": MEMBER_ADDED.decode()}).encode()  # how GitHub sends "form" webhooks

    assert receiver.post(with_content_type(body, content_type, delivery_id)) == accepted(delivery_id)
    assert receiver.dispatched(delivery_id) == onboarded(delivery_id)


def test_a_form_signed_over_its_json_alone_is_401(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()
    body = urlencode({"payload": MEMBER_ADDED.decode()}).encode()
    event = with_content_type(body, FORM, delivery_id)
    event["headers"]["x-hub-signature-256"] = signature(SECRET, MEMBER_ADDED)

    assert receiver.post(event)[0] == 401
    assert receiver.dispatched(delivery_id) == {}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "form body has no payload field"),
        (b"other=1", "form body has no payload field"),
        (b"payload=1&payload=2", "form body has 2 payload fields; GitHub sends one"),
        (b"payload=%FF", "form body is not UTF-8 percent-encoded: "),
        (b"payload=\xff", "form body is not UTF-8 percent-encoded: "),
        (b"payload=%7B", "body is not JSON: "),
        (b"payload=" + quote(b"[" * 100_000).encode(), f"body is not JSON: it nests deeper than {MAX_JSON_DEPTH}"),
    ],
)
def test_a_form_without_one_json_payload_is_400(body: bytes, error: str, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()

    status, answer = receiver.post(with_content_type(body, FORM, delivery_id))

    assert status == 400
    assert answer["error"].startswith(error)
    assert receiver.dispatched(delivery_id) == {}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x", ""])
def test_another_content_type_is_415_naming_it(content_type: str, receiver: Receiver) -> None:
    delivery_id = new_delivery_id()

    status, answer = receiver.post(with_content_type(MEMBER_ADDED, content_type, delivery_id))

    assert (status, answer) == (
        415,
        {
            "error": f"content type {content_type!r} is not accepted: "
            "GitHub sends application/json or application/x-www-form-urlencoded"
        },
    )
    assert receiver.dispatched(delivery_id) == {}


def test_a_delivery_without_a_content_type_is_415(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()

    status, answer = receiver.post(with_content_type(MEMBER_ADDED, None, delivery_id))

    assert (status, answer["error"]) == (
        415,
        "Content-Type header is missing: GitHub sends application/json or application/x-www-form-urlencoded",
    )
    assert receiver.dispatched(delivery_id) == {}


def test_json_with_a_charset_is_accepted(receiver: Receiver) -> None:
    delivery_id = new_delivery_id()

    assert receiver.post(with_content_type(MEMBER_ADDED, "application/json; charset=utf-8", delivery_id)) == (
        accepted(delivery_id)
    )


def test_a_wrongly_signed_delivery_of_another_content_type_is_401_not_415(receiver: Receiver) -> None:
    event = with_content_type(MEMBER_ADDED, "text/plain", new_delivery_id())
    event["headers"]["x-hub-signature-256"] = signature("not the secret", MEMBER_ADDED)

    assert receiver.post(event)[0] == 401


# --- what a handled event carries (issue 6, item 4) --------------------------------------------------

WORKFLOW_RUN_COMPLETED = (FIXTURES / "workflow_run" / "completed.payload.json").read_bytes()
INSTALLATION_CREATED = (FIXTURES / "installation" / "created.payload.json").read_bytes()
EXAMPLES = {"organization": MEMBER_ADDED, "workflow_run": WORKFLOW_RUN_COMPLETED, "installation": INSTALLATION_CREATED}
ORGS = {"organization": "Octocoders", "workflow_run": "octo-org", "installation": "octocat"}


def changed(event_name: str, path: str, value: Any) -> bytes:
    """The example of ``event_name`` with the field at the dotted ``path`` set to ``value``."""
    payload = json.loads(EXAMPLES[event_name])
    *parents, last = path.split(".")
    target = payload
    for part in parents:
        target = target[part]
    target[last] = value
    return json.dumps(payload).encode()


TRAVERSAL = "../../other-team/memberships/victim"
BAD_FIELDS = [
    ("organization", "membership.user.login", TRAVERSAL),
    ("organization", "membership.user.login", "%2e%2e%2fvictim"),
    ("organization", "membership.user.login", "victim\uff0fx"),  # fullwidth solidus
    ("organization", "membership.user.login", "a\u2215b"),  # division slash
    ("organization", "membership.user.login", "-leading"),
    ("organization", "membership.user.login", "trailing-"),
    ("organization", "membership.user.login", "double--hyphen"),
    ("organization", "membership.user.login", "x" * 40),
    ("organization", "membership.user.login", ""),
    ("organization", "membership.user.login", "dependabot[bot]"),
    ("organization", "membership.user.login", 7),
    ("organization", "organization.login", "Octo coders"),
    ("organization", "membership.user.id", True),
    ("organization", "membership.user.id", 0),
    ("organization", "membership.user.id", -5),
    ("organization", "membership.user.id", "39652351"),
    ("organization", "membership.user.id", 1.5),
    ("workflow_run", "workflow_run.run_attempt", 0),
    ("workflow_run", "workflow_run.run_attempt", -1),
    ("workflow_run", "workflow_run.run_attempt", True),
    ("workflow_run", "workflow_run.id", False),
    ("workflow_run", "repository.name", ".."),
    ("workflow_run", "repository.name", "."),
    ("workflow_run", "repository.name", "a/b"),
    ("workflow_run", "repository.name", "r" * 101),
    ("workflow_run", "repository.name", "caf\u00e9"),
    ("workflow_run", "repository.owner.login", "../octo-org"),
    ("installation", "installation.id", True),
    ("installation", "installation.id", 0),
    ("installation", "installation.account.login", "octo/cat"),
]


@pytest.mark.parametrize(("event_name", "path", "value"), BAD_FIELDS, ids=lambda value: repr(value)[:30])
def test_a_field_that_is_not_what_github_sends_is_400_naming_it(
    event_name: str, path: str, value: Any, receiver: Receiver
) -> None:
    receiver.env.setenv("GITHUB_ORG", ORGS[event_name])
    delivery_id = new_delivery_id()

    status, answer = receiver.deliver(changed(event_name, path, value), event_name=event_name, delivery_id=delivery_id)

    assert status == 400
    assert f"payload: {path}: " in answer["error"]
    assert receiver.dispatched(delivery_id) == {}


@pytest.mark.parametrize(
    ("event_name", "path", "value"),
    [
        ("organization", "membership.user.login", "a" * 39),
        ("organization", "membership.user.login", "a-b-9"),
        ("workflow_run", "repository.name", "a" * 100),
        ("workflow_run", "repository.name", ".github"),
        ("workflow_run", "repository.name", "..."),
        ("workflow_run", "repository.name", "my_repo-2.0"),
    ],
)
def test_names_at_the_edge_of_githubs_syntax_are_accepted(
    event_name: str, path: str, value: Any, receiver: Receiver
) -> None:
    receiver.env.setenv("GITHUB_ORG", ORGS[event_name])
    delivery_id = new_delivery_id()

    status, _ = receiver.deliver(changed(event_name, path, value), event_name=event_name, delivery_id=delivery_id)

    assert status == 202
    [[message]] = receiver.dispatched(delivery_id).values()
    assert value in message.values()


def test_a_member_added_without_a_user_is_ignored_and_logged(receiver: Receiver) -> None:
    log = io.StringIO()
    receiver.env.setattr(logger.registered_handler, "stream", log)
    delivery_id = new_delivery_id()

    assert receiver.deliver(changed("organization", "membership.user", None), delivery_id=delivery_id) == (
        202,
        {"status": "ignored"},
    )
    assert receiver.dispatched(delivery_id) == {}
    [line] = [json.loads(line) for line in log.getvalue().splitlines()]
    assert (line["message"], line["reason"]) == ("webhook ignored", "membership.user is null: nobody to onboard")


def emitted_metrics(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded metric format documents Powertools printed: one per flush."""
    return [doc for line in stdout.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


@pytest.mark.parametrize(
    ("fixture", "use_case"),
    [
        ("organization/member_added", "member_added"),
        ("workflow_run/completed", "workflow_run"),
        ("installation/created", "installation"),
    ],
)
def test_an_accepted_delivery_is_counted_per_use_case_under_its_stack(
    fixture: str, use_case: str, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    body = (FIXTURES / f"{fixture}.payload.json").read_bytes()
    receiver.env.setenv("GITHUB_ORG", org_of(json.loads(body)))
    emf.set_stack_dimension(receiver_module.metrics, {"GITHUB_AUTOMATION_STACK": "dev-sfn"})
    delivery_id = new_delivery_id()
    try:
        capsys.readouterr()
        assert receiver.deliver(body, event_name=fixture.split("/")[0], delivery_id=delivery_id)[0] == 202
        (document,) = emitted_metrics(capsys.readouterr().out)
    finally:
        emf.set_stack_dimension(receiver_module.metrics, {})
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "GitHubAutomationTests"
    assert [m["Name"] for m in directive["Metrics"]] == ["WebhooksAccepted"]
    assert sorted(directive["Dimensions"][0]) == ["Stack", "UseCase", "service"]
    assert (document["Stack"], document["UseCase"], document["WebhooksAccepted"]) == ("dev-sfn", use_case, [1.0])
    assert document["correlation_id"] == delivery_id, "the metric line names its delivery, as every log line"


def test_a_rejected_delivery_is_counted_under_its_stack_without_a_use_case(
    receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    emf.set_stack_dimension(receiver_module.metrics, {"GITHUB_AUTOMATION_STACK": "dev"})
    try:
        capsys.readouterr()
        event = signed_delivery(MEMBER_ADDED, event_name="organization", secret="not the secret")
        assert receiver.post(event)[0] == 401
        (document,) = emitted_metrics(capsys.readouterr().out)
    finally:
        emf.set_stack_dimension(receiver_module.metrics, {})
    assert sorted(document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["Stack", "service"]
    assert (document["Stack"], document["WebhooksRejected"]) == ("dev", [1.0])


def test_received_at_is_api_gateways_request_time() -> None:
    from functions.common.events import HttpApiRequest
    from functions.receiver import received_at

    event = http_api_event(MEMBER_ADDED, {})
    assert received_at(HttpApiRequest(event)) == TIME_EPOCH


@pytest.mark.parametrize("epoch", [None, "1764633600000", True, 0])
def test_received_at_is_now_when_the_request_time_is_missing_or_not_a_time(epoch: object) -> None:
    import time

    from functions.common.events import HttpApiRequest
    from functions.receiver import received_at

    event = http_api_event(MEMBER_ADDED, {})
    if epoch is None:
        del event["requestContext"]["timeEpoch"]
    else:
        event["requestContext"]["timeEpoch"] = epoch
    before = time.time_ns() // 1_000_000
    assert before <= received_at(HttpApiRequest(event)) <= time.time_ns() // 1_000_000
