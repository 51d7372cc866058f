"""Stored and notified are one unit, end to end in both architectures (issue 6, item 9).

SNS refuses every publish to the stack's topic (the sandbox's switchable fault) while a member and a
workflow run are stored, then recovers. Each record must end stored once, notified at least once,
marked as notified, and no failure notification may say it was not stored.

- sqs: store-records raises NotificationPending, the record comes back, and once SNS is back its next
  receive publishes only the notification.
- stepfunctions: the execution ends FAILED with NotificationPending (no failure notification); GitHub's
  "Redeliver" of the same deliveries finds them stored by those very deliveries, reads the marker and
  publishes only the notification. (Another delivery of the same member or run would publish nothing:
  the delivery that stored a record announces it, docs/architecture.md "Stored and notified".)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from sandbox.environment import Sandbox
from sandbox.workload import Delivery, member_added, workflow_run_completed

ARCHITECTURES = ("sqs", "stepfunctions")
WAIT_SECONDS = 120.0


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_a_publish_failing_after_the_write_is_made_good_without_a_false_failure(
    sandbox: Sandbox, architecture: str
) -> None:
    assert sandbox.aws is not None
    faults, stack = sandbox.aws.sns_faults, sandbox.stacks[architecture]
    topic = stack.exports["notificationTopicArn"]
    person, run = sandbox.seed.members[0], sandbox.seed.runs[0]
    repository = f"{sandbox.seed.org}/{run.repo}"
    member_subject, run_subject = f"Onboarded {person.login} ", f"Run {run.run_id} of {repository} "

    def refused(prefix: str) -> bool:
        return any(arn == topic and (subject or "").startswith(prefix) for arn, subject in faults.rejected)

    def send(*deliveries: Delivery) -> None:
        for delivery in deliveries:
            assert sandbox.send(architecture, delivery).status == 202

    deliveries = member_added(sandbox.seed, person), workflow_run_completed(sandbox.seed, run)
    faults.fail(topic)
    try:
        send(*deliveries)
        _wait_for(lambda: refused(member_subject) and refused(run_subject), "both success publishes to fail")
        if architecture == "stepfunctions":
            sandbox.wait_until_idle([architecture])  # the executions end while SNS is still down
    finally:
        faults.clear(topic)

    if architecture == "stepfunctions":
        for use_case in ("ONBOARDING", "CHARGEBACK"):
            (failed,) = sandbox.executions(architecture, use_case, "FAILED")
            assert _express_execution_error(failed["executionArn"]) == "NotificationPending", failed
        send(*(delivery.redeliver() for delivery in deliveries))
    sandbox.wait_until_idle([architecture], timeout=WAIT_SECONDS)

    refused_subjects = [subject or "" for arn, subject in faults.rejected if arn == topic]
    assert not any(" failed" in subject for subject in refused_subjects), "no failure notification was attempted"
    notifications = sandbox.notifications(architecture)
    assert [n.subject for n in notifications if n.failure] == [], "nothing says a stored record was not stored"
    assert sum(n.subject.startswith(member_subject) for n in notifications) >= 1
    assert sum(n.subject.startswith(run_subject) for n in notifications) >= 1

    members = [item for item in sandbox.table_items(architecture, "membersTable") if item["login"] == person.login]
    assert len(members) == 1 and members[0]["notified"] is True
    rows = {
        item["sk"]: item
        for item in sandbox.table_items(architecture, "workflowRunsTable")
        if item["pk"] == f"REPO#{repository}"
    }
    (run_row,) = [item for sk, item in rows.items() if sk.startswith("RUN#")]
    assert run_row["notified"] is True and run_row["runId"] == run.run_id
    assert rows["TOTAL"]["runs"] == 1, "stored once: the retries and the redelivery did not count it again"
    assert "notified" not in rows["TOTAL"]
    assert sandbox.parked(architecture) == (
        {} if architecture == "sqs" else {f"failed {name} executions": 1 for name in _machine_names(sandbox)}
    )


def _machine_names(sandbox: Sandbox) -> list[str]:
    arns = sandbox.stacks["stepfunctions"].exports["stateMachineArns"]
    return [arns[use_case].rsplit(":", 1)[-1] for use_case in ("ONBOARDING", "CHARGEBACK")]


def _express_execution_error(execution_arn: str) -> str | None:
    """The error an Express execution ended with. Express executions cannot be described (AWS keeps no
    history of them: their logs are where the error is), so the test reads it from the emulator itself."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    for regions in stepfunctions_parser_backends.values():
        for backend in regions.values():
            for machine in backend.state_machines:
                for execution in machine.executions:
                    if execution.exec_arn == execution_arn:
                        return str(execution.error) if execution.error is not None else None
    raise AssertionError(f"no execution {execution_arn} in the sandbox")
