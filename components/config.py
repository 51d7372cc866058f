"""The stack configuration, read once into one validated, typed model.

Every key is declared in ``Pulumi.yaml`` with the same default as here (a unit test keeps the two in
step). A wrong value stops ``pulumi preview`` with one line naming the key, the value and what is
allowed; secret values are never printed.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import pulumi
from pulumi.runtime.config import CONFIG, get_config_env
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components.retry_budget import TIMED_MACHINES, budget_seconds
from functions.common.settings import DEFAULT_GITHUB_API_VERSION, DEFAULT_GITHUB_RATE_LIMIT_RESERVE

PROJECT = "github-automation"

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
EXPRESS_MAX_SECONDS = 300  # an Express execution runs 5 minutes at most
STANDARD_MAX_SECONDS = 365 * 24 * 3600  # a Standard execution runs a year at most
#: rateLimitMaxWaitSeconds at most 12 hours: a GitHub primary limit resets within the hour.
RATE_LIMIT_MAX_WAIT_LIMIT = 12 * 3600
#: githubRateLimitReserve at most 1,000 requests: a fifth of the smallest primary quota (5,000 an hour).
GITHUB_RATE_LIMIT_RESERVE_LIMIT = 1000
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_SLUG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
_ORG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# https everywhere; plain http only on loopback, for the local sandbox's fake GitHub and directory.
_SERVICE_URL = re.compile(r"^(https://[^\s/]+|http://(127\.0\.0\.1|localhost)(:\d{1,5})?)(/\S*)?$")


class ConfigError(ValueError):
    """One bad stack config value: the key, the value as given, and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        shown = "<secret>" if key in SECRET_KEYS else repr(value)
        super().__init__(f"invalid stack config {PROJECT}:{key} = {shown}: {allowed}")
        self.key = key


def _allowed(text: str) -> dict[str, Any]:
    return {"allowed": text}


class StackConfig(BaseModel):
    """Plain (non-secret) stack configuration. Field aliases are the Pulumi config keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    architecture: Literal["sqs", "stepfunctions"] = Field(
        "sqs", alias="architecture", json_schema_extra=_allowed("one of 'sqs', 'stepfunctions'")
    )
    github_org: str = Field(
        "", alias="githubOrg", json_schema_extra=_allowed("a GitHub organization login, e.g. 'my-org'")
    )
    onboarding_team: str = Field(
        "", alias="onboardingTeam", json_schema_extra=_allowed("the slug of a team of githubOrg, e.g. 'engineering'")
    )
    team_role: Literal["member", "maintainer"] = Field(
        "member", alias="teamRole", json_schema_extra=_allowed("one of 'member', 'maintainer'")
    )
    directory: str = Field(
        "github-saml",
        alias="directory",
        json_schema_extra=_allowed(
            "'github-saml' or an https:// URL of the company directory "
            "(http:// only on 127.0.0.1 or localhost, for the local sandbox)"
        ),
    )
    github_api_url: str = Field(
        "https://api.github.com",
        alias="githubApiUrl",
        json_schema_extra=_allowed(
            "an https:// URL of the GitHub REST API (GitHub Enterprise: https://HOST/api/v3; "
            "http:// only on 127.0.0.1 or localhost, for the local sandbox)"
        ),
    )
    github_api_version: str = Field(
        DEFAULT_GITHUB_API_VERSION,
        alias="githubApiVersion",
        json_schema_extra=_allowed(
            "a GitHub REST API version date YYYY-MM-DD that githubApiUrl knows, e.g. '2022-11-28' "
            "(github.com and every supported GitHub Enterprise Server release)"
        ),
    )
    github_app_id: int = Field(
        0, alias="githubAppId", gt=0, json_schema_extra=_allowed("the numeric id of the GitHub App, e.g. 123456")
    )
    github_app_installation_id: int = Field(
        0,
        alias="githubAppInstallationId",
        gt=0,
        json_schema_extra=_allowed("the numeric id of the App's installation on githubOrg, e.g. 45678901"),
    )
    notification_email: str = Field(
        "", alias="notificationEmail", json_schema_extra=_allowed("an email address, or '' for none")
    )
    backfill_max_concurrency: int = Field(
        10, alias="backfillMaxConcurrency", ge=1, le=40, json_schema_extra=_allowed("an integer from 1 to 40")
    )
    backfill_page_concurrency: int = Field(
        1,
        alias="backfillPageConcurrency",
        ge=1,
        le=40,
        json_schema_extra=_allowed("an integer from 1 to 40"),
    )
    backfill_tolerated_failure_percentage: int = Field(
        0,
        alias="backfillToleratedFailurePercentage",
        ge=0,
        le=100,
        json_schema_extra=_allowed("an integer from 0 to 100"),
    )
    workflow_type: Literal["STANDARD", "EXPRESS"] = Field(
        "STANDARD", alias="workflowType", json_schema_extra=_allowed("one of 'STANDARD', 'EXPRESS'")
    )
    workflow_timeout_seconds: int = Field(
        300,
        alias="workflowTimeoutSeconds",
        ge=60,
        json_schema_extra=_allowed(
            f"an integer from 60 to {EXPRESS_MAX_SECONDS} for EXPRESS (or {STANDARD_MAX_SECONDS} for STANDARD)"
        ),
    )
    rate_limit_max_wait_seconds: int = Field(
        3600,
        alias="rateLimitMaxWaitSeconds",
        ge=0,
        le=RATE_LIMIT_MAX_WAIT_LIMIT,
        json_schema_extra=_allowed(f"an integer from 0 to {RATE_LIMIT_MAX_WAIT_LIMIT} (seconds)"),
    )
    github_rate_limit_reserve: int = Field(
        DEFAULT_GITHUB_RATE_LIMIT_RESERVE,
        alias="githubRateLimitReserve",
        ge=0,
        le=GITHUB_RATE_LIMIT_RESERVE_LIMIT,
        json_schema_extra=_allowed(f"an integer from 0 to {GITHUB_RATE_LIMIT_RESERVE_LIMIT} (requests)"),
    )
    state_machine_log_level: Literal["ALL", "ERROR", "FATAL", "OFF"] = Field(
        "ERROR",
        alias="stateMachineLogLevel",
        json_schema_extra=_allowed("one of 'ALL', 'ERROR', 'FATAL', 'OFF'"),
    )
    xray_tracing: Literal["PassThrough", "Active"] = Field(
        "PassThrough",
        alias="xrayTracing",
        json_schema_extra=_allowed("one of 'PassThrough', 'Active'"),
    )
    lambda_architecture: Literal["arm64", "x86_64"] = Field(
        "arm64", alias="lambdaArchitecture", json_schema_extra=_allowed("one of 'arm64', 'x86_64'")
    )
    log_retention_days: int = Field(
        30, alias="logRetentionDays", json_schema_extra=_allowed("one of " + ", ".join(map(str, LOG_RETENTION_DAYS)))
    )
    custom_domain: str = Field(
        "", alias="customDomain", json_schema_extra=_allowed("a DNS name such as 'hooks.example.com', or ''")
    )
    custom_domain_zone_id: str = Field(
        "",
        alias="customDomainZoneId",
        json_schema_extra=_allowed("the Route 53 hosted zone id (Z...) that holds customDomain, or ''"),
    )
    max_receive_count: int = Field(
        5, alias="maxReceiveCount", ge=1, le=1000, json_schema_extra=_allowed("an integer from 1 to 1000")
    )
    sqs_batch_size: int = Field(
        10, alias="sqsBatchSize", ge=1, le=100, json_schema_extra=_allowed("an integer from 1 to 100")
    )
    sqs_batch_window_seconds: int = Field(
        0, alias="sqsBatchWindowSeconds", ge=0, le=300, json_schema_extra=_allowed("an integer from 0 to 300")
    )
    self_hosted_usd_per_minute: str = Field(
        "0",
        alias="selfHostedUsdPerMinute",
        json_schema_extra=_allowed("a decimal USD rate per minute >= 0, e.g. '0' or '0.002'"),
    )
    api_throttling_rate_limit: int = Field(
        50, alias="apiThrottlingRateLimit", ge=1, le=10000, json_schema_extra=_allowed("an integer from 1 to 10000")
    )
    api_throttling_burst_limit: int = Field(
        100, alias="apiThrottlingBurstLimit", ge=1, le=5000, json_schema_extra=_allowed("an integer from 1 to 5000")
    )

    @field_validator("github_org")
    @classmethod
    def _org(cls, value: str) -> str:
        if not _ORG.match(value):
            raise ValueError(value)
        return value

    @field_validator("onboarding_team")
    @classmethod
    def _team(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(value)
        return value

    @field_validator("directory")
    @classmethod
    def _directory(cls, value: str) -> str:
        if value != "github-saml" and not _SERVICE_URL.match(value):
            raise ValueError(value)
        return value.rstrip("/")

    @field_validator("github_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not _SERVICE_URL.match(value):
            raise ValueError(value)
        return value.rstrip("/")

    @field_validator("github_api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not _API_VERSION.match(value):
            raise ValueError(value)
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(value) from None
        return value

    @field_validator("notification_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and not _EMAIL.match(value):
            raise ValueError(value)
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(value)
        return value

    @field_validator("custom_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if value and not _HOSTNAME.match(value):
            raise ValueError(value)
        return value

    @field_validator("custom_domain_zone_id")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value and not _ZONE_ID.match(value):
            raise ValueError(value)
        return value

    @field_validator("self_hosted_usd_per_minute")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            rate = Decimal(value)
        except InvalidOperation:
            raise ValueError(value) from None
        if not rate.is_finite() or rate < 0:
            raise ValueError(value)
        return value

    @model_validator(mode="after")
    def _combinations(self) -> StackConfig:
        limit = EXPRESS_MAX_SECONDS if self.workflow_type == "EXPRESS" else STANDARD_MAX_SECONDS
        if self.workflow_timeout_seconds > limit:
            raise ConfigError(
                "workflowTimeoutSeconds",
                self.workflow_timeout_seconds,
                f"at most {limit} with workflowType {self.workflow_type} (Express executions run 5 minutes at most)",
            )
        if self.architecture == "stepfunctions":
            self._check_retry_budget(limit)
        if self.sqs_batch_size > 10 and self.sqs_batch_window_seconds < 1:
            raise ConfigError(
                "sqsBatchWindowSeconds",
                self.sqs_batch_window_seconds,
                f"at least 1 when sqsBatchSize ({self.sqs_batch_size}) is above 10 (an AWS rule)",
            )
        if bool(self.custom_domain) != bool(self.custom_domain_zone_id):
            key = "customDomainZoneId" if self.custom_domain else "customDomain"
            value = self.custom_domain_zone_id if self.custom_domain else self.custom_domain
            raise ConfigError(key, value, "customDomain and customDomainZoneId are set together or not at all")
        return self

    def _check_retry_budget(self, limit: int) -> None:
        """An execution that times out mid-retry reaches no Catch and sends no failure notification."""
        budgets = {name: budget_seconds(name) for name in TIMED_MACHINES}
        machine, minimum = max(budgets.items(), key=lambda item: item[1])
        why = f"the worst case of the retries of {machine} (components/retry_budget.py)"
        if minimum > limit:
            raise ConfigError(
                "workflowTimeoutSeconds",
                self.workflow_timeout_seconds,
                f"at least {minimum}, {why}, which is more than a workflowType {self.workflow_type} execution "
                f"may run ({limit}): use workflowType STANDARD",
            )
        if self.workflow_timeout_seconds < minimum:
            raise ConfigError(
                "workflowTimeoutSeconds",
                self.workflow_timeout_seconds,
                f"at least {minimum}, {why}, or an execution times out mid-retry without a failure notification",
            )


SECRET_KEYS: dict[str, str] = {
    "githubAppPrivateKey": (
        "the GitHub App's PEM private key, set with `pulumi config set --secret githubAppPrivateKey < key.pem`"
    ),
    "webhookSecret": "the GitHub App's webhook secret, set with `pulumi config set --secret webhookSecret`",
}


class StackSecrets(BaseModel):
    """Secret stack configuration, kept as Pulumi secret Outputs."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    github_app_private_key: pulumi.Output[str]
    webhook_secret: pulumi.Output[str]


def parse_config(raw: dict[str, Any]) -> StackConfig:
    """Validate plain config values (Pulumi passes every value as a string), or raise one ConfigError."""
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "extra_forbidden":
            key = str(first["loc"][0])
            raise ConfigError(key, raw.get(key), "not a key of this project (see Pulumi.yaml)") from None
        if isinstance(first.get("ctx", {}).get("error"), ConfigError):
            raise first["ctx"]["error"] from None
        loc = str(first["loc"][0]) if first["loc"] else ""
        name, field = next(((n, f) for n, f in StackConfig.model_fields.items() if loc in (n, f.alias)), (loc, None))
        key = field.alias if field and field.alias else name
        extra = field.json_schema_extra if field and isinstance(field.json_schema_extra, dict) else {}
        allowed = extra.get("allowed", first["msg"])
        if key not in raw:
            allowed = f"required: {allowed}"
        raise ConfigError(key, raw.get(key, first.get("input")), str(allowed)) from None


def check_secret(key: str, value: str | None, is_secret: bool) -> None:
    """A secret key must be set, set as a secret, and (for the private key) look like a PEM key."""
    if not value:
        raise ConfigError(key, value or "", f"required: {SECRET_KEYS[key]}")
    if not is_secret:
        raise ConfigError(key, value, f"must be stored encrypted: {SECRET_KEYS[key]}")
    if key == "githubAppPrivateKey" and "PRIVATE KEY-----" not in value:
        raise ConfigError(key, value, f"a PEM private key: {SECRET_KEYS[key]}")


def load_config() -> tuple[StackConfig, StackSecrets]:
    """Read and validate this stack's configuration; a bad value stops the program with one line."""
    prefix = f"{PROJECT}:"
    aliases = {field.alias for field in StackConfig.model_fields.values() if field.alias}
    keys = {*aliases, *_given_keys(prefix)} - set(SECRET_KEYS)
    raw = {key: value for key in keys if (value := pulumi.runtime.get_config(prefix + key)) is not None}
    try:
        config = parse_config(raw)
        for key in SECRET_KEYS:
            check_secret(key, pulumi.runtime.get_config(prefix + key), pulumi.runtime.is_config_secret(prefix + key))
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    stack_config = pulumi.Config()
    secrets = StackSecrets(
        github_app_private_key=stack_config.require_secret("githubAppPrivateKey"),
        webhook_secret=stack_config.require_secret("webhookSecret"),
    )
    return config, secrets


def _given_keys(prefix: str) -> set[str]:
    """The project keys the stack sets, so that an unknown (e.g. misspelt) key is reported, not ignored."""
    given = {*get_config_env(), *CONFIG.get()}
    return {key[len(prefix) :] for key in given if key.startswith(prefix)}
