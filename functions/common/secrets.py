"""Secrets from AWS Secrets Manager, fetched on first use and cached while the function is warm.

The Pulumi program stores them (``githubAppPrivateKey``, ``webhookSecret`` are Pulumi secrets) and
passes only their ARNs, so no secret value sits in an environment variable or a log line.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from functions.common.secret_cache import SECRET_CACHE_SECONDS
from functions.common.settings import settings


class GitHubAppCredentials(BaseModel):
    """The GitHub App identity, stored as one JSON secret."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)

    app_id: int
    installation_id: int
    private_key: str

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"GitHubAppCredentials(app_id={self.app_id}, installation_id={self.installation_id})"

    __str__ = __repr__


def github_app_credentials() -> GitHubAppCredentials:
    """App id, installation id and private key of the GitHub App."""
    raw = parameters.get_secret(settings().need("github_app_secret_arn"), max_age=SECRET_CACHE_SECONDS)
    return GitHubAppCredentials.model_validate_json(raw)
