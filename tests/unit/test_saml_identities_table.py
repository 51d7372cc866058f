"""The SAML identity cache (functions/saml_identities.py) in both architectures: its keys, TTL, billing,
encryption and backups, its export, and which functions know its name."""

from __future__ import annotations

import pytest

from components.catalog import BUSINESS_FUNCTIONS, LIST_ORG_MEMBERS, LOOKUP_DIRECTORY
from components.shared import SAML_IDENTITIES_TTL_ATTRIBUTE
from functions import saml_identities
from tests.unit.program import ProgramRun, Resource, run_stacks

STACKS = {"sqs": "Pulumi.dev.yaml", "stepfunctions": "Pulumi.dev-sfn.yaml"}
TABLE = "aws:dynamodb/table:Table"
FUNCTION = "aws:lambda/function:Function"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ProgramRun]:
    return run_stacks(tmp_path_factory.mktemp("build"), STACKS)


@pytest.fixture(params=list(STACKS))
def run(request: pytest.FixtureRequest, runs: dict[str, ProgramRun]) -> ProgramRun:
    return runs[request.param]


def cache(run: ProgramRun) -> Resource:
    return run.one(TABLE, "saml-identities")


def test_the_cache_is_keyed_by_org_and_login_and_expires(run: ProgramRun) -> None:
    inputs = cache(run).inputs
    assert inputs["name"] == "github-automation-dev-saml-identities"
    assert (inputs["hashKey"], inputs["rangeKey"]) == ("org", "login")
    assert sorted((a["name"], a["type"]) for a in inputs["attributes"]) == [("login", "S"), ("org", "S")]
    assert inputs["billingMode"] == "PAY_PER_REQUEST"
    assert inputs["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    assert SAML_IDENTITIES_TTL_ATTRIBUTE == "expiresAt", "the attribute functions/saml_identities.py writes"
    assert inputs["serverSideEncryption"] == {"enabled": True}
    assert inputs["pointInTimeRecovery"] == {"enabled": True}


def test_the_functions_write_the_ttl_attribute_the_table_expires_by() -> None:
    item = saml_identities._key("Org", "Login") | {"expiresAt": {"N": "1"}}
    assert SAML_IDENTITIES_TTL_ATTRIBUTE in item and set(saml_identities._key("o", "l")) == {"org", "login"}


def test_the_cache_is_exported(run: ProgramRun) -> None:
    assert run.exports["samlIdentitiesTable"] == cache(run).outputs["name"]


def test_only_the_listing_and_the_lookup_know_the_cache(run: ProgramRun) -> None:
    name = cache(run).outputs["name"]
    knowing = {
        spec.key
        for spec in BUSINESS_FUNCTIONS
        if run.one(FUNCTION, spec.key).inputs["environment"]["variables"].get("SAML_IDENTITIES_TABLE") == name
    }
    assert knowing == {LIST_ORG_MEMBERS.key, LOOKUP_DIRECTORY.key}
    others = [r for r in run.of_type(FUNCTION) if r.name not in knowing]
    assert all("SAML_IDENTITIES_TABLE" not in r.inputs["environment"]["variables"] for r in others)
