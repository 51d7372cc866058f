"""The X-Ray trace header passed on to the next hop, with the standard library only.

Shared by ``functions.common.tracing`` (Powertools' Tracer, the X-Ray SDK) and the receiver's own
standard-library tracer (``functions.common.xray_daemon``).
"""

from __future__ import annotations

import re
from typing import Any

#: The annotation that names the delivery on every trace (X-Ray keeps letters, digits and underscores only).
DELIVERY_ID_ANNOTATION = "DeliveryId"
AWS_TRACE_HEADER = "AWSTraceHeader"
#: The invocation's trace header, set by the Lambda runtime for every invoke.
TRACE_HEADER_ENV = "_X_AMZN_TRACE_ID"
ROOT = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
ENTITY_ID = re.compile(r"[0-9a-f]{16}")
NO_ENTITY_ID = "0" * 16  # what the SDK's dummy (not sampled) entities use


def header_fields(header: str | None) -> dict[str, str]:
    """``Root=...;Parent=...;Sampled=1`` as a dict."""
    return dict(part.strip().split("=", 1) for part in (header or "").split(";") if "=" in part)


def trace_header_from(invocation: str | None, trace_id: str | None, entity_id: str | None, sampled: bool) -> str | None:
    """The header to send on: the current entity's (``trace_id``, ``entity_id``) as parent when it is sampled
    and valid, else the invocation's own header, cleaned (never an invalid one); None without an invocation
    header or a valid root."""
    if not invocation:
        return None
    valid = bool(trace_id and entity_id and ROOT.fullmatch(trace_id) and ENTITY_ID.fullmatch(entity_id))
    if sampled and valid and entity_id != NO_ENTITY_ID:
        return f"Root={trace_id};Parent={entity_id};Sampled=1"
    fields = header_fields(invocation)
    root, parent, sampled_field = fields.get("Root", ""), fields.get("Parent", ""), fields.get("Sampled")
    if not ROOT.fullmatch(root):
        return None
    header = f"Root={root}"
    if ENTITY_ID.fullmatch(parent):
        header += f";Parent={parent}"
    if sampled_field in ("0", "1"):
        header += f";Sampled={sampled_field}"
    return header


def message_system_attributes(header: str | None) -> dict[str, Any]:
    """The ``MessageSystemAttributes`` parameter of a SendMessage (or of a batch entry), as keyword arguments:
    the trace header, or nothing when there is none."""
    if header is None:
        return {}
    return {"MessageSystemAttributes": {AWS_TRACE_HEADER: {"DataType": "String", "StringValue": header}}}
