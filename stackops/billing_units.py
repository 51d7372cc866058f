"""How AWS rounds one request or execution into billable units, applied where each one is metered.

AWS rounds per request (an SQS message to 64 KiB chunks, a DynamoDB write to 1 KB) or per execution (a
Lambda invoke to the next millisecond, an Express execution to 100 ms and 64 MB chunks), so the rounding
must happen when each one is counted, before any averaging: the mean of rounded values is not the
rounded mean. The sandbox meter and the AWS usage reader both import these helpers; the cost model only
multiplies the rounded units by prices (``stackops.prices``).

Every rule names the AWS page that states it (as of 2026-12, see ``stackops/data/aws_prices.json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

KIB = 1024

#: SQS: "Each 64 KB chunk of a payload is billed as 1 request" (https://aws.amazon.com/sqs/pricing/).
SQS_CHUNK_BYTES = 64 * KIB
#: HTTP API: "Requests are metered in increments of 512 KB" (https://aws.amazon.com/api-gateway/pricing/).
HTTP_API_CHUNK_BYTES = 512 * KIB
#: SNS: "Each 64 KB chunk of published data is billed as 1 request" (https://aws.amazon.com/sns/pricing/).
SNS_CHUNK_BYTES = 64 * KIB
#: DynamoDB on-demand: a write unit per 1 KB, a read unit per 4 KB
#: (https://aws.amazon.com/dynamodb/pricing/on-demand/).
DYNAMODB_WRITE_UNIT_BYTES = 1 * KIB
DYNAMODB_READ_UNIT_BYTES = 4 * KIB
#: Step Functions Express: "rounded up to the nearest 100ms", "billed in 64-MB chunks"
#: (https://aws.amazon.com/step-functions/pricing/).
EXPRESS_DURATION_STEP_MS = 100
EXPRESS_MEMORY_STEP_MB = 64

ReadConsistency = Literal["eventual", "strong", "transactional"]


def _chunks(size: int, chunk: int, what: str) -> int:
    if size < 0:
        raise ValueError(f"{what} must be >= 0 bytes, got {size}")
    return max(1, math.ceil(size / chunk))


def _positive(value: float, what: str) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return value


def lambda_billed_ms(duration_ms: float) -> int:
    """A Lambda invoke's billed duration: rounded up to the nearest 1 ms (https://aws.amazon.com/lambda/pricing/).

    An invoke of 0 ms still bills 1 ms (every invoke runs some code).
    """
    return max(1, math.ceil(_positive(duration_ms, "duration_ms")))


def lambda_gb_seconds(billed_ms: float, memory_mb: float) -> float:
    """GB-seconds of one invoke: billed seconds x configured memory in GB (1 GB = 1024 MB, as AWS counts)."""
    return _positive(billed_ms, "billed_ms") / 1000 * _positive(memory_mb, "memory_mb") / 1024


def sqs_requests(payload_bytes: int) -> int:
    """Billable SQS requests for one API action carrying ``payload_bytes`` (64 KiB chunks, at least 1).

    For a batch action (SendMessageBatch, a ReceiveMessage returning several messages) pass the total
    payload of the batch: AWS bills the batch as one request per 64 KiB of its payload.
    """
    return _chunks(payload_bytes, SQS_CHUNK_BYTES, "payload_bytes")


def http_api_requests(body_bytes: int) -> int:
    """Billable HTTP API requests for one request of ``body_bytes`` (512 KB increments, at least 1)."""
    return _chunks(body_bytes, HTTP_API_CHUNK_BYTES, "body_bytes")


def sns_publishes(message_bytes: int) -> int:
    """Billable SNS publish requests for one publish of ``message_bytes`` (64 KB chunks, at least 1)."""
    return _chunks(message_bytes, SNS_CHUNK_BYTES, "message_bytes")


def express_billed(duration_ms: float, memory_mb: float) -> tuple[float, float]:
    """An Express execution's billed (duration ms, memory MB): 100 ms steps (min 100), 64 MB chunks (min 64)."""
    billed_ms = max(1, math.ceil(_positive(duration_ms, "duration_ms") / EXPRESS_DURATION_STEP_MS))
    billed_mb = max(1, math.ceil(_positive(memory_mb, "memory_mb") / EXPRESS_MEMORY_STEP_MB))
    return float(billed_ms * EXPRESS_DURATION_STEP_MS), float(billed_mb * EXPRESS_MEMORY_STEP_MB)


def express_gb_seconds(duration_ms: float, memory_mb: float) -> float:
    """GB-seconds an Express execution bills, after :func:`express_billed`'s rounding (1 GB = 1024 MB)."""
    billed_ms, billed_mb = express_billed(duration_ms, memory_mb)
    return billed_ms / 1000 * billed_mb / 1024


def dynamodb_write_units(item_bytes: int, transactional: bool = False) -> int:
    """Write request units of one write of an item of ``item_bytes``: 1 per KB rounded up, 2x transactional.

    Each item of a TransactWriteItems counts on its own (call once per item). A GSI whose keys the item
    carries is written too: call it again for the projected item's size.
    """
    units = _chunks(item_bytes, DYNAMODB_WRITE_UNIT_BYTES, "item_bytes")
    return units * 2 if transactional else units


def dynamodb_read_units(item_bytes: int, consistency: ReadConsistency = "eventual") -> float:
    """Read request units of one read of ``item_bytes``: 1 per 4 KB rounded up; eventual 0.5x, transactional 2x."""
    units = _chunks(item_bytes, DYNAMODB_READ_UNIT_BYTES, "item_bytes")
    factor = {"eventual": 0.5, "strong": 1.0, "transactional": 2.0}.get(consistency)
    if factor is None:
        raise ValueError(f"consistency must be one of eventual, strong, transactional, got {consistency!r}")
    return units * factor


def _number_bytes(text: str) -> int:
    """A DynamoDB number's size: 1 byte per two significant digits, plus 1 (leading/trailing zeros trimmed)."""
    digits = Decimal(text).normalize().as_tuple().digits
    significant = str(int("".join(map(str, digits)) or "0")).rstrip("0") or "0"
    return math.ceil(len(significant) / 2) + 1


def dynamodb_value_bytes(value: Mapping[str, object]) -> int:
    """The size of one attribute value in DynamoDB JSON (``{"S": "x"}``), as DynamoDB sizes items.

    Rules from https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html:
    strings and binaries by their UTF-8 / raw length, numbers ~1 byte per two significant digits + 1,
    null and booleans 1 byte, lists and maps 3 bytes plus 1 byte per element plus their contents (and,
    for maps, the keys' lengths), sets the sum of their elements.
    """
    if len(value) != 1:
        raise ValueError(f"a DynamoDB value has exactly one type key, got {sorted(value)}")
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        return _number_bytes(str(raw))
    if kind == "B":
        return len(raw) if isinstance(raw, bytes | bytearray) else len(str(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS" and isinstance(raw, list):
        return sum(len(str(s).encode()) for s in raw)
    if kind == "NS" and isinstance(raw, list):
        return sum(_number_bytes(str(n)) for n in raw)
    if kind == "BS" and isinstance(raw, list):
        return sum(len(b) if isinstance(b, bytes | bytearray) else len(str(b)) for b in raw)
    if kind == "L" and isinstance(raw, list):
        return 3 + sum(1 + dynamodb_value_bytes(v) for v in raw)
    if kind == "M" and isinstance(raw, dict):
        return 3 + sum(1 + len(str(k).encode()) + dynamodb_value_bytes(v) for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB value type {kind!r}: one of S, N, B, BOOL, NULL, SS, NS, BS, L, M")


def dynamodb_item_bytes(item: Mapping[str, Mapping[str, object]]) -> int:
    """An item's size in DynamoDB JSON: the sum of its attribute names' UTF-8 lengths and values' sizes."""
    return sum(len(name.encode()) + dynamodb_value_bytes(value) for name, value in item.items())
