"""One Logger, Tracer and Metrics per process, shared by every module of a function.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE,
which the Pulumi program sets per function. Every metric also carries a ``Stack`` dimension, the Pulumi
stack name from GITHUB_AUTOMATION_STACK: two stacks in one account (say dev and dev-sfn, compared side by
side) would otherwise add up into one metric.

The Tracer patches only the libraries whose calls are subsegments: botocore (every AWS call) here, and
httpx (every GitHub call) where the GitHub client is built, in ``functions.common.github``: githubkit
builds its client with ``httpx.Client``, which the patch replaces, so the client must be created after
that module's import. A function that never calls GitHub (the receiver) never imports httpx. Left to
itself the Tracer would patch every library aws_xray_sdk supports that is installed, each import costing
cold-start time.
"""

import os
import time
from collections.abc import Iterable, Mapping

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from functions.common import emf
from functions.common.emf import STACK_DIMENSION, STACK_ENV, USE_CASE_DIMENSION, delivery_keys

__all__ = ["STACK_DIMENSION", "STACK_ENV", "USE_CASE_DIMENSION", "delivery_keys", "logger", "metrics", "tracer"]

#: Delivery received (the receiver's ``receivedAt``) -> stored and notified, in milliseconds, per use case.
#: sqs: store-records emits it; stepfunctions: the per-event machines' ``RecordLatency`` state (PutMetricData).
DELIVERY_LATENCY = "DeliveryLatency"
#: What the Tracer patches for X-Ray subsegments (aws_xray_sdk's module names) in every function...
PATCHED_MODULES = ("botocore",)
#: ... and in those that call GitHub (``functions.common.github`` patches it).
GITHUB_PATCHED_MODULES = ("httpx",)

logger = Logger()
tracer = Tracer(patch_modules=PATCHED_MODULES)
metrics = Metrics()


def set_stack_dimension(environ: Mapping[str, str] = os.environ) -> None:
    """Give every metric this process emits the ``Stack`` dimension (none outside a deployed stack).

    Runs at import; call it again only between invocations (it drops metrics not flushed yet).
    """
    emf.set_stack_dimension(metrics, environ)


set_stack_dimension()


def name_deliveries(correlation_ids: Iterable[str]) -> None:
    """The invocation's metric document (flushed by ``log_metrics``) names its deliveries."""
    for key, value in delivery_keys(correlation_ids).items():
        metrics.add_metadata(key=key, value=value)


def emit_delivery_latency(
    use_case: str,
    received_at: int,
    correlation_id: str,
    environ: Mapping[str, str] = os.environ,
    now_ms: int | None = None,
) -> float:
    """Print the ``DeliveryLatency`` metric of one delivery (EMF) at once; return the latency in ms.

    Its dimensions are ``Stack`` and ``UseCase`` only, without Powertools' ``service`` (``service=""``
    turns the default dimension off), so it is the very metric the state machines put: one dashboard
    query graphs both architectures.
    """
    now = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    latency = float(max(0, now - received_at))  # a clock step back is no negative latency
    latency_metrics = EphemeralMetrics(service="")
    stack = environ.get(STACK_ENV)
    if stack:
        latency_metrics.add_dimension(name=STACK_DIMENSION, value=stack)
    latency_metrics.add_dimension(name=USE_CASE_DIMENSION, value=use_case)
    latency_metrics.add_metric(name=DELIVERY_LATENCY, unit=MetricUnit.Milliseconds, value=latency)
    latency_metrics.add_metadata(key="correlation_id", value=correlation_id)
    latency_metrics.flush_metrics()
    return latency
