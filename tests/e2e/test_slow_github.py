"""sqs: a batch of slow GitHub calls finishes within the function timeout the sandbox's Lambda enforces.

Ten member_added deliveries at once reach add-team-member as one batch (or a few); GitHub answers each
team membership PUT late. Records run one after another, a batch of five already outlasts the 35 s
timeout (Sandbox.Timedout, and the whole batch is retried); run at once, each batch takes one call.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from components.catalog import ADD_TEAM_MEMBER
from sandbox.environment import Sandbox
from sandbox.workload import IGNORED_FIXTURES, Delivery, ignored, member_added

LATENCY_SECONDS = ADD_TEAM_MEMBER.timeout_seconds / 4.5  # five calls one after another outlast the timeout
MEMBERS = 10


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # a batching window (the default is 0), so that ten deliveries sent at once surely share a batch
    with Sandbox(("sqs",), time_scale=0.002, overrides={"sqsBatchWindowSeconds": "1"}) as running:
        yield running


def test_a_batch_of_slow_github_calls_finishes_within_the_function_timeout(sandbox: Sandbox) -> None:
    assert sandbox.github is not None
    seed = sandbox.seed
    people = [person for person in seed.members if person.employee_id is not None][:MEMBERS]
    assert len(people) == MEMBERS
    sandbox.github.github.slow_down(LATENCY_SECONDS, path=r"^/orgs/[^/]+/teams/[^/]+/memberships/")

    # a warm receiver (two processes), so that the deliveries arrive within the mapping's batching window
    for _ in range(2):
        assert sandbox.send("sqs", ignored(seed, *IGNORED_FIXTURES[0])).status == 202
    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda person: _deliver(sandbox, member_added(seed, person)), people))
    assert statuses == [202] * MEMBERS
    sandbox.wait_until_idle(timeout=240)

    deployment = sandbox.stacks["sqs"].deployment
    mapping = next(m for m in deployment.event_source_mappings if m.queue_url.endswith("-add-team-member"))
    stats = deployment.poller.stats[mapping.uuid]
    assert stats.largest_batch >= 5, "the deliveries did not share a batch: the test proves nothing"
    assert (stats.function_errors, stats.failed_records) == (0, 0), "a batch timed out or a record failed"
    assert stats.records >= MEMBERS
    assert sorted(item["login"] for item in sandbox.table_items("sqs", "membersTable")) == sorted(
        person.login for person in people
    )
    assert sandbox.parked("sqs") == {}


def _deliver(sandbox: Sandbox, delivery: Delivery) -> int:
    """Send as GitHub redelivers: again (same delivery id) after a 503 of a machine too busy to answer."""
    for _ in range(3):
        status = sandbox.send("sqs", delivery).status
        if status != 503:
            return status
    return status
