"""Sums of CloudWatch metrics over one window, with as few ``GetMetricData`` requests as AWS allows.

One query per metric and dimension set, 500 queries per request (GetMetricData's limit), every page
(``NextToken``) read. The period is the whole window rounded up to whole hours: a multiple of 3600 s is a
valid period for data of any age (CloudWatch keeps 1-minute points 15 days, 5-minute points 63 days,
hourly points 455 days), and one period means one data point per metric, whatever the window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_QUERIES_PER_REQUEST = 500
HOUR = 3600


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric with its full dimension set (CloudWatch matches dimension sets exactly)."""

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str = "Sum"

    @classmethod
    def of(cls, namespace: str, name: str, dimensions: Mapping[str, str], stat: str = "Sum") -> Metric:
        return cls(namespace, name, tuple(sorted(dimensions.items())), stat)


def window_period(start: datetime, end: datetime) -> int:
    """The window as one period: its length rounded up to whole hours."""
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        raise ValueError(f"the metrics window {start.isoformat()}..{end.isoformat()} is empty")
    return max(HOUR, -(-int(seconds) // HOUR) * HOUR)


def metric_sums(cloudwatch: Any, metrics: Sequence[Metric], start: datetime, end: datetime) -> dict[Metric, float]:
    """Each metric's statistic summed over ``[start, end)`` (0.0 where CloudWatch has no data point)."""
    unique = list(dict.fromkeys(metrics))
    period = window_period(start, end)
    sums: dict[Metric, float] = defaultdict(float)
    for first in range(0, len(unique), MAX_QUERIES_PER_REQUEST):
        batch = unique[first : first + MAX_QUERIES_PER_REQUEST]
        by_id = {f"m{first + i}": metric for i, metric in enumerate(batch)}
        request: dict[str, Any] = {
            "MetricDataQueries": [_query(query_id, metric, period) for query_id, metric in by_id.items()],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            page = cloudwatch.get_metric_data(**request)
            for result in page["MetricDataResults"]:
                sums[by_id[result["Id"]]] += float(sum(result.get("Values", [])))
            token = page.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
    return {metric: sums[metric] for metric in unique}


def _query(query_id: str, metric: Metric, period: int) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": metric.namespace,
                "MetricName": metric.name,
                "Dimensions": [{"Name": name, "Value": value} for name, value in metric.dimensions],
            },
            "Period": period,
            "Stat": metric.stat,
        },
        "ReturnData": True,
    }
