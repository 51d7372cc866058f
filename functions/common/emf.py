"""CloudWatch embedded metric format documents with the standard library only, as Powertools' Metrics prints them.

For the receiver's hot path (see ``functions.common.json_logging`` for why not Powertools): one document
per invocation, printed at its end, with the namespace of ``POWERTOOLS_METRICS_NAMESPACE``, the
``service`` dimension of ``POWERTOOLS_SERVICE_NAME`` after the default (``Stack``) and added ones, the
metadata (the delivery id) and each metric's values as a list, the shape stackops and the dashboards
read from every function.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

STACK_ENV = "GITHUB_AUTOMATION_STACK"
STACK_DIMENSION = "Stack"
USE_CASE_DIMENSION = "UseCase"


def delivery_keys(correlation_ids: Iterable[str]) -> dict[str, str | list[str]]:
    """What a metric document says of the deliveries it counts, so that every line a function writes names
    them: ``correlation_id`` (one delivery, as on every log line), ``correlation_ids`` (a batch's)."""
    unique = list(dict.fromkeys(correlation_ids))
    if not unique:
        return {}
    return {"correlation_id": unique[0]} if len(unique) == 1 else {"correlation_ids": unique}


class EmfMetrics:
    """The part of Powertools' ``Metrics`` the receiver uses."""

    def __init__(self, namespace: str | None = None, service: str | None = None) -> None:
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE")
        self.service = service or os.environ.get("POWERTOOLS_SERVICE_NAME")
        self.default_dimensions: dict[str, str] = {}
        self.clear_metrics()

    def set_default_dimensions(self, **dimensions: str) -> None:
        self.default_dimensions.update(dimensions)

    def clear_default_dimensions(self) -> None:
        self.default_dimensions = {}

    def clear_metrics(self) -> None:
        self.dimensions: dict[str, str] = {}
        self.metadata: dict[str, Any] = {}
        self.metrics: dict[str, tuple[str, list[float]]] = {}

    def add_dimension(self, name: str, value: str) -> None:
        self.dimensions[name] = value

    def add_metadata(self, key: str, value: Any) -> None:
        self.metadata[key] = value

    def add_metric(self, name: str, unit: Any, value: float) -> None:
        """``unit``: CloudWatch's name (``"Count"``) or Powertools' ``MetricUnit`` of it."""
        self.metrics.setdefault(name, (str(getattr(unit, "value", unit)), []))[1].append(float(value))

    def name_deliveries(self, correlation_ids: Iterable[str]) -> None:
        """The invocation's metric document names its deliveries."""
        for key, value in delivery_keys(correlation_ids).items():
            self.add_metadata(key, value)

    def document(self, now_ms: int | None = None) -> dict[str, Any] | None:
        """The EMF document of the metrics added since the last flush; None when there are none."""
        if not self.metrics:
            return None
        dimensions: dict[str, str] = {**self.default_dimensions, **self.dimensions}
        if self.service:
            dimensions["service"] = self.service
        return {
            "_aws": {
                "Timestamp": time.time_ns() // 1_000_000 if now_ms is None else now_ms,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in self.metrics.items()],
                    }
                ],
            },
            **dimensions,
            **self.metadata,
            **{name: values for name, (_, values) in self.metrics.items()},
        }

    def flush_metrics(self) -> None:
        document = self.document()
        if document is not None:
            print(json.dumps(document, separators=(",", ":")), flush=True)
        self.clear_metrics()

    def log_metrics(self, handler: Handler) -> Handler:
        """Print the invocation's document when it ends, however it ends."""

        @functools.wraps(handler)
        def wrapper(event: Mapping[str, Any], context: Any) -> Any:
            try:
                return handler(event, context)
            finally:
                self.flush_metrics()

        return wrapper  # type: ignore[return-value]


def set_stack_dimension(metrics: Any, environ: Mapping[str, str] = os.environ) -> None:
    """Give every metric ``metrics`` (these or Powertools') emits the ``Stack`` dimension, the Pulumi stack
    name from ``GITHUB_AUTOMATION_STACK`` (none outside a deployed stack): two stacks in one account would
    otherwise add up into one metric.

    Runs at import; call it again only between invocations (it drops metrics not flushed yet).
    """
    metrics.clear_default_dimensions()
    metrics.clear_metrics()
    stack = environ.get(STACK_ENV)
    if stack:
        metrics.set_default_dimensions(**{STACK_DIMENSION: stack})
