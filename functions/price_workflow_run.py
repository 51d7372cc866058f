"""Chargeback: price every job of a completed run attempt and plan the run item and totals.

The jobs API (``GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt}/jobs``) gives
each job's start, end and runner labels; the run timing and usage endpoints are closing down.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from functions import records
from functions.common.adapter import step_handler
from functions.common.github import github_call, github_client, path_segment
from functions.common.models import StoreRequest, WorkflowRunRef
from functions.common.observability import logger, metrics
from functions.common.settings import settings
from functions.pricing import JobUsage, price_run, self_hosted_rate

PAGE_SIZE = 100  # GitHub's maximum


def list_run_jobs(run: WorkflowRunRef) -> list[JobUsage]:
    """Every job of the run attempt, across all pages."""
    github = github_client()
    with github_call(f"list the jobs of run {run.run_id} attempt {run.run_attempt} of {run.owner}/{run.repo}"):
        return [
            JobUsage(
                job_id=job.id,
                name=job.name,
                labels=tuple(job.labels),
                conclusion=job.conclusion,
                started_at=job.started_at,
                completed_at=job.completed_at,
            )
            for job in github.rest.paginate(
                github.rest.actions.list_jobs_for_workflow_run_attempt,
                map_func=lambda response: response.parsed_data.jobs,
                owner=path_segment(run.owner),
                repo=path_segment(run.repo),
                run_id=run.run_id,
                attempt_number=run.run_attempt,
                per_page=PAGE_SIZE,
            )
        ]


def price_workflow_run(run: WorkflowRunRef) -> StoreRequest:
    jobs = list_run_jobs(run)
    price = price_run(
        jobs,
        repository_private=run.repository_private,
        self_hosted_usd_per_minute=self_hosted_rate(settings().self_hosted_usd_per_minute),
        fallback_day=records.booking_day(run.completed_at),
    )
    for job in price.estimated_jobs:
        logger.warning(
            "job priced at an estimated rate (runner not in runner_rates.json, or before its first rate)",
            extra={"job_id": job.job_id, "job": job.name, "labels": list(job.labels), "sku": job.sku},
        )
    if price.estimated_jobs:
        metrics.add_metric(name="EstimatedJobs", unit=MetricUnit.Count, value=len(price.estimated_jobs))
    logger.info(
        "run priced",
        extra={
            "repository": f"{run.owner}/{run.repo}",
            "run_id": run.run_id,
            "run_attempt": run.run_attempt,
            "jobs": len(price.jobs),
            "billable_minutes": price.billable_minutes,
            "cost_usd": format(price.cost_usd, "f"),
        },
    )
    return records.workflow_run_store_request(run, price, table=settings().need("workflow_runs_table"))


handler = step_handler(price_workflow_run, WorkflowRunRef)
