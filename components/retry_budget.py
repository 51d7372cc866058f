"""The worst-case duration of a state machine's retries, computed from its ASL.

An execution whose ``TimeoutSeconds`` is shorter than its own retries times out mid-retry: no ``Catch``
sees an execution's timeout, so no failure notification goes out. The budget is the longest path
through the states (every ``Next``, ``Default``, ``Choices`` and ``Catch`` transition), where a Task
costs, in the worst case:

- its waits: each retrier's ``MaxAttempts`` waits of ``min(MaxDelaySeconds, IntervalSeconds x
  BackoffRate^n)`` (jitter only shortens them);
- its attempts: the first one and each retry of a retrier that matches an error the task's own work
  raises, at the task's ``TimeoutSeconds`` or, for ``lambda:invoke``, the invoked function's timeout.
  A retry of a retrier whose every name is a service error (``Lambda.*``, ``SNS.*``, ``DynamoDb.*``: the
  call was refused, the work did not run) costs no attempt time; a service call's own latency is not
  counted.

A ``Wait`` costs its ``Seconds``; a Wait with ``SecondsPath``/``TimestampPath``, a Map (how many items?)
and a cycle cannot be bounded from the definition and are refused with the state's name.

The ``Catch`` of ``GitHubRateLimited`` is not followed: it leads to the ``RateLimit*`` states, a loop
that waits as long as GitHub asks and is bounded by its own budget (``rateLimitMaxWaitSeconds``,
``components/stepfunctions_pipeline.py: rate_limit_budget_seconds``), which a STANDARD execution gets on
top of ``workflowTimeoutSeconds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.asl import PLACEHOLDER, DefinitionTemplate
from components.catalog import ADD_TEAM_MEMBER, LOOKUP_DIRECTORY, PRICE_WORKFLOW_RUN, FunctionSpec

#: The per-event machines that have a TimeoutSeconds (``workflowTimeoutSeconds``), with the function
#: behind each ``...FunctionArn`` placeholder (the values ``components/stepfunctions_pipeline.py`` fills).
TIMED_MACHINES: dict[str, dict[str, FunctionSpec]] = {
    "onboarding.asl.json": {
        "AddTeamMemberFunctionArn": ADD_TEAM_MEMBER,
        "LookupDirectoryFunctionArn": LOOKUP_DIRECTORY,
    },
    "chargeback.asl.json": {"PriceWorkflowRunFunctionArn": PRICE_WORKFLOW_RUN},
}


#: Errors whose ``Catch`` leads to a wait bounded by the rate-limit budget, not by this one.
RATE_LIMIT_ERRORS = frozenset({"GitHubRateLimited"})


class UnboundedError(ValueError):
    """A definition whose worst-case duration cannot be computed from the ASL alone."""


def retrier_wait_seconds(retrier: Mapping[str, Any]) -> float:
    """The longest total wait of one retrier (ASL defaults: 1 s, rate 2.0, 3 attempts)."""
    interval = float(retrier.get("IntervalSeconds", 1))
    rate = float(retrier.get("BackoffRate", 2.0))
    cap = retrier.get("MaxDelaySeconds")
    waits = (interval * rate**n for n in range(int(retrier.get("MaxAttempts", 3))))
    return sum(min(float(cap), wait) if cap is not None else wait for wait in waits)


def _service_errors_only(retrier: Mapping[str, Any]) -> bool:
    names = retrier["ErrorEquals"]
    return all("." in name and not name.startswith("States.") for name in names)


def _attempt_seconds(state: Mapping[str, Any], function_seconds: Mapping[str, int]) -> float:
    if isinstance(state.get("TimeoutSeconds"), (int, float)):
        return float(state["TimeoutSeconds"])
    function = state.get("Parameters", {}).get("FunctionName")
    if isinstance(function, str) and (whole := PLACEHOLDER.fullmatch(function)) and whole.group(1) in function_seconds:
        return float(function_seconds[whole.group(1)])
    return 0.0


def state_seconds(name: str, state: Mapping[str, Any], function_seconds: Mapping[str, int]) -> float:
    """The worst-case time spent in one state, its retries included."""
    kind = state["Type"]
    if kind == "Wait":
        if "Seconds" not in state:
            raise UnboundedError(f"state {name}: a Wait without a fixed Seconds cannot be bounded")
        return float(state["Seconds"])
    if kind == "Map":
        raise UnboundedError(f"state {name}: a Map's duration depends on its items")
    if kind == "Parallel":
        return max(path_seconds(branch, function_seconds) for branch in state["Branches"])
    if kind != "Task":
        return 0.0
    attempt = _attempt_seconds(state, function_seconds)
    retriers = state.get("Retry", [])
    work_retries = sum(int(r.get("MaxAttempts", 3)) for r in retriers if not _service_errors_only(r))
    return sum(retrier_wait_seconds(r) for r in retriers) + attempt * (1 + work_retries)


def path_seconds(scope: Mapping[str, Any], function_seconds: Mapping[str, int]) -> float:
    """The longest path from ``StartAt`` to an end through ``scope``'s states."""
    states: Mapping[str, Mapping[str, Any]] = scope["States"]
    longest: dict[str, float] = {}
    visiting: set[str] = set()

    def from_state(name: str) -> float:
        if name in longest:
            return longest[name]
        if name in visiting:
            raise UnboundedError(f"state {name}: a cycle of states cannot be bounded")
        visiting.add(name)
        state = states[name]
        targets = [state["Next"]] if "Next" in state else []
        targets += [choice["Next"] for choice in state.get("Choices", [])]
        targets += [state["Default"]] if "Default" in state else []
        targets += [
            catcher["Next"] for catcher in state.get("Catch", []) if set(catcher["ErrorEquals"]) - RATE_LIMIT_ERRORS
        ]
        longest[name] = state_seconds(name, state, function_seconds) + max(map(from_state, targets), default=0.0)
        visiting.discard(name)
        return longest[name]

    return from_state(scope["StartAt"])


def budget_seconds(file_name: str) -> int:
    """The worst-case duration of the retries of a timed per-event machine, rounded up to a second."""
    template = DefinitionTemplate.load(file_name)
    seconds = {placeholder: spec.timeout_seconds for placeholder, spec in TIMED_MACHINES[file_name].items()}
    try:
        total = path_seconds(template.document, seconds)
    except UnboundedError as error:
        raise UnboundedError(f"{template.path.name}: {error}") from None
    return int(-(-total // 1))
