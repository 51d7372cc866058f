"""Every ``Retry``/``Catch`` error name of every state machine is one its Task can raise (issue 6, item 11).

The definitions are rendered by the real program under mocks, for both workflow types, so placeholders
(``StartOnboardingResource``, the retried child errors) are what a stack deploys. What a Task can raise
is derived in ``tests/unit/raisable.py``: the invoked function's code for ``lambda:invoke``, botocore's
service models for the integrations, and the ``States.*`` names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from components import wiring
from components.catalog import BUSINESS_FUNCTIONS, FunctionSpec
from components.naming import Naming
from functions.common import errors
from tests.unit.program import prepare_layer, run_program, stack_config
from tests.unit.raisable import integration_errors, raisable_by_function

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
NAMING = Naming("github-automation-dev")
TRANSIENT = {
    name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, errors.TransientError)
} - {"TransientError"}


@pytest.fixture(scope="module")
def definitions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict[str, Any]]]:
    """workflow type -> use case -> the definition the program deploys."""
    build_dir = tmp_path_factory.mktemp("build")
    rendered: dict[str, dict[str, dict[str, Any]]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(build_dir))
        for workflow_type in ("STANDARD", "EXPRESS"):
            config = stack_config("Pulumi.dev-sfn.yaml") | {
                "workflowType": workflow_type,
                "workflowTimeoutSeconds": "300",
            }
            prepare_layer(build_dir, config["lambdaArchitecture"])
            run = run_program(config)
            machines = {
                m.inputs["name"]: json.loads(m.inputs["definition"])
                for m in run.of_type("aws:sfn/stateMachine:StateMachine")
            }
            rendered[workflow_type] = {
                use_case: machines[wiring.state_machine_name(NAMING, use_case)] for use_case in wiring.STATE_MACHINES
            }
    return rendered


def tasks(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            yield name, state
        if "ItemProcessor" in state:
            yield from tasks(state["ItemProcessor"])
        for branch in state.get("Branches", []):
            yield from tasks(branch)


def invoked_function(state: dict[str, Any]) -> FunctionSpec:
    arn = state["Parameters"]["FunctionName"]
    (spec,) = [spec for spec in BUSINESS_FUNCTIONS if arn.endswith(f":function:{NAMING(spec.key)}")]
    return spec


def raisable(state: dict[str, Any]) -> frozenset[str]:
    names = integration_errors(state["Resource"])
    if state["Resource"] == LAMBDA_INVOKE:
        names |= raisable_by_function(invoked_function(state).module)
    return names


def handled_names(state: dict[str, Any]) -> list[str]:
    return [name for rule in (*state.get("Retry", []), *state.get("Catch", [])) for name in rule["ErrorEquals"]]


def all_tasks(definitions: dict[str, dict[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for workflow_type, machines in definitions.items():
        for use_case, definition in machines.items():
            for name, state in tasks(definition):
                yield f"{workflow_type} {use_case} {name}", state


def test_every_retry_and_catch_name_is_one_the_task_can_raise(
    definitions: dict[str, dict[str, dict[str, Any]]],
) -> None:
    dead = {
        where: sorted(set(handled_names(state)) - raisable(state))
        for where, state in all_tasks(definitions)
        if set(handled_names(state)) - raisable(state)
    }
    assert dead == {}, f"error names no task raises: {dead}"


def test_every_transient_error_a_function_raises_is_retried(definitions: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Retried with backoff, or (GitHubRateLimited) caught into the RateLimit* states that wait as GitHub asks."""
    for where, state in all_tasks(definitions):
        if state["Resource"] != LAMBDA_INVOKE:
            continue
        transient = raisable_by_function(invoked_function(state).module) & TRANSIENT
        retried = {name for rule in state["Retry"] for name in rule["ErrorEquals"]}
        waited = {
            name
            for rule in state.get("Catch", [])
            if rule["Next"].endswith("RateLimited")
            for name in rule["ErrorEquals"]
        }
        assert transient and transient <= retried | waited, (
            f"{where}: {sorted(transient - retried - waited)} not retried"
        )


def test_the_backfill_retries_the_start_errors_of_its_child_integration(
    definitions: dict[str, dict[str, dict[str, Any]]],
) -> None:
    for workflow_type, retried in (
        ("STANDARD", {"StepFunctions.ExecutionLimitExceededException"}),
        ("EXPRESS", {"Sfn.SfnException"}),
    ):
        (state,) = [s for name, s in tasks(definitions[workflow_type]["BACKFILL"]) if name == "OnboardMember"]
        assert {name for rule in state["Retry"] for name in rule["ErrorEquals"]} == retried, workflow_type


# --- the derivation itself ---------------------------------------------------------------------------


def test_the_derivation_follows_calls_into_other_modules() -> None:
    github = {"GitHubUnavailable", "GitHubRateLimited", "GitHubRequestRejected"}
    for module in ("add_team_member", "price_workflow_run", "list_org_members", "lookup_directory"):
        assert github <= raisable_by_function(module), module
    assert "DirectoryUnavailable" in raisable_by_function("lookup_directory")
    # records.py imports functions.directory for a type only: importing is not calling
    assert "DirectoryUnavailable" not in raisable_by_function("price_workflow_run")
    assert "DirectoryUnavailable" not in raisable_by_function("add_team_member")


@pytest.mark.parametrize(
    ("resource", "raised", "not_raised"),
    [
        ("arn:aws:states:::sns:publish", "SNS.KMSOptInRequiredException", "SNS.ThrottledException"),
        (
            "arn:aws:states:::states:startExecution.sync:2",
            "StepFunctions.ExecutionLimitExceededException",
            "StepFunctions.ExecutionLimitExceeded",
        ),
        ("arn:aws:states:::aws-sdk:sfn:startSyncExecution", "Sfn.SfnException", "StepFunctions.SfnException"),
        (
            "arn:aws:states:::aws-sdk:dynamodb:transactWriteItems",
            "DynamoDb.RequestLimitExceededException",
            "DynamoDb.RequestLimitExceeded",
        ),
        (LAMBDA_INVOKE, "Lambda.TooManyRequestsException", "Lambda.ThrottlingException"),
    ],
)
def test_integration_error_names_follow_step_functions_naming(resource: str, raised: str, not_raised: str) -> None:
    assert raised in integration_errors(resource)
    assert not_raised not in integration_errors(resource)
