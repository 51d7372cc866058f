"""The local Lambda runtime: functions in their own awslambdaric processes, invoked through the Invoke API."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox.aws import EmbeddedAws
from sandbox.lambda_runtime import FunctionConfig, LocalLambdaRuntime
from tests.sandbox.lambda_fixtures import create_function, invoke, probe_zip, zip_files


def test_first_invoke_is_cold_then_the_process_is_reused_warm(aws: EmbeddedAws) -> None:
    create_function(aws, "warm-reuse", environment={"MARKER": "warm"})

    first_error, first = invoke(aws, "warm-reuse", {"n": 1})
    second_error, second = invoke(aws, "warm-reuse", {"n": 2})

    assert first_error is None and second_error is None
    assert first["event"] == {"n": 1} and second["event"] == {"n": 2}
    assert second["pid"] == first["pid"]
    assert (first["invocations"], second["invocations"]) == (1, 2)  # module state survives: same process
    records = [r for r in aws.runtime.records() if r.function == "warm-reuse"]
    assert [r.cold for r in records] == [True, False]
    assert all(r.duration > 0 and r.error_type is None for r in records)


def test_each_function_runs_in_its_own_process_with_its_own_environment(aws: EmbeddedAws) -> None:
    create_function(aws, "isolated-a", environment={"MARKER": "a"})
    create_function(aws, "isolated-b", environment={"MARKER": "b", "ONLY_IN_B": "yes"})

    _, a = invoke(aws, "isolated-a", {})
    _, b = invoke(aws, "isolated-b", {})
    _, a_again = invoke(aws, "isolated-a", {})

    assert a["pid"] != b["pid"]
    assert (a["marker"], a["only_in_b"], a["function"]) == ("a", None, "isolated-a")
    assert (b["marker"], b["only_in_b"], b["function"]) == ("b", "yes", "isolated-b")
    assert a_again["invocations"] == 2  # b's invocation did not touch a's module state
    assert a["endpoint"] == aws.endpoint_url
    assert a["cwd"] == a["task_root"] and os.path.isfile(os.path.join(a["task_root"], "probe.py"))
    assert "AWS_ENDPOINT_URL" not in os.environ  # the sandbox process itself is not pointed anywhere


def test_a_handler_error_comes_back_as_lambda_reports_it(aws: EmbeddedAws) -> None:
    create_function(aws, "raises")

    error, payload = invoke(aws, "raises", {"action": "raise", "message": "503 from GitHub"})

    assert error == "Unhandled"
    assert payload["errorType"] == "GitHubUnavailable"
    assert payload["errorMessage"] == "503 from GitHub"
    assert any("probe.py" in frame for frame in payload["stackTrace"])
    assert aws.runtime.records()[-1].error_type == "GitHubUnavailable"
    assert any("GitHubUnavailable" in line for line in aws.runtime.output("raises"))


def test_the_timeout_kills_the_process_and_the_next_invoke_starts_a_new_one(aws: EmbeddedAws) -> None:
    create_function(aws, "slow", timeout=1)
    _, before = invoke(aws, "slow", {})

    started = time.monotonic()
    error, payload = invoke(aws, "slow", {"action": "sleep", "seconds": 30})
    elapsed = time.monotonic() - started

    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert 1.0 <= elapsed < 5
    _, after = invoke(aws, "slow", {})
    assert after["pid"] != before["pid"]
    assert [r.cold for r in aws.runtime.records() if r.function == "slow"] == [True, False, True]


def test_a_process_that_exits_is_reported_and_replaced(aws: EmbeddedAws) -> None:
    create_function(aws, "exits")

    error, payload = invoke(aws, "exits", {"action": "exit"})
    recovered_error, recovered = invoke(aws, "exits", {})

    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in payload["errorMessage"]
    assert recovered_error is None and recovered["invocations"] == 1


def test_a_handler_that_cannot_be_imported_fails_every_invoke_with_the_init_error(aws: EmbeddedAws) -> None:
    create_function(aws, "broken", code=zip_files({"probe.py": "import not_a_module_anywhere\n"}))

    error, payload = invoke(aws, "broken", {})

    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert "not_a_module_anywhere" in payload["errorMessage"]


def test_concurrent_invokes_get_more_processes(aws: EmbeddedAws) -> None:
    create_function(aws, "concurrent")
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: invoke(aws, "concurrent", {"action": "sleep", "seconds": 0.5}), range(3)))

    assert all(error is None for error, _ in results)
    assert len({payload["pid"] for _, payload in results}) == 3
    assert aws.runtime.processes("concurrent") == 3


def test_updated_code_gets_new_processes(aws: EmbeddedAws) -> None:
    create_function(aws, "updated", environment={"MARKER": "v1"})
    _, v1 = invoke(aws, "updated", {})

    aws.client("lambda").update_function_configuration(
        FunctionName="updated", Environment={"Variables": {"MARKER": "v2"}}
    )
    _, v2 = invoke(aws, "updated", {})

    assert (v1["marker"], v2["marker"]) == ("v1", "v2")
    assert v2["pid"] != v1["pid"]


# The runtime on its own: the pool's bound and close().


def _probe_config(name: str) -> FunctionConfig:
    code = probe_zip()
    return FunctionConfig(
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler="probe.handler",
        code_zip=code,
        code_sha256=hashlib.sha256(code).hexdigest(),
        timeout=10,
        memory_size=128,
    )


def test_invokes_beyond_the_process_cap_wait_for_a_free_process() -> None:
    runtime = LocalLambdaRuntime("http://127.0.0.1:9", max_processes=2)
    config = _probe_config("capped")
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(
                pool.map(
                    lambda _: runtime.invoke(config, json.dumps({"action": "sleep", "seconds": 0.3}).encode()), range(4)
                )
            )
        pids = {json.loads(result.payload)["pid"] for result in results}
        assert all(result.function_error is None for result in results)
        assert len(pids) == 2
        assert runtime.processes("capped") == 2
        assert sorted(r.cold for r in runtime.records()) == [False, False, True, True]
    finally:
        runtime.close()


def test_close_stops_every_process() -> None:
    runtime = LocalLambdaRuntime("http://127.0.0.1:9")
    result = runtime.invoke(_probe_config("closing"), json.dumps({"action": "print", "text": "hello"}).encode())
    pid = json.loads(result.payload)["pid"]

    runtime.close()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "hello" in runtime.output("closing")
    with pytest.raises(RuntimeError, match="closed"):
        runtime.invoke(_probe_config("closing"), b"{}")


STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


def _stream_events(aws: EmbeddedAws, group: str) -> dict[str, list[str]]:
    assert aws.runtime.flush_logs()
    logs = aws.client("logs")
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    return {
        s["logStreamName"]: [
            e["message"]
            for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)[
                "events"
            ]
        ]
        for s in streams
    }


def test_an_environment_ships_its_lines_and_the_platform_records_to_its_stream(aws: EmbeddedAws) -> None:
    create_function(aws, "json-logs", logging_config={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})

    _, first = invoke(aws, "json-logs", {"action": "print", "text": "hello from the handler"})
    _, second = invoke(aws, "json-logs", {})

    assert (first["log_format"], first["log_level"], first["log_group"]) == ("JSON", "DEBUG", "/aws/lambda/json-logs")
    (stream, lines), *others = _stream_events(aws, "/aws/lambda/json-logs").items()
    assert others == [] and stream == first["log_stream"] == second["log_stream"] and STREAM_NAME.match(stream)
    records = [json.loads(line) if line.startswith("{") else line for line in lines]
    kinds = [r["type"] if isinstance(r, dict) else r for r in records]
    assert kinds == [
        "platform.initStart",
        "platform.start",
        "hello from the handler",
        "platform.report",
        "platform.start",
        "platform.report",
    ]
    request_ids = [r.request_id for r in aws.runtime.records() if r.function == "json-logs"]
    cold, warm = records[3]["record"], records[5]["record"]
    assert [records[1]["record"]["requestId"], cold["requestId"], warm["requestId"]] == [
        request_ids[0],
        request_ids[0],
        request_ids[1],
    ]
    assert cold["status"] == "success" and cold["metrics"]["initDurationMs"] > 0
    assert "initDurationMs" not in warm["metrics"]
    assert set(warm["metrics"]) == {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"}
    assert warm["metrics"]["billedDurationMs"] >= warm["metrics"]["durationMs"] > 0
    assert records[0]["record"]["functionName"] == "json-logs"
    assert "hello from the handler" in aws.runtime.output("json-logs")  # output() keeps the function's lines
    assert not any("platform." in line for line in aws.runtime.output("json-logs"))


def test_text_format_writes_start_end_report_and_errors_are_reported(aws: EmbeddedAws) -> None:
    create_function(aws, "text-logs")

    _, payload = invoke(aws, "text-logs", {"action": "raise"})

    (lines,) = _stream_events(aws, "/aws/lambda/text-logs").values()
    request_id = aws.runtime.records()[-1].request_id
    assert lines[0].startswith("INIT_START Runtime Version: python:")
    assert lines[1] == f"START RequestId: {request_id} Version: $LATEST"
    assert any("GitHubUnavailable" in line for line in lines[2:-2])
    assert lines[-2] == f"END RequestId: {request_id}"
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ") and "Init Duration: " in lines[-1]
