"""Two of the sandbox's own calls made straight into moto's backends, without a botocore client.

The SQS pollers' and the HTTP API's Invoke (every delivery, at every hop) and the log shipper's
``PutLogEvents`` are most of the calls the sandbox makes to itself. Even in process
(sandbox/in_process.py) each one pays botocore's serializing, signing and parsing and the emulator's
Flask dispatch; here each calls what moto's own handler would call, with the same arguments, and is
recorded in the call log (``ApiCallLog.record``: its observers, its caller, operation, parameters and
status) as the request would have been. Anything else goes the API's way: an Invoke of a function moto
does not know is sent to the Invoke API, which answers the error it answers.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError
from moto.core.exceptions import JsonRESTError

from sandbox.api_calls import ApiCall, ApiCallLog
from sandbox.lambda_runtime import InvokeResult

#: moto's Invoke handler (moto/awslambda/responses.py) answers a larger result with this error instead.
_MAX_RESULT_SIZEOF = 6_000_000
_RESULT_TOO_LARGE = {
    "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
    "errorType": "Function.ResponseSizeTooLarge",
}


def _json_bytes(value: Any) -> int:
    """The size of ``value`` as botocore's JSON serializer sends it (``json.dumps``' default separators)."""
    return len(json.dumps(value).encode())


class DirectInvoker:
    """``invoke(function, payload)`` as a RequestResponse Invoke, straight into moto's function object (whose
    ``invoke`` the sandbox routes to the local runtime: sandbox/moto_fixes.py ``route_lambda_invokes``)."""

    def __init__(
        self,
        calls: ApiCallLog,
        fallback: Callable[[str, bytes], InvokeResult],
        *,
        caller: str,
        account_id: str,
        region: str,
    ) -> None:
        self._calls, self._fallback, self._caller = calls, fallback, caller
        self._account_id, self._region = account_id, region

    def __call__(self, function: str, payload: bytes) -> InvokeResult:
        from moto.awslambda.models import lambda_backends

        try:
            target = lambda_backends[self._account_id][self._region].get_function(function, None)
        except JsonRESTError:  # no such function: the API answers it
            return self._fallback(function, payload)
        call = ApiCall(
            time.time(), self._caller, "lambda", f"POST /2015-03-31/functions/{function}/invocations", {}, len(payload)
        )
        headers: dict[str, Any] = {}

        def handle() -> bytes:
            try:
                result = target.invoke(payload, {"X-Amz-Invocation-Type": "RequestResponse"}, headers)
            except Exception:  # what the server answers when its handler raises
                call.status = 500
                raise
            if sys.getsizeof(result) > _MAX_RESULT_SIZEOF:
                headers["x-amz-function-error"] = "Unhandled"
                result = json.dumps(_RESULT_TOO_LARGE).encode()
            call.status = 200
            return result if isinstance(result, bytes) else result.encode()

        try:
            answered = self._calls.record(call, handle)
        except Exception as error:
            answer = {"Code": "500", "Message": "Internal Server Error"}
            raise ClientError({"Error": answer, "ResponseMetadata": {"HTTPStatusCode": 500}}, "Invoke") from error
        return InvokeResult(answered, headers.get("x-amz-function-error"))


class DirectLogs:
    """The part of a CloudWatch Logs client the log shipper uses, writing into moto's logs backend."""

    def __init__(self, calls: ApiCallLog, *, caller: str, account_id: str, region: str) -> None:
        from moto.logs import exceptions

        self._calls, self._caller = calls, caller
        self._account_id, self._region = account_id, region
        self.exceptions = SimpleNamespace(
            ResourceAlreadyExistsException=exceptions.ResourceAlreadyExistsException,
            ResourceNotFoundException=exceptions.ResourceNotFoundException,
        )

    def create_log_group(self, logGroupName: str) -> None:  # noqa: N803 - botocore's parameter names
        params = {"logGroupName": logGroupName}
        self._call("CreateLogGroup", params, lambda logs: logs.create_log_group(logGroupName, None) and "")

    def create_log_stream(self, logGroupName: str, logStreamName: str) -> None:  # noqa: N803
        params = {"logGroupName": logGroupName, "logStreamName": logStreamName}
        self._call("CreateLogStream", params, lambda logs: logs.create_log_stream(logGroupName, logStreamName) and "")

    def put_log_events(
        self,
        logGroupName: str,  # noqa: N803
        logStreamName: str,  # noqa: N803
        logEvents: list[Mapping[str, Any]],  # noqa: N803
    ) -> dict[str, Any]:
        params = {"logGroupName": logGroupName, "logStreamName": logStreamName, "logEvents": logEvents}

        def put(logs: Any) -> str:
            token, rejected = logs.put_log_events(logGroupName, logStreamName, logEvents)
            answer = {"nextSequenceToken": token, **({"rejectedLogEventsInfo": rejected} if rejected else {})}
            return json.dumps(answer)

        return json.loads(self._call("PutLogEvents", params, put) or b"{}")

    def _call(self, operation: str, params: dict[str, Any], action: Callable[[Any], Any]) -> bytes:
        from moto.logs.models import logs_backends

        call = ApiCall(time.time(), self._caller, "logs", operation, params, _json_bytes(params))
        failure: list[JsonRESTError] = []

        def handle() -> bytes:
            try:
                answer = action(logs_backends[self._account_id][self._region])
            except JsonRESTError as error:  # moto's handler answers it with its code and JSON body
                call.status = error.code
                failure.append(error)
                return str(error.description).encode()
            call.status = 200
            return (answer or "").encode()  # (moto's handlers answer "" to the Create calls)

        answered = self._calls.record(call, handle)
        if failure:
            raise failure[0]
        return answered
