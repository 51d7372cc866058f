"""The organization's Actions bill, read as the stack's GitHub App from GitHub's billing usage report.

``GET /organizations/{org}/settings/billing/usage?year=&month=`` (the enhanced billing platform) lists
usage items per day, repository and SKU. The App needs the organization permission **Administration:
read** for it, which nothing else the App does needs: reconciliation is optional, and a 403 says so.

The request goes through githubkit (``rest.billing.get_github_billing_usage_report_org``) on the same
client the functions use (``functions.common.github``: App installation token, the stack's API
version). Its response model parses amounts as floats; the body is parsed here again with every
JSON number with a fraction as :class:`~decimal.Decimal`, so money stays exact.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from stackops.stack_outputs import StackOutputs

ACTIONS = "actions"
ADMINISTRATION_HINT = (
    "the GitHub App needs the organization permission Administration: read to read the billing usage report "
    "(docs/chargeback.md; reconciliation is optional, the report does not need it)"
)


class BillingError(RuntimeError):
    """GitHub's bill cannot be read; the message says why in one line."""


class UsageItem(BaseModel):
    """One line of the billing usage report (GitHub's documented fields)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    date: str
    product: str
    sku: str
    quantity: Decimal
    unit_type: str
    price_per_unit: Decimal
    gross_amount: Decimal
    discount_amount: Decimal = Field(default=Decimal(0))
    net_amount: Decimal
    organization_name: str = ""
    repository_name: str = ""

    @property
    def day(self) -> str:
        """``YYYY-MM-DD`` (GitHub writes a date, or a date and time)."""
        return self.date[:10]

    def repository(self, org: str) -> str:
        """``owner/name``: GitHub's ``repositoryName``, with the org in front when it gives the name alone."""
        name = self.repository_name
        return name if "/" in name or not name else f"{org}/{name}"

    @property
    def rate_file_sku(self) -> str:
        """The SKU as ``runner_rates.json`` names it: lower case, words joined by ``_``, no ``actions`` prefix
        (``linux``, ``Actions Linux`` and ``actions_linux`` are one SKU)."""
        name = re.sub(r"[\s-]+", "_", self.sku.strip().lower())
        return name.removeprefix("actions_")


def parse_usage(body: bytes | str) -> list[UsageItem]:
    """The report's ``usageItems``, amounts exact."""
    document = json.loads(body, parse_float=Decimal)
    return [UsageItem.model_validate(item) for item in document.get("usageItems", [])]


def actions_items(items: list[UsageItem]) -> list[UsageItem]:
    return [item for item in items if item.product.strip().lower() == ACTIONS]


def read_usage(github: Any, org: str, month: str) -> list[UsageItem]:
    """The Actions items of ``org``'s report for ``month`` (``YYYY-MM``), through a githubkit client."""
    from functions.common.errors import GitHubRateLimited, GitHubRequestRejected, GitHubUnavailable
    from functions.common.github import github_call, path_segment

    year, number = (int(part) for part in month.split("-"))
    try:
        with github_call(f"read the billing usage of {org} for {month}"):
            billing = github.rest.billing  # githubkit puts the org into the path unescaped: path_segment does
            response = billing.get_github_billing_usage_report_org(path_segment(org), year=year, month=number)
    except GitHubRateLimited as error:
        raise BillingError(f"{error.reason}; try again in {error.wait_seconds} s") from error
    except (GitHubRequestRejected, GitHubUnavailable) as error:
        message = str(error)
        if "answered 403" in message or "answered 401" in message:
            message = f"{message}: {ADMINISTRATION_HINT}"
        elif "answered 404" in message:
            message = f"{message}: is {org} on GitHub's enhanced billing platform?"
        raise BillingError(message) from error
    return actions_items(parse_usage(response.content))


def app_client(outputs: StackOutputs) -> tuple[Any, str]:
    """A githubkit client authenticated as the stack's App (its secret read from Secrets Manager), and the org."""
    from functions.common.github import _client_for
    from functions.common.secrets import GitHubAppCredentials

    org = outputs.need("github_org", "githubOrg")
    secret_arn = outputs.need("github_app_secret_arn", "githubAppSecretArn")
    api_url = outputs.need("github_api_url", "githubApiUrl")
    api_version = outputs.need("github_api_version", "githubApiVersion")
    raw = outputs.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    credentials = GitHubAppCredentials.model_validate_json(raw)
    return _client_for(credentials, api_url, api_version), org
