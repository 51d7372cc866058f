"""The messages that travel between steps, in both architectures.

They are the state input/output in Step Functions and the message bodies in SQS, so the same JSON
(camelCase, as the ASL definitions read it) crosses both. Every message carries the correlation id:
the GitHub delivery id (``X-GitHub-Delivery``). Only the fields the pipeline needs travel, never the
whole webhook body (Step Functions payloads are capped at 256 KiB).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from functions.common.github_names import GitHubId, Login, RepositoryName


class Message(BaseModel):
    """Base of every step message: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    correlation_id: str

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready form sent to the next step."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class MemberRef(Message):
    """A person to onboard: from ``organization.member_added`` or from a backfill."""

    org: Login
    login: Login
    user_id: GitHubId
    source: Literal["member_added", "backfill"] = "member_added"


class TeamMembership(MemberRef):
    """A person after ``add_team_member``: their membership of the onboarding team."""

    team: str
    role: Literal["member", "maintainer"]
    state: str  # GitHub's membership state: "active" or "pending" (invitation not yet accepted)


class WorkflowRunRef(Message):
    """A completed workflow run attempt to price, from ``workflow_run.completed``."""

    owner: Login
    repo: RepositoryName
    repository_private: bool
    run_id: GitHubId
    run_attempt: GitHubId
    workflow_name: str
    conclusion: str | None = None
    event: str | None = None
    head_branch: str | None = None
    completed_at: str  # the run's updated_at, ISO 8601 UTC: which month the cost is booked to
    html_url: str | None = None


class BackfillRequest(Message):
    """Onboard every member of an organization: from ``installation.created`` or by hand."""

    org: Login
    installation_id: GitHubId | None = None


SNS_SUBJECT_MAX = 100


def sns_subject(text: str) -> str:
    """An SNS Subject: ASCII, one line, at most 100 characters (SNS rejects anything else)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    printable = "".join(char for char in ascii_text if char.isprintable() or char.isspace())
    line = re.sub(r"\s+", " ", printable).strip()
    return line if len(line) <= SNS_SUBJECT_MAX else line[: SNS_SUBJECT_MAX - 3].rstrip() + "..."


class Notification(BaseModel):
    """An SNS message; its subject is made valid for SNS whatever text it is given."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    subject: Annotated[str, AfterValidator(sns_subject)]
    message: str


class StoreRequest(Message):
    """What a terminal business step hands to the store step.

    ``transact_items`` is a DynamoDB ``TransactWriteItems`` request body (low-level attribute JSON),
    computed once in Python: the Step Functions variant runs it through the native
    ``aws-sdk:dynamodb:transactWriteItems`` integration, the SQS variant through the store Lambda.
    Every item is conditional, so running it twice writes once (the second run is cancelled with
    ``TransactionCanceledException``/``ConditionalCheckFailed`` and counts as already stored).
    """

    kind: Literal["member", "workflow_run"]
    record: dict[str, Any]
    transact_items: list[dict[str, Any]]
    notification: Notification
