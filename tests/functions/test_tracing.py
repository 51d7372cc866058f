"""X-Ray on: the delivery id on every trace, a subsegment per SQS record, the trace header across SQS hops
(tests/functions/xray.py switches tracing on in-process)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from functions.common import dispatch, tracing
from tests.functions.test_adapter import CONTEXT, Aws, count_handler, count_record, sqs_env, square_handler
from tests.functions.test_adapter import aws as aws  # noqa: F401  (the module's moto fixture)
from tests.functions.xray import INVOCATION_HEADER, LAMBDA_PARENT, ROOT, Emitted
from tests.functions.xray import xray as xray  # noqa: F401  (the fixture)

__all__ = ["sqs_env"]

REPO = Path(__file__).resolve().parents[2]


def _system_attributes(sent: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    return [params.get("MessageSystemAttributes") for params in sent]


@pytest.fixture
def sends() -> Iterator[list[dict[str, Any]]]:
    """The parameters of every SendMessage and of every SendMessageBatch entry."""
    sent: list[dict[str, Any]] = []
    events = dispatch.sqs_client().meta.events

    def one(params: dict[str, Any], **_: Any) -> None:
        sent.append(params)

    def batch(params: dict[str, Any], **_: Any) -> None:
        sent.extend(params["Entries"])

    events.register("provide-client-params.sqs.SendMessage", one)
    events.register("provide-client-params.sqs.SendMessageBatch", batch)
    yield sent
    events.unregister("provide-client-params.sqs.SendMessage", one)
    events.unregister("provide-client-params.sqs.SendMessageBatch", batch)


# --- the trace header to send on -------------------------------------------------------------------


def _entity(trace_id: str = ROOT, entity_id: str = "ab12cd34ef56ab78", sampled: bool = True) -> Any:
    return SimpleNamespace(trace_id=trace_id, id=entity_id, sampled=sampled)


def test_the_header_names_the_current_sampled_entity_as_parent() -> None:
    environ = {tracing.TRACE_HEADER_ENV: INVOCATION_HEADER}
    assert tracing.trace_header(_entity(), environ, enabled=True) == f"Root={ROOT};Parent=ab12cd34ef56ab78;Sampled=1"


@pytest.mark.parametrize(
    ("invocation", "expected"),
    [
        (f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=0", f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=0"),
        (
            f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=0;Lineage=a87bd80c:1",
            f"Root={ROOT};Parent={LAMBDA_PARENT};Sampled=0",
        ),
        (f"Root={ROOT}", f"Root={ROOT}"),
        (f"Root={ROOT};Parent=not-an-id;Sampled=yes", f"Root={ROOT}"),
        ("Root=1-nothex-xyz;Parent=53995c3f42cd8ad8;Sampled=0", None),
        ("garbage", None),
        ("", None),
    ],
)
def test_a_not_sampled_invocation_passes_its_own_header_on_if_it_is_valid(
    invocation: str, expected: str | None
) -> None:
    placeholder = _entity(entity_id="0000000000000000", sampled=False)
    assert tracing.trace_header(placeholder, {tracing.TRACE_HEADER_ENV: invocation}, enabled=True) == expected


def test_no_header_without_tracing_or_outside_an_invoke() -> None:
    assert tracing.trace_header(_entity(), {tracing.TRACE_HEADER_ENV: INVOCATION_HEADER}, enabled=False) is None
    assert tracing.trace_header(_entity(), {}, enabled=True) is None
    assert tracing.message_system_attributes() == {}  # the tests run with tracing off


def test_the_header_becomes_the_aws_trace_header_system_attribute() -> None:
    assert tracing.message_system_attributes("Root=r") == {
        "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=r"}}
    }


# --- through the handlers, tracing on ----------------------------------------------------------------


def test_a_forwarded_message_carries_the_invocations_trace(sqs_env: Aws, xray: Emitted, sends: list[Any]) -> None:
    assert square_handler({"Records": [count_record(2, "d-t1")]}, CONTEXT) == {"batchItemFailures": []}

    (handler,) = xray.named("## handler")
    assert handler["trace_id"] == ROOT and handler["parent_id"] == LAMBDA_PARENT
    header = f"Root={ROOT};Parent={handler['id']};Sampled=1"
    assert _system_attributes(sends) == [{"AWSTraceHeader": {"DataType": "String", "StringValue": header}}]
    (received,) = dispatch.sqs_client().receive_message(
        QueueUrl=sqs_env.next_queue, MessageSystemAttributeNames=["AWSTraceHeader"]
    )["Messages"]
    dispatch.sqs_client().delete_message(QueueUrl=sqs_env.next_queue, ReceiptHandle=received["ReceiptHandle"])
    assert received["Attributes"]["AWSTraceHeader"] == header


def test_every_entry_of_a_fan_out_batch_carries_the_trace(sqs_env: Aws, xray: Emitted, sends: list[Any]) -> None:
    assert count_handler({"Records": [count_record(12, "d-t2")]}, CONTEXT) == {"batchItemFailures": []}
    sqs_env.forwarded()

    (handler,) = xray.named("## handler")
    header = f"Root={ROOT};Parent={handler['id']};Sampled=1"
    assert len(sends) == 12
    assert all(
        attributes == {"AWSTraceHeader": {"DataType": "String", "StringValue": header}}
        for attributes in _system_attributes(sends)
    )


def test_each_record_runs_in_a_subsegment_with_its_delivery_id(sqs_env: Aws, xray: Emitted) -> None:
    producer = f"Root=1-5759e988-00000000000000000000000a;Parent={LAMBDA_PARENT};Sampled=1"
    traced = count_record(3, "d-t3")
    traced["attributes"]["AWSTraceHeader"] = producer
    event = {"Records": [traced, count_record(4, "d-t4"), count_record(-1, "d-t5")]}

    response = square_handler(event, CONTEXT)
    sqs_env.forwarded()
    sqs_env.notified()

    assert [failure["itemIdentifier"] for failure in response["batchItemFailures"]] == [
        event["Records"][2]["messageId"]
    ]
    (handler,) = xray.named("## handler")
    records = {document["annotations"][tracing.DELIVERY_ID_ANNOTATION]: document for document in xray.named("square")}
    assert set(records) == {"d-t3", "d-t4", "d-t5"}
    for record in records.values():  # nested under the handler, though each ran in a thread of its own
        assert record["trace_id"] == ROOT and record["parent_id"] == handler["id"]
    assert records["d-t3"]["metadata"][tracing.PRODUCER_METADATA_NAMESPACE] == {"AWSTraceHeader": producer}
    assert "metadata" not in records["d-t4"]
    assert records["d-t5"].get("fault") or records["d-t5"].get("error")  # the failure is on its subsegment


def test_a_step_functions_invocation_is_annotated_with_its_delivery_id(xray: Emitted) -> None:
    assert square_handler({"correlationId": "d-t6", "upTo": 3}, CONTEXT)["value"] == 9

    (handler,) = xray.named("## handler")
    assert handler["annotations"][tracing.DELIVERY_ID_ANNOTATION] == "d-t6"


def test_the_delivery_id_annotation_key_is_one_x_ray_keeps() -> None:
    from aws_xray_sdk.core.models.entity import _valid_annotation_key_characters

    assert set(tracing.DELIVERY_ID_ANNOTATION) <= set(_valid_annotation_key_characters)


def _traced_process(script: str) -> list[str]:
    """``script``'s output in a fresh process with tracing on, as in Lambda."""
    # Powertools traces only in Lambda (LAMBDA_TASK_ROOT set), unless switched off
    environ = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=environ, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.split()


def test_the_tracer_patches_aws_and_github_calls_and_nothing_else() -> None:
    """A function that calls GitHub: botocore and httpx patched, requests not."""
    script = """
import httpx
from aws_xray_sdk.core import patcher
from functions.common import github
print(sorted(patcher._PATCHED_MODULES), httpx.Client.__name__)
"""
    assert _traced_process(script) == ["['botocore',", "'httpx']", "_InstrumentedClient"]


#: What boto3 brings beside the standard library (botocore.httpsession imports certifi when it is installed;
#: ``__mp_main__`` is multiprocessing's alias of ``__main__``).
RUNTIME_PACKAGES = {
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "urllib3",
    "dateutil",
    "six",
    "certifi",
    "__mp_main__",
}


def test_the_receiver_imports_only_the_standard_library_and_boto3() -> None:
    """The receiver's cold start, tracing on: no pydantic, Powertools, X-Ray SDK, githubkit or httpx."""
    script = """
import sys
before = set(sys.modules)
import functions.receiver
print(*sorted({name.split(".")[0] for name in set(sys.modules) - before} - set(sys.stdlib_module_names)))
"""
    assert set(_traced_process(script)) <= RUNTIME_PACKAGES | {"functions"}


def test_store_records_imports_neither_httpx_nor_githubkit() -> None:
    """store-records calls no GitHub: the GitHub quota hook's httpx types stay out of its cold start."""
    script = """
import sys
import functions.store_records
print("httpx" in sys.modules, "githubkit" in sys.modules)
"""
    assert _traced_process(script) == ["False", "False"]


def test_models_are_built_on_first_use_not_at_import() -> None:
    """A pydantic model's validators are built when a path first uses it: those it never uses cost nothing."""
    script = """
from functions.common import models
from functions.common.models import StoreRequest
before = StoreRequest.__pydantic_complete__
models.MemberRef(org="acme", login="octocat", user_id=1, correlation_id="d-1")
print(before, models.MemberRef.__pydantic_complete__, StoreRequest.__pydantic_complete__)
"""
    assert _traced_process(script) == ["False", "True", "False"]


def test_no_function_imports_every_powertools_event_class() -> None:
    """Powertools' data_classes package imports some thirty event modules: no handler needs them."""
    script = """
import sys
import functions.receiver, functions.add_team_member, functions.lookup_directory
import functions.price_workflow_run, functions.list_org_members, functions.store_records
print("aws_lambda_powertools.utilities.data_classes" in sys.modules)
"""
    assert _traced_process(script) == ["False"]
