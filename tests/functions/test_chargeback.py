"""Chargeback against the fake GitHub: every job of the attempt, priced and planned; faults surface."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from functions.common.errors import GitHubRateLimited, GitHubRequestRejected, GitHubUnavailable
from functions.common.models import StoreRequest, WorkflowRunRef
from functions.price_workflow_run import price_workflow_run
from functions.records import run_sk
from functions.store_records import store_records
from tests.functions.fake_github import (
    RETRY_AFTER_SECONDS,
    FakeGitHub,
    fixture_payload,
    github_app,  # noqa: F401  (fixture)
    make_job,
)
from tests.functions.test_store import RUNS_TABLE, StoreEnv, store_env  # noqa: F401  (fixture)

PAYLOAD = fixture_payload("workflow_run", "completed")
OWNER = PAYLOAD["repository"]["owner"]["login"]
REPO = PAYLOAD["repository"]["name"]
RUN_ID = PAYLOAD["workflow_run"]["id"]
ATTEMPT = PAYLOAD["workflow_run"]["run_attempt"]
JOBS_PATH = f"/repos/{OWNER}/{REPO}/actions/runs/{RUN_ID}/attempts/{ATTEMPT}/jobs"


def completed_run(*, private: bool = True, completed_at: str = "2026-03-05T16:33:49Z") -> WorkflowRunRef:
    """The WorkflowRunRef the receiver makes of the workflow_run/completed fixture (moved to 2026)."""
    run = PAYLOAD["workflow_run"]
    return WorkflowRunRef(
        correlation_id="c3a9e5a0-0715-11eb-8d4c-a8e4b1d0e8f1",
        owner=OWNER,
        repo=REPO,
        repository_private=private,
        run_id=run["id"],
        run_attempt=run["run_attempt"],
        workflow_name=run["name"] or "CI",
        conclusion=run["conclusion"],
        event=run["event"],
        head_branch=run["head_branch"],
        completed_at=completed_at,
        html_url=run["html_url"],
    )


def seed_jobs(github: FakeGitHub, specs: list[tuple[list[str], int]], *, day: str = "2026-03-05") -> None:
    """Jobs of the fixture's run attempt: (labels, seconds) each, all starting at 10:00 on ``day``."""
    github.run_jobs[(OWNER, REPO, RUN_ID, ATTEMPT)] = [
        make_job(
            job_id=5_000_000 + index,
            run_id=RUN_ID,
            attempt=ATTEMPT,
            name=f"build ({index})",
            labels=labels,
            started_at=f"{day}T10:00:00Z",
            completed_at=f"{day}T{10 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z",
        )
        for index, (labels, seconds) in enumerate(specs)
    ]


@pytest.fixture
def github(github_app: FakeGitHub, function_env: pytest.MonkeyPatch) -> FakeGitHub:  # noqa: F811
    function_env.setenv("WORKFLOW_RUNS_TABLE", RUNS_TABLE)
    return github_app


def test_every_job_on_every_page_is_priced(github: FakeGitHub) -> None:
    # a 130-job matrix: two pages of 100; each job 90 s -> 2 minutes x $0.006
    seed_jobs(github, [(["ubuntu-latest"], 90)] * 130)
    request = price_workflow_run(completed_run())
    assert len(github.calls(JOBS_PATH)) == 2
    assert request.kind == "workflow_run"
    assert (request.record["jobCount"], request.record["billableMinutes"]) == (130, 260)
    assert request.record["costUsd"] == "1.560"
    run_item = request.transact_items[0]["Put"]["Item"]
    assert run_item["sk"] == {"S": run_sk(RUN_ID, ATTEMPT)}
    assert len(json.loads(run_item["jobs"]["S"])) == 130


def test_a_mixed_run_is_priced_to_the_cent(github: FakeGitHub) -> None:
    seed_jobs(
        github,
        [
            (["ubuntu-latest"], 630),  # 11 x 0.006 = 0.066
            (["windows-latest"], 240),  # 4 x 0.010 = 0.040
            (["macos-15-xlarge"], 61),  # 2 x 0.102 = 0.204
            (["self-hosted", "linux", "x64"], 1800),  # free
            (["ubuntu-latest-16-cores"], 300),  # unknown: 5 x 0.006 = 0.030, estimated
        ],
    )
    request = price_workflow_run(completed_run())
    assert request.record["costUsd"] == "0.340"
    assert request.record["minutes"] == 52 and request.record["billableMinutes"] == 22
    assert request.record["estimatedJobs"] == 1
    jobs = json.loads(request.transact_items[0]["Put"]["Item"]["jobs"]["S"])
    assert [job["sku"] for job in jobs] == ["linux", "windows", "macos_xl", "self_hosted", "linux"]
    assert [job["estimated"] for job in jobs] == [False, False, False, False, True]
    assert "$0.340" in request.notification.subject
    assert len(request.notification.subject) <= 100


def test_a_public_repository_pays_only_for_larger_runners(github: FakeGitHub) -> None:
    seed_jobs(github, [(["ubuntu-latest"], 3600), (["macos-latest-large"], 600)])
    request = price_workflow_run(completed_run(private=False))
    assert (request.record["costUsd"], request.record["billableMinutes"]) == ("0.770", 10)


def test_jobs_are_priced_at_the_rates_of_their_day(github: FakeGitHub) -> None:
    seed_jobs(github, [(["ubuntu-latest"], 600)], day="2025-12-31")
    request = price_workflow_run(completed_run(completed_at="2025-12-31T10:10:00Z"))
    assert request.record["costUsd"] == "0.080"
    assert request.transact_items[2]["Update"]["Key"]["sk"] == {"S": "MONTH#2025-12"}


def test_the_self_hosted_rate_is_configurable(github: FakeGitHub, function_env: pytest.MonkeyPatch) -> None:
    function_env.setenv("SELF_HOSTED_USD_PER_MINUTE", "0.002")
    seed_jobs(github, [(["self-hosted"], 600)])
    assert price_workflow_run(completed_run()).record["costUsd"] == "0.020"


def test_a_run_github_does_not_know_is_rejected(github: FakeGitHub) -> None:
    with pytest.raises(GitHubRequestRejected, match="404"):
        price_workflow_run(completed_run())


def test_a_fault_on_a_later_page_fails_the_whole_step(github: FakeGitHub) -> None:
    seed_jobs(github, [(["ubuntu-latest"], 60)] * 150)
    github.fail("server_error", path="/jobs", skip=1)
    with pytest.raises(GitHubUnavailable, match="502"):
        price_workflow_run(completed_run())
    assert len(github.calls(JOBS_PATH)) == 2
    assert price_workflow_run(completed_run()).record["jobCount"] == 150  # the retry sees every page


@pytest.mark.parametrize("fault", ["too_many_requests", "secondary_rate_limit_retry_after"])
def test_rate_limits_surface_with_retry_after(github: FakeGitHub, fault: str) -> None:
    seed_jobs(github, [(["ubuntu-latest"], 60)])
    github.fail(fault, path="/jobs")  # type: ignore[arg-type]
    with pytest.raises(GitHubRateLimited) as raised:
        price_workflow_run(completed_run())
    assert raised.value.retry_after == RETRY_AFTER_SECONDS


def test_a_redelivered_run_is_stored_and_counted_once(github: FakeGitHub, store_env: StoreEnv) -> None:  # noqa: F811
    seed_jobs(github, [(["ubuntu-latest"], 630), (["windows-latest"], 240)])
    for _ in range(2):
        store_records(StoreRequest.model_validate(price_workflow_run(completed_run()).to_wire()))
    total = store_env.run_item(f"REPO#{OWNER}/{REPO}", "MONTH#2026-03")
    assert total is not None
    assert (total["runs"], total["billableMinutes"], total["costUsd"]) == (1, 15, Decimal("0.106"))
    assert len(store_env.notifications()) == 1
