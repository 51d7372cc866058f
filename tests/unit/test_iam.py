"""Least privilege in both example stacks: every IAM statement names actions without wildcards and
resources this stack created, except where AWS allows no narrower resource than "*"
(``components.iam.ACTIONS_WITHOUT_RESOURCE_SCOPE``) and the EventBridge rule Step Functions manages
for ``.sync`` integrations."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from components.iam import ACTIONS_WITHOUT_RESOURCE_SCOPE
from components.stepfunctions_pipeline import SYNC_EVENTS_RULE
from tests.unit.program import ProgramRun, run_stacks

EXAMPLE_STACKS = {
    "sqs": "Pulumi.dev.yaml",
    "stepfunctions": "Pulumi.dev-sfn.yaml",
    "stepfunctions-standard": "Pulumi.dev-sfn.yaml",
}
VARIANTS = {"stepfunctions-standard": {"workflowType": "STANDARD", "workflowTimeoutSeconds": "900"}}
#: Partial wildcards AWS documents for a purpose: SNS topics encrypted with a customer managed key need
#: the publisher to generate data keys (GenerateDataKey and its WithoutPlaintext form).
DOCUMENTED_PARTIAL_WILDCARDS = frozenset({"kms:GenerateDataKey*"})
#: AWS-managed resources a statement may name although this stack does not create them.
AWS_MANAGED_RESOURCES = (re.compile(rf"^arn:aws:events:[a-z0-9-]+:\d{{12}}:{re.escape(SYNC_EVENTS_RULE)}$"),)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProgramRun]:
    return run_stacks(tmp_path_factory.mktemp("build"), EXAMPLE_STACKS, VARIANTS)


@pytest.fixture(params=list(EXAMPLE_STACKS))
def run(request: pytest.FixtureRequest, runs: dict[str, ProgramRun]) -> ProgramRun:
    return runs[request.param]


def statements(run: ProgramRun) -> Iterator[tuple[str, dict[str, Any]]]:
    for policy, document in run.policies():
        assert document["Version"] == "2012-10-17", policy.name
        for statement in document["Statement"]:
            yield policy.name, statement


def owned_arns(run: ProgramRun) -> set[str]:
    return {r.outputs["arn"] for r in run.resources if "arn" in r.outputs}


def is_scoped(resource: str, owned: set[str]) -> bool:
    """This stack's resource, the items in it (``<arn>:*`` log streams, ``<table arn>/index/<name>``,
    ``<bucket arn>/<prefix>*`` objects), or the executions of one of its state machines (``execution:<machine>:*``,
    and a Distributed Map's child executions ``execution:<machine>/*``); or an AWS-managed resource that is
    documented as needed."""
    if resource in owned or (resource.endswith(":*") and resource[:-2] in owned):
        return True
    if (index := re.fullmatch(r"(arn:aws:dynamodb:.+:table/[^/]+)/index/[\w.-]+", resource)) and index.group(
        1
    ) in owned:
        return True
    objects = re.fullmatch(r"(arn:aws:s3:::[a-z0-9.-]+)/[A-Za-z0-9/_-]*\*", resource)
    if objects and objects.group(1) in owned:
        return True
    executions = re.fullmatch(r"(arn:aws:states:[^:]+:\d+):execution:([^:*/]+)(:\*|/\*)", resource)
    if executions and f"{executions.group(1)}:stateMachine:{executions.group(2)}" in owned:
        return True
    return any(pattern.match(resource) for pattern in AWS_MANAGED_RESOURCES)


def test_every_statement_allows_listed_actions_on_listed_resources(run: ProgramRun) -> None:
    for policy, statement in statements(run):
        assert statement["Effect"] == "Allow", policy
        assert not {"NotAction", "NotResource", "Principal"} & statement.keys(), policy
        assert isinstance(statement["Action"], list) and isinstance(statement["Resource"], list), policy
        assert statement["Action"] and statement["Resource"], policy


def test_no_wildcard_actions(run: ProgramRun) -> None:
    for policy, statement in statements(run):
        for action in statement["Action"]:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+\*?", action), f"{policy}: {action}"
            assert not action.endswith("*") or action in DOCUMENTED_PARTIAL_WILDCARDS, f"{policy}: {action}"


def test_star_resources_only_for_actions_aws_cannot_scope(run: ProgramRun) -> None:
    for policy, statement in statements(run):
        if "*" in statement["Resource"]:
            assert statement["Resource"] == ["*"], f"{policy}: do not mix '*' with scoped resources"
            unscoped = set(statement["Action"]) - ACTIONS_WITHOUT_RESOURCE_SCOPE
            assert not unscoped, f"{policy} allows {sorted(unscoped)} on '*'"


def test_every_other_resource_is_this_stacks_own(run: ProgramRun) -> None:
    owned = owned_arns(run)
    for policy, statement in statements(run):
        for resource in statement["Resource"]:
            if resource != "*":
                assert is_scoped(resource, owned), f"{policy} names {resource}, which this stack does not own"


def test_the_list_of_actions_without_resource_scope_is_exactly_what_is_used(runs: dict[str, ProgramRun]) -> None:
    used = {
        action
        for run in runs.values()
        for _, statement in statements(run)
        if statement["Resource"] == ["*"]
        for action in statement["Action"]
    }
    assert used == ACTIONS_WITHOUT_RESOURCE_SCOPE, "stale or missing entries in iam.ACTIONS_WITHOUT_RESOURCE_SCOPE"


def test_every_role_is_assumed_by_one_aws_service(run: ProgramRun) -> None:
    for role in run.of_type("aws:iam/role:Role"):
        (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole", role.name
        assert list(trust["Principal"]) == ["Service"], role.name
        assert trust["Principal"]["Service"] in ("lambda.amazonaws.com", "states.amazonaws.com"), role.name


def test_scope_check_rejects_what_it_should() -> None:
    owned = {"arn:aws:sqs:us-east-1:123456789012:mine", "arn:aws:states:us-east-1:123456789012:stateMachine:m"}
    assert is_scoped("arn:aws:states:us-east-1:123456789012:execution:m:*", owned)
    assert not is_scoped("arn:aws:states:us-east-1:123456789012:execution:other:*", owned)
    assert not is_scoped("arn:aws:sqs:us-east-1:123456789012:*", owned)
    assert not is_scoped("arn:aws:sqs:us-east-1:123456789012:theirs", owned)
    assert not is_scoped("arn:aws:events:us-east-1:123456789012:rule/*", owned)


#: Who runs StoreRequests (write plan, publish, notification marker), per example stack: policy name suffixes.
STORE_STEPS = {
    "sqs": ("store-records-policy",),
    "stepfunctions": ("onboarding-policy", "chargeback-policy"),
    "stepfunctions-standard": ("onboarding-policy", "chargeback-policy"),
}


@pytest.mark.parametrize("name", list(EXAMPLE_STACKS))
def test_only_the_store_steps_read_the_notification_marker_and_only_that(
    runs: dict[str, ProgramRun], name: str
) -> None:
    """Stored and notified are one unit: the store steps read the marker back (GetItem) and set it
    (UpdateItem) on the two tables; nothing else reads them but the chargeback report (its own test) and
    lookup-directory, which reads the SAML identity cache only
    (``test_the_saml_identity_cache_is_written_by_the_listing_and_read_by_the_lookup_only``)."""
    run = runs[name]
    cache = run.one("aws:dynamodb/table:Table", "saml-identities").outputs["arn"]
    tables = sorted(t.outputs["arn"] for t in run.of_type("aws:dynamodb/table:Table") if t.outputs["arn"] != cache)
    readers: dict[str, list[dict[str, Any]]] = {}
    for policy, statement in statements(run):
        if statement["Resource"] == [cache] or policy == "chargeback-report-policy":
            continue
        if any(
            action.startswith(("dynamodb:Get", "dynamodb:Query", "dynamodb:Scan")) for action in statement["Action"]
        ):
            readers.setdefault(policy, []).append(statement)
    assert len(readers) == len(STORE_STEPS[name]), sorted(readers)
    for policy, granted in readers.items():
        assert any(policy.endswith(suffix) for suffix in STORE_STEPS[name]), policy
        assert [(s["Action"], sorted(s["Resource"])) for s in granted] == [(["dynamodb:GetItem"], tables)], policy
        writes = [s for _, s in statements(run) if _ == policy and "dynamodb:UpdateItem" in s["Action"]]
        assert writes and sorted(writes[0]["Resource"]) == tables, policy


@pytest.mark.parametrize("name", list(EXAMPLE_STACKS))
def test_the_saml_identity_cache_is_written_by_the_listing_and_read_by_the_lookup_only(
    runs: dict[str, ProgramRun], name: str
) -> None:
    """list-org-members may BatchWriteItem the cache, lookup-directory GetItem it, and no one anything else."""
    run = runs[name]
    cache = run.one("aws:dynamodb/table:Table", "saml-identities").outputs["arn"]
    granted = sorted(
        (policy, statement["Action"], statement["Resource"])
        for policy, statement in statements(run)
        if any(resource.startswith(cache) for resource in statement["Resource"])
    )
    assert [(actions, resources) for _, actions, resources in granted] == [
        (["dynamodb:BatchWriteItem"], [cache]),
        (["dynamodb:GetItem"], [cache]),
    ], "each grant names the cache alone"
    assert granted[0][0].endswith("list-org-members-policy") and granted[1][0].endswith("lookup-directory-policy")


@pytest.mark.parametrize("name", ["sqs", "stepfunctions"])
def test_the_chargeback_report_may_only_query_the_runs_table_and_its_index(
    runs: dict[str, ProgramRun], name: str
) -> None:
    run = runs[name]
    (table,) = [t for t in run.of_type("aws:dynamodb/table:Table") if t.inputs["hashKey"] == "pk"]
    granted = [statement for policy, statement in statements(run) if policy == "chargeback-report-policy"]
    queries = [s for s in granted if any(action.startswith("dynamodb:") for action in s["Action"])]
    assert [(s["Action"], sorted(s["Resource"])) for s in queries] == [
        (["dynamodb:Query"], sorted([table.outputs["arn"], f"{table.outputs['arn']}/index/period-index"]))
    ]
    assert not any(action.startswith(("secretsmanager:", "sns:", "kms:")) for s in granted for action in s["Action"])
