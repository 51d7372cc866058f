"""Where each function's work goes, per architecture: environment variables only.

The functions are the same code in both architectures; what differs is the target of the receiver
(a queue or a state machine per event) and, in the sqs architecture, the queue each step forwards its
result to. Names are fixed here and the pipeline components create resources with exactly these
names, so the addresses are known before the resources exist.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components.catalog import (
    ADD_TEAM_MEMBER,
    LIST_ORG_MEMBERS,
    LOOKUP_DIRECTORY,
    PRICE_WORKFLOW_RUN,
    RECEIVER,
    STORE_RECORDS,
    FunctionSpec,
)
from components.config import StackConfig
from components.naming import AwsIdentity, Naming

Environment = Mapping[str, pulumi.Input[str]]

#: sqs: each consumer forwards its result to the queue in front of the next step (None: last step).
NEXT_STEP: dict[str, FunctionSpec | None] = {
    ADD_TEAM_MEMBER.key: LOOKUP_DIRECTORY,
    LOOKUP_DIRECTORY.key: STORE_RECORDS,
    PRICE_WORKFLOW_RUN.key: STORE_RECORDS,
    LIST_ORG_MEMBERS.key: ADD_TEAM_MEMBER,
    STORE_RECORDS.key: None,
}
#: The first step of each use case: what the receiver dispatches to.
ENTRY_STEP = {"ONBOARDING": ADD_TEAM_MEMBER, "CHARGEBACK": PRICE_WORKFLOW_RUN, "BACKFILL": LIST_ORG_MEMBERS}
#: stepfunctions: one state machine per use case.
STATE_MACHINES = {"ONBOARDING": "onboarding", "CHARGEBACK": "chargeback", "BACKFILL": "backfill"}


def queue_name(naming: Naming, spec: FunctionSpec) -> str:
    return naming(spec.key)


def dead_letter_queue_name(naming: Naming, spec: FunctionSpec) -> str:
    return naming(spec.key, "dlq")


def state_machine_name(naming: Naming, use_case: str) -> str:
    return naming(STATE_MACHINES[use_case])


def routing_environment(config: StackConfig, naming: Naming, identity: AwsIdentity) -> dict[str, Environment]:
    """Per function key, the environment variables that say where its work goes."""
    if config.architecture == "stepfunctions":
        return {
            RECEIVER.key: {
                f"{use_case}_TARGET": identity.state_machine_arn(state_machine_name(naming, use_case))
                for use_case in ENTRY_STEP
            }
        }
    routes: dict[str, Environment] = {
        RECEIVER.key: {
            f"{use_case}_TARGET": identity.queue_url(queue_name(naming, spec)) for use_case, spec in ENTRY_STEP.items()
        }
    }
    for key, next_step in NEXT_STEP.items():
        env: dict[str, pulumi.Input[str]] = {
            "MAX_RECEIVE_COUNT": str(config.max_receive_count),
            "RATE_LIMIT_MAX_WAIT_SECONDS": str(config.rate_limit_max_wait_seconds),
        }
        if next_step is not None:
            env["NEXT_QUEUE_URL"] = identity.queue_url(queue_name(naming, next_step))
        routes[key] = env
    return routes
