"""`trace` and `redrive`: bad arguments in one line, the stack's outputs found or refused, Logs Insights read."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from stackops import cli
from stackops.log_search import InsightsSearch, mentions
from stackops.observability_code import Share, count
from stackops.stack_outputs import StackOutputs, StackOutputsError, load, write_sandbox_outputs

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
SQS_EXPORTS = {
    "architecture": "sqs",
    "queueUrls": {"add-team-member": "http://q/add"},
    "deadLetterQueueUrls": {"add-team-member": "http://q/add-dlq"},
    "functionLogGroups": {"receiver": "/aws/lambda/r", "add-team-member": "/aws/lambda/a"},
}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["trace", "has space", "--stack", "dev"], "argument delivery_id: 'has space' is not a delivery id"),
        (["trace", DELIVERY, "--stack", "my.stack"], "argument --stack: 'my.stack' is not a stack name"),
        (["trace", DELIVERY], "the following arguments are required: --stack"),
        (["trace", DELIVERY, "--stack", "dev", "--since", "3y"], "argument --since: '3y' is not a period"),
        (["trace", DELIVERY, "--stack", "dev", "--logs", "grep"], "argument --logs: invalid choice: 'grep'"),
        (["redrive", "--stack", "dev"], "one of the arguments --delivery --all-failed is required"),
        (
            ["redrive", "--stack", "dev", "--delivery", DELIVERY, "--all-failed"],
            "argument --all-failed: not allowed with argument --delivery",
        ),
    ],
)
def test_a_bad_argument_is_one_line_naming_it_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)

    err = capsys.readouterr().err
    assert stopped.value.code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"python -m stackops {argv[0]}: error: {expected}"), err


def test_a_stack_nobody_can_read_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi CLI

    assert cli.main(["trace", DELIVERY, "--stack", "dev"]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("python -m stackops trace: error: stack 'dev': no running sandbox has it"), err


def test_a_running_sandbox_s_outputs_are_found_with_its_endpoint(tmp_path: Path) -> None:
    write_sandbox_outputs("sandbox-sqs", SQS_EXPORTS, "http://127.0.0.1:5000", "us-east-1", tmp_path)

    outputs = load("sandbox-sqs", tmp_path)

    assert outputs.architecture == "sqs" and outputs.endpoint_url == "http://127.0.0.1:5000"
    assert outputs.dead_letter_queue_urls == {"add-team-member": "http://q/add-dlq"}
    assert outputs.function_log_groups["receiver"] == "/aws/lambda/r"


def test_outputs_of_another_program_or_an_older_version_are_refused() -> None:
    with pytest.raises(StackOutputsError, match="no architecture"):
        StackOutputs.from_exports("dev", {"webhookUrl": "x"})
    with pytest.raises(StackOutputsError, match="no functionLogGroups; run `pulumi up`"):
        StackOutputs.from_exports("dev", {"architecture": "sqs"})


def test_a_line_is_the_delivery_s_by_its_correlation_id_or_its_execution_s_name() -> None:
    assert mentions({"correlation_id": DELIVERY}, DELIVERY)
    assert not mentions({"correlation_id": DELIVERY + "-2", "message": DELIVERY}, DELIVERY)
    assert mentions({"execution_arn": f"arn:aws:states:us-east-1:1:express:m:{DELIVERY}:run"}, DELIVERY)
    assert not mentions({"execution_arn": f"arn:aws:states:us-east-1:1:express:m:{DELIVERY}x:run"}, DELIVERY)


def test_logs_insights_reads_every_group_in_one_query_and_keeps_the_delivery_s_lines() -> None:
    logs = boto3.client("logs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    mine = json.dumps({"correlation_id": DELIVERY, "message": "step succeeded"})
    other = json.dumps({"correlation_id": "someone-else", "message": f"mentions {DELIVERY}"})

    def row(group: str, message: str) -> list[dict[str, str]]:
        return [
            {"field": "@timestamp", "value": "2026-12-02 04:05:06.789"},
            {"field": "@log", "value": f"123456789012:{group}"},
            {"field": "@logStream", "value": "s"},
            {"field": "@message", "value": message},
        ]

    with Stubber(logs) as stub:
        for group in ("/aws/lambda/a", "/aws/lambda/b"):
            stub.add_response("describe_log_groups", {"logGroups": [{"logGroupName": group}]})
        stub.add_response("describe_log_groups", {"logGroups": []})
        stub.add_response("start_query", {"queryId": "q-1"})
        stub.add_response("get_query_results", {"status": "Running", "results": []})
        stub.add_response(
            "get_query_results",
            {"status": "Complete", "results": [row("/aws/lambda/a", mine), row("/aws/lambda/b", other)]},
        )
        search = InsightsSearch(logs, timeout_seconds=5)
        found = search.find(["/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/gone"], DELIVERY, 0, 10_000)

    assert found.missing == ["/aws/lambda/gone"]
    assert [line["message"] for line in found.lines["/aws/lambda/a"]] == ["step succeeded"]
    assert found.lines["/aws/lambda/a"][0]["@timestamp"] == 1796184306789
    assert found.lines["/aws/lambda/b"] == []


def test_observability_only_code_is_counted_without_blanks_comments_and_docstrings(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        '"""Module doc\n\nmore."""\n\n# a comment\nx = 1\n\n\n'
        'def f() -> int:\n    """Doc."""\n    return (\n        x\n    )\n'
    )
    (tmp_path / "m.asl.json").write_text(
        json.dumps({"States": {"Keep": {"Type": "Pass", "End": True}, "Drop": {"Type": "Pass"}}})
    )
    shares = (Share("sqs", "m.py", "py"), Share("stepfunctions", "m.asl.json", "asl", ("Keep",)))

    counted = {share.path: share.lines for share in count(shares, tmp_path)}

    assert counted == {"m.py": 5, "m.asl.json": 4}  # x = 1, def, return ( x ) ; the state's 4 JSON lines
