"""A large organization backfilled through both architectures (issue 10): every member stored once.

The member list is pages of GitHub's 100: sqs lists a page per message (each page's result sends the next
page's request to list-org-members' own queue); stepfunctions lists a page per call, writes each to the
backfill bucket and onboards them with a Distributed Map, a child execution per page. Before, the
stepfunctions backfill held the whole list in one state (256 KiB: about 1,300-1,900 members) and its inline
Map wrote every member's events into one history (25,000 events: about 2,080 members).

``make test`` backfills 250 members (3 pages, the last one short); ``make test-large-backfill`` the 3,000 of
issue 10 (``BACKFILL_TEST_MEMBERS``), which on this 2-core sandbox takes longer than the whole of
``make test`` (about 7 members a second per architecture, both at once; docs/performance.md).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections import Counter
from collections.abc import Iterator

import pytest

from functions.list_org_members import IDENTITY_PAGES_PER_CALL
from sandbox.environment import ARCHITECTURES, Sandbox
from sandbox.fake_github import SANDBOX_ORG, OrgSeed, Person
from sandbox.workload import installation_created

MEMBERS = int(os.environ.get("BACKFILL_TEST_MEMBERS", "250"))
PAGE = 100  # functions/list_org_members.py PAGE_SIZE
PAGES = math.ceil(MEMBERS / PAGE)
#: Generous: a few members a second per architecture on a loaded 2-core machine.
BACKFILL_TIMEOUT_SECONDS = 120 + MEMBERS / 2


def large_org(members: int) -> OrgSeed:
    people = tuple(
        Person(f"member-{n:05d}", 8_000_000 + n, f"E{100_000 + n}", "Member", f"No{n}", f"m{n}@example.com", "Eng")
        for n in range(members)
    )
    return dataclasses.replace(SANDBOX_ORG, members=people)


@pytest.fixture(scope="module")
def backfilled() -> Iterator[Sandbox]:
    with Sandbox(time_scale=0.002, seed=large_org(MEMBERS)) as sandbox:
        for architecture in ARCHITECTURES:
            assert sandbox.send(architecture, installation_created(sandbox.seed)).status == 202
        sandbox.wait_until_idle(timeout=BACKFILL_TIMEOUT_SECONDS)
        yield sandbox


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_member_of_a_large_org_is_stored_once_with_one_notification(
    backfilled: Sandbox, architecture: str
) -> None:
    stored = [item["login"] for item in backfilled.table_items(architecture, "membersTable")]
    assert sorted(stored) == [person.login for person in backfilled.seed.members]
    assert all(item.get("employeeId") for item in backfilled.table_items(architecture, "membersTable"))
    onboarded = Counter(
        n.subject.split()[1] for n in backfilled.notifications(architecture) if n.subject.startswith("Onboarded ")
    )
    assert len(onboarded) == MEMBERS and set(onboarded.values()) == {1}, "one notification per member, no more"
    assert not [n.subject for n in backfilled.notifications(architecture) if n.failure]


def test_the_stepfunctions_backfill_lists_a_page_per_call_and_runs_a_child_per_page(backfilled: Sandbox) -> None:
    (summary,) = [n for n in backfilled.notifications("stepfunctions") if n.subject.startswith("Backfill of ")]
    assert summary.subject == f"Backfill of {SANDBOX_ORG.org}: {MEMBERS} members, 0 failed"
    assert backfilled.aws is not None
    sfn = backfilled.aws.client("stepfunctions")
    (execution,) = backfilled.executions("stepfunctions", "BACKFILL")
    assert execution["status"] == "SUCCEEDED"
    (map_run,) = sfn.list_map_runs(executionArn=execution["executionArn"])["mapRuns"]
    counts = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])["executionCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (PAGES, PAGES, 0)
    history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    listed = [
        e
        for e in history
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "ListOrgMembers"
    ]
    # the SAML identity pages first (GraphQL, up to 5 a call: functions/list_org_members.py), then the members
    assert len(listed) == math.ceil(PAGES / IDENTITY_PAGES_PER_CALL) + PAGES
    assert len(history) < 25_000 // 5, "the parent's history grows with the pages, not the members"


def test_the_sqs_backfill_lists_a_page_per_message(backfilled: Sandbox) -> None:
    assert backfilled.github is not None
    pages = backfilled.github.github.calls(rf"^/orgs/{SANDBOX_ORG.org}/members$")
    assert len(pages) == 2 * PAGES, "each architecture lists each page once"
