"""The body of a stack's CloudWatch dashboard: typed widgets, checked against the stack before they are sent.

CloudWatch accepts a dashboard whose metrics do not exist and shows empty graphs; :func:`dashboard_body`
refuses one instead, so a renamed function, queue or product metric fails the build, not the on-call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

#: The product metrics the functions emit (functions/receiver.py, functions/common/adapter.py, ...), each with
#: the dimensions Powertools gives it: ``service`` (the function key), ``Stack``, and ``UseCase`` on
#: accepted deliveries. ``DeliveryLatency`` has no ``service``: store-records (sqs) and the state machines'
#: ``RecordLatency`` (stepfunctions) put the same metric (functions/common/observability.py).
PRODUCT_METRICS: Mapping[str, frozenset[str]] = {
    "WebhooksAccepted": frozenset({"service", "Stack", "UseCase"}),
    "WebhooksIgnored": frozenset({"service", "Stack"}),
    "WebhooksRejected": frozenset({"service", "Stack"}),
    "WebhooksFailed": frozenset({"service", "Stack"}),
    "StepSucceeded": frozenset({"service", "Stack"}),
    "StepFailed": frozenset({"service", "Stack"}),
    "StepParked": frozenset({"service", "Stack"}),
    "DeliveryLatency": frozenset({"Stack", "UseCase"}),
    # functions/common/github_quota.py: the least quota left per GitHub rate-limit resource
    "GitHubRateLimitRemaining": frozenset({"service", "Stack", "Resource"}),
}
#: The receiver's ``UseCase`` dimension values (functions/receiver.py ``USE_CASE``).
USE_CASES = ("member_added", "workflow_run", "installation")
#: Which dimension names a resource of the stack, per AWS namespace.
AWS_DIMENSIONS = {"AWS/Lambda": "FunctionName", "AWS/SQS": "QueueName", "AWS/States": "StateMachineArn"}
PERIOD_SECONDS = 60
WIDGET_WIDTH, WIDGET_HEIGHT, GRID_COLUMNS = 12, 6, 24


class DashboardError(ValueError):
    """A widget that graphs a metric the stack does not publish."""


@dataclass(frozen=True)
class Metric:
    namespace: str
    name: str
    dimensions: Mapping[str, str]
    label: str
    stat: str = "Sum"


@dataclass(frozen=True)
class Widget:
    title: str
    metrics: Sequence[Metric]


@dataclass(frozen=True)
class StackInventory:
    """What a stack publishes metrics for: its resources by the dimension that names them, and its name."""

    stack: str
    product_namespace: str
    resources: Mapping[str, frozenset[str]] = field(default_factory=dict)  # dimension name -> values


def check_metric(metric: Metric, inventory: StackInventory) -> None:
    """Raise :class:`DashboardError` unless ``metric`` is one this stack publishes."""
    if metric.namespace == inventory.product_namespace:
        expected = PRODUCT_METRICS.get(metric.name)
        if expected is None:
            raise DashboardError(f"no function emits {metric.namespace}/{metric.name} ({metric.label})")
        if set(metric.dimensions) != expected:
            raise DashboardError(
                f"{metric.name} ({metric.label}) is published with dimensions {sorted(expected)}, "
                f"not {sorted(metric.dimensions)}"
            )
        if metric.dimensions["Stack"] != inventory.stack:
            raise DashboardError(f"{metric.name} ({metric.label}) is of stack {metric.dimensions['Stack']!r}")
        if "UseCase" in metric.dimensions and metric.dimensions["UseCase"] not in USE_CASES:
            raise DashboardError(f"{metric.name} has no use case {metric.dimensions['UseCase']!r}")
        return
    dimension = AWS_DIMENSIONS.get(metric.namespace)
    if dimension is None or set(metric.dimensions) != {dimension}:
        raise DashboardError(f"{metric.namespace}/{metric.name} ({metric.label}) names no resource of the stack")
    value = metric.dimensions[dimension]
    if value not in inventory.resources.get(dimension, frozenset()):
        raise DashboardError(
            f"{metric.namespace}/{metric.name} ({metric.label}): the stack has no {dimension} {value!r}"
        )


def _metric_row(metric: Metric) -> list[object]:
    row: list[object] = [metric.namespace, metric.name]
    for name, value in metric.dimensions.items():
        row.extend([name, value])
    row.append({"label": metric.label, "stat": metric.stat})
    return row


def dashboard_body(widgets: Sequence[Widget], inventory: StackInventory, region: str) -> str:
    """The dashboard's JSON body, two widgets a row; every metric checked against ``inventory``."""
    titles = [widget.title for widget in widgets]
    if len(set(titles)) != len(titles):
        raise DashboardError(f"widget titles repeat: {titles}")
    rendered = []
    for index, widget in enumerate(widgets):
        if not widget.metrics:
            raise DashboardError(f"widget {widget.title!r} graphs nothing")
        for metric in widget.metrics:
            check_metric(metric, inventory)
        column = (index * WIDGET_WIDTH) % GRID_COLUMNS
        rendered.append(
            {
                "type": "metric",
                "x": column,
                "y": (index * WIDGET_WIDTH) // GRID_COLUMNS * WIDGET_HEIGHT,
                "width": WIDGET_WIDTH,
                "height": WIDGET_HEIGHT,
                "properties": {
                    "title": widget.title,
                    "region": region,
                    "view": "timeSeries",
                    "period": PERIOD_SECONDS,
                    "metrics": [_metric_row(metric) for metric in widget.metrics],
                },
            }
        )
    return json.dumps({"widgets": rendered}, allow_nan=False)  # JSON CloudWatch parses: no NaN
