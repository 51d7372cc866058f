"""X-Ray: the delivery id on every trace, per-record subsegments, and the trace header across SQS hops.

What "one delivery is one trace" means in each architecture, as far as X-Ray permits:

- stepfunctions: the receiver's StartExecution carries its trace header (the patched botocore sends
  ``X-Amzn-Trace-Id``), a traced state machine (``tracingConfiguration``) continues that trace and passes
  it to each Lambda task, so a delivery (receiver, execution, every step) is one trace; the receiver's and
  each step's ``## handler`` subsegment carry the ``DeliveryId`` annotation (the steps': the state
  input's ``correlationId``).
- sqs: a function invoked by an SQS event source mapping gets a trace of its own (a batch may hold the
  messages of many deliveries, and Lambda cannot make one invocation part of several traces). What
  carries the delivery across a hop is the message's ``AWSTraceHeader`` system attribute, which every
  send sets here (:func:`message_system_attributes`): X-Ray links the consumer's trace to the producer's
  trace named there ("tracing event-driven applications": the trace map joins them with a dashed edge),
  but it cannot reparent the consumer's Lambda segment. Each record runs in a subsegment named after the
  step and annotated with the record's ``DeliveryId`` (the producer's header kept as metadata), so
  ``annotation.DeliveryId = "<id>"`` finds every trace a delivery went through, receiver included.

X-Ray annotation keys are letters, digits and underscores only (the SDK drops any other key), hence
``DeliveryId``. The X-Ray SDK keeps the current entity per thread: a record's thread starts from the
handler's entity, handed to it by :func:`continued_in_thread`, so its subsegments (the step's GitHub and
AWS calls) nest under the invocation instead of starting a detached facade segment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from functions.common import xray_header
from functions.common.observability import tracer
from functions.common.xray_header import AWS_TRACE_HEADER, DELIVERY_ID_ANNOTATION, TRACE_HEADER_ENV

__all__ = ["AWS_TRACE_HEADER", "DELIVERY_ID_ANNOTATION", "TRACE_HEADER_ENV"]
#: Where a record subsegment keeps the trace header the record arrived with.
PRODUCER_METADATA_NAMESPACE = "sqs"


def _recorder() -> Any:
    from aws_xray_sdk.core import xray_recorder

    return xray_recorder


def annotate_delivery(delivery_id: str) -> None:
    """Put the ``DeliveryId`` annotation on the current subsegment (nothing when tracing is off)."""
    tracer.put_annotation(key=DELIVERY_ID_ANNOTATION, value=delivery_id)


def current_entity() -> Any | None:
    """This thread's X-Ray entity, to hand to another thread; None when tracing is off or outside an invoke."""
    if tracer.disabled or not os.environ.get(TRACE_HEADER_ENV):
        return None
    return _recorder().get_trace_entity()


@contextmanager
def continued_in_thread(parent: Any | None) -> Iterator[None]:
    """In a worker thread: make ``parent`` (from :func:`current_entity`) this thread's current entity."""
    if parent is None:
        yield
        return
    recorder = _recorder()
    recorder.set_trace_entity(parent)
    try:
        yield
    finally:
        recorder.clear_trace_entities()


@contextmanager
def record_subsegment(name: str, delivery_id: str, producer_header: str | None) -> Iterator[None]:
    """One SQS record's work, in a subsegment ``name`` annotated with its delivery id.

    A failure raised inside is recorded on the subsegment and propagates.
    """
    if tracer.disabled or not os.environ.get(TRACE_HEADER_ENV):
        yield
        return
    with tracer.provider.in_subsegment(name=name) as subsegment:
        if subsegment is not None:  # None: the SDK found no segment to attach it to
            subsegment.put_annotation(DELIVERY_ID_ANNOTATION, delivery_id)
            if producer_header:
                subsegment.put_metadata(AWS_TRACE_HEADER, producer_header, PRODUCER_METADATA_NAMESPACE)
        yield


def trace_header(
    entity: Any | None = None, environ: Mapping[str, str] = os.environ, *, enabled: bool | None = None
) -> str | None:
    """The X-Ray trace header to send on: ``Root=...;Parent=...;Sampled=...``, or None (never an invalid one).

    From the current entity (``entity``, else this thread's) when it is sampled: its trace, itself as the
    parent. A not sampled invocation's entities are placeholders: the invocation's own header
    (``_X_AMZN_TRACE_ID``) is passed on instead, so the decision not to sample travels with the message.
    None when tracing is off (``enabled``, else the tracer's) or there is no valid header to pass on.
    """
    if not (enabled if enabled is not None else not tracer.disabled):
        return None
    invocation = environ.get(TRACE_HEADER_ENV)
    if not invocation:
        return None
    if entity is None:
        entity = _recorder().get_trace_entity()
    return xray_header.trace_header_from(
        invocation,
        str(getattr(entity, "trace_id", "")),
        str(getattr(entity, "id", "")),
        entity is not None and bool(getattr(entity, "sampled", False)),
    )


def message_system_attributes(header: str | None = None) -> dict[str, Any]:
    """The ``MessageSystemAttributes`` parameter of a SendMessage (or of a batch entry), as keyword arguments:
    the trace header (``header``, else :func:`trace_header`'s), or nothing when there is none."""
    return xray_header.message_system_attributes(header if header is not None else trace_header())
