"""Equivalence: random delivery sequences leave both architectures' tables identical to the oracle.

Each generated workload (members added, runs completed, maybe an installation backfill, ignored events,
redeliveries, any order, transient GitHub faults: 5xx, 429 with Retry-After, secondary rate limits) is
replayed to both stacks at once (the sandbox's stepfunctions stack runs EXPRESS per-event machines,
whose names are not unique: a redelivery there runs a second execution, as on AWS, and only the
conditional writes keep it from counting twice); afterwards each stack's tables must equal what the plain-Python oracle
(sandbox.workload.expected_tables) says, so nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings

from sandbox.environment import Sandbox
from sandbox.replay import replay
from sandbox.workload import Workload, workloads

EXAMPLES = int(os.environ.get("EQUIVALENCE_EXAMPLES", "50"))
#: The workloads are drawn in two halves, each its own pytest-xdist group, so `make test`'s two workers replay
#: them at once, each into a sandbox of its own. Each half draws one more than half: the first workload
#: Hypothesis draws is the simplest one, the same shape in both halves (with fresh delivery ids), so the
#: two halves hold at least EXAMPLES different workloads.
HALVES = 2
EXAMPLES_PER_HALF = EXAMPLES // HALVES + 1


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """Both stacks, with no SQS batching window: the poller hands each record over at once, so fifty
    workloads fit the CI budget (the window only delays; it changes no result). The EXPRESS machines run
    their longest (300 s), so that they may wait out two rate limits of GitHub's minute (an EXPRESS
    execution waits for rate limits within half its timeout): the oracle expects every fault retried away."""
    overrides = {"sqsBatchWindowSeconds": "0", "workflowTimeoutSeconds": "300"}
    with Sandbox(time_scale=0.002, overrides=overrides) as running:
        yield running


@pytest.mark.parametrize(
    "half", [pytest.param(half, marks=pytest.mark.xdist_group(f"equivalence-{half}")) for half in range(HALVES)]
)
@settings(
    max_examples=EXAMPLES_PER_HALF,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(workload=workloads(failing=False))
def test_both_architectures_agree_with_the_oracle(sandbox: Sandbox, half: int, workload: Workload) -> None:
    assert sandbox.github is not None
    sandbox.clear_tables()
    sandbox.github.github.clear_faults()
    workload.inject_faults(sandbox.github.github)
    reports = replay(sandbox, workload.deliveries)
    for architecture, report in reports.items():
        failures = [n.message for n in sandbox.notifications(architecture) if n.failure]
        context = (architecture, [d.label for d in workload.deliveries], workload.faults, failures)
        assert report.oracle_differences == [], context
        assert report.failed == 0, context
    sqs, sfn = (
        sorted(reports[name].workflow_runs, key=lambda item: (item["pk"], item["sk"]))
        for name in ("sqs", "stepfunctions")
    )
    assert sqs == sfn
