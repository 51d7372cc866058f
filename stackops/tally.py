"""Summing metered units per (service, unit, resource, attributes), then dividing by the deliveries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from stackops.usage import UsageLine

Key = tuple[str, str, str, tuple[tuple[str, str], ...]]


class Tally:
    """``tally.add("sqs", "requests", 1, "members", operation="SendMessage")``; :meth:`lines` per delivery.

    String attributes tell lines apart; float attributes (means such as ``billedMsPerInvoke``) describe a
    line and are set with :meth:`describe`.
    """

    def __init__(self) -> None:
        self._quantities: dict[Key, float] = defaultdict(float)
        self._described: dict[Key, dict[str, float]] = {}

    @staticmethod
    def key(service: str, unit: str, resource: str = "", **attributes: str) -> Key:
        return (service, unit, resource, tuple(sorted(attributes.items())))

    def add(self, service: str, unit: str, quantity: float, resource: str = "", **attributes: str) -> Key:
        key = self.key(service, unit, resource, **attributes)
        self._quantities[key] += quantity
        return key

    def describe(self, key: Key, **values: float) -> None:
        self._described.setdefault(key, {}).update(values)

    def subtract(self, key: Key, quantity: float) -> None:
        """Take ``quantity`` off a line (at most all of it); a line left at zero is dropped."""
        left = self._quantities.get(key, 0.0) - quantity
        if left > 0:
            self._quantities[key] = left
        else:
            self._quantities.pop(key, None)
            self._described.pop(key, None)

    def quantity(self, service: str, unit: str, resource: str = "", **attributes: str) -> float:
        return self._quantities.get(self.key(service, unit, resource, **attributes), 0.0)

    def items(self) -> list[tuple[Key, float]]:
        return sorted(self._quantities.items())

    def lines(self, deliveries: int, described: Mapping[Key, Mapping[str, float]] | None = None) -> list[UsageLine]:
        """Every unit summed, per delivery (``deliveries`` > 0), with its attributes."""
        if deliveries <= 0:
            raise ValueError(f"deliveries must be > 0, got {deliveries}")
        out = []
        for key, quantity in self.items():
            service, unit, resource, attributes = key
            merged: dict[str, str | float] = dict(attributes)
            merged.update(self._described.get(key, {}))
            merged.update((described or {}).get(key, {}))
            out.append(
                UsageLine(
                    service=service, unit=unit, quantity=quantity / deliveries, resource=resource, attributes=merged
                )
            )
        return out
