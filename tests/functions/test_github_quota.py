"""GitHub rate-limit headroom: the least ``x-ratelimit-remaining`` per resource, one metric per invocation."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import httpx
import pytest

from functions.add_team_member import handler as add_team_member_handler
from functions.common import github_quota
from functions.common.github_quota import Headroom
from functions.common.observability import set_stack_dimension
from tests.functions.fake_github import API_URL, FakeGitHub
from tests.functions.fake_github import github_app as github_app  # noqa: F401  (fixture)
from tests.functions.test_onboarding import new_member
from tests.functions.webhooks import FakeLambdaContext

CONTEXT = FakeLambdaContext(function_name="add-team-member")


def quota(remaining: int | str, resource: str | None = "core", limit: int | str = 5000) -> dict[str, str]:
    headers = {"x-ratelimit-remaining": str(remaining), "x-ratelimit-limit": str(limit)}
    return headers | ({"x-ratelimit-resource": resource} if resource else {})


def headroom_documents(stdout: str) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]
    return [document for document in documents if github_quota.METRIC in document]


def test_the_least_remaining_per_resource_is_kept_until_taken() -> None:
    headroom = Headroom()
    for headers in (quota(4990), quota(4000, "graphql"), quota(4980), quota(4995), quota(12, None, 60)):
        headroom.record(headers)
    assert headroom.take() == {"core": (4980, 5000), "graphql": (4000, 5000), "unknown": (12, 60)}
    assert headroom.take() == {}


@pytest.mark.parametrize("headers", [{}, quota("lots"), {"x-ratelimit-remaining": "3"}, quota(3, limit="")])
def test_a_response_without_a_readable_quota_records_nothing(headers: dict[str, str]) -> None:
    headroom = Headroom()
    headroom.record(headers)
    assert headroom.take() == {}


def test_threads_recording_at_once_lose_no_minimum() -> None:
    headroom = Headroom()
    values = [[random.randrange(1, 5000) for _ in range(2000)] for _ in range(8)]
    start = threading.Barrier(len(values))

    def record(mine: list[int]) -> None:
        start.wait()
        for index, value in enumerate(mine):
            headroom.record(quota(value, f"r{index % 3}"))

    threads = [threading.Thread(target=record, args=(mine,)) for mine in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = {f"r{k}": (min(m[i] for m in values for i in range(k, len(m), 3)), 5000) for k in range(3)}
    assert headroom.take() == expected


def test_the_app_token_exchange_is_not_the_installations_quota() -> None:
    github_quota.headroom.take()
    for path, remaining in (("/app/installations/42/access_tokens", 1), ("/orgs/o/members", 4321)):
        request = httpx.Request("POST", f"{API_URL}{path}")
        github_quota.observe(httpx.Response(200, headers=quota(remaining), request=request))
    assert github_quota.headroom.take() == {"core": (4321, 5000)}


def test_published_with_service_stack_and_resource(capsys: pytest.CaptureFixture[str]) -> None:
    github_quota.headroom.take()
    github_quota.headroom.record(quota(4321))
    set_stack_dimension({"GITHUB_AUTOMATION_STACK": "dev"})
    try:
        capsys.readouterr()
        github_quota.publish()
        (document,) = headroom_documents(capsys.readouterr().out)
    finally:
        set_stack_dimension({})
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "GitHubAutomationTests"
    assert directive["Metrics"] == [{"Name": "GitHubRateLimitRemaining", "Unit": "Count"}]
    assert sorted(directive["Dimensions"][0]) == ["Resource", "Stack", "service"]
    assert (document["Resource"], document["Stack"], document["GitHubRateLimitRemaining"]) == ("core", "dev", [4321.0])
    assert document["rateLimit"] == 5000
    github_quota.publish()
    assert headroom_documents(capsys.readouterr().out) == []  # nothing new: nothing emitted


def test_a_step_that_calls_github_publishes_its_headroom_once(
    github_app: FakeGitHub,  # noqa: F811
    function_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    function_env.setenv("ONBOARDING_TEAM", "onboarding")
    github_app.add_member("Octocoders", "hacktocat", 39652351)
    github_app.add_team("Octocoders", "onboarding")
    github_quota.headroom.take()
    capsys.readouterr()

    for _ in range(2):
        add_team_member_handler(new_member().to_wire(), CONTEXT)

    documents = headroom_documents(capsys.readouterr().out)
    assert [(d["Resource"], d["GitHubRateLimitRemaining"]) for d in documents] == [
        ("core", [4999.0]),
        ("core", [4998.0]),
    ]
