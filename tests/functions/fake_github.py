"""The fake GitHub of the function tests: :mod:`sandbox.fake_github` served in-process through respx.

The behaviour (App JWT -> installation token, team membership, org members and run-attempt jobs with
``Link`` pagination, the GraphQL SAML lookup, faults) lives in ``sandbox/fake_github.py``, the same
code the sandbox serves on loopback. Here it is routed for ``API_URL`` through respx, and the
``github_app`` fixture (import it into the test module) stores the App secret in moto's Secrets
Manager, points the function environment at the fake and yields the :class:`FakeGitHub`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import boto3
import pytest
import respx
from moto import mock_aws

from sandbox import fake_github as core
from sandbox.fake_github import (  # noqa: F401  (re-exported for the tests)
    API_URL,
    PRIMARY_RESET_SECONDS,
    RETRY_AFTER_SECONDS,
    Fault,
    fixture_payload,
    make_job,
    make_user,
    verify_app_jwt,
)

APP_ID = 123456
INSTALLATION_ID = 2311213  # the id in the installation/created fixture


@cache
def app_key() -> core.AppKey:
    """One real 2048-bit RSA key per test session (generating one takes a moment)."""
    return core.AppKey.generate()


def app_private_key_pem() -> str:
    return app_key().private_key_pem


@dataclass
class FakeGitHub(core.FakeGitHub):
    router: respx.MockRouter | None = None  # the respx router, to add other hosts (an HTTP directory)


@pytest.fixture
def github_app(function_env: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """The fake GitHub, with the App secret in (moto) Secrets Manager and the function env pointing at both."""
    from functions.common.github import _client_for

    fake = FakeGitHub(public_key=app_key().public_key, app_id=APP_ID, installation_id=INSTALLATION_ID)
    with mock_aws():
        secret = boto3.client("secretsmanager").create_secret(
            Name="github-app",
            SecretString=json.dumps(
                {"appId": fake.app_id, "installationId": fake.installation_id, "privateKey": app_private_key_pem()}
            ),
        )
        function_env.setenv("GITHUB_APP_SECRET_ARN", secret["ARN"])
        function_env.setenv("GITHUB_API_URL", API_URL)
        _client_for.cache_clear()
        with respx.mock(assert_all_called=False) as router:
            router.route(url__startswith=API_URL).mock(side_effect=core.httpx_handler(fake))
            fake.router = router
            yield fake
        _client_for.cache_clear()
