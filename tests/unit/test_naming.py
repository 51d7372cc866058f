"""Stack names (issue 6, item 14): every name the program gives AWS fits that resource's AWS name rule for
any stack name Pulumi accepts and the program does not refuse, and the length limit is the real one."""

from __future__ import annotations

import re
from pathlib import Path

import pulumi
import pytest

from components.config import PROJECT
from components.naming import MAX_PREFIX_LENGTH
from tests.unit.program import ProgramRun, prepare_layer, run_program, stack_config

#: AWS's rule for each physical name the program sets: (input, max length, allowed characters).
AWS_NAME_RULES: dict[str, tuple[str, int, str]] = {
    "aws:lambda/function:Function": ("name", 64, r"[A-Za-z0-9_-]+"),
    "aws:lambda/layerVersion:LayerVersion": ("layerName", 140, r"[A-Za-z0-9_-]+"),
    "aws:iam/role:Role": ("name", 64, r"[\w+=,.@-]+"),
    "aws:sqs/queue:Queue": ("name", 80, r"[A-Za-z0-9_-]+"),
    "aws:sns/topic:Topic": ("name", 256, r"[A-Za-z0-9_-]+"),
    "aws:sfn/stateMachine:StateMachine": ("name", 80, r"[A-Za-z0-9_-]+"),
    "aws:dynamodb/table:Table": ("name", 255, r"[A-Za-z0-9_.-]+"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", 512, r"[A-Za-z0-9_./#-]+"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("name", 255, r"[ -~]+"),
    "aws:apigatewayv2/api:Api": ("name", 128, r"[ -~]+"),
    "aws:secretsmanager/secret:Secret": ("namePrefix", 512 - 7, r"[A-Za-z0-9/_+=.@-]+"),  # AWS adds -XXXXXX
}
STACKS = {
    "sqs": stack_config("Pulumi.dev.yaml") | {"customDomain": "hooks.example.com", "customDomainZoneId": "Z0123"},
    "express": stack_config("Pulumi.dev-sfn.yaml"),
    "standard": stack_config("Pulumi.dev-sfn.yaml") | {"workflowType": "STANDARD"},
}
LONGEST_STACK = "s" * (MAX_PREFIX_LENGTH - len(PROJECT) - 1)


@pytest.fixture
def layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path))
    prepare_layer(tmp_path, "arm64")


def named(run: ProgramRun) -> list[tuple[str, str, int, str]]:
    """(type, name, limit, allowed) of every resource the program names."""
    found = []
    for resource in run.resources:
        if resource.typ in AWS_NAME_RULES:
            key, limit, allowed = AWS_NAME_RULES[resource.typ]
            if isinstance(resource.inputs.get(key), str):
                found.append((resource.typ, resource.inputs[key], limit, allowed))
    return found


@pytest.mark.usefixtures("layer")
@pytest.mark.parametrize("variant", STACKS)
def test_the_longest_accepted_stack_name_fits_every_aws_name_rule_and_one_name_exactly(variant: str) -> None:
    names = named(run_program(STACKS[variant], stack=LONGEST_STACK))
    assert {typ for typ, *_ in names} >= {"aws:lambda/function:Function", "aws:iam/role:Role"}
    bad = [(typ, name) for typ, name, limit, allowed in names if len(name) > limit or not re.fullmatch(allowed, name)]
    assert bad == []
    if variant == "sqs":  # the limit is the real one: a name of the longest stack is exactly at its AWS limit
        assert any(len(name) == limit for _, name, limit, _ in names)


@pytest.mark.usefixtures("layer")
def test_a_longer_stack_name_fails_with_one_line() -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_program(STACKS["sqs"], stack=LONGEST_STACK + "s")
    message = str(raised.value)
    assert "\n" not in message and f"at most {MAX_PREFIX_LENGTH} characters" in message


@pytest.mark.usefixtures("layer")
@pytest.mark.parametrize("stack", ["prod.eu-west-1", "v1.2"])
def test_a_stack_name_with_a_period_fails_with_one_line_naming_it(stack: str) -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_program(STACKS["sqs"], stack=stack)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"stack name {stack!r}: '.' is not allowed")
