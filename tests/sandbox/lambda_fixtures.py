"""Functions to deploy into the embedded AWS in the sandbox tests: a probe handler and the real package."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROLE_NAME = "sandbox-tests"

# One module, deployed under several function names with different environments.
PROBE = """
import os
import time

STATE = {"invocations": 0}


class GitHubUnavailable(Exception):
    pass


def handler(event, context):
    STATE["invocations"] += 1
    action = event.get("action")
    if action == "raise":
        raise GitHubUnavailable(event.get("message", "GitHub is down"))
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "exit":
        os._exit(3)
    if action == "print":
        print(event["text"])
    return {
        "pid": os.getpid(),
        "invocations": STATE["invocations"],
        "marker": os.environ.get("MARKER"),
        "only_in_b": os.environ.get("ONLY_IN_B"),
        "function": context.function_name,
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "cwd": os.getcwd(),
        "log_format": os.environ.get("AWS_LAMBDA_LOG_FORMAT"),
        "log_level": os.environ.get("AWS_LAMBDA_LOG_LEVEL"),
        "log_group": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
        "log_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "event": event,
    }
"""


def zip_files(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def probe_zip() -> bytes:
    return zip_files({"probe.py": PROBE})


def functions_package_zip(extra: dict[str, str] | None = None) -> bytes:
    """The Lambda code asset: the ``functions`` package at the zip root (and ``extra`` files beside it)."""
    files = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in sorted((ROOT / "functions").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    return zip_files(files | (extra or {}))


def role_arn(aws: Any) -> str:
    iam = aws.client("iam")
    try:
        return iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
            ],
        }
        return iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]


def create_function(
    aws: Any,
    name: str,
    *,
    code: bytes | None = None,
    handler: str = "probe.handler",
    timeout: int = 3,
    environment: dict[str, str] | None = None,
    logging_config: dict[str, str] | None = None,
) -> str:
    extra: dict[str, Any] = {"LoggingConfig": logging_config} if logging_config else {}
    response = aws.client("lambda").create_function(
        **extra,
        FunctionName=name,
        Runtime="python3.11",
        Role=role_arn(aws),
        Handler=handler,
        Code={"ZipFile": code if code is not None else probe_zip()},
        Timeout=timeout,
        Environment={"Variables": environment or {}},
    )
    return response["FunctionArn"]


def invoke(aws: Any, name: str, event: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(FunctionError, payload) of a synchronous invocation through the Invoke API."""
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return response.get("FunctionError"), json.loads(response["Payload"].read())
