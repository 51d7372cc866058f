"""Stack configuration: Pulumi.yaml and StackConfig agree, the example stacks validate, and every bad value
stops the program with one line naming the key, the value and what is allowed (secrets never printed)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from components.config import PROJECT, SECRET_KEYS, ConfigError, StackConfig, load_config, parse_config
from tests.unit.program import ROOT, TEST_SECRETS, prepare_layer, run_program, stack_config

EXAMPLE_STACKS = {"sqs": "Pulumi.dev.yaml", "stepfunctions": "Pulumi.dev-sfn.yaml"}
PROJECT_CONFIG: dict[str, dict[str, Any]] = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
PULUMI_TYPES = {int: "integer", str: "string"}
FIELDS_BY_KEY = {field.alias or name: field for name, field in StackConfig.model_fields.items()}


def _invalid(key: str, value: str, allowed: str) -> Any:
    return pytest.param(
        stack_config("Pulumi.dev.yaml") | {key: value}, key, repr(value), allowed, id=f"{key}={value!r}"
    )


def _without(key: str, allowed: str) -> Any:
    config = {k: v for k, v in stack_config("Pulumi.dev.yaml").items() if k != key}
    return pytest.param(config, key, None, f"required: {allowed}", id=f"{key} missing")


INVALID = [
    _invalid("architecture", "lambda", "one of 'sqs', 'stepfunctions'"),
    _invalid("teamRole", "owner", "one of 'member', 'maintainer'"),
    _invalid("directory", "http://directory.example.com", "'github-saml' or an https:// URL"),
    _invalid("directory", "ldap", "'github-saml' or an https:// URL"),
    _invalid("githubApiUrl", "http://api.github.com", "an https:// URL of the GitHub REST API"),
    _invalid("githubApiVersion", "v3", "a GitHub REST API version date YYYY-MM-DD"),
    _invalid("githubApiVersion", "2022-13-28", "a GitHub REST API version date YYYY-MM-DD"),
    _invalid("githubAppId", "my-app", "the numeric id of the GitHub App"),
    _invalid("githubAppId", "0", "the numeric id of the GitHub App"),
    _invalid("githubAppInstallationId", "-1", "the numeric id of the App's installation"),
    _invalid("githubOrg", "-my-org", "a GitHub organization login"),
    _invalid("onboardingTeam", "new hires", "the slug of a team of githubOrg"),
    _invalid("backfillMaxConcurrency", "0", "an integer from 1 to 40"),
    _invalid("backfillMaxConcurrency", "41", "an integer from 1 to 40"),
    _invalid("backfillMaxConcurrency", "x", "an integer from 1 to 40"),
    _invalid("backfillPageConcurrency", "0", "an integer from 1 to 40"),
    _invalid("backfillPageConcurrency", "41", "an integer from 1 to 40"),
    _invalid("backfillToleratedFailurePercentage", "-1", "an integer from 0 to 100"),
    _invalid("backfillToleratedFailurePercentage", "101", "an integer from 0 to 100"),
    _invalid("backfillToleratedFailurePercentage", "5%", "an integer from 0 to 100"),
    _invalid("workflowType", "express", "one of 'STANDARD', 'EXPRESS'"),
    _invalid("workflowTimeoutSeconds", "59", "an integer from 60 to 300 for EXPRESS"),
    _invalid("githubRateLimitReserve", "-1", "an integer from 0 to 1000 (requests)"),
    _invalid("githubRateLimitReserve", "1001", "an integer from 0 to 1000 (requests)"),
    _invalid("githubRateLimitReserve", "a few", "an integer from 0 to 1000 (requests)"),
    _invalid("rateLimitMaxWaitSeconds", "-1", "an integer from 0 to 43200 (seconds)"),
    _invalid("rateLimitMaxWaitSeconds", "43201", "an integer from 0 to 43200 (seconds)"),
    _invalid("rateLimitMaxWaitSeconds", "an hour", "an integer from 0 to 43200 (seconds)"),
    _invalid("lambdaArchitecture", "x86", "one of 'arm64', 'x86_64'"),
    _invalid("stateMachineLogLevel", "DEBUG", "one of 'ALL', 'ERROR', 'FATAL', 'OFF'"),
    _invalid("xrayTracing", "on", "one of 'PassThrough', 'Active'"),
    _invalid("logRetentionDays", "31", "one of 1, 3, 5, 7, 14, 30, 60, 90"),
    _invalid("notificationEmail", "platform-team", "an email address, or '' for none"),
    _invalid("customDomain", "Hooks Example", "a DNS name such as 'hooks.example.com'"),
    _invalid("customDomainZoneId", "my-zone", "the Route 53 hosted zone id"),
    _invalid("maxReceiveCount", "0", "an integer from 1 to 1000"),
    _invalid("sqsBatchSize", "101", "an integer from 1 to 100"),
    _invalid("sqsBatchWindowSeconds", "301", "an integer from 0 to 300"),
    _invalid("selfHostedUsdPerMinute", "-0.002", "a decimal USD rate per minute >= 0"),
    _invalid("selfHostedUsdPerMinute", "free", "a decimal USD rate per minute >= 0"),
    _invalid("selfHostedUsdPerMinute", "NaN", "a decimal USD rate per minute >= 0"),
    _invalid("apiThrottlingRateLimit", "0", "an integer from 1 to 10000"),
    _invalid("apiThrottlingBurstLimit", "5001", "an integer from 1 to 5000"),
    _invalid("githubOrgs", "my-org", "not a key of this project"),
    _without("githubOrg", "a GitHub organization login"),
    _without("onboardingTeam", "the slug of a team of githubOrg"),
    _without("githubAppId", "the numeric id of the GitHub App"),
    # Combinations, checked after each value on its own: the error names the key to change.
    pytest.param(
        stack_config("Pulumi.dev-sfn.yaml") | {"workflowTimeoutSeconds": "301"},
        "workflowTimeoutSeconds",
        "301",
        "at most 300 with workflowType EXPRESS",
        id="workflowTimeoutSeconds over 300 with EXPRESS",
    ),
    pytest.param(
        stack_config("Pulumi.dev.yaml") | {"customDomain": "hooks.example.com"},
        "customDomainZoneId",
        "''",
        "customDomain and customDomainZoneId are set together",
        id="customDomain without zone",
    ),
    pytest.param(
        stack_config("Pulumi.dev.yaml") | {"customDomainZoneId": "Z0123456789ABC"},
        "customDomain",
        "''",
        "customDomain and customDomainZoneId are set together",
        id="zone without customDomain",
    ),
]


def _value_type(annotation: Any) -> type:
    """``int``, ``str``, or the type of a ``Literal``'s values."""
    if typing.get_origin(annotation) is typing.Literal:
        (value_type,) = {type(value) for value in typing.get_args(annotation)}
        return value_type
    return annotation


def _config_error(config: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        parse_config(config)
    return raised.value


# --- Pulumi.yaml and StackConfig ----------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(PROJECT_CONFIG))
def test_every_project_key_has_a_description_and_a_default(key: str) -> None:
    declared = PROJECT_CONFIG[key]
    assert isinstance(declared.get("description"), str) and declared["description"].strip(), key
    assert "default" in declared, key


def test_project_keys_are_the_model_keys_and_the_secret_keys() -> None:
    assert set(PROJECT_CONFIG) == set(FIELDS_BY_KEY) | set(SECRET_KEYS)
    assert not set(FIELDS_BY_KEY) & set(SECRET_KEYS)


@pytest.mark.parametrize("key", sorted(FIELDS_BY_KEY))
def test_project_default_and_type_match_the_model(key: str) -> None:
    declared, field = PROJECT_CONFIG[key], FIELDS_BY_KEY[key]
    assert declared["default"] == field.default
    assert declared["type"] == PULUMI_TYPES[_value_type(field.annotation)]


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_secret_keys_default_to_unset(key: str) -> None:
    assert PROJECT_CONFIG[key]["default"] == ""
    assert PROJECT_CONFIG[key]["type"] == "string"


@pytest.mark.parametrize(("architecture", "stack_file"), EXAMPLE_STACKS.items())
def test_example_stacks_validate(architecture: str, stack_file: str) -> None:
    config = parse_config(stack_config(stack_file))
    assert config.architecture == architecture
    assert not set(stack_config(stack_file)) & set(SECRET_KEYS), "secrets belong in encrypted stack config"


# --- One line per bad value ---------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "key", "shown", "allowed"), INVALID)
def test_bad_value_is_one_line_naming_key_value_and_allowed(
    config: dict[str, str], key: str, shown: str | None, allowed: str
) -> None:
    message = str(_config_error(config))
    assert "\n" not in message
    assert message.startswith(f"invalid stack config github-automation:{key} = ")
    if shown is not None:
        assert f" = {shown}: " in message
    assert allowed in message.split(": ", 1)[1]


def test_a_python_field_name_is_not_a_config_key() -> None:
    message = str(_config_error(stack_config("Pulumi.dev.yaml") | {"api_throttling_rate_limit": "7"}))
    assert "api_throttling_rate_limit" in message and "not a key of this project" in message


# --- Through the program: pulumi.RunError with the same line ------------------------------------------


@pytest.fixture
def layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_AUTOMATION_BUILD_DIR", str(tmp_path))
    prepare_layer(tmp_path, "arm64")


def _run_error(config: dict[str, str], **kwargs: Any) -> str:
    with pytest.raises(pulumi.RunError) as raised:
        run_program(config, **kwargs)
    return str(raised.value)


@pytest.mark.parametrize(("config", "key", "shown", "allowed"), INVALID)
@pytest.mark.usefixtures("layer")
def test_bad_value_fails_the_program_with_that_line(
    config: dict[str, str], key: str, shown: str | None, allowed: str
) -> None:
    assert _run_error(config) == str(_config_error(config))


@pytest.mark.usefixtures("layer")
def test_plain_text_secrets_fail_the_program_without_printing_them() -> None:
    message = _run_error(stack_config("Pulumi.dev.yaml"), plain_secrets=True)
    assert "\n" not in message
    assert message.startswith(
        f"invalid stack config github-automation:{next(iter(SECRET_KEYS))} = <secret>: must be stored encrypted"
    )
    assert not [value for value in TEST_SECRETS.values() if value.strip() in message]


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
def test_each_secret_must_be_encrypted(key: str) -> None:
    values = {f"{PROJECT}:{k}": v for k, v in {**stack_config("Pulumi.dev.yaml"), **TEST_SECRETS}.items()}
    pulumi.runtime.set_all_config(values, [f"{PROJECT}:{k}" for k in SECRET_KEYS if k != key])
    with pytest.raises(pulumi.RunError) as raised:
        load_config()
    message = str(raised.value)
    assert message == (f"invalid stack config {PROJECT}:{key} = <secret>: must be stored encrypted: {SECRET_KEYS[key]}")
    assert TEST_SECRETS[key].strip() not in message


@pytest.mark.parametrize("key", sorted(SECRET_KEYS))
@pytest.mark.usefixtures("layer")
def test_missing_secret_fails_the_program(key: str) -> None:
    message = _run_error(stack_config("Pulumi.dev.yaml"), secrets={k: v for k, v in TEST_SECRETS.items() if k != key})
    assert message == f"invalid stack config {PROJECT}:{key} = <secret>: required: {SECRET_KEYS[key]}"


@pytest.mark.usefixtures("layer")
def test_private_key_must_be_pem_and_is_not_printed() -> None:
    not_a_key = "ghp_not-a-pem-key"
    message = _run_error(stack_config("Pulumi.dev.yaml"), secrets={**TEST_SECRETS, "githubAppPrivateKey": not_a_key})
    assert message.startswith(f"invalid stack config {PROJECT}:githubAppPrivateKey = <secret>: a PEM private key")
    assert not_a_key not in message


@pytest.mark.parametrize("key", ["githubApiUrl", "directory"])
@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:9000/directory"])
def test_plain_http_is_accepted_only_on_loopback_for_the_sandbox(key: str, url: str) -> None:
    base = stack_config("Pulumi.dev.yaml")
    assert getattr(parse_config(base | {key: url}), "github_api_url" if key == "githubApiUrl" else "directory") == url
    with pytest.raises(ConfigError, match=key):
        parse_config(base | {key: url.replace("127.0.0.1", "10.0.0.1").replace("localhost", "localhost.example.com")})
