"""The worst-case retry budget of a state machine, and the config check that its timeout covers it
(issue 6, item 12)."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import EXPRESS_MAX_SECONDS, ConfigError, parse_config
from components.retry_budget import TIMED_MACHINES, UnboundedError, budget_seconds, path_seconds
from tests.unit.program import stack_config

LAMBDA_ERRORS = ["Lambda.ServiceException"]
WORK_ERRORS = ["GitHubUnavailable"]


def task(retry: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${FArn}", "Payload.$": "$"},
        "Retry": retry,
        **more,
    }


def test_a_task_costs_its_waits_and_each_attempt_of_its_own_work() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": task(
                [
                    {"ErrorEquals": LAMBDA_ERRORS, "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 3},
                    {
                        "ErrorEquals": WORK_ERRORS,
                        "IntervalSeconds": 2,
                        "BackoffRate": 3,
                        "MaxAttempts": 3,
                        "MaxDelaySeconds": 10,
                    },
                ],
                Next="B",
            ),
            "B": {"Type": "Wait", "Seconds": 5, "Next": "C"},
            "C": {"Type": "Succeed"},
        },
    }
    # waits 1+2+4 and 2+6+min(10, 18); attempts: the first and 3 work retries at 30 s; then the Wait
    assert path_seconds(definition, {"FArn": 30}) == 7 + 18 + 4 * 30 + 5


def test_the_longest_path_counts_including_a_catch_path() -> None:
    retry = [{"ErrorEquals": WORK_ERRORS, "IntervalSeconds": 1, "BackoffRate": 2, "MaxAttempts": 2}]
    definition = {
        "StartAt": "A",
        "States": {
            "A": task(retry, Next="Done", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Notify"}]),
            "Notify": task([], TimeoutSeconds=9, Next="Done"),
            "Done": {"Type": "Succeed"},
        },
    }
    assert path_seconds(definition, {"FArn": 10}) == (1 + 2) + 3 * 10 + 9


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ({"Type": "Wait", "SecondsPath": "$.wait", "End": True}, "a Wait without a fixed Seconds"),
        (
            {"Type": "Map", "ItemProcessor": {"StartAt": "X", "States": {}}, "End": True},
            "a Map.s duration depends on its items",
        ),
    ],
)
def test_what_the_definition_cannot_bound_is_refused_naming_the_state(state: dict[str, Any], why: str) -> None:
    with pytest.raises(UnboundedError, match=f"state W: {why}"):
        path_seconds({"StartAt": "W", "States": {"W": state}}, {})


def test_a_cycle_is_refused() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}
    with pytest.raises(UnboundedError, match="cycle"):
        path_seconds(definition, {})


@pytest.mark.parametrize("file_name", TIMED_MACHINES)
def test_every_timed_machine_fits_an_express_execution(file_name: str) -> None:
    assert 0 < budget_seconds(file_name) <= EXPRESS_MAX_SECONDS


def test_the_example_express_stack_covers_its_retry_budget() -> None:
    config = parse_config(stack_config("Pulumi.dev-sfn.yaml"))
    assert config.workflow_type == "EXPRESS"
    assert config.workflow_timeout_seconds >= max(map(budget_seconds, TIMED_MACHINES))


@pytest.mark.parametrize("workflow_type", ["EXPRESS", "STANDARD"])
def test_a_timeout_shorter_than_the_retries_is_one_line_naming_the_key_and_the_minimum(workflow_type: str) -> None:
    config = stack_config("Pulumi.dev-sfn.yaml") | {"workflowType": workflow_type, "workflowTimeoutSeconds": "120"}
    minimum = max(map(budget_seconds, TIMED_MACHINES))
    with pytest.raises(ConfigError) as raised:
        parse_config(config)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(
        f"invalid stack config github-automation:workflowTimeoutSeconds = 120: at least {minimum}"
    )


def test_an_sqs_stack_does_not_need_the_state_machine_budget() -> None:
    assert (
        parse_config(stack_config("Pulumi.dev.yaml") | {"workflowTimeoutSeconds": "60"}).workflow_timeout_seconds == 60
    )
