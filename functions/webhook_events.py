"""Turn a verified GitHub webhook into the pipeline message it starts, or ``None`` when it is not ours.

The payload is validated against the fields the pipeline reads and nothing else. A signed delivery
comes from GitHub; rejecting it because a field we never read drifted from a generated schema would
lose the event for good (GitHub does not retry). githubkit's full models do reject real payloads:
``installation.created`` without ``app_slug`` (older deliveries, the octokit examples) fails
``githubkit.webhooks.parse``, and such drift is a known class of githubkit bug (yanyongyu/githubkit#14,
#118). A payload that lacks a field we *do* read is malformed and answered with 400.

This module is on the receiver's hot path, so it reads the payload with the standard library only and
gives the message in its wire form (:class:`Outgoing`): the JSON the next step reads, the same as
``functions.common.models``' ``to_wire()`` (a test holds every example to that). The rules are those of
the message models: names and ids by ``functions.common.github_names``, ids strictly positive integers
(never a bool, float or string), text fields strings, ``updated_at`` an ISO 8601 time with its offset.
Errors name each field the way pydantic does (``membership.user.id: Field required``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from functions.common.github_names import check_login, check_repository_name

if TYPE_CHECKING:
    from functions.common.models import Message

_MISSING = object()


class MalformedWebhook(ValueError):
    """A handled event whose payload lacks what the pipeline needs; the message says which fields."""


@dataclass(frozen=True)
class Ignored:
    """A handled event that has nothing for the pipeline to do; ``reason`` says why, for the log."""

    reason: str


@dataclass(frozen=True)
class Outgoing:
    """A handled event's pipeline message: its model's name (``MemberRef``...) and its wire form."""

    kind: str
    wire: dict[str, Any]

    @property
    def correlation_id(self) -> str:
        return str(self.wire["correlationId"])


class _Fields:
    """Reads typed fields of a JSON object, collecting every error with its dotted location."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def get(self, data: Any, path: str, check: Callable[[Any], Any], *, required: bool = True) -> Any:
        """The value at the dotted ``path`` of ``data`` checked by ``check``; None (and an error) if it is not."""
        value: Any = data
        parts = path.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(value, Mapping):
                self.errors.append(f"{'.'.join(parts[:depth])}: Input should be a valid dictionary")
                return None
            value = value.get(part, _MISSING)
            if value is _MISSING:
                if required or depth < len(parts) - 1:
                    self.errors.append(f"{'.'.join(parts[: depth + 1])}: Field required")
                return None
        try:
            return check(value)
        except ValueError as error:
            self.errors.append(f"{path}: {error}")
            return None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("Input should be a valid string")
    return value


def _name(check: Callable[[str], str]) -> Callable[[Any], str]:
    """A string held to ``check`` (a login, a repository name), its error worded as pydantic's."""

    def checked(value: Any) -> str:
        name = _string(value)
        try:
            return check(name)
        except ValueError as error:
            raise ValueError(f"Value error, {error}") from None

    return checked


def _or_none(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


_login = _name(check_login)
_repository_name = _name(check_repository_name)
_optional_login = _or_none(_login)
_optional_string = _or_none(_string)


def _github_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Input should be a valid integer")
    if value <= 0:
        raise ValueError("Input should be greater than 0")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("Input should be a valid boolean")
    return value


def _object_or_null(value: Any) -> Mapping[str, Any] | None:
    if value is not None and not isinstance(value, Mapping):
        raise ValueError("Input should be a valid dictionary")
    return value


def _aware_time(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(_string(value))
    except ValueError:
        raise ValueError("Input should be a valid datetime") from None
    if moment.tzinfo is None:
        raise ValueError("Input should have timezone info")
    return moment


def _member_added(payload: Mapping[str, Any], delivery_id: str) -> tuple[str | None, Callable[[], Outgoing | Ignored]]:
    fields = _Fields()
    org = fields.get(payload, "organization.login", _login)
    user = fields.get(payload, "membership.user", _object_or_null)
    login = user_id = None
    if user is not None:
        login = fields.get(payload, "membership.user.login", _login)
        user_id = fields.get(payload, "membership.user.id", _github_id)
    _raise(fields, "organization.member_added")

    def message() -> Outgoing | Ignored:
        if user is None:
            return Ignored("membership.user is null: nobody to onboard")
        wire = {"correlationId": delivery_id, "org": org, "login": login, "userId": user_id, "source": "member_added"}
        return Outgoing("MemberRef", wire)

    return org, message


def _workflow_run_completed(
    payload: Mapping[str, Any], delivery_id: str
) -> tuple[str | None, Callable[[], Outgoing | Ignored]]:
    fields = _Fields()
    repo = fields.get(payload, "repository.name", _repository_name)
    private = fields.get(payload, "repository.private", _boolean)
    owner = fields.get(payload, "repository.owner.login", _login)
    run_id = fields.get(payload, "workflow_run.id", _github_id)
    attempt = fields.get(payload, "workflow_run.run_attempt", _github_id)
    optional = {
        name: fields.get(payload, f"workflow_run.{name}", _optional_string, required=False)
        for name in ("name", "path", "conclusion", "event", "head_branch", "html_url")
    }
    updated_at = fields.get(payload, "workflow_run.updated_at", _aware_time)
    _raise(fields, "workflow_run.completed")

    def message() -> Outgoing:
        wire = {
            "correlationId": delivery_id,
            "owner": owner,
            "repo": repo,
            "repositoryPrivate": private,
            "runId": run_id,
            "runAttempt": attempt,
            "workflowName": optional["name"] or optional["path"] or str(run_id),  # GitHub may send an empty name
            "conclusion": optional["conclusion"],
            "event": optional["event"],
            "headBranch": optional["head_branch"],
            "completedAt": updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "htmlUrl": optional["html_url"],
        }
        return Outgoing("WorkflowRunRef", {name: value for name, value in wire.items() if value is not None})

    return owner, message


def _installation_created(
    payload: Mapping[str, Any], delivery_id: str
) -> tuple[str | None, Callable[[], Outgoing | Ignored]]:
    fields = _Fields()
    installation_id = fields.get(payload, "installation.id", _github_id)
    account = fields.get(payload, "installation.account", _object_or_null, required=False)
    org = fields.get(payload, "installation.account.login", _optional_login, required=False) if account else None
    _raise(fields, "installation.created")

    def message() -> Outgoing:
        if org is None:
            raise MalformedWebhook("installation.created payload: installation.account.login is missing")
        # page 1, nobody listed yet, no SAML identity read yet: list-org-members lists one page per call
        # (functions/list_org_members.py); the fields are BackfillRequest's wire, defaults included.
        request = {
            "correlationId": delivery_id,
            "org": org,
            "installationId": installation_id,
            "page": 1,
            "listed": 0,
            "identitiesDone": False,
            "identitiesListed": 0,
        }
        return Outgoing("BackfillRequest", request)

    return org, message


def _raise(fields: _Fields, event: str) -> None:
    if fields.errors:
        raise MalformedWebhook(f"{event} payload: {'; '.join(fields.errors)}")


HANDLED_EVENTS: dict[
    tuple[str, str], Callable[[Mapping[str, Any], str], tuple[str | None, Callable[[], Outgoing | Ignored]]]
] = {
    ("organization", "member_added"): _member_added,
    ("workflow_run", "completed"): _workflow_run_completed,
    ("installation", "created"): _installation_created,
}


def to_outgoing(
    event_name: str, payload: Mapping[str, Any], delivery_id: str, github_org: str
) -> Outgoing | Ignored | None:
    """The wire message for a handled event of ``github_org``; ``None`` for any other event, action or org;
    :class:`Ignored` for a handled event that has nothing to do."""
    read = HANDLED_EVENTS.get((event_name, str(payload.get("action"))))
    if read is None:
        return None
    org, message = read(payload, delivery_id)
    if (org or "").casefold() != github_org.casefold():
        return None
    return message()


def to_message(
    event_name: str, payload: Mapping[str, Any], delivery_id: str, github_org: str
) -> Message | Ignored | None:
    """:func:`to_outgoing` as the message model the next step reads (for the sandbox's oracle and tests; the
    receiver itself sends the wire form and never imports the models)."""
    from functions.common.models import MESSAGE_TYPES

    outgoing = to_outgoing(event_name, payload, delivery_id, github_org)
    if not isinstance(outgoing, Outgoing):
        return outgoing
    return MESSAGE_TYPES[outgoing.kind].model_validate(outgoing.wire)
