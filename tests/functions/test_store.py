"""The write plans against DynamoDB and SNS (moto): idempotent, exact, queryable per month."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from functions import records, store_records
from functions.common import adapter
from functions.common.errors import NotificationPending
from functions.common.models import StoreRequest, TeamMembership, WorkflowRunRef, sns_subject
from functions.directory import CompanyRecord, DirectoryResult
from functions.pricing import JobUsage, price_run
from tests.functions.fake_github import fixture_payload
from tests.tables import create_workflow_runs_table

MEMBERS_TABLE = "members"
RUNS_TABLE = "workflow-runs"
UTC = UTC


@dataclass
class StoreEnv:
    dynamodb: Any
    sqs: Any
    notifications_queue_url: str

    def notifications(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(QueueUrl=self.notifications_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            received += [json.loads(message["Body"]) for message in batch]
            for message in batch:
                self.sqs.delete_message(QueueUrl=self.notifications_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return received

    def run_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        return self.dynamodb.Table(RUNS_TABLE).get_item(Key={"pk": pk, "sk": sk}).get("Item")


def create_tables(dynamodb: Any) -> None:
    """The schema the Pulumi program deploys (see functions/records.py)."""
    dynamodb.create_table(
        TableName=MEMBERS_TABLE,
        KeySchema=[{"AttributeName": "login", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "login", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    create_workflow_runs_table(dynamodb, RUNS_TABLE)


@pytest.fixture
def store_env(function_env: pytest.MonkeyPatch) -> Iterator[StoreEnv]:
    """DynamoDB tables, an SNS topic with an SQS subscriber that collects what is published."""
    with mock_aws():
        dynamodb = boto3.resource("dynamodb")
        create_tables(dynamodb)
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic_arn = sns.create_topic(Name="notifications")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        function_env.setenv("MEMBERS_TABLE", MEMBERS_TABLE)
        function_env.setenv("WORKFLOW_RUNS_TABLE", RUNS_TABLE)
        function_env.setenv("NOTIFICATION_TOPIC_ARN", topic_arn)
        store_records.dynamodb_client.cache_clear()
        adapter.sns_client.cache_clear()
        yield StoreEnv(dynamodb=dynamodb, sqs=sqs, notifications_queue_url=queue_url)
        store_records.dynamodb_client.cache_clear()
        adapter.sns_client.cache_clear()


def by_period(table: Any, period: str) -> list[dict[str, Any]]:
    """Every repository's totals for a period (``YYYY-MM`` or ``ALL``), through the GSI."""
    return table.query(
        IndexName="period-index",
        KeyConditionExpression="#period = :period",
        ExpressionAttributeNames={"#period": "period"},
        ExpressionAttributeValues={":period": period},
    )["Items"]


def over_the_wire(request: StoreRequest) -> StoreRequest:
    """What the next step receives: the request as JSON (an SQS body or a state input)."""
    return StoreRequest.model_validate(json.loads(json.dumps(request.to_wire())))


def member_request(login: str = "hacktocat", *, employee_id: str = "E1001") -> StoreRequest:
    payload = fixture_payload("organization", "member_added")
    membership = TeamMembership(
        correlation_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
        org=payload["organization"]["login"],
        login=login,
        user_id=payload["membership"]["user"]["id"],
        team="platform",
        role="member",
        state="active",
    )
    directory = DirectoryResult(
        status="found",
        source="github-saml",
        record=CompanyRecord(employee_id=employee_id, email=f"{login}@example.com", name="Hacktocat Example"),
    )
    return records.member_store_request(
        membership, directory, onboarded_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC), table=MEMBERS_TABLE
    )


def run_request(
    run_id: int, *, completed_at: str, minutes: list[int], labels: str = "ubuntu-latest", repo: str = "octo-repo"
) -> StoreRequest:
    run = WorkflowRunRef(
        correlation_id=f"delivery-{run_id}",
        owner="octo-org",
        repo=repo,
        repository_private=True,
        run_id=run_id,
        run_attempt=1,
        workflow_name="CI",
        conclusion="success",
        completed_at=completed_at,
    )
    start = datetime.fromisoformat(completed_at).astimezone(UTC).replace(hour=0, minute=0, second=0)
    jobs = [
        JobUsage(
            job_id=run_id * 100 + index,
            name=f"job {index}",
            labels=(labels,),
            conclusion="success",
            started_at=start,
            completed_at=start.replace(minute=length),
        )
        for index, length in enumerate(minutes)
    ]
    price = price_run(
        jobs, repository_private=True, self_hosted_usd_per_minute=Decimal(0), fallback_day=date(2026, 1, 1)
    )
    return records.workflow_run_store_request(run, price, table=RUNS_TABLE)


def test_a_member_stored_twice_is_written_once_and_notified_once(store_env: StoreEnv) -> None:
    first = over_the_wire(member_request())
    store_records.store_records(first)
    # a redelivery, with a later onboarding time and a different record: the first one wins
    store_records.store_records(over_the_wire(member_request(employee_id="E9999")))

    item = store_env.dynamodb.Table(MEMBERS_TABLE).get_item(Key={"login": "hacktocat"})["Item"]
    assert item["employeeId"] == "E1001"
    assert item["userId"] == 39652351 and item["team"] == "platform" and item["directoryStatus"] == "found"
    notifications = store_env.notifications()
    assert len(notifications) == 1
    assert notifications[0]["Subject"] == first.notification.subject
    assert json.loads(notifications[0]["Message"])["login"] == "hacktocat"
    assert notifications[0]["MessageAttributes"]["correlationId"]["Value"] == first.correlation_id


def test_a_run_stored_twice_counts_once(store_env: StoreEnv) -> None:
    request = run_request(289782451, completed_at="2026-03-05T16:33:49Z", minutes=[3, 7])
    store_records.store_records(over_the_wire(request))
    store_records.store_records(over_the_wire(request))

    pk = "REPO#octo-org/octo-repo"
    run = store_env.run_item(pk, records.run_sk(289782451, 1))
    assert run is not None and run["costUsd"] == Decimal("0.060") and run["billableMinutes"] == 10
    assert [job["minutes"] for job in json.loads(run["jobs"])] == [3, 7]
    for sk in ("TOTAL", "MONTH#2026-03"):
        total = store_env.run_item(pk, sk)
        assert total is not None
        assert (total["runs"], total["billableMinutes"], total["costUsd"]) == (1, 10, Decimal("0.06")), sk
    assert len(store_env.notifications()) == 1


def test_runs_add_up_to_the_cent_per_month_and_in_total(store_env: StoreEnv) -> None:
    requests = [
        run_request(1001, completed_at="2026-03-01T00:10:00Z", minutes=[1, 2, 59]),  # 62 x 0.006 = 0.372
        run_request(1002, completed_at="2026-03-31T23:59:59+00:00", minutes=[17]),  # 17 x 0.006 = 0.102
        run_request(1003, completed_at="2026-04-01T01:00:00+02:00", minutes=[5]),  # UTC: still March 31st
        run_request(1004, completed_at="2026-04-02T08:00:00Z", minutes=[11], labels="macos-latest"),  # 0.682
        run_request(2001, completed_at="2026-03-15T12:00:00Z", minutes=[9], repo="other-repo"),  # 0.054
    ]
    for request in requests:
        store_records.store_records(over_the_wire(request))

    pk = "REPO#octo-org/octo-repo"
    march, april, total = (store_env.run_item(pk, sk) for sk in ("MONTH#2026-03", "MONTH#2026-04", "TOTAL"))
    assert (march["runs"], march["billableMinutes"], march["costUsd"]) == (3, 84, Decimal("0.504"))
    assert (april["runs"], april["costUsd"]) == (1, Decimal("0.682"))
    assert (total["runs"], total["billableMinutes"], total["costUsd"]) == (4, 95, Decimal("1.186"))
    assert total["costUsd"] == march["costUsd"] + april["costUsd"]

    table = store_env.dynamodb.Table(RUNS_TABLE)
    in_march = by_period(table, "2026-03")
    assert [(item["pk"], item["costUsd"]) for item in in_march] == [
        ("REPO#octo-org/octo-repo", Decimal("0.504")),
        ("REPO#octo-org/other-repo", Decimal("0.054")),
    ]
    all_time = by_period(table, "ALL")
    assert sum(item["costUsd"] for item in all_time) == Decimal("1.240")
    assert len(store_env.notifications()) == len(requests)


def test_a_repository_s_runs_sort_by_id_then_attempt(store_env: StoreEnv) -> None:
    for run_id in (99, 100, 2_000_000_000_001):
        store_records.store_records(run_request(run_id, completed_at="2026-03-05T00:00:00Z", minutes=[1]))
    table = store_env.dynamodb.Table(RUNS_TABLE)
    items = table.query(
        KeyConditionExpression="pk = :pk AND begins_with(sk, :run)",
        ExpressionAttributeValues={":pk": "REPO#octo-org/octo-repo", ":run": "RUN#"},
    )["Items"]
    assert [item["runId"] for item in items] == [99, 100, 2_000_000_000_001]


def test_other_cancellations_are_raised_for_a_retry(store_env: StoreEnv) -> None:
    client = store_records.dynamodb_client()
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            service_message="Transaction cancelled",
            modeled_fields={
                "CancellationReasons": [{"Code": "ConditionalCheckFailed"}, {"Code": "TransactionConflict"}]
            },
        )
        with pytest.raises(ClientError, match="TransactionCanceledException"):
            store_records.store_records(run_request(7, completed_at="2026-03-05T00:00:00Z", minutes=[1]))
        stubber.add_client_error("transact_write_items", service_error_code="ProvisionedThroughputExceededException")
        with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
            store_records.store_records(run_request(7, completed_at="2026-03-05T00:00:00Z", minutes=[1]))
    assert store_env.notifications() == []


def test_long_and_unicode_names_still_make_a_valid_subject(store_env: StoreEnv) -> None:
    request = run_request(5, completed_at="2026-03-05T00:00:00Z", minutes=[1], repo="r" * 100)
    assert len(request.notification.subject) <= 100 and request.notification.subject.isascii()
    store_records.store_records(request)
    assert len(store_env.notifications()) == 1
    assert sns_subject("Déploiement\nnocturne ✓ " * 10).isascii()
    assert sns_subject("a\nb\x00c\td") == "a bc d"


class Context:
    function_name = "store-records"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:store-records"
    aws_request_id = "request-1"

    def get_remaining_time_in_millis(self) -> int:  # Lambda's context has it; the adapter reads it
        return 30_000


def sqs_event(request: StoreRequest, receive_count: int = 1) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": "m-1",
                "receiptHandle": "r-1",
                "body": json.dumps(request.to_wire()),
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {"correlationId": {"stringValue": request.correlation_id, "dataType": "String"}},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:store",
                "awsRegion": "us-east-1",
            }
        ]
    }


def test_the_handler_stores_an_sqs_record_once(store_env: StoreEnv) -> None:
    """The store Lambda of the sqs architecture, behind the adapter: a redelivery writes nothing."""
    request = member_request("octocat")
    assert store_records.handler(sqs_event(request), Context()) == {"batchItemFailures": []}
    assert store_records.handler(sqs_event(request), Context()) == {"batchItemFailures": []}  # redelivered
    assert store_env.dynamodb.Table(MEMBERS_TABLE).get_item(Key={"login": "octocat"})["Item"]["login"] == "octocat"
    assert len(store_env.notifications()) == 1


class PublishFails:
    """Makes the store step's SNS client refuse ``times`` publishes, as SNS does when it is down."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, times: int) -> None:
        self.left = times
        client = adapter.sns_client()
        self._publish = client.publish
        monkeypatch.setattr(client, "publish", self)

    def __call__(self, **request: Any) -> Any:
        if self.left > 0:
            self.left -= 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "SNS is down"}}, "Publish")
        return self._publish(**request)


def marker_of(store_env: StoreEnv, request: StoreRequest) -> Any:
    table = store_env.dynamodb.Table(request.marker.table_name)
    key = {name: next(iter(value.values())) for name, value in request.marker.key.items()}
    return table.get_item(Key=key, ConsistentRead=True)["Item"].get(records.NOTIFIED)


@pytest.mark.parametrize("kind", ["member", "workflow_run"])
def test_a_publish_that_fails_after_the_write_is_made_good_by_the_retry(
    store_env: StoreEnv, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    request = over_the_wire(
        member_request() if kind == "member" else run_request(31, completed_at="2026-03-05T00:00:00Z", minutes=[2])
    )
    PublishFails(monkeypatch, times=1)
    with pytest.raises(NotificationPending, match="stored but its notification was not published"):
        store_records.store_records(request)
    assert marker_of(store_env, request) is None, "stored, not yet notified"
    assert store_env.notifications() == []

    store_records.store_records(request)  # the record's next receive
    (notification,) = store_env.notifications()
    assert notification["Subject"] == request.notification.subject
    assert marker_of(store_env, request) is True

    store_records.store_records(request)  # a redelivery after that: everything is there
    assert store_env.notifications() == []
    if kind == "workflow_run":
        total = store_env.run_item("REPO#octo-org/octo-repo", "TOTAL")
        assert total is not None and total["runs"] == 1, "the retries did not count the run again"


def test_the_handler_reports_a_pending_notification_as_the_record_s_failure(
    store_env: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqs: the record fails (and comes back), its item is stored; the next receive only notifies."""
    request = member_request("mona")
    PublishFails(monkeypatch, times=1)
    event = sqs_event(request)
    assert store_records.handler(event, Context()) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    assert store_env.dynamodb.Table(MEMBERS_TABLE).get_item(Key={"login": "mona"})["Item"]["login"] == "mona"
    assert store_env.notifications() == []
    assert store_records.handler(sqs_event(request, receive_count=2), Context()) == {"batchItemFailures": []}
    assert [n["Subject"] for n in store_env.notifications()] == [request.notification.subject]


def store_crashing_before_the_marker(request: StoreRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Store and publish ``request``, then crash on the marker's UpdateItem (the store step raises)."""
    client = store_records.dynamodb_client()
    update_item = client.update_item

    def crash(**_: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "gone"}}, "UpdateItem")

    monkeypatch.setattr(client, "update_item", crash)
    with pytest.raises(ClientError, match="InternalServerError"):
        store_records.store_records(request)
    monkeypatch.setattr(client, "update_item", update_item)


def test_a_marker_that_was_not_written_means_notified_again_never_skipped(
    store_env: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once: a crash between the publish and the marker publishes again on the retry."""
    request = over_the_wire(member_request())
    store_crashing_before_the_marker(request, monkeypatch)
    assert len(store_env.notifications()) == 1
    assert marker_of(store_env, request) is None
    store_records.store_records(request)  # the retry: stored, not marked, so it publishes again
    store_records.store_records(request)  # and the next one finds the marker
    assert len(store_env.notifications()) == 1
    assert marker_of(store_env, request) is True


def from_another_delivery(request: StoreRequest, correlation_id: str = "backfill-delivery") -> StoreRequest:
    """The same record from another delivery (a backfill next to the member_added that stored it)."""
    record = {**request.record, "correlationId": correlation_id}
    (put,) = request.transact_items
    item = {**put["Put"]["Item"], records.STORED_BY: {"S": correlation_id}}
    return request.model_copy(
        update={
            "correlation_id": correlation_id,
            "record": record,
            "transact_items": [{"Put": {**put["Put"], "Item": item}}],
        }
    )


def test_another_delivery_of_a_stored_record_leaves_its_announcement_to_the_one_that_stored_it(
    store_env: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored and published by its delivery, which crashed before the marker: a backfill of the same member
    publishes nothing (the storing delivery's retry does), so the member is announced once."""
    request = over_the_wire(member_request())
    store_crashing_before_the_marker(request, monkeypatch)

    store_records.store_records(from_another_delivery(request))

    assert len(store_env.notifications()) == 1, "the backfill published nothing"
    assert marker_of(store_env, request) is None, "nor marked what it did not announce"


def test_two_deliveries_of_one_record_at_once_announce_it_once(
    store_env: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member_added and a backfill of the same member in two concurrent invocations (no serial key
    between them): the one that stores it announces it, the other finds it stored by another delivery."""
    SlowPublish(monkeypatch, 0.3)
    request = over_the_wire(member_request())
    requests = [request, from_another_delivery(request)]
    threads = [threading.Thread(target=store_records.store_records, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (notification,) = store_env.notifications()
    assert marker_of(store_env, request) is True


def test_the_marker_is_planned_on_the_stored_item_only() -> None:
    member = member_request()
    assert member.marker.table_name == MEMBERS_TABLE
    assert member.marker.key == {"login": {"S": "hacktocat"}}
    assert member.marker.update_item_request()["ConditionExpression"] == "attribute_exists(login)"
    run = run_request(77, completed_at="2026-03-05T00:00:00Z", minutes=[1])
    assert run.marker.table_name == RUNS_TABLE
    assert run.marker.key == {"pk": {"S": "REPO#octo-org/octo-repo"}, "sk": {"S": records.run_sk(77, 1)}}
    assert run.marker.expression_attribute_values == {":notified": {"BOOL": True}}
    assert over_the_wire(run).marker == run.marker
    assert run.to_wire()["marker"]["tableName"] == RUNS_TABLE, "camelCase on the wire, as the ASL reads it"


class SlowPublish:
    """The store step's SNS client answering each publish late, so a racing duplicate would overlap it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
        client = adapter.sns_client()
        self._publish, self._seconds = client.publish, seconds
        monkeypatch.setattr(client, "publish", self)

    def __call__(self, **request: Any) -> Any:
        time.sleep(self._seconds)
        return self._publish(**request)


def test_duplicates_in_one_batch_are_stored_and_notified_once(
    store_env: StoreEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A redelivery and its original in the same batch (the records run in threads): one notification.

    Without the handler's serial key both run at once: the second finds the item stored while the first
    is still publishing, reads no marker, and publishes again."""
    member, run = member_request("alice"), run_request(41, completed_at="2026-03-05T00:00:00Z", minutes=[3])
    SlowPublish(monkeypatch, seconds=0.5)
    records = [
        {**sqs_event(request)["Records"][0], "messageId": f"m-{n}"}
        for n, request in enumerate([member, run, member, run, member])
    ]
    assert store_records.handler({"Records": records}, Context()) == {"batchItemFailures": []}
    subjects = sorted(n["Subject"] for n in store_env.notifications())
    assert subjects == sorted([member.notification.subject, run.notification.subject])
    assert marker_of(store_env, member) is True and marker_of(store_env, run) is True


def latency_documents(stdout: str) -> list[dict[str, Any]]:
    """The EMF documents of ``DeliveryLatency`` printed to stdout."""
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [doc for doc in documents if "DeliveryLatency" in doc]


@pytest.mark.parametrize(
    ("request_of", "use_case"),
    [
        (lambda: member_request(), "member_added"),
        (lambda: run_request(289782452, completed_at="2026-03-05T16:33:49Z", minutes=[1]), "workflow_run"),
    ],
)
def test_the_delivery_latency_is_emitted_once_stored_and_notified_and_not_for_a_duplicate(
    request_of: Any,
    use_case: str,
    store_env: StoreEnv,
    function_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_env.setenv("GITHUB_AUTOMATION_STACK", "dev")
    received_at = time.time_ns() // 1_000_000 - 1500
    request = over_the_wire(request_of().model_copy(update={"received_at": received_at}))
    capsys.readouterr()

    store_records.store_records(request)
    (document,) = latency_documents(capsys.readouterr().out)
    store_records.store_records(request)  # a duplicate: nothing published, no latency
    assert latency_documents(capsys.readouterr().out) == []

    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "GitHubAutomationTests"
    assert directive["Metrics"] == [{"Name": "DeliveryLatency", "Unit": "Milliseconds"}]
    assert directive["Dimensions"] == [["Stack", "UseCase"]]  # no service: the state machines' dimension set
    assert (document["Stack"], document["UseCase"]) == ("dev", use_case)
    assert document["correlation_id"] == request.correlation_id
    (latency,) = document["DeliveryLatency"]
    assert 1500 <= latency < 60_000
    assert len(store_env.notifications()) == 1


def test_a_backfilled_members_latency_is_the_installations(store_env: StoreEnv) -> None:
    request = member_request()
    backfilled = request.model_copy(update={"record": {**request.record, "source": "backfill"}})
    assert over_the_wire(backfilled).use_case == "installation"
    assert over_the_wire(request).to_wire()["useCase"] == "member_added"


def test_a_message_without_received_at_is_stored_and_notified_without_a_latency(
    store_env: StoreEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    store_records.store_records(over_the_wire(member_request("old-message")))
    assert latency_documents(capsys.readouterr().out) == []
    assert len(store_env.notifications()) == 1


def test_a_publish_that_fails_emits_no_latency(store_env: StoreEnv, capsys: pytest.CaptureFixture[str]) -> None:
    request = member_request("unlucky").model_copy(update={"received_at": 1})
    capsys.readouterr()
    with Stubber(adapter.sns_client()) as sns:
        sns.add_client_error("publish", "InternalError", http_status_code=500)
        with pytest.raises(NotificationPending):
            store_records.store_records(over_the_wire(request))
    assert latency_documents(capsys.readouterr().out) == []
