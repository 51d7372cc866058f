"""Function settings, read once from the environment the Pulumi program sets.

Every value that is not a secret arrives as an environment variable; secrets arrive as the ARN of an
AWS Secrets Manager secret and are fetched (and cached) at run time, never put in the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.common.environment import MissingSetting

Architecture = Literal["sqs", "stepfunctions"]
__all__ = ["Architecture", "MissingSetting", "Settings", "settings"]
#: The REST API version github.com uses without the header and every supported GitHub Enterprise Server
#: release knows (githubkit would send its own newest, which GHES releases answer with a 400).
DEFAULT_GITHUB_API_VERSION = "2022-11-28"
#: Requests of the primary quota the pacing leaves to requests in flight elsewhere: GitHub allows 100 at once.
DEFAULT_GITHUB_RATE_LIMIT_RESERVE = 100


class Settings(BaseModel):
    """The environment of a function. Each function uses the subset it needs (see :meth:`need`)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    architecture: Architecture = Field("sqs", validation_alias="ARCHITECTURE")
    github_org: str | None = Field(None, validation_alias="GITHUB_ORG")
    onboarding_team: str | None = Field(None, validation_alias="ONBOARDING_TEAM")
    team_role: Literal["member", "maintainer"] = Field("member", validation_alias="TEAM_ROLE")
    directory: str = Field("github-saml", validation_alias="DIRECTORY")
    github_api_url: str = Field("https://api.github.com", validation_alias="GITHUB_API_URL")
    github_api_version: str = Field(DEFAULT_GITHUB_API_VERSION, validation_alias="GITHUB_API_VERSION")
    # The pacing's reserve (functions.common.github_pacing); stack config githubRateLimitReserve.
    github_rate_limit_reserve: int = Field(
        DEFAULT_GITHUB_RATE_LIMIT_RESERVE, ge=0, validation_alias="GITHUB_RATE_LIMIT_RESERVE"
    )
    github_app_secret_arn: str | None = Field(None, validation_alias="GITHUB_APP_SECRET_ARN")
    webhook_secret_arn: str | None = Field(None, validation_alias="WEBHOOK_SECRET_ARN")
    members_table: str | None = Field(None, validation_alias="MEMBERS_TABLE")
    workflow_runs_table: str | None = Field(None, validation_alias="WORKFLOW_RUNS_TABLE")
    # The org's SAML identities, cached by a backfill's listing for its lookups (functions/saml_identities.py).
    saml_identities_table: str | None = Field(None, validation_alias="SAML_IDENTITIES_TABLE")
    notification_topic_arn: str | None = Field(None, validation_alias="NOTIFICATION_TOPIC_ARN")
    # sqs architecture: where a step sends its result, and when a failing record is on its last try.
    next_queue_url: str | None = Field(None, validation_alias="NEXT_QUEUE_URL")
    max_receive_count: int = Field(5, validation_alias="MAX_RECEIVE_COUNT")
    # sqs architecture: seconds a record may wait in all for GitHub's rate limits (functions.common.rate_limits).
    rate_limit_max_wait_seconds: int = Field(3600, validation_alias="RATE_LIMIT_MAX_WAIT_SECONDS")
    # receiver: one target per handled event, a queue URL (sqs) or a state machine ARN (stepfunctions).
    onboarding_target: str | None = Field(None, validation_alias="ONBOARDING_TARGET")
    chargeback_target: str | None = Field(None, validation_alias="CHARGEBACK_TARGET")
    backfill_target: str | None = Field(None, validation_alias="BACKFILL_TARGET")
    max_webhook_bytes: int = Field(1024 * 1024, validation_alias="MAX_WEBHOOK_BYTES")
    self_hosted_usd_per_minute: str = Field("0", validation_alias="SELF_HOSTED_USD_PER_MINUTE")

    def need(self, name: str) -> str:
        """Return a setting that this function cannot work without, or say which variable is missing."""
        value = getattr(self, name)
        if value is None or value == "":
            alias = type(self).model_fields[name].validation_alias
            raise MissingSetting(f"environment variable {alias} is not set")
        return str(value)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings of this process (Lambda environments do not change while it is warm)."""
    return Settings.model_validate(dict(os.environ))
