"""The end-to-end latency metric, one member_added through each architecture in the sandbox (issue 8, section 1).

stepfunctions: the onboarding machine's RecordLatency puts ``DeliveryLatency`` into the emulator's
CloudWatch (aws-sdk:cloudwatch:putMetricData), read back with GetMetricStatistics. sqs: store-records
prints it as an embedded metric format line; the sandbox does not turn EMF lines into CloudWatch
metrics (Lambda's log pipeline does that on AWS), so the line itself is checked, with the same
namespace, name, unit and dimensions.
"""

from __future__ import annotations

import datetime
import json
import time
from typing import Any

from sandbox.environment import Sandbox
from sandbox.workload import member_added

NAMESPACE = "GitHubAutomation"
WAIT_SECONDS = 120.0


def _sent(sandbox: Sandbox, architecture: str, index: int) -> float:
    """Send the member_added of the seed's ``index``-th member; the time it left (epoch seconds)."""
    delivery = member_added(sandbox.seed, sandbox.seed.members[index])
    sent_at = time.time()
    assert sandbox.send(architecture, delivery).status == 202
    sandbox.wait_until_idle([architecture], timeout=WAIT_SECONDS)
    return sent_at


def _latency_lines(lines: list[str]) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in lines if line.startswith("{") and '"DeliveryLatency"' in line]
    return [document for document in documents if "_aws" in document]


def test_stepfunctions_puts_the_latency_into_cloudwatch(sandbox: Sandbox) -> None:
    sent_at = _sent(sandbox, "stepfunctions", 0)
    elapsed_ms = (time.time() - sent_at) * 1000
    stack = sandbox.stacks["stepfunctions"].deployment.stack
    now = datetime.datetime.now(datetime.UTC)
    assert sandbox.aws is not None
    datapoints = sandbox.aws.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="DeliveryLatency",
        Dimensions=[{"Name": "Stack", "Value": stack}, {"Name": "UseCase", "Value": "member_added"}],
        StartTime=now - datetime.timedelta(minutes=10),
        EndTime=now + datetime.timedelta(minutes=5),
        Period=60,
        Statistics=["SampleCount", "Maximum", "Minimum"],
    )["Datapoints"]
    assert sum(d["SampleCount"] for d in datapoints) == 1, datapoints
    (datapoint,) = datapoints
    assert 0 < datapoint["Minimum"] <= elapsed_ms, (datapoint, elapsed_ms)
    assert datapoint["Unit"] == "Milliseconds"


def test_sqs_prints_the_same_metric_as_an_emf_line(sandbox: Sandbox) -> None:
    assert sandbox.aws is not None
    sent_at = _sent(sandbox, "sqs", 1)
    elapsed_ms = (time.time() - sent_at) * 1000
    deployment = sandbox.stacks["sqs"].deployment
    functions = [f.inputs["name"] for f in deployment.of_type("aws:lambda/function:Function")]
    (store,) = [name for name in functions if name.endswith("-store-records")]
    (document,) = _latency_lines(sandbox.aws.runtime.output(store))
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Metrics"] == [{"Name": "DeliveryLatency", "Unit": "Milliseconds"}]
    assert directive["Dimensions"] == [["Stack", "UseCase"]]
    assert (document["Stack"], document["UseCase"]) == (deployment.stack, "member_added")
    (latency,) = document["DeliveryLatency"]
    assert 0 < latency <= elapsed_ms, (latency, elapsed_ms)
