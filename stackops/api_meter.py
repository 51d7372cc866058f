"""Count the AWS API calls a command makes, per operation: what `trace` costs to answer a question."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class ApiMeter:
    """Attach to boto3 clients; every API call they make (not each HTTP retry) is counted once."""

    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.*.*", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self._calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._calls.items()))
