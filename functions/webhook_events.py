"""Turn a verified GitHub webhook into the pipeline message it starts, or ``None`` when it is not ours.

The payload is validated against the fields the pipeline reads and nothing else. A signed delivery
comes from GitHub; rejecting it because a field we never read drifted from a generated schema would
lose the event for good (GitHub does not retry). githubkit's full models do reject real payloads:
``installation.created`` without ``app_slug`` (older deliveries, the octokit examples) fails
``githubkit.webhooks.parse``, and such drift is a known class of githubkit bug (yanyongyu/githubkit#14,
#118). A payload that lacks a field we *do* read is malformed and answered with 400.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from functions.common.github_names import GitHubId, Login, RepositoryName
from functions.common.models import BackfillRequest, MemberRef, Message, WorkflowRunRef


class MalformedWebhook(ValueError):
    """A handled event whose payload lacks what the pipeline needs; the message says which fields."""


@dataclass(frozen=True)
class Ignored:
    """A handled event that has nothing for the pipeline to do; ``reason`` says why, for the log."""

    reason: str


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class _Event(_Payload, ABC):
    """The fields of one handled event that the pipeline reads."""

    @property
    @abstractmethod
    def org(self) -> str | None:
        """The organization the event happened in."""

    @abstractmethod
    def to_message(self, delivery_id: str) -> Message | Ignored:
        """The pipeline message; only called for events of the stack's organization."""


class _Account(_Payload):
    login: Login


class _User(_Payload):
    login: Login
    id: GitHubId


class _Membership(_Payload):
    user: _User | None  # GitHub's schema allows null: then there is nobody to onboard


class OrganizationMemberAdded(_Event):
    organization: _Account
    membership: _Membership

    @property
    def org(self) -> str:
        return self.organization.login

    def to_message(self, delivery_id: str) -> MemberRef | Ignored:
        user = self.membership.user
        if user is None:
            return Ignored("membership.user is null: nobody to onboard")
        return MemberRef(correlation_id=delivery_id, org=self.organization.login, login=user.login, user_id=user.id)


class _Repository(_Payload):
    name: RepositoryName
    private: bool
    owner: _Account


class _WorkflowRun(_Payload):
    id: GitHubId
    run_attempt: GitHubId
    name: str | None = None
    path: str | None = None
    conclusion: str | None = None
    event: str | None = None
    head_branch: str | None = None
    updated_at: AwareDatetime
    html_url: str | None = None


class WorkflowRunCompleted(_Event):
    repository: _Repository
    workflow_run: _WorkflowRun

    @property
    def org(self) -> str:
        return self.repository.owner.login

    def to_message(self, delivery_id: str) -> WorkflowRunRef:
        run = self.workflow_run
        return WorkflowRunRef(
            correlation_id=delivery_id,
            owner=self.repository.owner.login,
            repo=self.repository.name,
            repository_private=self.repository.private,
            run_id=run.id,
            run_attempt=run.run_attempt,
            workflow_name=run.name or run.path or str(run.id),  # GitHub may send an empty name
            conclusion=run.conclusion,
            event=run.event,
            head_branch=run.head_branch,
            completed_at=run.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            html_url=run.html_url,
        )


class _InstallationAccount(_Payload):
    login: Login | None = None  # an enterprise installation's account has a slug, not a login


class _Installation(_Payload):
    id: GitHubId
    account: _InstallationAccount | None = None


class InstallationCreated(_Event):
    installation: _Installation

    @property
    def org(self) -> str | None:
        return self.installation.account.login if self.installation.account else None

    def to_message(self, delivery_id: str) -> BackfillRequest:
        org = self.org
        if org is None:
            raise MalformedWebhook("installation.created payload: installation.account.login is missing")
        return BackfillRequest(correlation_id=delivery_id, org=org, installation_id=self.installation.id)


HANDLED_EVENTS: dict[tuple[str, str], type[_Event]] = {
    ("organization", "member_added"): OrganizationMemberAdded,
    ("workflow_run", "completed"): WorkflowRunCompleted,
    ("installation", "created"): InstallationCreated,
}


def to_message(event_name: str, payload: dict[str, Any], delivery_id: str, github_org: str) -> Message | Ignored | None:
    """The message for a handled event of ``github_org``; ``None`` for any other event, action or org;
    :class:`Ignored` for a handled event that has nothing to do."""
    action = payload.get("action")
    model = HANDLED_EVENTS.get((event_name, str(action)))
    if model is None:
        return None
    try:
        event = model.model_validate(payload)
    except ValidationError as error:
        raise MalformedWebhook(f"{event_name}.{action} payload: {_summary(error)}") from error
    if (event.org or "").casefold() != github_org.casefold():
        return None
    return event.to_message(delivery_id)


def _summary(error: ValidationError) -> str:
    """Which fields are missing or wrong, without echoing their values."""
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc'])}: {detail['msg']}"
        for detail in error.errors(include_url=False, include_input=False)
    )
